//! `GET /openapi.json`, generated from the handlers' annotations.
use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Declares the bearer JWT every `/v1` route requires.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    modifiers(&BearerAuth),
    info(
        title = "reportgate",
        description = "An internal gateway for IdentityNow reports."
    ),
    paths(
        super::reports::run::run_report,
        super::reports::get_report,
        super::reports::download_report,
        super::reports::cancel_report,
        super::health::healthz,
        super::health::readyz,
    ),
    components(schemas(
        super::reports::run::RunReportRequest,
        crate::wire::v1::Report,
        crate::wire::v1::Links,
        crate::wire::v1::ReportMessage,
        crate::wire::v1::ErrorBody,
        crate::domain::ReportType,
        crate::domain::Status,
    ))
)]
pub struct ApiDoc;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/openapi.json", "GET").route(web::get().to(openapi)));
}

/// The document, with the run request schema generated from the validator's own table.
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("openapi serializes");
    doc["components"]["schemas"]["RunReportRequest"] = crate::domain::report::run_request_schema();
    doc
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(document())
}
