//! The simulated IdentityNow HTTP surface: `/oauth/token`, the four report operations
//! under `/v3/reports` and `/reports/v1`, and an admin API under `/__sim`.
// Handlers return early with a ready `HttpResponse` as the error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use super::files;
use super::state::{FaultAction, FaultRule, Op, Outcome, Phase, Report, SimState};
use crate::domain::validate_report;
use crate::upstream::models::{ErrorResponseDto, ReportResults, TaskResultDetails};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

type State = web::Data<Arc<SimState>>;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/token", web::post().to(token));
    for prefix in ["/v3/reports", "/reports/v1"] {
        cfg.route(&format!("{prefix}/run"), web::post().to(run))
            .route(&format!("{prefix}/{{id}}/result"), web::get().to(result))
            .route(&format!("{prefix}/{{id}}/cancel"), web::post().to(cancel))
            .route(&format!("{prefix}/{{id}}"), web::get().to(file));
    }
    cfg.route("/__sim/counters", web::get().to(admin_counters))
        .route("/__sim/faults", web::get().to(admin_list_faults))
        .route("/__sim/faults", web::post().to(admin_add_fault))
        .route("/__sim/faults", web::delete().to(admin_clear_faults))
        .route("/__sim/revoke-tokens", web::post().to(admin_revoke))
        .route("/__sim/advance", web::post().to(admin_advance))
        .route("/__sim/outcome", web::post().to(admin_outcome));
}

fn tracking_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn dto(status: StatusCode, detail: &str, text: &str) -> HttpResponse {
    HttpResponse::build(status).json(ErrorResponseDto::new(detail, &tracking_id(), text))
}

fn rate_limited(retry_after: &str) -> HttpResponse {
    HttpResponse::TooManyRequests()
        .insert_header((header::RETRY_AFTER, retry_after))
        .json(json!({"message": " Rate Limit Exceeded "}))
}

fn unauthorized(msg: &str) -> HttpResponse {
    HttpResponse::Unauthorized().json(json!({ "error": msg }))
}

/// The upstream's error body for a status, as SPEC-V3 documents them.
fn error_for(status: u16) -> HttpResponse {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match status {
        401 => unauthorized("JWT validation failed: JWT is expired"),
        429 => rate_limited("10"),
        400 => dto(
            code,
            "400.1 Bad Request Content",
            "The request was syntactically correct but its content is semantically invalid.",
        ),
        403 => dto(
            code,
            "403 Forbidden",
            "The server understood the request but refuses to authorize it.",
        ),
        404 => dto(
            code,
            "404 Not found",
            "The requested resource was not found.",
        ),
        _ if status >= 500 => dto(
            code,
            &format!("{status}.0 Internal Fault"),
            "An internal fault occurred.",
        ),
        _ => dto(code, &format!("{status}"), "Simulated error."),
    }
}

/// Applies an injected fault. `Ok(())` means carry on with the real handler.
async fn apply_fault(state: &SimState, op: Op) -> Result<(), HttpResponse> {
    let Some(action) = state.take_fault(op) else {
        return Ok(());
    };
    match action {
        FaultAction::Status { status } => {
            if status == 429 {
                state.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            }
            Err(error_for(status))
        }
        FaultAction::RateLimited { retry_after } => {
            state.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            Err(rate_limited(&retry_after))
        }
        FaultAction::Malformed => Err(HttpResponse::Ok()
            .content_type("application/json")
            .body("{\"id\": \"abc\", \"status\": ")),
        FaultAction::WrongShape => Err(HttpResponse::Ok().json(json!(["not", "an", "object"]))),
        FaultAction::Hang => {
            actix_rt::time::sleep(Duration::from_secs(3600)).await;
            Err(error_for(504))
        }
        FaultAction::Delay { ms } => {
            actix_rt::time::sleep(Duration::from_millis(ms)).await;
            Ok(())
        }
        FaultAction::HangAfterHeaders => {
            let (mime, len) = if op == Op::File {
                ("application/csv", 1024 * 1024)
            } else {
                ("application/json", 1024)
            };
            // One byte so that the headers are flushed, then nothing, ever.
            let body = futures_util::StreamExt::chain(
                futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
                    b"{",
                ))]),
                futures_util::stream::pending(),
            );
            Err(HttpResponse::Ok()
                .content_type(mime)
                .no_chunking(len)
                .streaming(body))
        }
        FaultAction::ResetMidBody => {
            let chunks = futures_util::stream::iter(vec![
                Ok(bytes::Bytes::from(vec![b'x'; 64 * 1024])),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "simulated reset",
                )),
            ]);
            Err(HttpResponse::Ok()
                .content_type("application/csv")
                .no_chunking(1024 * 1024)
                .streaming(chunks))
        }
        FaultAction::WildResult => Err(HttpResponse::Ok().json(json!({
            "reportType": "Certification Signoff Report-286d342a929c41f4820dfbfbfa7d644e",
            "taskDefName": "Certification Signoff Report-286d342a929c41f4820dfbfbfa7d644e",
            "id": "a08e9b708128450a8ce0cc86f05e27a3",
            "created": "2024-07-01T22:35:38.709",
            "status": "SUCCESS", "duration": 2907, "rows": 2, "availableFormats": ["CSV", "PDF"]
        }))),
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    exp: i64,
    iat: i64,
    client_id: String,
    scope: Vec<String>,
    authorities: Vec<String>,
    tenant_id: String,
    org: String,
    pod: String,
    internal: bool,
    jti: String,
}

/// Checks the bearer token the way the upstream does; returns the client id.
fn authenticate(state: &SimState, req: &HttpRequest) -> Result<String, HttpResponse> {
    let fail = |msg: &str| {
        state.counters.unauthorized.fetch_add(1, Ordering::Relaxed);
        unauthorized(msg)
    };
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| fail("JWT validation failed: missing bearer token"))?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_exp = false; // checked below against the simulator's clock
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Claims>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(&state.signing_key),
        &validation,
    )
    .map_err(|_| fail("JWT validation failed: invalid signature"))?;
    if data.claims.exp <= state.utc_now().timestamp() {
        return Err(fail("JWT validation failed: JWT is expired"));
    }
    if !state.live_tokens.lock().unwrap().contains(&data.claims.jti) {
        return Err(fail("JWT validation failed: token has been revoked"));
    }
    Ok(data.claims.client_id)
}

/// The common front of every report operation: count, faults, auth, rate limit.
async fn admit(state: &SimState, req: &HttpRequest, op: Op) -> Result<String, HttpResponse> {
    state.counters.bump(op);
    {
        let mut times = state.call_times.lock().unwrap();
        if times.len() >= 100_000 {
            times.pop_front();
        }
        times.push_back(std::time::Instant::now());
    }
    *state.last_traceparent.lock().unwrap() = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    apply_fault(state, op).await?;
    let client = authenticate(state, req)?;
    if let Err(wait) = state.admit(&client) {
        state.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
        return Err(rate_limited(&wait.to_string()));
    }
    Ok(client)
}

/// Parses `multipart/form-data` text fields, enough for `curl --form` token requests.
fn multipart_fields(content_type: &str, body: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let Some(boundary) = content_type.split("boundary=").nth(1) else {
        return out;
    };
    let boundary = format!("--{}", boundary.trim_matches('"'));
    let text = String::from_utf8_lossy(body);
    for part in text.split(boundary.as_str()) {
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        if let Some(name) = head
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
        {
            out.insert(name.to_owned(), value.trim_end_matches("\r\n").to_owned());
        }
    }
    out
}

async fn token(state: State, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    state.counters.bump(Op::Token);
    if let Err(resp) = apply_fault(&state, Op::Token).await {
        return resp;
    }
    // Credentials may come in the query string, the body, or both (the CLI mixes them).
    let mut params: HashMap<String, String> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let from_body: HashMap<String, String> = if ct.starts_with("multipart/form-data") {
        multipart_fields(ct, &body)
    } else {
        serde_urlencoded::from_bytes(&body).unwrap_or_default()
    };
    params.extend(from_body);
    let grant = params.get("grant_type").map(|g| g.to_ascii_lowercase());
    if grant.as_deref() != Some("client_credentials") {
        return HttpResponse::BadRequest().json(json!({
            "error": "unsupported_grant_type",
            "error_description": "Unsupported grant type"
        }));
    }
    let cfg = &state.config;
    if params.get("client_id") != Some(&cfg.client_id)
        || params.get("client_secret") != Some(&cfg.client_secret)
    {
        return HttpResponse::Unauthorized().json(json!({
            "error": "invalid_client",
            "error_description": "Bad client credentials"
        }));
    }
    let now = state.utc_now().timestamp();
    let jti = format!("{:032x}", rand::random::<u128>());
    let claims = Claims {
        exp: now + cfg.token_ttl.as_secs() as i64,
        iat: now,
        client_id: cfg.client_id.clone(),
        scope: vec!["sp:scopes:all".into()],
        authorities: vec![],
        tenant_id: "58eb06a4-dcd7-4e96-8fac-cca2afc03e61".into(),
        org: cfg.org.clone(),
        pod: "sim01-useast1".into(),
        internal: false,
        jti: jti.clone(),
    };
    let access_token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&state.signing_key),
    )
    .expect("HS256 signing cannot fail");
    state.live_tokens.lock().unwrap().insert(jti.clone());
    state.counters.token_grants.fetch_add(1, Ordering::Relaxed);
    HttpResponse::Ok().json(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": cfg.token_ttl.as_secs(),
        "scope": "sp:scopes:all",
        "accessType": "OFFLINE",
        "tenant_id": claims.tenant_id,
        "internal": false,
        "pod": claims.pod,
        "strong_auth_supported": false,
        "org": cfg.org,
        "enabled": true,
        "jti": jti,
    }))
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn task_details(state: &SimState, r: &Report) -> TaskResultDetails {
    let now = state.now();
    let phase = r.phase(now);
    let (completed, completion) = match phase {
        Phase::Running => (None, None),
        Phase::Terminated => (Some(rfc3339(r.completed_at())), Some("TERMINATED".into())),
        Phase::Done(o) => (
            Some(rfc3339(r.completed_at())),
            Some(match o {
                Outcome::Success => "SUCCESS".into(),
                Outcome::Warning => "WARNING".into(),
                Outcome::Failure => "ERROR".into(),
            }),
        ),
    };
    // Upstream queues a task briefly before launching it: the first tenth of its run.
    let launch_delay = r.duration / 10;
    let launched = (now >= r.started + launch_delay)
        .then(|| rfc3339(r.created + chrono::Duration::from_std(launch_delay).unwrap_or_default()));
    TaskResultDetails {
        task_type: Some("QUARTZ".into()),
        id: r.id.clone(),
        report_type: Some(r.report_type.as_str().into()),
        task_def_name: None,
        description: Some(format!("{} (simulated)", r.report_type.task_def_name())),
        parent_name: None,
        launcher: Some(r.launcher.clone()),
        created: Some(rfc3339(r.created)),
        launched,
        completed,
        completion_status: completion,
        messages: vec![],
        returns: vec![],
        attributes: serde_json::Map::from_iter([("org".into(), json!(state.config.org))]),
        progress: (phase == Phase::Running).then(|| "Initializing...".into()),
    }
}

async fn run(state: State, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let client = match admit(&state, &req, Op::Run).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let bad = |text: &str| dto(StatusCode::BAD_REQUEST, "400.1 Bad Request Content", text);
    let Ok(Value::Object(details)) = serde_json::from_slice::<Value>(&body) else {
        return bad("The request body is not a valid ReportDetails object.");
    };
    let report_type =
        match validate_report(details.get("reportType"), details.get("arguments"), false) {
            Ok(t) => t,
            Err(e) => return bad(&format!("{}", e).replacen("type", "reportType", 1)),
        };
    let arguments = details.get("arguments").cloned().unwrap_or(json!({}));
    let now = state.now();
    let mut reports = state.reports.lock().unwrap();
    if let Some(running) = reports.values().find(|r| {
        r.is_non_concurrent()
            && r.report_type == report_type
            && r.arguments == arguments
            && r.phase(now) == Phase::Running
    }) {
        return HttpResponse::Ok().json(task_details(&state, running));
    }
    let formats = match arguments.get("selectedFormats").and_then(Value::as_array) {
        Some(f) if !f.is_empty() => f
            .iter()
            .filter_map(|v| match v.as_str() {
                Some("CSV") => Some("CSV"),
                Some("PDF") => Some("PDF"),
                _ => None,
            })
            .collect(),
        _ => vec!["CSV", "PDF"],
    };
    let report = Report {
        id: tracking_id(),
        report_type,
        arguments,
        launcher: client,
        created: state.utc_now(),
        started: now,
        duration: state.config.report_duration,
        outcome: *state.next_outcome.lock().unwrap(),
        rows: state.config.csv_rows,
        formats,
        cancelled: None,
    };
    let body = task_details(&state, &report);
    reports.insert(report.id.clone(), report);
    HttpResponse::Ok().json(body)
}

fn not_found() -> HttpResponse {
    dto(
        StatusCode::NOT_FOUND,
        "404 Not found",
        "<h1>File Not Found - 404 Error</h1> The requested file was not found.",
    )
}

async fn result(state: State, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    if let Err(resp) = admit(&state, &req, Op::Result).await {
        return resp;
    }
    let reports = state.reports.lock().unwrap();
    let Some(r) = reports.get(id.as_str()) else {
        return dto(
            StatusCode::NOT_FOUND,
            "404 Not found",
            "The requested task result was not found.",
        );
    };
    let phase = r.phase(state.now());
    let status = match phase {
        Phase::Running => None,
        Phase::Terminated => Some("TERMINATED"),
        Phase::Done(Outcome::Success) => Some("SUCCESS"),
        Phase::Done(Outcome::Warning) => Some("WARNING"),
        Phase::Done(Outcome::Failure) => Some("FAILURE"),
    };
    let done = phase != Phase::Running;
    let elapsed = r.completed_at() - r.created;
    HttpResponse::Ok().json(ReportResults {
        report_type: Some(r.report_type.as_str().into()),
        task_def_name: Some(r.report_type.task_def_name().into()),
        id: r.id.clone(),
        created: Some(rfc3339(r.created)),
        status: status.map(str::to_owned),
        duration: done.then(|| elapsed.num_milliseconds()),
        rows: (phase == Phase::Done(Outcome::Success) || phase == Phase::Done(Outcome::Warning))
            .then_some(r.rows as i64),
        available_formats: r.formats.iter().map(|f| f.to_string()).collect(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileQuery {
    file_format: Option<String>,
    name: Option<String>,
    #[allow(dead_code)]
    auditable: Option<bool>,
}

/// Upstream answers a download whose Accept header does not match the file type with
/// RESTEasy's 500 (python-sdk issue #63); so does the simulator.
fn accept_matches(req: &HttpRequest, mime: &str) -> bool {
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return true;
    };
    accept.split(',').any(|range| {
        let range = range.split(';').next().unwrap_or("").trim();
        range == "*/*" || range == "application/*" || range == mime
    })
}

async fn file(state: State, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    if let Err(resp) = admit(&state, &req, Op::File).await {
        return resp;
    }
    let Ok(q) = web::Query::<FileQuery>::from_query(req.query_string()) else {
        return error_for(400);
    };
    let (format, mime) = match q.file_format.as_deref() {
        Some("csv") => ("CSV", "application/csv"),
        Some("pdf") => ("PDF", "application/pdf"),
        _ => {
            return dto(
                StatusCode::BAD_REQUEST,
                "400.1 Bad Request Content",
                "fileFormat is required and must be one of csv, pdf.",
            )
        }
    };
    if !accept_matches(&req, mime) {
        return HttpResponse::InternalServerError().json(json!({
            "errorName": "NotAcceptableException",
            "errorMessage": "RESTEASY003635: No match for accept header",
            "trackingId": tracking_id(),
        }));
    }
    let report = {
        let reports = state.reports.lock().unwrap();
        match reports.get(id.as_str()) {
            Some(r)
                if matches!(
                    r.phase(state.now()),
                    Phase::Done(Outcome::Success | Outcome::Warning)
                ) && r.formats.contains(&format) =>
            {
                r.clone()
            }
            _ => return not_found(),
        }
    };
    let name = q
        .name
        .clone()
        .unwrap_or_else(|| report.report_type.task_def_name().to_owned());
    let ext = format.to_ascii_lowercase();
    let name = if name.ends_with(&format!(".{ext}")) {
        name
    } else {
        format!("{name}.{ext}")
    };
    let disposition = format!(
        "attachment;filename=\"{}\"",
        name.replace(['"', '\r', '\n'], "")
    );
    let mut resp = HttpResponse::Ok();
    resp.content_type(mime)
        .insert_header((header::CONTENT_DISPOSITION, disposition));
    if format == "PDF" {
        return resp.body(files::pdf(report.report_type.task_def_name(), report.rows));
    }
    let source = report
        .arguments
        .get("sourceName")
        .and_then(Value::as_str)
        .unwrap_or("IdentityNow")
        .to_owned();
    resp.no_chunking(files::csv_len(report.rows))
        .streaming(files::csv_stream(report.rows, source))
}

async fn cancel(state: State, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    if let Err(resp) = admit(&state, &req, Op::Cancel).await {
        return resp;
    }
    let now = state.now();
    let mut reports = state.reports.lock().unwrap();
    match reports.get_mut(id.as_str()) {
        Some(r) => {
            // Cancelling a finished report changes nothing and still answers 204.
            if r.phase(now) == Phase::Running {
                r.cancelled = Some(now);
            }
            HttpResponse::NoContent().finish()
        }
        None => dto(
            StatusCode::NOT_FOUND,
            "404 Not found",
            "The requested task result was not found.",
        ),
    }
}

async fn admin_counters(state: State) -> HttpResponse {
    HttpResponse::Ok().json(state.counters.snapshot())
}

async fn admin_list_faults(state: State) -> HttpResponse {
    HttpResponse::Ok().json(state.faults())
}

async fn admin_add_fault(state: State, rule: web::Json<FaultRule>) -> HttpResponse {
    state.add_fault(rule.into_inner());
    HttpResponse::Created().json(state.faults())
}

async fn admin_clear_faults(state: State) -> HttpResponse {
    state.clear_faults();
    HttpResponse::NoContent().finish()
}

async fn admin_revoke(state: State) -> HttpResponse {
    state.revoke_tokens();
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct Advance {
    seconds: u64,
}

async fn admin_advance(state: State, body: web::Json<Advance>) -> HttpResponse {
    state.advance(Duration::from_secs(body.seconds));
    HttpResponse::NoContent().finish()
}

async fn admin_outcome(state: State, body: web::Json<Outcome>) -> HttpResponse {
    *state.next_outcome.lock().unwrap() = body.into_inner();
    HttpResponse::NoContent().finish()
}
