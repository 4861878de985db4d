//! Run, result and cancel: a report's lifecycle as the tenant reports it.
use super::errors::{dto, tracking_id};
use super::gate::admit;
use super::routes::State;
use super::state::{Op, Outcome, Phase, Report, SimState};
use crate::domain::{validate_report, ReportType};
use crate::wire::models::{ReportResults, TaskResultDetails};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

pub(super) fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn task_details(state: &SimState, r: &Report) -> TaskResultDetails {
    let now = state.now();
    let phase = r.phase(now);
    let (completed, completion) = match phase {
        _ if r.details.temp_error => (Some(rfc3339(r.created)), Some("TEMP_ERROR".into())),
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
    let launched = if r.details.launched {
        Some(rfc3339(r.created))
    } else {
        (now >= r.started + launch_delay).then(|| {
            rfc3339(r.created + chrono::Duration::from_std(launch_delay).unwrap_or_default())
        })
    };
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
        messages: r.details.messages_json(),
        returns: vec![],
        attributes: serde_json::Map::from_iter([("org".into(), json!(state.config.org))]),
        progress: (phase == Phase::Running).then(|| "Initializing...".into()),
    }
}

pub(super) async fn run(state: State, req: HttpRequest, body: web::Bytes) -> HttpResponse {
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
    let non_concurrent = state.config.non_concurrent.contains(&report_type);
    if let Some(running) = reports.values().find(|r| {
        non_concurrent
            && r.report_type == report_type
            && r.arguments == arguments
            && r.phase(now) == Phase::Running
    }) {
        return HttpResponse::Ok().json(task_details(&state, running));
    }
    let formats = match arguments.get("selectedFormats").and_then(Value::as_array) {
        // A search export's one file is its zip of CSVs, fetched with fileFormat=csv
        // (inference: its task result says "Extract query data from ElasticSearch to CSV").
        _ if report_type == ReportType::SearchExport => vec!["CSV"],
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
        details: state.next_details.lock().unwrap().clone(),
    };
    let body = task_details(&state, &report);
    reports.insert(report.id.clone(), report);
    HttpResponse::Ok().json(body)
}

pub(super) async fn result(state: State, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    if let Err(resp) = admit(&state, &req, Op::Result).await {
        return resp;
    }
    let Some(r) = state.report(id.as_str()) else {
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
        messages: if done {
            r.details.messages_json()
        } else {
            vec![]
        },
        progress: None,
    })
}

pub(super) async fn cancel(state: State, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    if let Err(resp) = admit(&state, &req, Op::Cancel).await {
        return resp;
    }
    let now = state.now();
    // A report retention has purged is gone for cancel too.
    let known = state.report(id.as_str()).is_some();
    let mut reports = state.reports.lock().unwrap();
    match reports.get_mut(id.as_str()).filter(|_| known) {
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
