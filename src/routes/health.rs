//! Liveness and readiness.
use crate::audit::Audit;
use crate::upstream::IdentityNow;
use actix_web::{web, HttpResponse};
use serde_json::json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/healthz", "GET").route(web::get().to(healthz)))
        .service(super::resource("/readyz", "GET").route(web::get().to(readyz)));
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
pub async fn readyz(upstream: web::Data<IdentityNow>, audit: web::Data<Audit>) -> HttpResponse {
    if !audit.sink.healthy() {
        return HttpResponse::ServiceUnavailable().json(json!({
            "status": "not_ready",
            "checks": {"config": "ok", "audit": "failing"}
        }));
    }
    match upstream.ensure_token().await {
        Ok(()) => HttpResponse::Ok()
            .json(json!({"status": "ready", "checks": {"config": "ok", "upstreamToken": "ok"}})),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            HttpResponse::ServiceUnavailable().json(json!({
                "status": "not_ready",
                "checks": {"config": "ok", "upstreamToken": "failed"}
            }))
        }
    }
}
