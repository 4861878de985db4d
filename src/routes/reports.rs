//! The simplified API: `/v1/reports`, camelCase, one lifecycle vocabulary.
use super::{
    cached_result, check_cancel, check_raw, fetch_file, long_poll, read_run_request, resolve_id,
    resource, respond_file, reuse,
};
use crate::auth::{Caller, Policy};
use crate::cache::{IdempotentRun, LatestRun, StartedRun};
use crate::domain::{ReportId, Status};
use crate::error::{GatewayError, UpstreamError};
use crate::limits::TeamLimiter;
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::upstream::{IdentityNow, PathFamily};
use crate::wire::v1::{ErrorBody, Report};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

const FAMILY: PathFamily = PathFamily::V3;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/reports", "POST").route(web::post().to(run_report)))
        .service(resource("/v1/reports/{id}", "GET").route(web::get().to(get_report)))
        .service(resource("/v1/reports/{id}/file", "GET").route(web::get().to(download_report)))
        .service(resource("/v1/reports/{id}/cancel", "POST").route(web::post().to(cancel_report)));
}

/// A request to run a report.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body; parsing goes through `validate_report`
pub struct RunReportRequest {
    /// The report type.
    #[serde(rename = "type")]
    #[schema(value_type = crate::domain::ReportType)]
    report_type: String,
    /// Arguments as the report type requires them (see the README).
    #[schema(value_type = Object)]
    arguments: Option<Value>,
    /// `{"url": "https://…"}`: POST the report resource there when it ends (Standard
    /// Webhooks signature with the team's secret; the URL must be under the team's
    /// `webhook.allowed_urls`).
    #[schema(value_type = Object)]
    callback: Option<Value>,
    /// Reuse an identical report (same type and arguments in canonical form) that finished
    /// with SUCCESS within this age (e.g. `15m`), or join an identical running one, instead
    /// of running it again; an age past `cache.reuse_max_age` is read as that bound.
    #[serde(rename = "maxAge")]
    max_age: Option<String>,
}

/// Start a report.
#[utoipa::path(
    post, path = "/v1/reports", tag = "reports", security(("bearer" = [])),
    request_body = RunReportRequest,
    responses(
        (status = 202, description = "Started (or the already running report of a non-concurrent type), or with `maxAge` an identical running report joined (`reused: true`)", body = Report,
         headers(("Location" = String, description = "The report's URL"))),
        (status = 200, description = "With `maxAge`: an identical report that finished with SUCCESS within that age, handed over (`reused: true`, its `completedAt`); nothing ran upstream", body = Report,
         headers(("Location" = String, description = "The report's URL"))),
        (status = 400, description = "Invalid JSON, unknown type or invalid arguments", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The team's policy does not allow this type or source", body = ErrorBody),
        (status = 409, description = "A request with this Idempotency-Key is still in progress on another replica", body = ErrorBody),
        (status = 422, description = "The Idempotency-Key was used for a different request", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "IdentityNow's rate limit was reached; see Retry-After", body = ErrorBody),
        (status = 502, description = "IdentityNow failed", body = ErrorBody),
        (status = 503, description = "The gateway cannot authenticate to IdentityNow", body = ErrorBody),
        (status = 504, description = "IdentityNow timed out", body = ErrorBody),
    )
)]
pub async fn run_report(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    policy: web::Data<Policy>,
    caller: web::ReqData<Arc<Caller>>,
    upstream: web::Data<IdentityNow>,
    metrics: web::Data<crate::metrics::Metrics>,
) -> Result<HttpResponse, GatewayError> {
    let (details, options) =
        read_run_request(&req, payload, &state, &policy, &caller, "type").await?;
    let owner = policy.owner(&caller).to_owned();
    let callback = match options.get("callback") {
        Some(raw) => {
            Some(crate::callbacks::accept::accept(raw, policy.for_team(&caller.team)).await?)
        }
        None => None,
    };
    let max_age = options
        .get("maxAge")
        .map(|v| reuse::parse_max_age(v, state.cache.settings.reuse_max_age))
        .transpose()?;
    let fingerprint = crate::domain::canonical::fingerprint(
        details["reportType"].as_str().unwrap_or_default(),
        details.get("arguments"),
    );
    // serde_json objects are sorted maps: equal requests hash equally whatever their key
    // order. Options count too (a replay with another callback is another request).
    let hashed = if options.is_empty() {
        details.to_string()
    } else {
        serde_json::json!({"details": details, "options": options}).to_string()
    };
    let hash: [u8; 32] = ring::digest::digest(&ring::digest::SHA256, hashed.as_bytes())
        .as_ref()
        .try_into()
        .expect("32 bytes");
    let run = async {
        let found = match max_age {
            Some(age) => {
                reuse::find(
                    &state,
                    &upstream,
                    FAMILY,
                    &policy,
                    &caller,
                    &fingerprint,
                    age,
                )
                .await?
            }
            None => None,
        };
        let (report, upstream_id, status) = match found {
            Some(found) => {
                let id = reuse::handed_over_id(&state, &owner, &found.run, &found.upstream_id);
                let mut results = found.result.results.clone();
                results.id = id;
                let mut report = Report::from_results(&results);
                report.reused = Some(true);
                let status = if found.finished {
                    StatusCode::OK
                } else {
                    StatusCode::ACCEPTED
                };
                (report, found.upstream_id, status)
            }
            None => {
                let start = || async {
                    let task = upstream.run(FAMILY, details.to_string().into()).await?;
                    let upstream_id = ReportId::parse(&task.id).map_err(|_| {
                        UpstreamError::BadResponse("run returned no usable id".into())
                    })?;
                    let run = LatestRun {
                        upstream_id: upstream_id.to_string(),
                        owner: owner.clone(),
                        team: caller.team.clone(),
                    };
                    state.cache.remember_run(&fingerprint, run.clone()).await;
                    Ok(StartedRun { run, task })
                };
                let (started, first) = match max_age {
                    Some(_) => state.cache.start_once(&fingerprint, start()).await?,
                    None => (Arc::new(start().await?), true),
                };
                // Joined at its start by a caller it may not be handed to: a run of its own.
                let (started, first) =
                    if first || policy.may_reuse(&caller, &started.run.owner, &started.run.team) {
                        (started, first)
                    } else {
                        (Arc::new(start().await?), true)
                    };
                let upstream_id = ReportId::parse(&started.run.upstream_id)
                    .map_err(|_| UpstreamError::BadResponse("run returned no usable id".into()))?;
                let mut task = started.task.clone();
                task.id = if first {
                    let id = state.ids.seal(&owner, &upstream_id);
                    state.holders.hold(&owner, upstream_id.as_str()).await;
                    crate::audit::note(|n| {
                        n.upstream_id = Some(upstream_id.to_string());
                        n.report_id = Some(id.clone());
                    });
                    id
                } else {
                    reuse::handed_over_id(&state, &owner, &started.run, &upstream_id)
                };
                let mut report = Report::from_task(&task);
                report.reused = Some(!first);
                (report, upstream_id, StatusCode::ACCEPTED)
            }
        };
        // Counted once per run made, not per idempotent replay of it.
        let answer = match (report.reused, status) {
            (Some(true), StatusCode::OK) => "reused",
            (Some(true), _) => "joined",
            _ => "fresh",
        };
        metrics.report_runs.with_label_values(&[answer]).inc();
        if let Some(cb) = callback {
            let callbacks = req
                .app_data::<web::Data<crate::callbacks::Callbacks>>()
                .ok_or_else(|| GatewayError::internal("no callbacks"))?;
            callbacks.clone().into_inner().watch(
                crate::callbacks::Registration {
                    report_id: report.id.clone(),
                    upstream_id,
                    url: cb.url,
                    key: cb.key,
                    allow_internal: cb.allow_internal,
                    caller: caller.id.clone(),
                    team: caller.team.clone(),
                    report_type: report.report_type.clone(),
                    request_id: crate::request_id::current(),
                },
                state.clone(),
                upstream.clone(),
            );
        }
        Ok(IdempotentRun {
            request_hash: hash,
            status: status.as_u16(),
            location: report.links.self_.clone(),
            body: serde_json::to_vec(&report)
                .map_err(GatewayError::internal)?
                .into(),
        })
    };
    let key = idempotency_key(&req)?;
    let (done, replayed) = match key {
        None => (Arc::new(run.await?), false),
        Some(key) => {
            let first = std::cell::Cell::new(false);
            let done = state
                .cache
                .idempotent(&owner, key, async {
                    first.set(true);
                    run.await
                })
                .await
                .map_err(|e| (*e).clone())?;
            (done, !first.get())
        }
    };
    if done.request_hash != hash {
        return Err(GatewayError::Unprocessable {
            code: "idempotency_key_reused",
            message: "this Idempotency-Key was used for a different request".into(),
        });
    }
    let status = StatusCode::from_u16(done.status).unwrap_or(StatusCode::ACCEPTED);
    let mut resp = HttpResponse::build(status);
    resp.insert_header((header::LOCATION, done.location.clone()))
        .content_type("application/json");
    if replayed {
        resp.insert_header(("idempotent-replayed", "true"));
    }
    Ok(super::private(resp.body(done.body.clone())))
}

/// Whether a value is a usable `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub fn valid_idempotency_key(v: &str) -> bool {
    !v.is_empty() && v.len() <= 255 && v.bytes().all(|b| b.is_ascii_graphic())
}

/// The `Idempotency-Key` header, if any.
fn idempotency_key(req: &HttpRequest) -> Result<Option<&str>, GatewayError> {
    let Some(v) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        GatewayError::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )
    };
    let v = v.to_str().map_err(|_| bad())?;
    if !valid_idempotency_key(v) {
        return Err(bad());
    }
    Ok(Some(v))
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
pub async fn get_report(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
    policy: web::Data<Policy>,
    caller: web::ReqData<Arc<Caller>>,
    upstream: web::Data<IdentityNow>,
) -> Result<HttpResponse, GatewayError> {
    let upstream_id = resolve_id(&state, &policy, &caller, &id).await?;
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
        limiter: req
            .app_data::<web::Data<TeamLimiter>>()
            .expect("limiter configured"),
        metrics: req
            .app_data::<web::Data<Metrics>>()
            .expect("metrics configured"),
    };
    // A raw id is checked against the team's policy before anything is held for it.
    check_raw(&state, &upstream, FAMILY, &policy, &caller, &upstream_id).await?;
    let cached = long_poll::hold(&state, &upstream, FAMILY, &upstream_id, wait, who).await?;
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
) -> Result<HttpResponse, GatewayError> {
    let id = resolve_id(&state, &policy, &caller, &id).await?;
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
    let auditable = req
        .app_data::<web::Data<crate::audit::Audit>>()
        .is_some_and(|a| a.upstream_auditable());
    let query: Vec<(&str, String)> = if auditable {
        vec![("auditable", "true".into())]
    } else {
        vec![]
    };
    check_raw(&state, &upstream, FAMILY, &policy, &caller, &id).await?;
    let source = match fetch_file(&state, &upstream, FAMILY, &id, format, &query, false).await {
        Ok(s) => s,
        Err(UpstreamError::Status { status, .. }) if status == StatusCode::NOT_FOUND => {
            return Err(explain_missing_file(&state, &upstream, &id, format).await)
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
    state: &AppState,
    upstream: &IdentityNow,
    id: &ReportId,
    format: &str,
) -> GatewayError {
    let results = match cached_result(state, upstream, FAMILY, id, None).await {
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
    id: web::Path<String>,
    state: web::Data<AppState>,
    policy: web::Data<Policy>,
    caller: web::ReqData<Arc<Caller>>,
    upstream: web::Data<IdentityNow>,
) -> Result<HttpResponse, GatewayError> {
    let id = resolve_id(&state, &policy, &caller, &id).await?;
    check_cancel(&policy, &caller, &id)?;
    check_raw(&state, &upstream, FAMILY, &policy, &caller, &id).await?;
    super::cancel_for(&state, &upstream, FAMILY, policy.owner(&caller), &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
