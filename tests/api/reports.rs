use crate::helpers::{assert_error, spawn_app, spawn_with};
use reportgate::simulator::{Outcome, Simulator};
use serde_json::json;
use std::time::Duration;

#[actix_rt::test]
async fn every_report_type_with_valid_arguments_is_started_upstream() {
    let app = spawn_app().await;
    let valid = [
        json!({"type": "ACCOUNTS", "arguments": {"application": "2c91", "sourceName": "AD"}}),
        json!({"type": "IDENTITIES_DETAILS", "arguments": {"correlatedOnly": true}}),
        json!({"type": "IDENTITIES"}),
        json!({"type": "IDENTITY_PROFILE_IDENTITY_ERROR", "arguments": {"authoritativeSource": "1234"}}),
        json!({"type": "ORPHAN_IDENTITIES", "arguments": {"selectedFormats": ["CSV", "PDF"]}}),
        json!({"type": "UNCORRELATED_ACCOUNTS", "arguments": {}}),
        json!({"type": "SEARCH_EXPORT", "arguments": {"query": "name:a*", "indices": ["identities"], "columns": "name", "sort": ["-name"]}}),
    ];
    for body in &valid {
        let r = app.run(&body.to_string()).await;
        assert_eq!(r.status, 202, "{body}: {}", r.text());
        let report = r.json();
        assert_eq!(report["type"], body["type"]);
        assert_eq!(
            r.header("location").unwrap(),
            format!("/v1/reports/{}", report["id"].as_str().unwrap())
        );
    }
    assert_eq!(app.sim.counters().run, valid.len() as u64);
}

#[actix_rt::test]
async fn invalid_report_requests_get_400_naming_the_field_and_never_reach_upstream() {
    let app = spawn_app().await;
    let invalid = [
        (
            json!({"type": "ACCOUNTS", "arguments": {"application": "2c91"}}),
            "arguments.sourceName",
        ),
        (
            json!({"type": "ACCOUNTS", "arguments": {"application": 7, "sourceName": "AD"}}),
            "arguments.application",
        ),
        (
            json!({"type": "IDENTITIES_DETAILS", "arguments": {}}),
            "arguments.correlatedOnly",
        ),
        (
            json!({"type": "IDENTITIES", "arguments": {"correlatedOnly": "yes"}}),
            "arguments.correlatedOnly",
        ),
        (
            json!({"type": "IDENTITY_PROFILE_IDENTITY_ERROR"}),
            "arguments.authoritativeSource",
        ),
        (
            json!({"type": "ORPHAN_IDENTITIES", "arguments": {"selectedFormats": ["XLSX"]}}),
            "arguments.selectedFormats[0]",
        ),
        (
            json!({"type": "UNCORRELATED_ACCOUNTS", "arguments": {"selectedFormats": "CSV"}}),
            "arguments.selectedFormats",
        ),
        (
            json!({"type": "SEARCH_EXPORT", "arguments": {"indices": ["identities"]}}),
            "arguments.query",
        ),
        (
            json!({"type": "SEARCH_EXPORT", "arguments": {"query": "x", "indices": ["Users; x"]}}),
            "arguments.indices[0]",
        ),
        (
            json!({"type": "SEARCH_EXPORT", "arguments": {"query": "x", "sourcename": "typo"}}),
            "arguments.sourcename",
        ),
        (json!({"type": "PAYROLL"}), "type"),
        (json!({"arguments": {}}), "type"),
        (json!({"type": "IDENTITIES", "color": "red"}), "color"),
    ];
    for (body, field) in &invalid {
        let r = app.run(&body.to_string()).await;
        assert_error(&r, 400, "invalid_argument");
        let message = r.json()["message"].as_str().unwrap().to_owned();
        assert!(
            message.starts_with(field),
            "{body}: {message} should name {field}"
        );
    }
    for raw in ["{not json", "[1,2]", "", "null"] {
        assert_error(&app.run(raw).await, 400, "invalid_json");
    }
    assert_eq!(app.sim.counters().api_calls(), 0);
}

#[actix_rt::test]
async fn a_report_runs_to_completion_and_its_csv_and_pdf_download() {
    let app = spawn_with(
        Simulator::builder()
            .report_duration(Duration::from_secs(60))
            .csv_rows(1000),
        |_| {},
    )
    .await;
    let id = app.run_accounts().await;

    let running = app.status(&id).await;
    assert_eq!(running.status, 200);
    assert!(matches!(
        running.json()["status"].as_str(),
        Some("PENDING" | "RUNNING")
    ));
    assert_eq!(running.json()["links"]["files"], json!({}));

    app.sim.advance(Duration::from_secs(61));
    let done = app.status(&id).await.json();
    assert_eq!(done["status"], "SUCCESS");
    assert_eq!(done["rows"], 1000);
    assert_eq!(done["durationMs"], 60_000);
    assert_eq!(done["availableFormats"], json!(["csv", "pdf"]));
    assert!(done["completedAt"].as_str().unwrap().ends_with('Z'));

    let csv = app.download(&id, "csv").await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type").unwrap(), "application/csv");
    assert_eq!(
        csv.header("content-disposition").unwrap(),
        "attachment; filename=\"Account Export.csv\""
    );
    assert_eq!(
        csv.header("content-length").unwrap(),
        csv.body.len().to_string()
    );
    assert_eq!(
        csv.text().lines().count(),
        1001,
        "a header and one line per row"
    );

    let pdf = app.download(&id, "pdf").await;
    assert_eq!(pdf.status, 200);
    assert_eq!(pdf.header("content-type").unwrap(), "application/pdf");
    assert!(pdf.body.starts_with(b"%PDF-"));
}

#[actix_rt::test]
async fn a_running_report_can_be_cancelled_and_then_reads_cancelled() {
    let app = spawn_with(
        Simulator::builder().report_duration(Duration::from_secs(60)),
        |_| {},
    )
    .await;
    let id = app.run_accounts().await;
    let r = app.cancel(&id).await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(app.status(&id).await.json()["status"], "CANCELLED");
    assert_error(&app.download(&id, "csv").await, 409, "report_has_no_files");
}

#[actix_rt::test]
async fn cancelling_a_finished_report_answers_204_and_changes_nothing() {
    let app = spawn_app().await;
    let id = app.run_accounts().await;
    assert_eq!(app.status(&id).await.json()["status"], "SUCCESS");
    assert_eq!(app.cancel(&id).await.status, 204);
    assert_eq!(app.status(&id).await.json()["status"], "SUCCESS");
}

#[actix_rt::test]
async fn downloading_a_running_report_gets_409_not_finished() {
    let app = spawn_with(
        Simulator::builder().report_duration(Duration::from_secs(60)),
        |_| {},
    )
    .await;
    let id = app.run_accounts().await;
    assert_error(&app.download(&id, "csv").await, 409, "report_not_finished");
}

#[actix_rt::test]
async fn a_failed_report_reads_failed_and_has_no_files() {
    let app = spawn_app().await;
    app.sim.set_outcome(Outcome::Failure);
    let id = app.run_accounts().await;
    assert_eq!(app.status(&id).await.json()["status"], "FAILED");
    assert_error(&app.download(&id, "csv").await, 409, "report_has_no_files");
}

#[actix_rt::test]
async fn a_format_the_report_was_not_made_in_gets_404() {
    let app = spawn_app().await;
    let r = app
        .run(r#"{"type":"ORPHAN_IDENTITIES","arguments":{"selectedFormats":["CSV"]}}"#)
        .await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(app.download(&id, "csv").await.status, 200);
    assert_error(&app.download(&id, "pdf").await, 404, "format_not_available");
    assert_error(&app.download(&id, "xlsx").await, 400, "invalid_format");
}

#[actix_rt::test]
async fn unknown_reports_get_404_on_status_file_and_cancel() {
    let app = spawn_app().await;
    let id = "0123456789abcdef0123456789abcdef";
    assert_error(&app.status(id).await, 404, "report_not_found");
    assert_error(&app.download(id, "csv").await, 404, "report_not_found");
    assert_error(&app.cancel(id).await, 404, "report_not_found");
}

#[actix_rt::test]
async fn starting_a_running_non_concurrent_report_again_returns_the_same_report() {
    let app = spawn_with(
        Simulator::builder().report_duration(Duration::from_secs(60)),
        |_| {},
    )
    .await;
    let first = app.run_accounts().await;
    let second = app.run_accounts().await;
    assert_eq!(first, second);
}

#[actix_rt::test]
async fn a_chosen_file_name_is_sanitized_and_quoted() {
    let app = spawn_app().await;
    let id = app.run_accounts().await;
    let r = app
        .request(
            "GET",
            &format!("/v1/reports/{id}/file?format=csv&name=q%22%3B%0D%0AX-Evil%3A%201"),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-disposition").unwrap(),
        "attachment; filename=\"qX-Evil 1.csv\""
    );
    assert!(r.header("x-evil").is_none());
}

#[actix_rt::test]
async fn the_openapi_document_declares_every_parameter_where_it_is_read() {
    let app = spawn_app().await;
    let doc = app.request("GET", "/openapi.json", None).await.json();
    let mut seen = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for op in ops.as_object().unwrap().values() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                let templated = path.contains(&format!("{{{name}}}"));
                // The one header the gateway reads from callers (besides Authorization).
                let want = match (templated, name) {
                    (true, _) => "path",
                    (false, "Idempotency-Key") => "header",
                    (false, _) => "query",
                };
                assert_eq!(p["in"], want, "{path} {name}");
                // A path parameter is always required; the query ones are all optional.
                assert_eq!(p["required"], templated, "{path} {name}");
                seen += 1;
            }
        }
    }
    assert!(seen >= 6, "only {seen} parameters declared");
}
