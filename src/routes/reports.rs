//! The simplified API: `/v1/reports`, camelCase, one lifecycle vocabulary.
pub(super) mod run;

use super::{
    cached_result, check_cancel, check_raw, fetch_file, long_poll, resolve_id, resource,
    respond_file,
};
use crate::audit::Audit;
use crate::auth::{Caller, Policy};
use crate::domain::{ReportId, Status};
use crate::error::{GatewayError, UpstreamError};
use crate::http::{Ctx, RequestContext};
use crate::limits::TeamLimiter;
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::upstream::{IdentityNow, PathFamily};
use crate::wire::v1::{ErrorBody, Report};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use run::run_report;
pub use run::valid_idempotency_key;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use utoipa::IntoParams;

const FAMILY: PathFamily = PathFamily::V3;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/reports", "POST").route(web::post().to(run_report)))
        .service(resource("/v1/reports/{id}", "GET").route(web::get().to(get_report)))
        .service(resource("/v1/reports/{id}/file", "GET").route(web::get().to(download_report)))
        .service(resource("/v1/reports/{id}/cancel", "POST").route(web::post().to(cancel_report)));
}

/// Read a report's status.
#[utoipa::path(
    get, path = "/v1/reports/{id}", tag = "reports", security(("bearer" = [])),
    params(("id" = String, Path, description = "Report id (as returned by run)", pattern = "^[A-Za-z0-9_-]{1,128}$"), StatusQuery),
    responses(
        (status = 200, body = Report),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "No such report", body = ErrorBody),
        (status = 429, description = "IdentityNow's rate limit was reached; see Retry-After", body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody),
    )
)]
#[allow(clippy::too_many_arguments)] // extractors: what the handler needs, injected by actix
pub async fn get_report(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
    policy: web::Data<Policy>,
    caller: web::ReqData<Arc<Caller>>,
    upstream: web::Data<IdentityNow>,
    limiter: web::Data<TeamLimiter>,
    metrics: web::Data<Metrics>,
) -> Result<HttpResponse, GatewayError> {
    let ctx = RequestContext::of(&req);
    let upstream_id = resolve_id(&ctx, &state, &policy, &caller, &id).await?;
    let q = web::Query::<StatusQuery>::from_query(req.query_string())
        .map_err(|e| GatewayError::bad_request("invalid_query", e.to_string()))?;
    let wait = match q.wait {
        Some(w) if w > MAX_WAIT_SECS => {
            return Err(GatewayError::bad_request(
                "invalid_query",
                format!("wait must be at most {MAX_WAIT_SECS} seconds"),
            ))
        }
        w => Duration::from_secs(w.unwrap_or(0)).min(state.cache.settings.max_long_poll),
    };
    // A long-poll holds one of its team's places until it answers or its caller leaves.
    let _slot = match wait.is_zero() {
        true => None,
        false => Some(state.long_polls.enter(&caller.team).ok_or_else(|| {
            GatewayError::RateLimited {
                code: "too_many_long_polls",
                message: "your team holds as many long-polls (wait) as it may; poll without \
                          wait, or retry when one ends"
                    .into(),
                retry_after: Duration::from_secs(1),
            }
        })?),
    };
    let who = long_poll::Poller {
        team: &caller.team,
        policy: policy.for_team(&caller.team),
        limiter: &limiter,
        metrics: &metrics,
    };
    // A raw id is checked against the team's policy before anything is held for it.
    check_raw(
        &ctx,
        &state,
        &upstream,
        FAMILY,
        &policy,
        &caller,
        &upstream_id,
    )
    .await?;
    let cached = long_poll::hold(&ctx, &state, &upstream, FAMILY, &upstream_id, wait, who).await?;
    // The caller's id (owner-bound) is the report's name here, whatever upstream echoes.
    Ok(super::private(
        HttpResponse::Ok().content_type("application/json").body(
            crate::cache::rendered::report_body(&cached, &id.into_inner()),
        ),
    ))
}

/// The largest `wait` accepted (the document's maximum); `cache.max_long_poll` bounds
/// the actual hold, so a larger value is a caller mistake worth telling, not clamping.
const MAX_WAIT_SECS: u64 = 3600;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// Long-poll: hold the request up to this many seconds until the report finishes
    /// (bounded by `cache.max_long_poll`).
    #[param(maximum = 3600, nullable = false)]
    wait: Option<u64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FileQuery {
    /// `csv` (default) or `pdf`, in any letter case.
    #[param(pattern = "^([cC][sS][vV]|[pP][dD][fF])$", nullable = false)]
    format: Option<String>,
    /// Preferred file name (sanitized; upstream's extension is added: `.zip` for a
    /// SEARCH_EXPORT, else the format's).
    #[param(nullable = false)]
    name: Option<String>,
}

/// Download a finished report's file (streamed).
#[utoipa::path(
    get, path = "/v1/reports/{id}/file", tag = "reports", security(("bearer" = [])),
    params(("id" = String, Path, description = "Report id (as returned by run)", pattern = "^[A-Za-z0-9_-]{1,128}$"), FileQuery),
    responses(
        (status = 200, description = "The file, under upstream's type and name: a SEARCH_EXPORT's csv is a zip of CSV files (`application/zip`, `Search Export.zip`)", content((Vec<u8> = "application/csv"), (Vec<u8> = "application/pdf"), (Vec<u8> = "application/zip"))),
        (status = 206, description = "The part a single `Range: bytes=…` asked for (to resume a broken download)", content((Vec<u8> = "application/csv"), (Vec<u8> = "application/pdf"), (Vec<u8> = "application/zip")),
         headers(("Content-Range" = String, description = "bytes first-last/length"))),
        (status = 416, description = "The range starts past the end of the file", body = ErrorBody,
         headers(("Content-Range" = String, description = "bytes */length"))),
        (status = 400, body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "No such report, or not in that format", body = ErrorBody),
        (status = 409, description = "The report is not finished or has no files", body = ErrorBody),
        (status = 410, description = "`report_expired`: the report finished, but IdentityNow has purged it since (the gateway's cached result is dropped too)", body = ErrorBody),
        (status = 429, description = "IdentityNow's rate limit was reached; see Retry-After", body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody),
    )
)]
pub async fn download_report(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
    policy: web::Data<Policy>,
    caller: web::ReqData<Arc<Caller>>,
    upstream: web::Data<IdentityNow>,
    audit: web::Data<Audit>,
) -> Result<HttpResponse, GatewayError> {
    let ctx = RequestContext::of(&req);
    let id = resolve_id(&ctx, &state, &policy, &caller, &id).await?;
    let q = web::Query::<FileQuery>::from_query(req.query_string())
        .map_err(|e| GatewayError::bad_request("invalid_query", e.to_string()))?;
    let format = match q.format.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("csv") => "csv",
        Some("pdf") => "pdf",
        Some(_) => {
            return Err(GatewayError::bad_request(
                "invalid_format",
                "format must be csv or pdf",
            ))
        }
    };
    // Upstream records the download too (when it is not served from the cache).
    let query: Vec<(&str, String)> = if audit.upstream_auditable() {
        vec![("auditable", "true".into())]
    } else {
        vec![]
    };
    check_raw(&ctx, &state, &upstream, FAMILY, &policy, &caller, &id).await?;
    let fetched = fetch_file(&ctx, &state, &upstream, FAMILY, &id, format, &query, false).await;
    let source = match fetched {
        Ok(s) => s,
        Err(UpstreamError::Status { status, .. }) if status == StatusCode::NOT_FOUND => {
            return Err(explain_missing_file(&ctx, &state, &upstream, &id, format).await)
        }
        Err(e) => return Err(e.into()),
    };
    Ok(super::private(super::range::serve(
        &req,
        respond_file(source, q.name.as_deref(), &id, format),
    )))
}

/// Upstream says "file not found" for unknown reports, unfinished ones and missing
/// formats alike; one more call tells the caller which.
async fn explain_missing_file(
    ctx: &RequestContext,
    state: &AppState,
    upstream: &IdentityNow,
    id: &ReportId,
    format: &str,
) -> GatewayError {
    let results = match cached_result(ctx, state, upstream, FAMILY, id, None).await {
        Ok(r) => r.results.clone(),
        Err(e) => return e.into(),
    };
    let status = Status::from_upstream(results.status.as_deref());
    if !status.is_terminal() {
        return GatewayError::Conflict {
            code: "report_not_finished",
            message: "the report is still running; poll it until its status is SUCCESS or WARNING"
                .into(),
        };
    }
    if !status.has_files() {
        return GatewayError::Conflict {
            code: "report_has_no_files",
            message: format!("the report ended with status {status:?} and has no files"),
        };
    }
    if super::purged_upstream(state, id, format, &results).await {
        return GatewayError::Gone {
            code: "report_expired",
            message: "IdentityNow no longer has this report's files: it purges finished \
                      reports after a while; run the report again"
                .into(),
        };
    }
    GatewayError::NotFound {
        code: "format_not_available",
        message: format!(
            "the report has no {format} file (available: {})",
            results.available_formats.join(", ").to_ascii_lowercase()
        ),
    }
}

/// Cancel a report. Cancelling a finished report changes nothing and also answers 204; a
/// report reused from another owner (`maxAge`) is refused with 409 and left running. A
/// report another team also holds (IdentityNow de-duplicated the two runs into one task)
/// keeps running for that team: only this caller's claim is withdrawn.
#[utoipa::path(
    post, path = "/v1/reports/{id}/cancel", tag = "reports", security(("bearer" = [])),
    params(("id" = String, Path, description = "Report id (as returned by run)", pattern = "^[A-Za-z0-9_-]{1,128}$")),
    responses(
        (status = 204, description = "Cancelled, or already finished"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "The team may not cancel", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`report_reused`: another owner's report handed over by `maxAge`; it is theirs to cancel, and nothing was cancelled", body = ErrorBody),
        (status = 429, description = "IdentityNow's rate limit was reached; see Retry-After", body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody),
    )
)]
pub async fn cancel_report(
    ctx: Ctx,
    id: web::Path<String>,
    state: web::Data<AppState>,
    policy: web::Data<Policy>,
    caller: web::ReqData<Arc<Caller>>,
    upstream: web::Data<IdentityNow>,
) -> Result<HttpResponse, GatewayError> {
    let id = resolve_id(&ctx, &state, &policy, &caller, &id).await?;
    check_cancel(&policy, &caller, &id)?;
    check_raw(&ctx, &state, &upstream, FAMILY, &policy, &caller, &id).await?;
    super::cancel_for(&ctx, &state, &upstream, FAMILY, policy.owner(&caller), &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
