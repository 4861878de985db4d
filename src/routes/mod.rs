//! HTTP routes: the simplified `/v1` API, the SDK-compatible upstream paths, health and
//! the OpenAPI document. Helpers shared by them live here.
mod access;
pub(crate) mod filename;
mod files;
mod health;
mod long_poll;
pub mod oauth;
mod openapi;
mod range;
mod reports;
mod reuse;
mod sdk;

pub use openapi::ApiDoc;

use crate::auth::{Caller, Policy};
use crate::error::GatewayError;
use crate::http::RequestContext;
pub(crate) use crate::state::cached_result;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use std::sync::Arc;

pub(crate) use access::{cancel_for, check_cancel, check_raw, check_raw_read, resolve_id};
pub(crate) use files::{fetch_file, purged_upstream, respond_file};

pub use health::admin;
pub use reports::valid_idempotency_key;

/// The API listener's routes; the SDK scopes check each team's `sdk_paths` in `policy`.
pub fn configure(cfg: &mut web::ServiceConfig, policy: &Arc<Policy>) {
    health::configure(cfg);
    openapi::configure(cfg);
    oauth::configure(cfg);
    reports::configure(cfg);
    sdk::configure(cfg, policy);
}

/// Marks a response that carries report data: never sniffed as another type, never kept
/// by a browser or shared cache (the data is its owner's, and a status changes).
pub(crate) fn private(mut resp: HttpResponse) -> HttpResponse {
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    resp
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

/// Reads a request body up to `limit` bytes within `deadline`; larger bodies are refused
/// with 413 without reading them whole, slower ones with 408.
pub(crate) async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    deadline: std::time::Duration,
) -> Result<bytes::Bytes, GatewayError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(GatewayError::PayloadTooLarge { limit });
    }
    // A deadline for the whole body: a caller trickling bytes (or announcing more than it
    // sends) must not hold a worker's slot and its buffer for as long as it likes.
    let read = async {
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|e| GatewayError::bad_request("invalid_body", e.to_string()))?;
            if body.len() + chunk.len() > limit {
                return Err(GatewayError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    tokio::time::timeout(deadline, read)
        .await
        .map_err(|_| GatewayError::RequestTimeout { limit: deadline })?
}

/// Run options `/v1` accepts beside `type` and `arguments`.
pub(crate) const RUN_OPTIONS: [&str; 2] = ["callback", "maxAge"];

/// Reads a run request, validates it as the upstream schema requires and checks the team's
/// policy; returns the upstream `ReportDetails` to send, and the `/v1` run options present
/// in the body (`callback`, `maxAge`; unchecked). `type_key` is `type` on `/v1`
/// (where unknown fields and argument names are refused) and `reportType` on the SDK paths.
pub(crate) async fn read_run_request(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    policy: &Policy,
    caller: &Caller,
    type_key: &'static str,
) -> Result<
    (
        serde_json::Value,
        serde_json::Map<String, serde_json::Value>,
    ),
    GatewayError,
> {
    let v1 = type_key == "type";
    let body = read_body(req, payload, state.max_body_bytes, state.body_timeout).await?;
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        GatewayError::bad_request("invalid_json", format!("body is not valid JSON: {e}"))
    })?;
    let shape = if v1 {
        "a JSON object"
    } else {
        "a ReportDetails object"
    };
    let obj = value.as_object().ok_or_else(|| {
        GatewayError::bad_request("invalid_json", format!("body must be {shape}"))
    })?;
    if let Some(k) = obj.keys().find(|k| {
        v1 && !matches!(k.as_str(), "type" | "arguments") && !RUN_OPTIONS.contains(&k.as_str())
    }) {
        return Err(GatewayError::bad_request(
            "invalid_argument",
            format!("{k}: unknown field (expected type, arguments, callback, maxAge)"),
        ));
    }
    let options = obj
        .iter()
        .filter(|(k, _)| v1 && RUN_OPTIONS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // /v1 refuses unknown argument names (a typo guard); the SDK paths accept and forward
    // them as upstream does, since the SDKs' `from_json` sends e.g. `{"correlatedOnly":false}`
    // for ORPHAN_IDENTITIES.
    let t = crate::domain::validate_report(obj.get(type_key), obj.get("arguments"), v1).map_err(
        |e| {
            GatewayError::bad_request(
                "invalid_argument",
                e.to_string().replacen("type", type_key, 1),
            )
        },
    )?;
    RequestContext::of(req).note(|n| {
        n.report_type = Some(t.as_str().into());
        n.arguments = obj.get("arguments").cloned();
    });
    policy
        .for_team(&caller.team)
        .check_run(t, obj.get("arguments"))
        .map_err(GatewayError::Forbidden)?;
    Ok((
        serde_json::json!({
            "reportType": t.as_str(),
            "arguments": obj.get("arguments").filter(|a| !a.is_null()).cloned().unwrap_or(serde_json::json!({})),
        }),
        options,
    ))
}
