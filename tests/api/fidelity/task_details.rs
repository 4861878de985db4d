//! Item 5: task details. Real run answers can carry `launched` already set, `messages` with
//! WARN/ERROR entries and `completionStatus` `TEMP_ERROR`; results can end WARNING with
//! messages. The simulator shows them on demand (admin API); the SDK paths relay them
//! unchanged; `/v1` shows `messages` and `progress`.
use super::Tenant;
use crate::helpers::spawn_with;
use reportgate::simulator::{Level, Outcome, Simulator, TaskDetails, TaskMessage};
use serde_json::{json, Value};
use std::time::Duration;

const RUNNING: Duration = Duration::from_secs(600);

fn uncorrelated() -> TaskMessage {
    TaskMessage::new(
        Level::Warn,
        "task_out_accounts_not_correlated",
        "12 accounts could not be correlated",
    )
}

fn accounts() -> Value {
    json!({"reportType": "ACCOUNTS", "arguments": {"application": "2c9180835d2e5168015d32f890ca1581", "sourceName": "AD"}})
}

#[actix_rt::test]
async fn the_simulator_answers_with_launched_messages_and_temp_error_when_asked_over_its_admin_api()
{
    let sim = Simulator::builder()
        .report_duration(RUNNING)
        .start()
        .unwrap();
    let tenant = Tenant::of(&sim).await;
    // By default a run is answered queued: launched null, no messages.
    let plain = tenant.run(accounts()).await;
    assert!(plain["launched"].is_null() && plain["messages"] == json!([]));
    let set = awc::Client::default()
        .post(format!("{}/__sim/task-details", sim.base_url()))
        .send_json(&json!({"launched": true, "tempError": true, "messages": [
            {"type": "ERROR", "key": "task_failed_temporarily", "localizedText": "Search is unavailable"}]}))
        .await
        .unwrap();
    assert_eq!(set.status(), 204);
    let task = tenant
        .run(json!({"reportType": "IDENTITIES", "arguments": {}}))
        .await;
    assert_eq!(task["launched"], task["created"]);
    assert_eq!(task["completionStatus"], "TEMP_ERROR");
    assert!(task["completed"].is_string());
    let error = json!({"type": "ERROR", "error": true, "warning": false,
        "key": "task_failed_temporarily", "localizedText": "Search is unavailable"});
    assert_eq!(task["messages"], json!([error]));
    let id = task["id"].as_str().unwrap();
    let (status, body) = tenant.call("GET", &format!("/{id}/result"), None).await;
    assert_eq!(status, 200);
    let result: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(result["status"], "FAILURE");
    assert_eq!(result["messages"], json!([error]));
    assert_eq!(
        tenant
            .call("GET", &format!("/{id}?fileFormat=csv"), None)
            .await
            .0,
        404
    );
    // Unknown fields are refused, so a typo does not silently do nothing.
    let typo = awc::Client::default()
        .post(format!("{}/__sim/task-details", sim.base_url()))
        .send_json(&json!({"lanched": true}))
        .await
        .unwrap();
    assert_eq!(typo.status(), 400);
}

#[actix_rt::test]
async fn the_sdk_paths_relay_launched_messages_and_a_warning_result_unchanged() {
    let app = spawn_with(Simulator::builder().report_duration(RUNNING), |_| {}).await;
    app.sim.set_task_details(TaskDetails {
        launched: true,
        messages: vec![uncorrelated()],
        temp_error: false,
    });
    app.sim.set_outcome(Outcome::Warning);
    let r = app
        .request("POST", "/v3/reports/run", Some(&accounts().to_string()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let task = r.json();
    assert_eq!(task["launched"], task["created"]);
    assert_eq!(task["progress"], "Initializing...");
    assert_eq!(task["completionStatus"], Value::Null);
    assert_eq!(task["messages"], json!([uncorrelated().to_json()]));
    let id = task["id"].as_str().unwrap();
    app.sim.advance(RUNNING);
    let r = app
        .request("GET", &format!("/reports/v1/{id}/result"), None)
        .await;
    assert_eq!(r.json()["status"], "WARNING");
    assert_eq!(r.json()["messages"], json!([uncorrelated().to_json()]));
}

#[actix_rt::test]
async fn the_v1_report_shows_progress_while_running_and_messages_of_a_warning_or_temp_error() {
    let app = spawn_with(Simulator::builder().report_duration(RUNNING), |_| {}).await;
    app.sim.set_task_details(TaskDetails {
        launched: true,
        messages: vec![uncorrelated()],
        temp_error: false,
    });
    app.sim.set_outcome(Outcome::Warning);
    let run = app
        .run(&accounts().to_string().replace("reportType", "type"))
        .await;
    assert_eq!(run.status, 202, "{}", run.text());
    let report = run.json();
    assert_eq!(report["status"], "RUNNING", "launched is set: not PENDING");
    assert_eq!(report["progress"], "Initializing...");
    let warn = json!({"type": "WARN", "key": "task_out_accounts_not_correlated",
        "text": "12 accounts could not be correlated"});
    assert_eq!(report["messages"], json!([warn]));
    let id = report["id"].as_str().unwrap().to_owned();
    app.sim.advance(RUNNING);
    let done = app.status(&id).await.json();
    assert_eq!(done["status"], "WARNING");
    assert_eq!(done["messages"], json!([warn]));
    assert_eq!(done["progress"], Value::Null);
    assert_eq!(
        app.download(&id, "csv").await.status,
        200,
        "a WARNING has files"
    );

    app.sim.set_task_details(TaskDetails {
        temp_error: true,
        messages: vec![TaskMessage::new(Level::Error, "", "Search is unavailable")],
        ..TaskDetails::default()
    });
    let run = app
        .run(r#"{"type":"SEARCH_EXPORT","arguments":{"query":"*"}}"#)
        .await;
    let report = run.json();
    assert_eq!(report["status"], "FAILED", "TEMP_ERROR: {report}");
    assert_eq!(report["messages"][0]["type"], "ERROR");
    assert_eq!(report["messages"][0]["text"], "Search is unavailable");
    assert_eq!(report["links"]["files"], json!({}));
}

#[actix_rt::test]
async fn the_openapi_report_schema_declares_messages_progress_and_every_field_a_report_carries() {
    let app = spawn_with(Simulator::builder().report_duration(RUNNING), |_| {}).await;
    let doc = app.request("GET", "/openapi.json", None).await.json();
    let schemas = &doc["components"]["schemas"];
    let props = schemas["Report"]["properties"].as_object().unwrap();
    assert_eq!(props["messages"]["type"], "array");
    assert_eq!(
        props["messages"]["items"]["$ref"],
        "#/components/schemas/ReportMessage"
    );
    assert!(props.contains_key("progress"));
    let message = schemas["ReportMessage"]["properties"].as_object().unwrap();
    for k in ["type", "key", "text"] {
        assert!(message.contains_key(k), "ReportMessage.{k}");
    }
    app.sim.set_task_details(TaskDetails {
        launched: true,
        messages: vec![uncorrelated()],
        temp_error: false,
    });
    let report = app
        .run(&accounts().to_string().replace("reportType", "type"))
        .await
        .json();
    for key in report.as_object().unwrap().keys() {
        assert!(props.contains_key(key), "{key} is not in the Report schema");
    }
    for key in report["messages"][0].as_object().unwrap().keys() {
        assert!(message.contains_key(key), "{key} is not in ReportMessage");
    }
}

#[actix_rt::test]
async fn the_official_python_sdk_reads_task_messages_a_warning_and_a_search_export_zip() {
    let app = spawn_with(
        Simulator::builder().report_duration(Duration::from_secs(1)),
        |_| {},
    )
    .await;
    app.sim.set_task_details(TaskDetails {
        launched: true,
        messages: vec![uncorrelated()],
        temp_error: false,
    });
    app.sim.set_outcome(Outcome::Warning);
    let seen = crate::sdk_paths::drive_script(&app, "sdk2", "drive_details.py").await;
    assert_eq!(seen["launched_is_created"], true, "{seen}");
    assert_eq!(
        seen["messages"],
        json!([["WARN", true, "12 accounts could not be correlated"]])
    );
    assert_eq!(seen["progress"], "Initializing...");
    assert_eq!(seen["result_status"], "WARNING");
    assert_eq!(seen["export_file"], "Search Export.zip");
    assert_eq!(seen["export_entries"], json!(["identities.csv"]));
}
