//! One error type for the gateway, grouped by who failed, and its JSON body:
//! `{"error": "<stable_code>", "message": "...", "requestId": "..."}`.
mod answer;
mod sdk;
pub use answer::Answer;
pub use sdk::SdkError;

use crate::request_id;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use bytes::Bytes;
use serde_json::json;

/// What went wrong talking to IdentityNow, before it is turned into a caller's answer.
/// `Clone`: every waiter of a shared (single-flight) failure gets its own copy.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream unreachable: {0}")]
    Unreachable(String),
    #[error("upstream timed out: {0}")]
    Timeout(String),
    /// The egress proxy refused the tunnel (407, 403, 502...) or could not be reached; the
    /// text names the proxy's status, never its credentials.
    #[error("{0}")]
    Proxy(String),
    #[error("upstream token could not be obtained: {0}")]
    Auth(String),
    /// No tenant token, and the token endpoint is left alone until `retry_after` passes.
    #[error("upstream token endpoint backing off")]
    AuthBackoff { retry_after: std::time::Duration },
    #[error("upstream answered {status}")]
    Status {
        status: StatusCode,
        body: Bytes,
        retry_after: Option<String>,
    },
    #[error("upstream response is not usable: {0}")]
    BadResponse(String),
    /// No upstream capacity within the caller's wait bound (budget queue or 429 pause).
    #[error("no upstream capacity in time")]
    Throttled { retry_after: std::time::Duration },
    /// The caller closed its connection while the request waited: it was not sent upstream.
    #[error("the caller closed the connection before the request was sent upstream")]
    Abandoned,
    /// Upstream refused a cancel (403) and the gateway holds an API-client credential:
    /// cancel is `userAuth` only, so it needs a personal access token.
    #[error("upstream cancel needs a personal access token")]
    CancelNeedsPat,
}

impl UpstreamError {
    /// The `trackingId` of an upstream error body (what SailPoint support asks for), kept to
    /// the characters a tracking id has (hex, dashes) and 64 of them, so nothing odd is echoed.
    pub fn tracking_id(&self) -> Option<String> {
        match self {
            Self::Status { body, .. } => tracking_id_of(body),
            _ => None,
        }
    }
}

/// See [`UpstreamError::tracking_id`].
pub fn tracking_id_of(body: &[u8]) -> Option<String> {
    let tracking: TrackingId = serde_json::from_slice(body).ok()?;
    let t: String = tracking
        .0?
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect();
    (!t.is_empty()).then_some(t)
}

/// The `trackingId` string of a JSON object (the last one, as a parsed `Value` had it),
/// read without building the object: every upstream error body is read for it, and a
/// `serde_json::Value` of the whole body cost about 12,000 instructions per error.
struct TrackingId(Option<String>);

impl<'de> serde::Deserialize<'de> for TrackingId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> serde::de::Visitor<'de> for Object {
            type Value = TrackingId;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<TrackingId, A::Error> {
                let mut found = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "trackingId" {
                        let v: serde_json::Value = map.next_value()?;
                        found = v.as_str().map(str::to_owned);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(TrackingId(found))
            }
        }
        d.deserialize_map(Object)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// 400: the caller sent something invalid.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 403: the caller's policy does not allow this; the message says what.
    #[error("{0}")]
    Forbidden(String),
    /// 404
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// 410: the report existed and finished, but upstream no longer has it.
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    /// 405 with `Allow`.
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    /// 409: the report exists but is not in a state for this.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 422: well-formed but cannot be processed (e.g. a reused idempotency key).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// 416 with `Content-Range: bytes */length`: the range starts past the file's end.
    #[error("the range starts past the end of the {length}-byte file")]
    RangeNotSatisfiable { length: u64 },
    /// 408: the request body did not arrive in time (the connection is then closed).
    #[error("the request body did not arrive within {} ms", limit.as_millis())]
    RequestTimeout { limit: std::time::Duration },
    /// 413
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 429 with `Retry-After`: the team's own limit, or no upstream capacity within the
    /// caller's wait bound.
    #[error("{message}")]
    RateLimited {
        code: &'static str,
        message: String,
        retry_after: std::time::Duration,
    },
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// 503: a blocking audit record could not be written, so nothing was done.
    #[error("the audit trail cannot be written")]
    AuditUnavailable,
    /// 500: our bug.
    #[error("internal error")]
    Internal(#[source] std::sync::Arc<dyn std::error::Error + Send + Sync>),
}

impl GatewayError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// 500 for `e` (kept as the source, for the log; never shown to the caller).
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(e.into().into())
    }

    /// The upstream failure behind this error, if that is what it is.
    pub fn upstream(&self) -> Option<&UpstreamError> {
        match self {
            Self::Upstream(e) => Some(e),
            _ => None,
        }
    }

    pub fn report_not_found() -> Self {
        Self::NotFound {
            code: "report_not_found",
            message: "no such report".into(),
        }
    }
}

/// The human text of an upstream error body (`messages[0].text`), for 4xx only; capped and
/// stripped of markup so nothing odd is echoed.
pub fn upstream_text(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = v["messages"][0]["text"]
        .as_str()
        .or_else(|| v["message"].as_str())
        .or_else(|| v["error"].as_str())
        .unwrap_or("no details");
    let mut out = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag && !c.is_control() => out.push(c),
            _ => {}
        }
    }
    out.trim().chars().take(200).collect()
}

impl ResponseError for GatewayError {
    fn status_code(&self) -> StatusCode {
        self.answer().status
    }

    fn error_response(&self) -> HttpResponse {
        let answer = self.answer();
        let mut resp = HttpResponse::build(answer.status);
        add_headers(self, &mut resp);
        let mut body = json!({
            "error": answer.code,
            "message": answer.message(),
            "requestId": request_id::current(),
        });
        // Beside the gateway's own id: the one SailPoint support can look up.
        if let Some(t) = self.upstream().and_then(UpstreamError::tracking_id) {
            body["upstreamTrackingId"] = json!(t);
        }
        resp.json(body)
    }
}

/// Headers some errors carry whatever the body shape.
pub fn add_headers(err: &GatewayError, resp: &mut actix_web::HttpResponseBuilder) {
    match err {
        GatewayError::MethodNotAllowed { allow } => {
            resp.insert_header((header::ALLOW, *allow));
        }
        // The rest of the body may still come: the connection cannot carry another request.
        GatewayError::RequestTimeout { .. } => {
            resp.force_close();
        }
        GatewayError::RangeNotSatisfiable { length } => {
            resp.insert_header((header::CONTENT_RANGE, format!("bytes */{length}")));
        }
        GatewayError::RateLimited { retry_after, .. }
        | GatewayError::Upstream(UpstreamError::Throttled { retry_after })
        | GatewayError::Upstream(UpstreamError::AuthBackoff { retry_after }) => {
            let secs = crate::domain::retry_after::header_secs(*retry_after);
            resp.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        GatewayError::Upstream(UpstreamError::Status { retry_after, .. })
            if err.status_code() == StatusCode::TOO_MANY_REQUESTS =>
        {
            resp.insert_header((header::RETRY_AFTER, retry_after.as_deref().unwrap_or("10")));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_tracking_id_is_read_as_a_parsed_value_had_it() {
        let old = |body: &[u8]| -> Option<String> {
            let v: serde_json::Value = serde_json::from_slice(body).ok()?;
            let t: String = v["trackingId"]
                .as_str()?
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .take(64)
                .collect();
            (!t.is_empty()).then_some(t)
        };
        let long = format!(r#"{{"trackingId":"{}"}}"#, "a".repeat(100));
        for body in [
            &br#"{"detailCode":"404 Not found","trackingId":"abc-123","messages":[{"locale":"en-US","text":"x"}],"causes":[]}"#[..],
            br#"{"trackingId":"a\"b\u0063<script>"}"#,
            br#"{"tracking\u0049d":"escaped-key"}"#,
            br#"{"trackingId":"first","trackingId":"second"}"#,
            br#"{"trackingId":"first","trackingId":7}"#,
            br#"{"trackingId":12}"#,
            br#"{"trackingId":null}"#,
            br#"{"trackingId":""}"#,
            br#"{"trackingId":"!!!"}"#,
            br#"{"nested":{"trackingId":"no"}}"#,
            br#"["trackingId","x"]"#,
            br#""trackingId""#,
            br#"{"trackingId":"x"} trailing"#,
            br#"{"trackingId":"x""#,
            b"",
            b"not json",
            long.as_bytes(),
        ] {
            assert_eq!(
                super::tracking_id_of(body),
                old(body),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    use super::*;

    fn status(e: GatewayError) -> u16 {
        e.status_code().as_u16()
    }

    fn up(code: u16) -> GatewayError {
        GatewayError::Upstream(UpstreamError::Status {
            status: StatusCode::from_u16(code).unwrap(),
            body: Bytes::new(),
            retry_after: None,
        })
    }

    #[test]
    fn errors_map_to_statuses_by_who_failed() {
        assert_eq!(status(up(500)), 502);
        assert_eq!(status(up(503)), 502);
        assert_eq!(status(up(404)), 404);
        assert_eq!(status(up(401)), 503);
        assert_eq!(status(UpstreamError::Timeout("x".into()).into()), 504);
        assert_eq!(status(UpstreamError::Unreachable("x".into()).into()), 502);
        assert_eq!(status(UpstreamError::Proxy("x".into()).into()), 502);
        assert_eq!(status(UpstreamError::Auth("x".into()).into()), 503);
        assert_eq!(status(GatewayError::internal(anyhow::anyhow!("bug"))), 500);
        assert_eq!(status(GatewayError::bad_request("invalid_json", "x")), 400);
    }

    #[test]
    fn upstream_text_strips_markup_and_control_characters() {
        let body = br#"{"messages":[{"text":"<h1>File Not Found - 404 Error</h1> gone\r\n"}]}"#;
        assert_eq!(upstream_text(body), "File Not Found - 404 Error gone");
    }
}
