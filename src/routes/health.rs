//! Liveness and readiness.
use crate::audit::Audit;
use crate::metrics::Metrics;
use crate::startup::{AppState, Observed};
use crate::upstream::IdentityNow;
use actix_web::{web, HttpResponse};
use serde_json::json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/healthz", "GET").route(web::get().to(healthz)))
        .service(super::resource("/readyz", "GET").route(web::get().to(readyz)));
}

/// The admin listener: metrics and health, apart from the API.
pub fn admin(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/metrics", "GET").route(web::get().to(metrics)))
        .service(super::resource("/healthz", "GET").route(web::get().to(healthz)))
        .service(super::resource("/readyz", "GET").route(web::get().to(readyz)));
}

async fn metrics(
    metrics: web::Data<Metrics>,
    observed: web::Data<Observed>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ready = !state
        .lifecycle
        .draining
        .load(std::sync::atomic::Ordering::SeqCst)
        && observed.audit.sink.healthy()
        && observed.tokens.expires_in().is_some_and(|d| !d.is_zero());
    metrics.ready.set(i64::from(ready));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render(&observed))
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Configuration is loaded and a tenant token can be obtained.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "No tenant token can be obtained"),
))]
pub async fn readyz(
    upstream: web::Data<IdentityNow>,
    audit: web::Data<Audit>,
    state: web::Data<AppState>,
) -> HttpResponse {
    if state
        .lifecycle
        .draining
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        return HttpResponse::ServiceUnavailable().json(json!({
            "status": "draining",
            "checks": {"config": "ok", "shutdown": "draining"}
        }));
    }
    if !audit.sink.healthy() {
        return HttpResponse::ServiceUnavailable().json(json!({
            "status": "not_ready",
            "checks": {"config": "ok", "audit": "failing"}
        }));
    }
    // Redis is reported, never a reason to be unready: the fallback keeps serving.
    let redis = crate::shared::mode(state.shared.as_deref());
    match upstream.ensure_token().await {
        Ok(()) => {
            // Which credential the gateway holds, and so whether cancel can work upstream.
            let kind = upstream.tokens.kind();
            HttpResponse::Ok().json(json!({
                "status": "ready",
                "checks": {
                    "config": "ok", "upstreamToken": "ok", "redis": redis,
                    "upstreamCredential": kind.map_or("unknown", |k| k.label()),
                    "cancel": match kind {
                        Some(k) if k.can_cancel() => "available",
                        Some(_) => "unavailable: the credential is an API client; cancel needs a personal access token",
                        None => "unknown",
                    },
                }
            }))
        }
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            HttpResponse::ServiceUnavailable().json(json!({
                "status": "not_ready",
                "checks": {"config": "ok", "upstreamToken": "failed"}
            }))
        }
    }
}
