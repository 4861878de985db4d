//! `GET /openapi.json`, generated from the handlers' annotations.
use actix_web::{web, HttpResponse};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "reportgate",
        description = "An internal gateway for IdentityNow reports."
    ),
    paths(
        super::reports::run_report,
        super::reports::get_report,
        super::reports::download_report,
        super::reports::cancel_report,
        super::health::healthz,
        super::health::readyz,
    ),
    components(schemas(
        super::reports::RunReportRequest,
        super::reports::Report,
        super::reports::Links,
        super::reports::ErrorBody,
        crate::domain::ReportType,
        crate::domain::Status,
    ))
)]
pub struct ApiDoc;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/openapi.json", "GET").route(web::get().to(openapi)));
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
