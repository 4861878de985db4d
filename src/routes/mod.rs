//! HTTP routes: the simplified `/v1` API, the SDK-compatible upstream paths, health and
//! the OpenAPI document. Helpers shared by them live here.
mod health;
mod openapi;
mod reports;
mod sdk;

pub use openapi::ApiDoc;
pub use sdk::SdkError;

use crate::auth::{Caller, Opened, Policy};
use crate::domain::ReportId;
use crate::error::GatewayError;
use crate::startup::AppState;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    openapi::configure(cfg);
    reports::configure(cfg);
    sdk::configure(cfg);
}

/// Turns an id presented by a caller into the upstream id, if the caller may see it.
/// Someone else's report answers exactly like a report that does not exist.
pub(crate) fn resolve_id(
    state: &AppState,
    policy: &Policy,
    caller: &Caller,
    raw: &str,
) -> Result<ReportId, GatewayError> {
    let presented =
        ReportId::parse(raw).map_err(|m| GatewayError::bad_request("invalid_report_id", m))?;
    match state.ids.open(policy.owner(caller), &presented) {
        Opened::Owned(upstream) => Ok(upstream),
        Opened::Raw(upstream) if policy.for_team(&caller.team).raw_ids => Ok(upstream),
        Opened::Raw(_) | Opened::Foreign => Err(GatewayError::report_not_found()),
    }
}

/// A resource whose other methods answer 405 with `Allow`.
pub(crate) fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<HttpResponse, _>(GatewayError::MethodNotAllowed { allow })
    }))
}

/// Answer for paths no route matches.
pub async fn not_found() -> Result<HttpResponse, GatewayError> {
    Err(GatewayError::NotFound {
        code: "route_not_found",
        message: "no such route".into(),
    })
}

/// Reads a request body up to `limit` bytes; larger bodies are refused with 413 without
/// reading them whole.
pub(crate) async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<bytes::Bytes, GatewayError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(GatewayError::PayloadTooLarge { limit });
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| GatewayError::bad_request("invalid_body", e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(GatewayError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A file name safe to put in a quoted `Content-Disposition` value: no quotes, slashes,
/// control characters or anything that could end the header; always with the extension.
pub(crate) fn safe_filename(raw: &str, ext: &str) -> String {
    let cleaned: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || " ._-()".contains(*c))
        .collect();
    let mut name = cleaned
        .trim()
        .trim_start_matches('.')
        .chars()
        .take(120)
        .collect::<String>();
    if name.is_empty() {
        name = "report".into();
    }
    let suffix = format!(".{ext}");
    if !name.to_ascii_lowercase().ends_with(&suffix) {
        name.push_str(&suffix);
    }
    name
}

/// Streams an upstream file to the caller with its type, length and a safe, quoted
/// `Content-Disposition` (the SDKs read it with the regex `filename="(.+?)"`). The name is
/// the caller's choice, else upstream's, else `report-{id}`.
pub(crate) fn stream_file(
    download: crate::upstream::FileDownload,
    chosen_name: Option<&str>,
    id: &crate::domain::ReportId,
    format: &str,
) -> HttpResponse {
    let name = chosen_name
        .map(str::to_owned)
        .or_else(|| {
            let d = download.content_disposition.as_deref()?;
            disposition_filename(d).map(str::to_owned)
        })
        .unwrap_or_else(|| format!("report-{id}"));
    let content_type = download
        .content_type
        .unwrap_or_else(|| format!("application/{format}"));
    let mut resp = HttpResponse::Ok();
    resp.content_type(content_type).insert_header((
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{}\"", safe_filename(&name, format)),
    ));
    if let Some(len) = download.content_length {
        resp.no_chunking(len);
    }
    resp.streaming(download.body)
}

/// The file name inside an upstream `Content-Disposition`, if any.
pub(crate) fn disposition_filename(value: &str) -> Option<&str> {
    let (_, rest) = value.split_once("filename=")?;
    Some(
        rest.trim()
            .trim_matches('"')
            .split('"')
            .next()
            .unwrap_or(""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_cannot_inject_headers_or_paths() {
        assert_eq!(
            safe_filename("a\"; evil=1\r\nX: y", "csv"),
            "a evil1X y.csv"
        );
        assert_eq!(safe_filename("../../etc/passwd", "csv"), "etcpasswd.csv");
        assert_eq!(safe_filename("", "pdf"), "report.pdf");
        assert_eq!(safe_filename("Accounts.CSV", "csv"), "Accounts.CSV");
    }

    #[test]
    fn upstream_disposition_names_are_found() {
        assert_eq!(
            disposition_filename("attachment;filename=\"A B.csv\""),
            Some("A B.csv")
        );
        assert_eq!(
            disposition_filename("attachment; filename=x.pdf"),
            Some("x.pdf")
        );
        assert_eq!(disposition_filename("inline"), None);
    }
}
