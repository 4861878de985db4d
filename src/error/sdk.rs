//! Gateway errors in the upstream's own shapes, for the SDK-compatible paths: upstream's 4xx
//! bodies pass through, the rest become upstream's `ErrorResponseDto` (and its 429 body).
use super::{add_headers, GatewayError, UpstreamError};
use crate::request_id;
use crate::wire::models::ErrorResponseDto;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use std::fmt;

/// A gateway error rendered the way the upstream would render it.
#[derive(Debug)]
pub struct SdkError(GatewayError);

impl fmt::Display for SdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: Into<GatewayError>> From<E> for SdkError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl ResponseError for SdkError {
    fn status_code(&self) -> StatusCode {
        match &self.0 {
            // Upstream 4xx answers (other than its refusal of our own token) pass through.
            GatewayError::Upstream(UpstreamError::Status { status, .. })
                if status.is_client_error() && status.as_u16() != 401 =>
            {
                *status
            }
            e => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut resp = HttpResponse::build(status);
        add_headers(&self.0, &mut resp);
        match &self.0 {
            GatewayError::Upstream(UpstreamError::Status {
                body, retry_after, ..
            }) if status.is_client_error() => {
                if let Some(r) = retry_after {
                    resp.insert_header((header::RETRY_AFTER, r.as_str()));
                }
                resp.content_type("application/json").body(body.clone())
            }
            _ if status == StatusCode::TOO_MANY_REQUESTS => {
                resp.json(json!({"message": " Rate Limit Exceeded "}))
            }
            e => {
                let message = e.answer().message().into_owned();
                let detail = format!(
                    "{} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                );
                // Upstream's own tracking id when upstream failed (what SailPoint support
                // asks for); the gateway's request id otherwise (also in X-Request-Id).
                let tracking = e
                    .upstream()
                    .and_then(UpstreamError::tracking_id)
                    .unwrap_or_else(request_id::current);
                resp.json(ErrorResponseDto::new(detail.trim(), &tracking, message))
            }
        }
    }
}
