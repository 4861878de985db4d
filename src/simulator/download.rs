//! `GET /reports/{id}?fileFormat=`: the report file download.
use super::errors::{dto, error_for, not_found, tracking_id};
use super::files;
use super::gate::admit;
use super::routes::State;
use super::state::{Op, Outcome, Phase};
use super::zip::{self, Entry};
use crate::domain::ReportType;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileQuery {
    file_format: Option<String>,
    name: Option<String>,
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

pub(super) async fn file(state: State, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    if let Err(resp) = admit(&state, &req, Op::File).await {
        return resp;
    }
    let Ok(q) = web::Query::<FileQuery>::from_query(req.query_string()) else {
        return error_for(400);
    };
    if q.auditable == Some(true) {
        state
            .counters
            .auditable_files
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
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
    let report = match state.report(id.as_str()) {
        Some(r)
            if matches!(
                r.phase(state.now()),
                Phase::Done(Outcome::Success | Outcome::Warning)
            ) && r.formats.contains(&format) =>
        {
            r
        }
        _ => return not_found(),
    };
    let name = q
        .name
        .clone()
        .unwrap_or_else(|| report.report_type.task_def_name().to_owned());
    // A search export's file is a zip of CSV files whatever `fileFormat` says.
    let zipped = report.report_type == ReportType::SearchExport;
    let ext = if zipped {
        "zip".to_owned()
    } else {
        format.to_ascii_lowercase()
    };
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
    resp.content_type(if zipped { ZIP_MIME } else { mime })
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
    if zipped {
        let entries = search_export_entries(&report.arguments, report.rows, &source);
        return resp
            .no_chunking(zip::zip_len(&entries))
            .streaming(zip::zip_stream(entries, report.completed_at()));
    }
    resp.no_chunking(files::csv_len(report.rows))
        .streaming(files::csv_stream(report.rows, source))
}

/// Upstream declares no content type for a SEARCH_EXPORT file (only csv and pdf); its other
/// zip downloads (e.g. SPEC-V3 `sod-download-default-report.yaml`) declare this one.
const ZIP_MIME: &str = "application/zip";

/// The indices a search export searches when none are named ("all indices"; SPEC-V3
/// `search/Index.yaml`).
const ALL_INDICES: [&str; 6] = [
    "accessprofiles",
    "accountactivities",
    "entitlements",
    "events",
    "identities",
    "roles",
];

/// One CSV per searched index (`identities.csv`, ...): upstream does not document the names
/// inside the archive, so this layout is an inference. Each holds the report's rows, fewer
/// if needed to keep the archive below 4 GiB.
fn search_export_entries(arguments: &Value, rows: u64, source: &str) -> Vec<Entry> {
    let named: Vec<String> = arguments
        .get("indices")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut names: Vec<String> = if named.is_empty() || named.iter().any(|i| i == "*") {
        ALL_INDICES.iter().map(|s| s.to_string()).collect()
    } else {
        named
            .iter()
            .map(|i| {
                i.chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(40)
                    .collect::<String>()
            })
            .filter(|i| !i.is_empty())
            .collect()
    };
    names.sort();
    names.dedup();
    if names.is_empty() {
        names.push("search".into());
    }
    let cap = files::rows_for_size(u64::from(u32::MAX) / (names.len() as u64 + 1));
    names
        .into_iter()
        .map(|n| Entry {
            name: format!("{n}.csv"),
            rows: rows.min(cap),
            source: source.to_owned(),
        })
        .collect()
}
