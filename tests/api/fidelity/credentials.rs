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
