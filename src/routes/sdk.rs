//! The upstream's own paths and shapes, so code written against the official SDKs works
//! by changing only the base URL and credentials: `/v3/reports/...` (Python 1.x, Go v2, TS),
//! `/reports/v1/...` (Python 2.x, Go v3) and the annual versions `/v2024/reports/...`,
//! `/v2025/...`, `/v2026/...` (Python 1.x's `sailpoint.v2024`/`v2025`, PowerShell). Each
//! forwards to the same path family upstream (which counts its rate limit per version).
//! Errors use the upstream's bodies.
use super::{
    cached_result, check_cancel, check_raw, check_raw_read, fetch_file, read_run_request,
    resolve_id, resource, respond_file,
};
use crate::audit::Audit;
use crate::auth::{Caller, Policy};
use crate::domain::ReportId;
use crate::error::{GatewayError, SdkError, UpstreamError};
use crate::http::layer;
use crate::http::{Ctx, RequestContext};
use crate::state::AppState;
use crate::upstream::{client::parse, IdentityNow, PathFamily};
use crate::wire::models::TaskResultDetails;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn configure(cfg: &mut web::ServiceConfig, policy: &Arc<Policy>) {
    for (prefix, family) in [
        ("/v3/reports", PathFamily::V3),
        ("/reports/v1", PathFamily::V1),
        ("/v2024/reports", PathFamily::V2024),
        ("/v2025/reports", PathFamily::V2025),
        ("/v2026/reports", PathFamily::V2026),
    ] {
        // Whatever the router sends into these scopes passes the team's `sdk_paths` check:
        // the permission hangs on the routes themselves, not on a reading of the path.
        cfg.service(
            web::scope(prefix)
                .app_data(web::Data::new(family))
                .wrap(layer::wrap(SdkPathsAllowed(policy.clone())))
                .service(resource("/run", "POST").route(web::post().to(run)))
                .service(resource("/{id}/result", "GET").route(web::get().to(result)))
                .service(resource("/{id}/cancel", "POST").route(web::post().to(cancel)))
                .service(resource("/{id}", "GET").route(web::get().to(file))),
        );
    }
}

/// The `sdk_paths` check on the SDK scopes, built with the teams' policies.
struct SdkPathsAllowed(Arc<Policy>);

crate::http::layer::layer!(SdkPathsAllowed, sdk_paths_allowed);

/// Refuses the SDK paths to a team whose policy has `sdk_paths: false`, in the upstream's
/// 403 shape. Runs after authentication (the caller is known).
async fn sdk_paths_allowed(
    SdkPathsAllowed(policy): &SdkPathsAllowed,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let refused = {
        let caller = req.extensions().get::<Arc<Caller>>().cloned();
        match caller {
            Some(caller) => policy.for_team(&caller.team).check_sdk_paths().err(),
            // Unreachable behind the auth middleware; refuse rather than serve if it happens.
            None => Some("no authenticated caller".to_owned()),
        }
    };
    match refused {
        Some(message) => {
            let resp = SdkError::from(GatewayError::Forbidden(message)).error_response();
            Ok(req.into_response(resp))
        }
        None => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body),
    }
}

/// Replaces the `id` of an upstream JSON object (an owner-bound id on the way out).
fn with_id(body: &[u8], id: &str) -> Result<HttpResponse, SdkError> {
    let mut value: Value =
        serde_json::from_slice(body).map_err(|e| UpstreamError::BadResponse(e.to_string()))?;
    value["id"] = json!(id);
    Ok(super::private(HttpResponse::Ok().json(value)))
}

async fn run(
    req: HttpRequest,
    payload: web::Payload,
    family: web::Data<PathFamily>,
    state: web::Data<AppState>,
    policy: web::Data<Policy>,
    caller: web::ReqData<Arc<Caller>>,
    upstream: web::Data<IdentityNow>,
) -> Result<HttpResponse, SdkError> {
    let ctx = RequestContext::of(&req);
    let (details, _) =
        read_run_request(&req, payload, &state, &policy, &caller, "reportType").await?;
    let path = format!("{}/run", family.prefix());
    let (_, body) = upstream
        .raw(&ctx, Method::POST, &path, Some(details.to_string().into()))
        .await?;
    let task: TaskResultDetails = parse(&body)?;
    let upstream_id = ReportId::parse(&task.id)
        .map_err(|_| UpstreamError::BadResponse("run returned no usable id".into()))?;
    let owner = policy.owner(&caller);
    let sealed = state.ids.seal(owner, &upstream_id);
    state.holders.hold(owner, upstream_id.as_str()).await;
    ctx.note(|n| {
        n.upstream_id = Some(upstream_id.to_string());
        n.report_id = Some(sealed.clone());
    });
    // A run on these paths is as reusable by a later /v1 `maxAge` as one on /v1.
    let fingerprint = crate::domain::canonical::fingerprint(
        details["reportType"].as_str().unwrap_or_default(),
        details.get("arguments"),
    );
    let run = crate::cache::LatestRun {
        upstream_id: upstream_id.to_string(),
        owner: owner.to_owned(),
        team: caller.team.clone(),
    };
    state.cache.remember_run(&fingerprint, run).await;
    with_id(&body, &sealed)
}

#[derive(Deserialize)]
struct ResultQuery {
    completed: Option<bool>,
}

async fn result(
    req: HttpRequest,
    id: web::Path<String>,
    family: web::Data<PathFamily>,
    state: web::Data<AppState>,
    policy: web::Data<Policy>,
    caller: web::ReqData<Arc<Caller>>,
    upstream: web::Data<IdentityNow>,
) -> Result<HttpResponse, SdkError> {
    let ctx = RequestContext::of(&req);
    let presented = id.into_inner();
    let id = resolve_id(&ctx, &state, &policy, &caller, &presented).await?;
    let q = web::Query::<ResultQuery>::from_query(req.query_string())
        .map_err(|e| GatewayError::bad_request("invalid_query", e.to_string()))?;
    let cached = cached_result(&ctx, &state, &upstream, **family, &id, q.completed).await?;
    check_raw_read(&ctx, &policy, &caller, &id, &cached.results)?;
    with_id(&cached.body, &presented)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileQuery {
    file_format: Option<String>,
    name: Option<String>,
    auditable: Option<bool>,
}

#[allow(clippy::too_many_arguments)] // extractors: what the handler needs, injected by actix
async fn file(
    req: HttpRequest,
    id: web::Path<String>,
    family: web::Data<PathFamily>,
    state: web::Data<AppState>,
    policy: web::Data<Policy>,
    caller: web::ReqData<Arc<Caller>>,
    upstream: web::Data<IdentityNow>,
    audit: web::Data<Audit>,
) -> Result<HttpResponse, SdkError> {
    let ctx = RequestContext::of(&req);
    let id = resolve_id(&ctx, &state, &policy, &caller, &id).await?;
    let q = web::Query::<FileQuery>::from_query(req.query_string())
        .map_err(|e| GatewayError::bad_request("invalid_query", e.to_string()))?;
    let format = match q.file_format.as_deref() {
        Some("csv") => "csv",
        Some("pdf") => "pdf",
        _ => {
            return Err(GatewayError::bad_request(
                "invalid_format",
                "fileFormat is required and must be one of csv, pdf",
            )
            .into())
        }
    };
    let mut extra = Vec::new();
    if let Some(name) = &q.name {
        extra.push(("name", name.clone()));
    }
    // With audit.upstream_auditable on, IdentityNow records every download it serves,
    // whatever the caller asked; else the caller's own choice is passed on.
    match (audit.upstream_auditable(), q.auditable) {
        (true, _) => extra.push(("auditable", "true".into())),
        (false, Some(a)) => extra.push(("auditable", a.to_string())),
        (false, None) => {}
    }
    // A caller asking for an upstream audit event (auditable=true) gets a real upstream download.
    let bypass = q.auditable == Some(true);
    check_raw(&ctx, &state, &upstream, **family, &policy, &caller, &id).await?;
    let fetched = fetch_file(
        &ctx, &state, &upstream, **family, &id, format, &extra, bypass,
    )
    .await;
    let source = match fetched {
        Ok(s) => s,
        // Upstream's 404 goes back as it came; a cached result saying the report finished
        // with this file is dropped (upstream purged it), as on /v1.
        Err(e @ UpstreamError::Status { status, .. }) if status == StatusCode::NOT_FOUND => {
            if let Some(cached) = state.cache.peek_result(id.as_str()).await {
                super::purged_upstream(&state, &id, format, &cached.results).await;
            }
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    Ok(super::private(respond_file(
        source,
        q.name.as_deref(),
        &id,
        format,
    )))
}

async fn cancel(
    ctx: Ctx,
    id: web::Path<String>,
    family: web::Data<PathFamily>,
    state: web::Data<AppState>,
    policy: web::Data<Policy>,
    caller: web::ReqData<Arc<Caller>>,
    upstream: web::Data<IdentityNow>,
) -> Result<HttpResponse, SdkError> {
    let id = resolve_id(&ctx, &state, &policy, &caller, &id).await?;
    check_cancel(&policy, &caller, &id)?;
    check_raw(&ctx, &state, &upstream, **family, &policy, &caller, &id).await?;
    super::cancel_for(
        &ctx,
        &state,
        &upstream,
        **family,
        policy.owner(&caller),
        &id,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
