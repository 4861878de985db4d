//! `GET /openapi.json`, generated from the handlers' annotations, plus what they cannot say:
//! file bodies are bytes, run takes an `Idempotency-Key`, and the limit middlewares' headers
//! (`Retry-After`, `RateLimit`, `RateLimit-Policy`) sit on the responses that carry them.
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};
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

/// The document, with the run request schema generated from the validator's own table and
/// the headers the middlewares add (which no handler annotation can see).
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("openapi serializes");
    doc["components"]["schemas"]["RunReportRequest"] = crate::domain::report::run_request_schema();
    declare_headers(&mut doc);
    doc
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

/// Patches the generated paths (see the module doc).
fn declare_headers(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, ops) in paths.iter_mut() {
        let Some(ops) = ops.as_object_mut() else {
            continue;
        };
        for (method, op) in ops.iter_mut() {
            if method == "post" && path == "/v1/reports" {
                idempotency_key(op);
            }
            let authenticated = op.get("security").is_some();
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            for (status, response) in responses.iter_mut() {
                binary_bodies(response);
                limit_headers(status, authenticated, response);
            }
        }
    }
}

/// utoipa renders `Vec<u8>` as an array of integers, which generated clients decode as JSON;
/// a file is `type: string, format: binary`.
fn binary_bodies(response: &mut Value) {
    // `get_mut`, not indexing: `value["content"]` would insert a `null` into a bodiless response.
    let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    for (media, body) in content.iter_mut() {
        if media != "application/json" {
            body["schema"] = json!({"type": "string", "format": "binary"});
        }
    }
}

fn idempotency_key(op: &mut Value) {
    let param = json!({
        "name": "Idempotency-Key",
        "in": "header",
        "required": false,
        "description": "Makes a retried run safe: the same owner, key and body within \
            `cache.idempotency_window` (24 h) get the first answer again (with `Idempotent-Replayed: true`) \
            and starts nothing; the same key with a different body gets 422 `idempotency_key_reused`.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    });
    match op["parameters"].as_array_mut() {
        Some(params) => params.push(param),
        None => op["parameters"] = json!([param]),
    }
    for status in ["200", "202"] {
        if let Some(r) = op["responses"].get_mut(status) {
            header(
                r,
                "Idempotent-Replayed",
                "`true` when this is the stored answer to an earlier run with the same Idempotency-Key",
                json!({"type": "string", "enum": ["true"]}),
                false,
            );
        }
    }
}

/// `Retry-After` on 429 (always) and 503 (while the gateway is backing off IdentityNow's token
/// endpoint); `RateLimit-Policy`/`RateLimit` on every answer to an authenticated caller
/// (the team limit runs after authentication, so a 401 has none).
fn limit_headers(status: &str, authenticated: bool, response: &mut Value) {
    match status {
        "429" => header(
            response,
            "Retry-After",
            "Seconds to wait before retrying (IdentityNow's own value when it refused the call)",
            json!({"type": "string"}),
            true,
        ),
        "503" => header(
            response,
            "Retry-After",
            "Seconds to wait, when the gateway knows (it is backing off IdentityNow's token endpoint)",
            json!({"type": "string"}),
            false,
        ),
        _ => {}
    }
    if authenticated && status != "401" {
        header(
            response,
            "RateLimit-Policy",
            "The team's limit (draft-ietf-httpapi-ratelimit-headers): `\"team\";q=<burst>;w=<seconds>`",
            json!({"type": "string"}),
            false,
        );
        header(
            response,
            "RateLimit",
            "What is left of the team's limit: `\"team\";r=<remaining>;t=<seconds until full>`",
            json!({"type": "string"}),
            false,
        );
    }
}

fn header(response: &mut Value, name: &str, description: &str, schema: Value, required: bool) {
    let headers = response
        .as_object_mut()
        .expect("a response is an object")
        .entry("headers")
        .or_insert_with(|| json!({}));
    headers[name] = json!({"description": description, "required": required, "schema": schema});
}
