//! The one table of what each error answers: its status, stable code and caller-facing
//! message, for `/v1` bodies and (message and status) the SDK shapes alike. 5xx messages never
//! carry upstream bodies or internals.
use super::{upstream_text, GatewayError, UpstreamError};
use actix_web::http::StatusCode;
use std::borrow::Cow;

/// What an error answers.
pub struct Answer<'a> {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: Cow<'a, str>,
}

fn answer<'a>(
    status: StatusCode,
    code: &'static str,
    message: impl Into<Cow<'a, str>>,
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
                format!("this resource allows {allow}"),
            ),
            Self::Conflict { code, message } => answer(S::CONFLICT, code, message),
            Self::Unprocessable { code, message } => answer(S::UNPROCESSABLE_ENTITY, code, message),
            Self::PayloadTooLarge { .. } => {
                answer(S::PAYLOAD_TOO_LARGE, "payload_too_large", self.to_string())
            }
            Self::RequestTimeout { .. } => {
                answer(S::REQUEST_TIMEOUT, "request_timeout", self.to_string())
            }
            Self::RangeNotSatisfiable { .. } => answer(
                S::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                self.to_string(),
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
        UpstreamError::Proxy(why) => answer(
            S::BAD_GATEWAY,
            "upstream_proxy_failed",
            format!("IdentityNow could not be reached through the egress proxy: {why}"),
        ),
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
            400 => answer(
                S::BAD_REQUEST,
                "upstream_rejected",
                format!("IdentityNow rejected the request: {}", upstream_text(body)),
            ),
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
            other => answer(
                S::BAD_GATEWAY,
                "upstream_error",
                format!("IdentityNow answered {other}"),
            ),
        },
    }
}
