//! The upstream's error bodies (ErrorResponseDto, 401 and 429 forms), as SPEC-V3 documents them.
use crate::wire::models::ErrorResponseDto;
use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use serde_json::json;

pub(super) fn tracking_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

pub(super) fn dto(status: StatusCode, detail: &str, text: &str) -> HttpResponse {
    HttpResponse::build(status).json(ErrorResponseDto::new(detail, &tracking_id(), text))
}

pub(super) fn rate_limited(retry_after: &str) -> HttpResponse {
    HttpResponse::TooManyRequests()
        .insert_header((header::RETRY_AFTER, retry_after))
        .json(json!({"message": " Rate Limit Exceeded "}))
}

pub(super) fn unauthorized(msg: &str) -> HttpResponse {
    HttpResponse::Unauthorized().json(json!({ "error": msg }))
}

/// The upstream's error body for a status, as SPEC-V3 documents them.
pub(super) fn error_for(status: u16) -> HttpResponse {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match status {
        401 => unauthorized("JWT validation failed: JWT is expired"),
        429 => rate_limited("10"),
        400 => dto(
            code,
            "400.1 Bad Request Content",
            "The request was syntactically correct but its content is semantically invalid.",
        ),
        403 => dto(
            code,
            "403 Forbidden",
            "The server understood the request but refuses to authorize it.",
        ),
        404 => dto(
            code,
            "404 Not found",
            "The requested resource was not found.",
        ),
        _ if status >= 500 => dto(
            code,
            &format!("{status}.0 Internal Fault"),
            "An internal fault occurred.",
        ),
        _ => dto(code, &format!("{status}"), "Simulated error."),
    }
}

pub(super) fn not_found() -> HttpResponse {
    dto(
        StatusCode::NOT_FOUND,
        "404 Not found",
        "<h1>File Not Found - 404 Error</h1> The requested file was not found.",
    )
}
