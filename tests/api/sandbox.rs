//! `reportgate sandbox` with its defaults works end to end: the walkthrough its banner
//! prints (run, poll, download, cancel) and a search export, against its own simulator.
use reportgate::sandbox::Sandbox;
use serde_json::Value;
use std::time::Duration;

#[actix_rt::test]
async fn the_sandbox_runs_polls_downloads_and_cancels_with_its_defaults() {
    let sandbox = Sandbox::start(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let gw = format!("http://127.0.0.1:{}", sandbox.gateway.port());
    let banner = sandbox.banner();
    assert!(banner.contains(&gw) && banner.contains(&sandbox.token));
    let bearer = format!("Bearer {}", sandbox.token);
    actix_rt::spawn(sandbox.gateway.run_until_stopped(false));
    let http = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let run = |body: &'static str| {
        http.post(format!("{gw}/v1/reports"))
            .insert_header(("authorization", bearer.as_str()))
            .insert_header(("content-type", "application/json"))
            .send_body(body)
    };
    let mut r = run(r#"{"type":"ACCOUNTS","arguments":{"application":"2c9180835d2e5168015d32f890ca1581","sourceName":"Active Directory"}}"#).await.unwrap();
    assert_eq!(r.status(), 202);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["status"], "PENDING");
    let id = report["id"].as_str().unwrap().to_owned();
    // The sandbox's reports take 3 s: a long-poll sees the end.
    let mut r = http
        .get(format!("{gw}/v1/reports/{id}?wait=20"))
        .insert_header(("authorization", bearer.as_str()))
        .send()
        .await
        .unwrap();
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["status"], "SUCCESS", "{done}");
    assert_eq!(done["messages"], serde_json::json!([]));
    let mut file = http
        .get(format!("{gw}/v1/reports/{id}/file?format=csv"))
        .insert_header(("authorization", bearer.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(
        file.headers().get("content-disposition").unwrap(),
        "attachment; filename=\"Account Export.csv\""
    );
    assert_eq!(file.body().await.unwrap().len(), 34 + 193 * 128);
    let cancel = http
        .post(format!("{gw}/v1/reports/{id}/cancel"))
        .insert_header(("authorization", bearer.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 204);
    let mut r = run(r#"{"type":"SEARCH_EXPORT","arguments":{"query":"*"}}"#)
        .await
        .unwrap();
    let export: Value = r.json().await.unwrap();
    let id = export["id"].as_str().unwrap();
    let mut r = http
        .get(format!("{gw}/v1/reports/{id}?wait=20"))
        .insert_header(("authorization", bearer.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "SUCCESS");
    let mut zip = http
        .get(format!("{gw}/v1/reports/{id}/file"))
        .insert_header(("authorization", bearer.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        zip.headers().get("content-type").unwrap(),
        "application/zip"
    );
    assert!(zip.body().await.unwrap().starts_with(b"PK\x03\x04"));
}
