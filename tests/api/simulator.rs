//! The simulator is what the gateway is tested against, so it is tested against the
//! documented upstream behaviour itself.
use crate::helpers::sim_token_response;
use reportgate::simulator::{Simulator, SimulatorHandle};
use serde_json::{json, Value};
use std::time::Duration;

async fn token(sim: &SimulatorHandle) -> String {
    sim_token_response(sim).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[actix_rt::test]
async fn the_token_endpoint_takes_credentials_from_the_form_the_query_or_both() {
    let sim = Simulator::builder().start().unwrap();
    let http = awc::Client::default();
    let url = format!("{}/oauth/token", sim.base_url());
    // Python and Go SDKs: form body.
    let r = http
        .post(&url)
        .send_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sim-client"),
            ("client_secret", "sim-secret"),
        ])
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // TypeScript SDK: everything in the query string.
    let r = http
        .post(format!(
            "{url}?grant_type=client_credentials&client_id=sim-client&client_secret=sim-secret"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // sailpoint-cli: grant type in the query, credentials in the form.
    let r = http
        .post(format!("{url}?grant_type=client_credentials"))
        .send_form(&[("client_id", "sim-client"), ("client_secret", "sim-secret")])
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // curl --form: multipart.
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--XyZ\r\nContent-Disposition: form-data; name=\"client_id\"\r\n\r\nsim-client\r\n--XyZ\r\nContent-Disposition: form-data; name=\"client_secret\"\r\n\r\nsim-secret\r\n--XyZ--\r\n";
    let mut r = http
        .post(&url)
        .insert_header(("content-type", "multipart/form-data; boundary=XyZ"))
        .send_body(body)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let granted: Value = r.json().await.unwrap();
    assert_eq!(granted["token_type"], "bearer");
    assert_eq!(
        granted["expires_in"], 43200,
        "a PAT lasts 12 hours by default"
    );
    // Bad credentials.
    let mut r = http
        .post(&url)
        .send_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sim-client"),
            ("client_secret", "nope"),
        ])
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    assert_eq!(sim.counters().token_grants, 4);
}

#[actix_rt::test]
async fn the_rate_limit_answers_429_with_retry_after_past_100_requests_in_10_seconds() {
    let sim = Simulator::builder().start().unwrap();
    let t = token(&sim).await;
    let http = awc::Client::default();
    let url = format!(
        "{}/v3/reports/0123456789abcdef0123456789abcdef/result",
        sim.base_url()
    );
    for _ in 0..100 {
        let r = http.get(&url).bearer_auth(&t).send().await.unwrap();
        assert_eq!(r.status(), 404);
    }
    let mut r = http.get(&url).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&wait));
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"message": " Rate Limit Exceeded "})
    );
    // The window slides: once it has passed, calls are admitted again.
    sim.advance(Duration::from_secs(10));
    assert_eq!(
        http.get(&url)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[actix_rt::test]
async fn expired_or_missing_tokens_get_401_with_the_upstream_error_body() {
    let sim = Simulator::builder()
        .token_ttl(Duration::from_secs(60))
        .start()
        .unwrap();
    let t = token(&sim).await;
    let http = awc::Client::default();
    let url = format!("{}/reports/v1/abc/result", sim.base_url());
    let mut r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .starts_with("JWT validation failed"));
    sim.advance(Duration::from_secs(61));
    let mut r = http.get(&url).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "JWT validation failed: JWT is expired"
    );
}

#[actix_rt::test]
async fn a_download_with_accept_json_gets_the_resteasy_500_like_upstream() {
    let sim = Simulator::builder()
        .report_duration(Duration::ZERO)
        .start()
        .unwrap();
    let t = token(&sim).await;
    let http = awc::Client::default();
    let mut r = http
        .post(format!("{}/v3/reports/run", sim.base_url()))
        .bearer_auth(&t)
        .send_json(&json!({"reportType": "IDENTITIES"}))
        .await
        .unwrap();
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{}/v3/reports/{id}?fileFormat=csv", sim.base_url());
    let mut r = http
        .get(&url)
        .bearer_auth(&t)
        .insert_header(("accept", "application/json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errorName"],
        "NotAcceptableException"
    );
    let r = http
        .get(&url)
        .bearer_auth(&t)
        .insert_header(("accept", "application/csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[actix_rt::test]
async fn faults_can_be_injected_through_the_admin_endpoint() {
    let sim = Simulator::builder().start().unwrap();
    let t = token(&sim).await;
    let http = awc::Client::default();
    let r = http
        .post(format!("{}/__sim/faults", sim.base_url()))
        .send_json(
            &json!({"op": "result", "kind": "rate_limited", "retry_after": "42", "times": 1}),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let url = format!("{}/v3/reports/abc/result", sim.base_url());
    let r = http.get(&url).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers().get("retry-after").unwrap(), "42");
    assert_eq!(
        http.get(&url)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "the fault was used up"
    );
    let mut r = http
        .get(format!("{}/__sim/counters", sim.base_url()))
        .send()
        .await
        .unwrap();
    let counters: Value = r.json().await.unwrap();
    assert_eq!(
        (
            counters["result"].as_u64(),
            counters["rate_limited"].as_u64()
        ),
        (Some(2), Some(1))
    );
}
