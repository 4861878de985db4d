use crate::helpers::{spawn_app, TestApp};
use serde_json::Value;
use std::path::PathBuf;

#[actix_rt::test]
async fn both_upstream_path_families_answer_with_upstream_shapes() {
    let app = spawn_app().await;
    for prefix in ["/v3/reports", "/reports/v1"] {
        let r = app
            .request(
                "POST",
                &format!("{prefix}/run"),
                Some(r#"{"reportType":"IDENTITIES","arguments":{"correlatedOnly":true}}"#),
            )
            .await;
        assert_eq!(r.status, 200, "{prefix}: {}", r.text());
        let task = r.json();
        assert_eq!(task["reportType"], "IDENTITIES");
        assert_eq!(task["type"], "QUARTZ");
        let id = task["id"].as_str().unwrap();

        let r = app
            .request("GET", &format!("{prefix}/{id}/result?completed=true"), None)
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["status"], "SUCCESS");
        assert_eq!(r.json()["taskDefName"], "Identities Report");

        // The SDK used to send Accept: application/json, which upstream answers with a 500;
        // the gateway derives Accept from fileFormat, so this works.
        let r = app
            .request_with(
                "GET",
                &format!("{prefix}/{id}?fileFormat=csv&name=ids"),
                None,
                &[("accept", "application/json")],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.header("content-disposition").unwrap(),
            "attachment; filename=\"ids.csv\""
        );

        let r = app
            .request("POST", &format!("{prefix}/{id}/cancel"), None)
            .await;
        assert_eq!(r.status, 204);
    }
}

#[actix_rt::test]
async fn sdk_path_errors_use_the_upstream_error_bodies() {
    let app = spawn_app().await;
    let r = app
        .request(
            "POST",
            "/v3/reports/run",
            Some(r#"{"reportType":"ACCOUNTS"}"#),
        )
        .await;
    assert_eq!(r.status, 400);
    let body = r.json();
    assert_eq!(body["detailCode"], "400 Bad Request");
    assert!(body["messages"][0]["text"]
        .as_str()
        .unwrap()
        .contains("arguments.application"));
    assert_eq!(
        body["trackingId"].as_str(),
        r.header("x-request-id").as_deref()
    );

    let r = app
        .request(
            "GET",
            "/reports/v1/0123456789abcdef0123456789abcdef?fileFormat=csv",
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["detailCode"], "404 Not found");

    let r = app
        .request(
            "GET",
            "/reports/v1/0123456789abcdef0123456789abcdef?fileFormat=xls",
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        app.sim.counters().file,
        1,
        "the invalid format never reached upstream"
    );
}

fn sdk_python(name: &str) -> PathBuf {
    let root = std::env::var("REPORTGATE_SDK_VENVS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/sdk-venvs"));
    let python = root.join(name).join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup-sdk-venvs.sh (the README's test command does)",
        python.display()
    );
    python
}

async fn drive(app: &TestApp, venv: &str) -> Value {
    drive_script(app, venv, "drive_sdk.py").await
}

/// Runs `tests/sdk/<script>` with the SDK in `venv` against the gateway; what it printed.
pub async fn drive_script(app: &TestApp, venv: &str, script: &str) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(script);
    let out = tokio::process::Command::new(sdk_python(venv))
        .arg(script)
        .arg(&app.address)
        .arg(&app.token)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "SDK script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SDK-RESULT "))
        .unwrap_or_else(|| panic!("no result line in: {stdout}"));
    serde_json::from_str(line).unwrap()
}

fn assert_sdk_saw_a_working_api(seen: &Value, major: u64) {
    assert_eq!(seen["sdk_major"], major);
    assert_eq!(
        seen["run_id"].as_str().map(str::len),
        Some(65),
        "an owner-bound id: {seen}"
    );
    assert!(
        seen["result_status"].as_str().unwrap().contains("SUCCESS"),
        "{seen}"
    );
    assert_eq!(seen["result_rows"], 193);
    assert_eq!(
        seen["download_path_name"], "Account Export.csv",
        "the quoted filename was understood"
    );
    assert_eq!(seen["download_lines"], 194);
    assert_eq!(seen["download_status"], 200);
    assert_eq!(seen["cancel_result"], "None");
    assert_eq!(seen["invalid_run_status"], 400);
    assert_eq!(seen["invalid_run_body"]["detailCode"], "400 Bad Request");
    assert_eq!(seen["unknown_result_status"], 404);
}

#[actix_rt::test]
async fn the_official_python_sdk_2_drives_all_four_operations_through_the_gateway() {
    let app = spawn_app().await;
    let seen = drive(&app, "sdk2").await;
    assert_sdk_saw_a_working_api(&seen, 2);
    let c = app.sim.counters();
    assert_eq!(
        (c.run, c.cancel),
        (1, 1),
        "the invalid run never reached upstream"
    );
}

#[actix_rt::test]
async fn the_official_python_sdk_1_4_drives_all_four_operations_through_the_gateway() {
    let app = spawn_app().await;
    let seen = drive(&app, "sdk1").await;
    assert_sdk_saw_a_working_api(&seen, 1);
}
