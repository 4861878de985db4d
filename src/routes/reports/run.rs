//! `POST /v1/reports`: start a report, or hand over an identical one (`maxAge`), once per
//! `Idempotency-Key`.
use super::FAMILY;
use crate::auth::{Caller, Policy};
use crate::cache::{IdempotentRun, LatestRun, StartedRun};
use crate::callbacks::Callbacks;
use crate::domain::ReportId;
use crate::error::{GatewayError, UpstreamError};
use crate::http::RequestContext;
use crate::routes::{private, read_run_request, reuse};
use crate::state::AppState;
use crate::upstream::IdentityNow;
use crate::wire::v1::{ErrorBody, Report};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use utoipa::ToSchema;

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
#[allow(clippy::too_many_arguments)] // extractors: what the handler needs, injected by actix
pub async fn run_report(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    policy: web::Data<Policy>,
    caller: web::ReqData<Arc<Caller>>,
    upstream: web::Data<IdentityNow>,
    metrics: web::Data<crate::metrics::Metrics>,
    callbacks: web::Data<Callbacks>,
) -> Result<HttpResponse, GatewayError> {
    let ctx = RequestContext::of(&req);
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
                    &ctx,
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
                let id =
                    reuse::handed_over_id(&ctx, &state, &owner, &found.run, &found.upstream_id);
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
                    let task = upstream
                        .run(&ctx, FAMILY, details.to_string().into())
                        .await?;
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
                    ctx.note(|n| {
                        n.upstream_id = Some(upstream_id.to_string());
                        n.report_id = Some(id.clone());
                    });
                    id
                } else {
                    reuse::handed_over_id(&ctx, &state, &owner, &started.run, &upstream_id)
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
                    request_id: ctx.request_id.clone(),
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
    Ok(private(resp.body(done.body.clone())))
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
