//! Item 1: credential kinds. Upstream's cancel is `userAuth` only: a personal access token
//! cancels, an API-client token gets 403; run needs `sp:report:manage`.
use crate::helpers::{scrape, sim_token_response, spawn_with, value};
use reportgate::simulator::{ClientKind, Simulator};
use std::time::Duration;

#[actix_rt::test]
async fn pat_tokens_carry_the_user_and_last_12_hours_while_api_client_tokens_have_no_user() {
    let pat = Simulator::builder().start().unwrap();
    let body = sim_token_response(&pat).await;
    assert_eq!(body["expires_in"], 43200);
    assert!(body["identity_id"].is_string() && body["user_id"].is_string());
    let api = Simulator::builder()
        .client_kind(ClientKind::ApiClient)
        .start()
        .unwrap();
    let body = sim_token_response(&api).await;
    assert_eq!(body["expires_in"], 749);
    assert!(body.get("identity_id").is_none() && body.get("user_id").is_none());
}

#[actix_rt::test]
async fn an_api_client_cannot_cancel_and_the_gateway_says_cancel_needs_a_personal_access_token() {
    let app = spawn_with(
        Simulator::builder()
            .client_kind(ClientKind::ApiClient)
            .report_duration(Duration::from_secs(600)),
        |_| {},
    )
    .await;
    let id = app.run_accounts().await;
    let r = app.cancel(&id).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"], "cancel_needs_personal_access_token");
    let message = r.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("personal access token"), "{message}");
    assert!(message.contains("sp:report:manage"), "{message}");
    assert_eq!(app.sim.counters().forbidden, 1, "upstream refused it");
    // The SDK paths say the same in the upstream's error shape.
    let r = app
        .request("POST", &format!("/v3/reports/{id}/cancel"), None)
        .await;
    assert_eq!(r.status, 403);
    let text = r.json()["messages"][0]["text"].as_str().unwrap().to_owned();
    assert!(text.contains("personal access token"), "{text}");
    // Readiness and metrics name the credential kind.
    let ready = app.raw_request("GET", "/readyz", None, &[]).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["checks"]["upstreamCredential"], "api_client");
    assert!(ready.json()["checks"]["cancel"]
        .as_str()
        .unwrap()
        .starts_with("unavailable"));
    let metrics = scrape(&app).await;
    assert_eq!(
        value(
            &metrics,
            r#"reportgate_upstream_credential_kind{kind="api_client"}"#
        ),
        Some(1.0)
    );
    // The secret never shows in what the gateway says.
    assert!(!metrics.contains("sim-secret") && !ready.text().contains("sim-secret"));
}

#[actix_rt::test]
async fn a_personal_access_token_cancels_and_readiness_says_cancel_is_available() {
    let app = spawn_with(
        Simulator::builder().report_duration(Duration::from_secs(600)),
        |_| {},
    )
    .await;
    let id = app.run_accounts().await;
    assert_eq!(app.cancel(&id).await.status, 204);
    assert_eq!(app.status(&id).await.json()["status"], "CANCELLED");
    let ready = app.raw_request("GET", "/readyz", None, &[]).await;
    assert_eq!(
        ready.json()["checks"]["upstreamCredential"],
        "personal_access_token"
    );
    assert_eq!(ready.json()["checks"]["cancel"], "available");
    let metrics = scrape(&app).await;
    assert_eq!(
        value(
            &metrics,
            r#"reportgate_upstream_credential_kind{kind="personal_access_token"}"#
        ),
        Some(1.0)
    );
}

#[actix_rt::test]
async fn a_token_with_only_report_read_may_read_but_not_run() {
    let sim = Simulator::builder()
        .scopes(&["sp:report:read"])
        .start()
        .unwrap();
    let token = sim_token_response(&sim).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = awc::Client::default();
    let bearer = format!("Bearer {token}");
    let r = http
        .post(format!("{}/v3/reports/run", sim.base_url()))
        .insert_header(("authorization", bearer.as_str()))
        .send_json(&serde_json::json!({"reportType": "IDENTITIES", "arguments": {}}))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Reads pass the rights check (and find no such report).
    let r = http
        .get(format!(
            "{}/v3/reports/0123456789abcdef0123456789abcdef/result",
            sim.base_url()
        ))
        .insert_header(("authorization", bearer.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(sim.counters().forbidden, 1);
}

#[actix_rt::test]
async fn serve_logs_a_warning_that_cancel_needs_a_personal_access_token_when_its_token_is_an_api_clients(
) {
    use std::process::Command;
    let sim = Simulator::builder()
        .client_kind(ClientKind::ApiClient)
        .start()
        .unwrap();
    let settings = crate::helpers::settings_for(&sim);
    let token = crate::helpers::token_for(&settings, "alice", "test-team");
    let served = crate::served::Served::start(
        Command::new(env!("CARGO_BIN_EXE_reportgate"))
            .arg("serve")
            .env("REPORTGATE__SERVER__LISTEN", "127.0.0.1:0")
            .env("REPORTGATE__ADMIN__LISTEN", "127.0.0.1:0")
            .env("REPORTGATE__TENANT__BASE_URL", sim.base_url())
            .env("REPORTGATE__TENANT__CLIENT_ID", &sim.config().client_id)
            .env(
                "REPORTGATE__TENANT__CLIENT_SECRET",
                &sim.config().client_secret,
            )
            .env(
                "REPORTGATE__AUTH__ID_SIGNING_KEY",
                "0123456789abcdef0123456789abcdef",
            )
            .env("REPORTGATE__LOG__FORMAT", "json")
            .env("REPORTGATE__LOG__LEVEL", "info")
            .env(
                "REPORTGATE_CONFIG",
                crate::observability::write_issuer_config(),
            ),
    );
    // Its first token fetch tells the gateway which credential it holds.
    let r = awc::Client::default()
        .get(format!(
            "{}/v1/reports/{}",
            served.base_url(),
            crate::helpers::unknown_id()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // The warning is logged by the time the token is used; read the log until it shows
    // (bounded: 10 s).
    let warning_in = |log: &str| {
        log.lines().find_map(|l| {
            let line: serde_json::Value = serde_json::from_str(l).ok()?;
            (line["level"] == "WARN" && line["credential"] == "api_client")
                .then(|| line["message"].as_str().map(str::to_owned))?
        })
    };
    let mut warning = None;
    for _ in 0..200 {
        warning = warning_in(&served.log());
        if warning.is_some() {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    let log = served.kill();
    let warning =
        warning.unwrap_or_else(|| panic!("a warning about the API-client credential: {log}"));
    assert!(
        warning.contains("personal access token") && warning.contains("cancel"),
        "{warning}"
    );
    assert!(!log.contains(sim.config().client_secret.as_str()));
}
