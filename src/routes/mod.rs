//! HTTP routes: the simplified `/v1` API, the SDK-compatible upstream paths, health and
//! the OpenAPI document. Helpers shared by them live here.
pub(crate) mod filename;
mod health;
mod long_poll;
pub mod oauth;
mod openapi;
mod range;
mod reports;
mod reuse;
mod sdk;

pub use openapi::ApiDoc;

use crate::audit;
use crate::auth::{Caller, Opened, Policy};
use crate::cache::{CachedFile, FileMiss};
use crate::domain::ReportId;
use crate::error::GatewayError;
use crate::error::UpstreamError;
pub(crate) use crate::state::cached_result;
use crate::state::AppState;
use crate::upstream::{FileDownload, IdentityNow, PathFamily};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use std::cell::RefCell;
use std::sync::Arc;

pub use health::admin;
pub use reports::valid_idempotency_key;

pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    openapi::configure(cfg);
    oauth::configure(cfg);
    reports::configure(cfg);
    sdk::configure(cfg);
}

/// A report id a caller may use: the upstream id, whether it came raw (an upstream id
/// without the gateway's seal, which the team's `raw_ids` allows), and whether it is a
/// reused one (another owner's run handed over by `maxAge`).
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub id: ReportId,
    pub raw: bool,
    pub reused: bool,
}

impl std::ops::Deref for Resolved {
    type Target = ReportId;
    fn deref(&self) -> &ReportId {
        &self.id
    }
}

/// Turns an id presented by a caller into the upstream id, if the caller may see it.
/// Someone else's report answers exactly like a report that does not exist, whether its id
/// is sealed for someone else or raw: `raw_ids` opens reports the gateway did not start
/// (and the team's own), never one the gateway handed to another owner.
pub(crate) async fn resolve_id(
    state: &AppState,
    policy: &Policy,
    caller: &Caller,
    raw: &str,
) -> Result<Resolved, GatewayError> {
    let presented =
        ReportId::parse(raw).map_err(|m| GatewayError::bad_request("invalid_report_id", m))?;
    audit::note(|n| n.report_id = Some(presented.to_string()));
    let owner = policy.owner(caller);
    let found = |id, raw, reused| Some(Resolved { id, raw, reused });
    let resolved = match state.ids.open(owner, &presented) {
        Opened::Owned(id) => found(id, false, false),
        Opened::Reused(id) => found(id, false, true),
        Opened::Raw(id) if policy.for_team(&caller.team).raw_ids => {
            let theirs = state.holders.sealed(id.as_str()).await
                && !state.holders.holds(owner, id.as_str()).await;
            if theirs {
                None
            } else {
                found(id, true, false)
            }
        }
        Opened::Raw(_) | Opened::Foreign => None,
    };
    let Some(resolved) = resolved else {
        audit::note(|n| n.denied = true);
        return Err(GatewayError::report_not_found());
    };
    audit::note(|n| n.upstream_id = Some(resolved.id.to_string()));
    Ok(resolved)
}

/// A raw id reads only what the team's `run`/`sources` policy allows, judged by the type in
/// the upstream result. The result carries no arguments, so an ACCOUNTS report is readable
/// raw only by a team allowed every source. A refusal answers like a missing report.
pub(crate) fn check_raw_read(
    policy: &Policy,
    caller: &Caller,
    id: &Resolved,
    results: &crate::wire::models::ReportResults,
) -> Result<(), GatewayError> {
    if !id.raw {
        return Ok(());
    }
    match policy
        .for_team(&caller.team)
        .check_read(results.report_type.as_deref())
    {
        Ok(()) => Ok(()),
        Err(why) => {
            tracing::debug!(reason = %why, "raw id refused by policy");
            audit::note(|n| n.denied = true);
            Err(GatewayError::report_not_found())
        }
    }
}

/// For a raw id, reads the result (through the cache) to apply [`check_raw_read`]; a team
/// that may run every type of every source needs no read.
pub(crate) async fn check_raw(
    state: &AppState,
    upstream: &IdentityNow,
    family: PathFamily,
    policy: &Policy,
    caller: &Caller,
    id: &Resolved,
) -> Result<(), GatewayError> {
    if !id.raw || policy.for_team(&caller.team).reads_everything() {
        return Ok(());
    }
    let cached = cached_result(state, upstream, family, id, None).await?;
    check_raw_read(policy, caller, id, &cached.results)
}

/// Whether the caller may cancel this report: the team's `cancel`; a reused report
/// (another owner's run, handed to this caller by `maxAge`) is readable but not this
/// caller's to cancel; a raw id needs the team's explicit `raw_cancel` too.
pub(crate) fn check_cancel(
    policy: &Policy,
    caller: &Caller,
    id: &Resolved,
) -> Result<(), GatewayError> {
    let team = policy.for_team(&caller.team);
    team.check_cancel().map_err(GatewayError::Forbidden)?;
    if id.reused {
        return Err(GatewayError::Conflict {
            code: "report_reused",
            message: "this report is another owner's run, reused for you (maxAge); it is theirs \
                      to cancel, so nothing was cancelled"
                .into(),
        });
    }
    if id.raw && !team.raw_cancel {
        return Err(GatewayError::Forbidden(
            "your team may not cancel reports by their upstream id".into(),
        ));
    }
    Ok(())
}

/// Cancels a report for its caller. IdentityNow answers a run of a non-concurrent report
/// that is already running with that task, so one upstream task can be held by several
/// owners: a cancel then only withdraws this owner's claim, and the task is cancelled
/// upstream only by the last owner holding it.
pub(crate) async fn cancel_for(
    state: &AppState,
    upstream: &IdentityNow,
    family: PathFamily,
    owner: &str,
    id: &ReportId,
) -> Result<(), GatewayError> {
    if state.holders.release(owner, id.as_str()).await == crate::auth::Release::Withdrawn {
        tracing::info!("cancel withdrew this owner's claim; another owner still holds the task");
        return Ok(());
    }
    upstream.cancel(family, id).await?;
    Ok(())
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
    audit::note(|n| {
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

/// Whether upstream's "file not found" for a report means it purged the report: the result
/// says it finished with files, this format among them. Then everything cached about it is
/// dropped, so that status reads stop saying it finished.
pub(crate) async fn purged_upstream(
    state: &AppState,
    id: &ReportId,
    format: &str,
    results: &crate::wire::models::ReportResults,
) -> bool {
    let status = crate::domain::Status::from_upstream(results.status.as_deref());
    let listed = results.available_formats.is_empty()
        || results
            .available_formats
            .iter()
            .any(|f| f.eq_ignore_ascii_case(format));
    let purged = status.has_files() && listed;
    if purged {
        state.cache.forget(id.as_str()).await;
    }
    purged
}

/// Where a file's bytes come from.
pub(crate) enum FileSource {
    Cached(Arc<CachedFile>),
    Stream(FileDownload),
}

async fn read_whole(mut d: FileDownload, max: u64) -> Result<CachedFile, FileMiss> {
    let mut body = bytes::BytesMut::with_capacity(d.content_length.unwrap_or(0) as usize);
    while let Some(chunk) = d.body.next().await {
        let chunk = chunk.map_err(|e| UpstreamError::BadResponse(format!("file body: {e}")))?;
        body.extend_from_slice(&chunk);
        if body.len() as u64 > max {
            return Err(UpstreamError::BadResponse("file longer than announced".into()).into());
        }
    }
    Ok(CachedFile {
        content_type: d.content_type,
        content_disposition: d.content_disposition,
        body: body.freeze(),
    })
}

/// A report file: small files of finished reports come from the cache (concurrent
/// downloads make one upstream request); larger ones, and `bypass_cache` ones, stream.
pub(crate) async fn fetch_file(
    state: &AppState,
    upstream: &IdentityNow,
    family: PathFamily,
    id: &ReportId,
    format: &str,
    query: &[(&str, String)],
    bypass_cache: bool,
) -> Result<FileSource, UpstreamError> {
    if bypass_cache {
        return upstream
            .file(family, id, format, query)
            .await
            .map(FileSource::Stream);
    }
    let max = state.cache.settings.file_max_bytes;
    // The caller that fetched a too-large file keeps its stream here instead of a second call.
    let spill: RefCell<Option<FileDownload>> = RefCell::new(None);
    let fetched = state
        .cache
        .file(id.as_str(), format, async {
            let d = upstream.file(family, id, format, query).await?;
            match d.content_length {
                Some(len) if len <= max => read_whole(d, max).await,
                _ => {
                    *spill.borrow_mut() = Some(d);
                    Err(FileMiss::TooLarge)
                }
            }
        })
        .await;
    match fetched {
        Ok(f) => Ok(FileSource::Cached(f)),
        Err(FileMiss::Upstream(e)) => Err(e),
        Err(FileMiss::TooLarge) => match spill.into_inner() {
            Some(d) => Ok(FileSource::Stream(d)),
            None => upstream
                .file(family, id, format, query)
                .await
                .map(FileSource::Stream),
        },
    }
}

/// Sends a file to the caller with its type, length and a safe `Content-Disposition` (see
/// [`filename`]). The name is the caller's choice, else upstream's, else `report-{id}`; a
/// name without extension gets upstream's (a SEARCH_EXPORT `.zip`), else the format's.
pub(crate) fn respond_file(
    source: FileSource,
    chosen_name: Option<&str>,
    id: &ReportId,
    format: &str,
) -> HttpResponse {
    let (content_type, disposition) = match &source {
        FileSource::Cached(f) => (f.content_type.clone(), f.content_disposition.clone()),
        FileSource::Stream(d) => (d.content_type.clone(), d.content_disposition.clone()),
    };
    let upstream_name = disposition
        .as_deref()
        .and_then(filename::disposition_filename);
    let ext = upstream_name
        .as_deref()
        .and_then(filename::extension)
        .unwrap_or(format)
        .to_owned();
    let name = chosen_name
        .map(str::to_owned)
        .or(upstream_name)
        .unwrap_or_else(|| format!("report-{id}"));
    let mut resp = HttpResponse::Ok();
    resp.content_type(content_type.unwrap_or_else(|| format!("application/{format}")))
        .insert_header((
            header::CONTENT_DISPOSITION,
            filename::content_disposition(&name, &ext),
        ));
    match source {
        FileSource::Cached(f) => resp.body(f.body.clone()),
        FileSource::Stream(d) => {
            if let Some(len) = d.content_length {
                resp.no_chunking(len);
            }
            resp.streaming(d.body)
        }
    }
}
