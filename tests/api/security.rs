use crate::helpers::{assert_error, spawn_app, spawn_with};
use reportgate::simulator::Simulator;
use std::process::Command;
use std::time::Duration;

#[actix_rt::test]
async fn hostile_report_ids_get_400_and_no_upstream_call() {
    let app = spawn_app().await;
    let hostile = [
        "..",
        "%2e%2e",
        "a%2Fb",
        "a%00b",
        "a%0d%0aX-Injected:%201",
        "%E2%80%AEabc",
        "id;rm",
        "%3Cscript%3E",
    ];
    let long = "a".repeat(129);
    for id in hostile.iter().copied().chain([long.as_str()]) {
        for path in [
            format!("/v1/reports/{id}"),
            format!("/v1/reports/{id}/file?format=csv"),
            format!("/v3/reports/{id}/result"),
            format!("/reports/v1/{id}?fileFormat=csv"),
        ] {
            let r = app.request("GET", &path, None).await;
            assert_eq!(r.status, 400, "{path}: {}", r.text());
        }
        // Escapes are refused before any route is chosen (see routing.rs).
        let code = if id.contains('%') {
            "invalid_path"
        } else {
            "invalid_report_id"
        };
        assert_error(&app.cancel(id).await, 400, code);
    }
    assert_eq!(app.sim.counters().api_calls(), 0);
    assert_eq!(app.sim.counters().token_requests, 0);
}

#[actix_rt::test]
async fn oversize_bodies_get_413_and_no_upstream_call() {
    let app = spawn_with(Simulator::builder(), |s| s.server.max_body_bytes = 1024).await;
    let big = format!(
        r#"{{"type":"SEARCH_EXPORT","arguments":{{"query":"{}"}}}}"#,
        "a".repeat(4096)
    );
    assert_error(&app.run(&big).await, 413, "payload_too_large");
    let r = app.request("POST", "/v3/reports/run", Some(&big)).await;
    assert_eq!(r.status, 413);
    assert_eq!(app.sim.counters().api_calls(), 0);
}

/// Runs the real binary with trace logging and checks that neither the client secret nor
/// any access token (a JWT, `eyJ...`) is ever written.
#[actix_rt::test]
async fn secrets_never_appear_in_logs() {
    let sim = Simulator::builder()
        .credentials("log-test-client", "TOPSECRET-client-secret-value")
        .report_duration(Duration::ZERO)
        .start()
        .unwrap();
    let settings = crate::helpers::settings_for(&sim);
    let caller_token = crate::helpers::token_for(&settings, "log-test-caller", "test-team");
    let config =
        std::env::temp_dir().join(format!("rg-logs-{}.yaml", crate::helpers::unknown_id()));
    let yaml = format!(
        "auth:\n  issuers:\n    - issuer: {}\n      audiences: [reportgate]\n      hmac_secret: {}\n\
         \x20 clients:\n    - {{id: log-test-gw-client, team: test-team, secret_sha256: \"{}\"}}\n\
         policy:\n  teams:\n    - team: test-team\n      run: ['*']\n",
        crate::helpers::TEST_ISSUER,
        crate::helpers::TEST_HMAC_SECRET,
        reportgate::auth::clients::sha256_hex("GWSECRET-of-the-gateway-client"),
    );
    std::fs::write(&config, yaml).unwrap();
    let served = crate::served::Served::start(
        Command::new(env!("CARGO_BIN_EXE_reportgate"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env(
                "REPORTGATE__AUTH__ID_SIGNING_KEY",
                "SIGNINGKEY-for-the-log-test-0123456789",
            )
            .env("RUST_LOG", "trace")
            .env("REPORTGATE__ADMIN__LISTEN", "127.0.0.1:0")
            .env("REPORTGATE__SERVER__LISTEN", "127.0.0.1:0")
            .env("REPORTGATE__TENANT__BASE_URL", sim.base_url())
            .env("REPORTGATE__TENANT__CLIENT_ID", "log-test-client")
            .env(
                "REPORTGATE__TENANT__CLIENT_SECRET",
                "TOPSECRET-client-secret-value",
            ),
    );
    let http = awc::Client::default();
    let base = served.base_url();
    let bearer = format!("Bearer {caller_token}");
    let mut r = http
        .post(format!("{base}/v1/reports"))
        .insert_header(("authorization", bearer.as_str()))
        .send_json(&serde_json::json!({"type": "IDENTITIES"}))
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    let mut r = http
        .get(format!("{base}/v1/reports/{id}/file?format=csv"))
        .insert_header(("authorization", bearer.as_str()))
        .send()
        .await
        .unwrap();
    r.body().limit(1 << 20).await.unwrap();
    sim.revoke_tokens(); // forces a 401, a refresh and a retry: the riskiest path for leaks
    let r = http
        .get(format!("{base}/v1/reports/{id}"))
        .insert_header(("authorization", bearer.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A refused caller token is logged (at debug) by reason, never by value.
    let r = http
        .get(format!("{base}/v1/reports/{id}"))
        .insert_header((
            "authorization",
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.forged",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Gateway client credentials: in the query string (as the TypeScript SDK sends them),
    // then a wrong one in a form body (refused, logged and audited by client id only).
    let mut r = http
        .post(format!(
            "{base}/oauth/token?grant_type=client_credentials&client_id=log-test-gw-client&client_secret=GWSECRET-of-the-gateway-client"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let granted: serde_json::Value = r.json().await.unwrap();
    let r = http
        .get(format!("{base}/v1/reports/{id}"))
        .bearer_auth(granted["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!("{base}/oauth/token"))
        .send_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "log-test-gw-client"),
            ("client_secret", "GWSECRET-mistyped"),
        ])
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let logs = served.kill();
    assert!(
        logs.contains("obtained a tenant access token"),
        "trace logs were captured"
    );
    assert!(!logs.contains("TOPSECRET"), "client secret leaked");
    assert!(!logs.contains("GWSECRET"), "a gateway client secret leaked");
    assert!(
        logs.contains("client credentials refused") && logs.contains("log-test-gw-client"),
        "the refused grant is logged by client id"
    );
    assert!(!logs.contains("eyJ"), "an access or caller token leaked");
    assert!(
        !logs.contains("SIGNINGKEY") && !logs.contains(crate::helpers::TEST_HMAC_SECRET),
        "a signing key leaked"
    );
    assert!(logs.contains("log-test-caller"), "the caller id is logged");
    std::fs::remove_file(config).ok();
    assert!(sim.counters().token_grants >= 2);
}

#[actix_rt::test]
async fn responses_carrying_report_data_are_neither_sniffed_nor_stored() {
    // Arrange
    let app = spawn_app().await;
    let run = app.run(r#"{"type":"IDENTITIES"}"#).await;
    let id = run.json()["id"].as_str().unwrap().to_owned();
    let sdk_run = app
        .request(
            "POST",
            "/v3/reports/run",
            Some(r#"{"reportType":"IDENTITIES"}"#),
        )
        .await;

    // Act: every answer that carries a report, its status or its file.
    let answers = [
        ("run", run),
        ("status", app.status(&id).await),
        ("file", app.download(&id, "csv").await),
        (
            "ranged file",
            app.request_with(
                "GET",
                &format!("/v1/reports/{id}/file?format=csv"),
                None,
                &[("range", "bytes=0-3")],
            )
            .await,
        ),
        ("sdk run", sdk_run),
        (
            "sdk result",
            app.request("GET", &format!("/v3/reports/{id}/result"), None)
                .await,
        ),
        (
            "sdk file",
            app.request("GET", &format!("/v3/reports/{id}?fileFormat=csv"), None)
                .await,
        ),
    ];

    // Assert
    for (what, r) in answers {
        assert!(r.status.is_success(), "{what}: {}", r.status);
        assert_eq!(
            r.header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(
            r.header("cache-control").as_deref(),
            Some("no-store"),
            "{what}"
        );
    }
}
