//! The one table of what each error answers: its status, stable code and caller-facing
//! message, for `/v1` bodies and (message and status) the SDK shapes alike. 5xx messages never
//! carry upstream bodies or internals. The message is written only when a body is: the
//! status alone (`status_code()`, read for metrics and logs too) formats and parses nothing.
use super::{upstream_text, GatewayError, UpstreamError};
use actix_web::http::StatusCode;
use std::borrow::Cow;

/// What an error answers.
pub struct Answer<'a> {
    pub status: StatusCode,
    pub code: &'static str,
    message: Message<'a>,
}

/// The caller-facing message, before it is written.
enum Message<'a> {
    Text(&'a str),
    Allow(&'static str),
    Display(&'a GatewayError),
    Proxy(&'a str),
    Rejected(&'a [u8]),
    Answered(u16),
}

impl<'a, T: AsRef<str> + ?Sized> From<&'a T> for Message<'a> {
    fn from(text: &'a T) -> Self {
        Message::Text(text.as_ref())
    }
}

impl Answer<'_> {
    pub fn message(&self) -> Cow<'_, str> {
        match &self.message {
            Message::Text(t) => Cow::Borrowed(t),
            Message::Allow(allow) => format!("this resource allows {allow}").into(),
            Message::Display(e) => e.to_string().into(),
            Message::Proxy(why) => {
                format!("IdentityNow could not be reached through the egress proxy: {why}").into()
            }
            Message::Rejected(body) => {
                format!("IdentityNow rejected the request: {}", upstream_text(body)).into()
            }
            Message::Answered(status) => format!("IdentityNow answered {status}").into(),
        }
    }
}

fn answer<'a>(
    status: StatusCode,
    code: &'static str,
    message: impl Into<Message<'a>>,
) -> Answer<'a> {
    Answer {
        status,
        code,
        message: message.into(),
    }
}

impl GatewayError {
    pub fn answer(&self) -> Answer<'_> {
        use StatusCode as S;
        match self {
            Self::BadRequest { code, message } => answer(S::BAD_REQUEST, code, message),
            Self::Forbidden(m) => answer(S::FORBIDDEN, "forbidden", m),
            Self::NotFound { code, message } => answer(S::NOT_FOUND, code, message),
            Self::Gone { code, message } => answer(S::GONE, code, message),
            Self::MethodNotAllowed { allow } => answer(
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                Message::Allow(allow),
            ),
            Self::Conflict { code, message } => answer(S::CONFLICT, code, message),
            Self::Unprocessable { code, message } => answer(S::UNPROCESSABLE_ENTITY, code, message),
            Self::PayloadTooLarge { .. } => answer(
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                Message::Display(self),
            ),
            Self::RequestTimeout { .. } => answer(
                S::REQUEST_TIMEOUT,
                "request_timeout",
                Message::Display(self),
            ),
            Self::RangeNotSatisfiable { .. } => answer(
                S::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                Message::Display(self),
            ),
            Self::RateLimited { code, message, .. } => answer(S::TOO_MANY_REQUESTS, code, message),
            Self::Upstream(e) => upstream(e),
            Self::AuditUnavailable => answer(
                S::SERVICE_UNAVAILABLE,
                "audit_unavailable",
                "the audit trail cannot be written, so the request was not carried out",
            ),
            Self::Internal(_) => {
                answer(S::INTERNAL_SERVER_ERROR, "internal_error", "internal error")
            }
        }
    }
}

/// Upstream failures, by who failed: IdentityNow's refusals of the gateway's own credentials
/// are the gateway's 503, its other answers 502 unless the caller can act on them.
fn upstream(e: &UpstreamError) -> Answer<'_> {
    use StatusCode as S;
    match e {
        UpstreamError::Unreachable(_) => answer(
            S::BAD_GATEWAY,
            "upstream_unreachable",
            "IdentityNow could not be reached",
        ),
        UpstreamError::Proxy(why) => {
            answer(S::BAD_GATEWAY, "upstream_proxy_failed", Message::Proxy(why))
        }
        UpstreamError::Timeout(_) => answer(
            S::GATEWAY_TIMEOUT,
            "upstream_timeout",
            "IdentityNow did not answer in time",
        ),
        UpstreamError::Auth(_) | UpstreamError::AuthBackoff { .. } => answer(
            S::SERVICE_UNAVAILABLE,
            "upstream_auth_failed",
            "the gateway could not authenticate to IdentityNow",
        ),
        UpstreamError::Throttled { .. } => answer(
            S::TOO_MANY_REQUESTS,
            "upstream_busy",
            "the shared IdentityNow budget has no capacity within your wait bound",
        ),
        UpstreamError::CancelNeedsPat => answer(
            S::FORBIDDEN,
            "cancel_needs_personal_access_token",
            crate::domain::credential::CANCEL_NEEDS_PAT,
        ),
        // NGINX's "client closed request": nobody reads it; the audit trail does.
        UpstreamError::Abandoned => answer(
            S::from_u16(499).expect("valid"),
            "client_closed_request",
            "the connection was closed before the request was sent upstream",
        ),
        UpstreamError::BadResponse(_) => answer(
            S::BAD_GATEWAY,
            "upstream_bad_response",
            "IdentityNow sent a response the gateway cannot use",
        ),
        UpstreamError::Status { status, body, .. } => match status.as_u16() {
            400 => answer(S::BAD_REQUEST, "upstream_rejected", Message::Rejected(body)),
            401 => answer(
                S::SERVICE_UNAVAILABLE,
                "upstream_auth_failed",
                "IdentityNow refused the gateway's credentials",
            ),
            403 => answer(
                S::BAD_GATEWAY,
                "upstream_forbidden",
                "the gateway's API client is not allowed to do this in IdentityNow",
            ),
            404 => answer(S::NOT_FOUND, "report_not_found", "no such report"),
            429 => answer(
                S::TOO_MANY_REQUESTS,
                "upstream_rate_limited",
                "the IdentityNow rate limit was reached",
            ),
            other => answer(S::BAD_GATEWAY, "upstream_error", Message::Answered(other)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(code: u16, body: &'static [u8]) -> GatewayError {
        GatewayError::Upstream(UpstreamError::Status {
            status: StatusCode::from_u16(code).unwrap(),
            body: bytes::Bytes::from_static(body),
            retry_after: None,
        })
    }

    #[test]
    fn messages_that_need_writing_are_written_when_asked() {
        let allow = GatewayError::MethodNotAllowed { allow: "GET" };
        assert_eq!(allow.answer().message(), "this resource allows GET");
        let rejected = upstream(400, br#"{"messages":[{"text":"bad <b>filter</b>"}]}"#);
        let a = rejected.answer();
        assert_eq!((a.status.as_u16(), a.code), (400, "upstream_rejected"));
        assert_eq!(a.message(), "IdentityNow rejected the request: bad filter");
        assert_eq!(
            upstream(500, b"").answer().message(),
            "IdentityNow answered 500"
        );
        let proxy = GatewayError::from(UpstreamError::Proxy(
            "407 Proxy Authentication Required".into(),
        ));
        assert_eq!(
            proxy.answer().message(),
            "IdentityNow could not be reached through the egress proxy: 407 Proxy Authentication Required"
        );
        let big = GatewayError::PayloadTooLarge { limit: 10 };
        assert_eq!(big.answer().message(), big.to_string());
    }
}
