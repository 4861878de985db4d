//! The simulated IdentityNow HTTP surface: `/oauth/token`, the four report operations
//! under `/v3/reports`, `/reports/v1` and `/v2024`…`/v2026/reports`, and an admin API under `/__sim`. Each handler
//! lives with its concern: `oauth`, `reports`, `download`, `admin`.
use super::state::SimState;
use super::{admin, download, oauth, reports};
use actix_web::web;
use std::sync::Arc;

pub(super) type State = web::Data<Arc<SimState>>;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/token", web::post().to(oauth::token));
    for prefix in [
        "/v3/reports",
        "/reports/v1",
        "/v2024/reports",
        "/v2025/reports",
        "/v2026/reports",
    ] {
        cfg.route(&format!("{prefix}/run"), web::post().to(reports::run))
            .route(
                &format!("{prefix}/{{id}}/result"),
                web::get().to(reports::result),
            )
            .route(
                &format!("{prefix}/{{id}}/cancel"),
                web::post().to(reports::cancel),
            )
            .route(&format!("{prefix}/{{id}}"), web::get().to(download::file));
    }
    cfg.route("/__sim/counters", web::get().to(admin::admin_counters))
        .route("/__sim/faults", web::get().to(admin::admin_list_faults))
        .route("/__sim/faults", web::post().to(admin::admin_add_fault))
        .route("/__sim/faults", web::delete().to(admin::admin_clear_faults))
        .route("/__sim/revoke-tokens", web::post().to(admin::admin_revoke))
        .route("/__sim/advance", web::post().to(admin::admin_advance))
        .route("/__sim/outcome", web::post().to(admin::admin_outcome))
        .route(
            "/__sim/task-details",
            web::post().to(admin::admin_task_details),
        );
}
