//! Liveness and readiness.
use crate::audit::Audit;
use crate::metrics::Metrics;
use crate::state::{AppState, Observed};
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
    metrics
        .ready
        .set(i64::from(serving(&state, &observed.audit).is_ok()));
    observed.observe(&metrics);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Whether this replica can serve: configuration loaded and listeners bound (both before
/// anything answers), the audit sink writable, not draining. The tenant token is not part
/// of it: an IdentityNow auth outage would take every replica out of the Service at once,
/// turning `503 upstream_auth_failed` into connection errors and hiding the cached reports.
fn serving(state: &AppState, audit: &Audit) -> Result<(), &'static str> {
    if state
        .lifecycle
        .draining
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        Err("draining")
    } else if !audit.sink.healthy() {
        Err("not_ready")
    } else {
        Ok(())
    }
}

/// This replica can serve (config, listeners, audit, not draining). The tenant token's
/// health is in the body (`checks.upstreamToken`), never a reason for 503.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Ready; `checks.upstreamToken` is ok, refresh_failing, unavailable or pending"),
    (status = 503, description = "Draining, or the audit sink cannot write"),
))]
pub async fn readyz(
    upstream: web::Data<IdentityNow>,
    audit: web::Data<Audit>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let serving = serving(&state, &audit);
    state.lifecycle.note_readiness(serving);
    if serving.is_ok() {
        warm_token(&upstream).await;
    }
    let kind = upstream.tokens.kind();
    let checks = json!({
        "config": "ok",
        "listeners": "ok",
        "audit": if audit.sink.healthy() { "ok" } else { "failing" },
        "shutdown": if serving == Err("draining") { "draining" } else { "running" },
        "upstreamToken": upstream.tokens.health().as_str(),
        // Reported, never a reason to be unready: the fallback keeps serving.
        "redis": crate::shared::mode(state.shared.as_deref()),
        // Which credential the gateway holds, and so whether cancel can work upstream.
        "upstreamCredential": kind.map_or("unknown", |k| k.label()),
        "cancel": match kind {
            Some(k) if k.can_cancel() => "available",
            Some(_) => "unavailable: the credential is an API client; cancel needs a personal access token",
            None => "unknown",
        },
    });
    match serving {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready", "checks": checks})),
        Err(status) => {
            HttpResponse::ServiceUnavailable().json(json!({"status": status, "checks": checks}))
        }
    }
}

/// Starts a token fetch when one is due and gives it a moment, so the body tells how it
/// went; a hanging token endpoint cannot hold the probe past that moment. Probes keep the
/// token warm on an idle replica. Fetches are single-flight and back off after failures.
async fn warm_token(upstream: &web::Data<IdentityNow>) {
    if !upstream.tokens.fetch_due() {
        return;
    }
    let up = upstream.clone();
    // A failed fetch is logged where it happens (the token provider), once per attempt.
    let fetch = actix_rt::spawn(async move {
        let _ = up.ensure_token().await;
    });
    let _ = actix_rt::time::timeout(std::time::Duration::from_millis(500), fetch).await;
}
