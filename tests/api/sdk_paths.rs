use crate::helpers::{spawn_app, TestApp, TEST_CLIENT_ID, TEST_CLIENT_SECRET};
use serde_json::Value;
use std::path::PathBuf;

#[actix_rt::test]
async fn every_upstream_path_family_answers_with_upstream_shapes_through_its_own_version() {
    let app = spawn_app().await;
    let prefixes = [
        "/v3/reports",
        "/reports/v1",
        "/v2024/reports",
        "/v2025/reports",
        "/v2026/reports",
    ];
    for prefix in prefixes {
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
    // Each family went to the same family upstream: run, result, file and cancel under each
    // version, as IdentityNow counts its rate limit per version.
    let per_version: Vec<(String, u64)> = app.sim.calls_by_version().into_iter().collect();
    let four = |v: &str| (v.to_owned(), 4);
    assert_eq!(
        per_version,
        [
            four("v1"),
            four("v2024"),
            four("v2025"),
            four("v2026"),
            four("v3")
        ]
    );
    // Audited under their own API label, as SDK actions.
    let runs: Vec<String> = app
        .audit_records(20)
        .await
        .into_iter()
        .filter(|r| r["action"] == "sdk_run")
        .map(|r| r["api"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(runs, ["v3", "reports-v1", "v2024", "v2025", "v2026"]);
}

#[actix_rt::test]
async fn a_team_without_sdk_paths_gets_403_on_every_route_of_the_annual_versions() {
    let app = crate::helpers::spawn_with(reportgate::simulator::Simulator::builder(), |s| {
        s.policy.teams[0].policy.sdk_paths = false;
    })
    .await;
    let id = crate::helpers::unknown_id();
    for prefix in ["/v2024/reports", "/v2025/reports", "/v2026/reports"] {
        for (method, path, body) in [
            (
                "POST",
                format!("{prefix}/run"),
                Some(r#"{"reportType":"IDENTITIES"}"#),
            ),
            ("GET", format!("{prefix}/{id}/result"), None),
            ("GET", format!("{prefix}/{id}?fileFormat=csv"), None),
            ("POST", format!("{prefix}/{id}/cancel"), None),
        ] {
            let r = app.request(method, &path, body).await;
            assert_eq!(r.status, 403, "{method} {path}: {}", r.text());
            // The upstream's 403 shape, which the SDKs parse.
            assert!(r.json()["messages"][0]["text"].is_string(), "{}", r.text());
        }
    }
    assert_eq!(app.sim.counters().api_calls(), 0);
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

fn script_path(script: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(script)
}

/// Runs the command and returns what the script printed on its `SDK-RESULT` line.
async fn sdk_result(mut command: tokio::process::Command) -> Value {
    let out = command.output().await.unwrap();
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

/// Runs `tests/sdk/<script>` with the SDK in `venv` against the gateway, handing it the
/// base URL and a caller token as arguments; what it printed.
pub async fn drive_script(app: &TestApp, venv: &str, script: &str) -> Value {
    let mut command = tokio::process::Command::new(sdk_python(venv));
    command
        .arg(script_path(script))
        .arg(&app.address)
        .arg(&app.token);
    sdk_result(command).await
}

/// Runs the SDK driver configured only by SAIL_BASE_URL, SAIL_CLIENT_ID and
/// SAIL_CLIENT_SECRET (the SDK fetches its own token), in an otherwise empty environment.
async fn drive_at(base: &str, client: (&str, &str), venv: &str, module: &str) -> Value {
    let mut command = tokio::process::Command::new(sdk_python(venv));
    command
        .arg(script_path("drive_sdk.py"))
        .arg(module)
        .env_clear()
        .env("SAIL_BASE_URL", base)
        .env("SAIL_CLIENT_ID", client.0)
        .env("SAIL_CLIENT_SECRET", client.1)
        .current_dir(std::env::temp_dir());
    let seen = sdk_result(command).await;
    assert_eq!(seen["token"], "fetched", "the SDK got no token: {seen}");
    seen
}

/// The driver against the gateway, with the test team's gateway client.
async fn drive(app: &TestApp, venv: &str, module: &str) -> Value {
    drive_at(
        &app.address,
        (TEST_CLIENT_ID, TEST_CLIENT_SECRET),
        venv,
        module,
    )
    .await
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
async fn the_official_python_sdk_2_configured_only_by_its_three_variables_works_through_the_gateway(
) {
    let app = spawn_app().await;
    let seen = drive(&app, "sdk2", "").await;
    assert_sdk_saw_a_working_api(&seen, 2);
    let c = app.sim.counters();
    // 5 report types run (2 refused as upstream refuses them), then one ACCOUNTS run.
    assert_eq!(
        (c.run, c.cancel),
        (6, 1),
        "the invalid runs never reached upstream"
    );
}

#[actix_rt::test]
async fn the_official_python_sdk_1_4_configured_only_by_its_three_variables_works_through_the_gateway(
) {
    let app = spawn_app().await;
    let seen = drive(&app, "sdk1", "v3").await;
    assert_sdk_saw_a_working_api(&seen, 1);
}

#[actix_rt::test]
async fn the_v2024_and_v2025_modules_of_sdk_1_4_work_through_the_gateway_on_their_own_paths() {
    for module in ["v2024", "v2025"] {
        let app = spawn_app().await;
        let seen = drive(&app, "sdk1", module).await;
        assert_eq!(seen["module"], module);
        assert_sdk_saw_a_working_api(&seen, 1);
        let versions: Vec<String> = app.sim.calls_by_version().into_keys().collect();
        assert_eq!(
            versions,
            [module],
            "every call went to /{module}/reports upstream"
        );
    }
}

/// The SDKs' `from_json` folds several types' arguments into `{"correlatedOnly": false}`:
/// through the gateway each type gets the answer IdentityNow (the simulator) gives it.
#[actix_rt::test]
async fn every_report_type_built_with_from_json_gets_the_answer_upstream_gives() {
    let app = spawn_app().await;
    let sim = app.sim.config();
    for venv in ["sdk2", "sdk1"] {
        let direct = drive_at(
            &app.sim.base_url(),
            (&sim.client_id, &sim.client_secret),
            venv,
            "v3",
        )
        .await;
        let through = drive(&app, venv, "v3").await;
        let types = through["types"].as_object().unwrap();
        assert_eq!(types.len(), 7, "{through}");
        for (t, seen) in types {
            assert_eq!(
                seen["status"], direct["types"][t]["status"],
                "{venv} {t}: {seen}"
            );
            let refused = ["IDENTITY_PROFILE_IDENTITY_ERROR", "SEARCH_EXPORT"];
            if refused.contains(&t.as_str()) {
                // What from_json sent lacks the type's required argument, as upstream says.
                assert_eq!(seen["sent"], serde_json::json!({"correlatedOnly": false}));
                assert_eq!(seen["status"], 400, "{venv} {t}: {seen}");
                let text = seen["text"].as_str().unwrap();
                assert!(text.starts_with("arguments."), "{venv} {t}: {text}");
            } else {
                assert_eq!(seen["status"], 200, "{venv} {t}: {seen}");
                assert!(seen["report_type"].as_str().unwrap().contains(t.as_str()));
            }
        }
    }
}

/// `reportgate sandbox` prints the three variables next to `export TOKEN=…`; an SDK script
/// run with exactly those works against it.
#[actix_rt::test]
async fn an_unchanged_sdk_script_runs_against_the_sandbox_with_the_variables_it_prints() {
    let any = "127.0.0.1:0".parse().unwrap();
    let sandbox = reportgate::sandbox::Sandbox::start(any, any).unwrap();
    let banner = sandbox.banner();
    let line = banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("export SAIL_BASE_URL="))
        .unwrap_or_else(|| panic!("no SAIL_ line in {banner}"));
    let mut vars = line.split(' ');
    let base = vars.next().unwrap().to_owned();
    let mut var = |name: &str| {
        vars.next()
            .and_then(|v| v.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} in {line}"))
            .to_owned()
    };
    let (id, secret) = (var("SAIL_CLIENT_ID="), var("SAIL_CLIENT_SECRET="));
    let reportgate::sandbox::Sandbox {
        gateway, simulator, ..
    } = sandbox;
    actix_rt::spawn(gateway.run_until_stopped(false));
    let seen = drive_at(&base, (&id, &secret), "sdk2", "").await;
    assert!(
        seen["result_status"].as_str().unwrap().contains("SUCCESS"),
        "{seen}"
    );
    assert_eq!(seen["download_status"], 200);
    assert_eq!(simulator.counters().run, 6);
}
