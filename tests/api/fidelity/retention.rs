//! Item 4: upstream purges reports after a while (undocumented retention). The simulator
//! forgets them (`--retention`); the gateway, which caches finished results for
//! `cache.terminal_ttl`, answers a download of a purged report 410 `report_expired` and
//! drops what it cached.
use super::Tenant;
use crate::helpers::{assert_error, spawn_with};
use reportgate::simulator::Simulator;
use serde_json::json;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

#[actix_rt::test]
async fn the_simulator_forgets_a_report_its_retention_after_it_ended() {
    let sim = Simulator::builder()
        .report_duration(Duration::ZERO)
        .retention(HOUR)
        .start()
        .unwrap();
    let tenant = Tenant::of(&sim).await;
    let task = tenant
        .run(json!({"reportType": "IDENTITIES", "arguments": {}}))
        .await;
    let id = task["id"].as_str().unwrap();
    let result = format!("/{id}/result");
    let file = format!("/{id}?fileFormat=csv");
    assert_eq!(tenant.call("GET", &result, None).await.0, 200);
    sim.advance(HOUR - Duration::from_secs(60));
    assert_eq!(tenant.call("GET", &file, None).await.0, 200, "kept an hour");
    sim.advance(Duration::from_secs(61));
    assert_eq!(tenant.call("GET", &result, None).await.0, 404);
    let (status, body) = tenant.call("GET", &file, None).await;
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("File Not Found"));
}

#[actix_rt::test]
async fn a_download_of_a_report_upstream_purged_answers_410_and_the_cached_result_is_dropped() {
    let app = spawn_with(
        Simulator::builder()
            .report_duration(Duration::ZERO)
            .retention(HOUR),
        |_| {},
    )
    .await;
    let id = app.run_accounts().await;
    assert_eq!(app.status(&id).await.json()["status"], "SUCCESS");
    app.sim.advance(2 * HOUR);
    // The gateway's cached result (cache.terminal_ttl) still says SUCCESS...
    assert_eq!(app.status(&id).await.json()["status"], "SUCCESS");
    let results = app.sim.counters().result;
    // ...until a download finds upstream has no file any more.
    let r = app.download(&id, "csv").await;
    assert_error(&r, 410, "report_expired");
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("run the report again"));
    assert_eq!(
        app.sim.counters().result,
        results,
        "told by the cached result"
    );
    let metrics = crate::helpers::scrape(&app).await;
    assert_eq!(
        crate::helpers::value(
            &metrics,
            r#"reportgate_upstream_requests_total{operation="file",status="404"}"#
        ),
        Some(1.0),
        "operators see the upstream 404"
    );
    // The cached result is gone: the next read asks upstream, which has forgotten it.
    assert_error(&app.status(&id).await, 404, "report_not_found");
    assert_eq!(app.sim.counters().result, results + 1);
}

#[actix_rt::test]
async fn on_the_sdk_paths_a_purged_report_answers_upstreams_404_and_its_cached_result_is_dropped() {
    let app = spawn_with(
        Simulator::builder()
            .report_duration(Duration::ZERO)
            .retention(HOUR),
        |_| {},
    )
    .await;
    let id = app.run_accounts().await;
    let result = format!("/v3/reports/{id}/result");
    assert_eq!(
        app.request("GET", &result, None).await.json()["status"],
        "SUCCESS"
    );
    app.sim.advance(2 * HOUR);
    let r = app
        .request("GET", &format!("/v3/reports/{id}?fileFormat=csv"), None)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["detailCode"], "404 Not found", "upstream's body");
    assert_eq!(app.request("GET", &result, None).await.status, 404);
}

#[actix_rt::test]
async fn a_file_the_gateway_cached_is_served_after_upstream_purged_it_until_terminal_ttl() {
    let app = spawn_with(
        Simulator::builder()
            .report_duration(Duration::ZERO)
            .retention(HOUR),
        |_| {},
    )
    .await;
    let id = app.run_accounts().await;
    let first = app.download(&id, "csv").await;
    assert_eq!(first.status, 200);
    app.sim.advance(2 * HOUR);
    let again = app.download(&id, "csv").await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.body, first.body);
    assert_eq!(app.sim.counters().file, 1, "from the gateway's cache");
}

#[actix_rt::test]
async fn a_purged_report_is_dropped_from_redis_too_so_another_replica_does_not_say_success() {
    let redis = crate::shared::RedisServer::start();
    let sim = Simulator::builder()
        .report_duration(Duration::ZERO)
        .retention(HOUR)
        .start()
        .unwrap();
    let (a, b) = crate::shared::two_replicas(sim, &redis, &[]).await;
    let id = a.run_accounts().await;
    assert_eq!(a.status(&id).await.json()["status"], "SUCCESS");
    a.sim.advance(2 * HOUR);
    assert_error(&a.download(&id, "csv").await, 410, "report_expired");
    // Replica b never read it: without the shared copy dropped, Redis would say SUCCESS.
    assert_error(&b.status(&id).await, 404, "report_not_found");
}

#[actix_rt::test]
async fn a_max_age_run_stops_handing_over_a_purged_report_once_a_download_found_it_expired() {
    let app = spawn_with(
        Simulator::builder()
            .report_duration(Duration::ZERO)
            .retention(HOUR),
        |_| {},
    )
    .await;
    let body = json!({"type": "IDENTITIES", "arguments": {}, "maxAge": "1h"}).to_string();
    let first = app.run(&body).await;
    assert_eq!(first.status, 202, "{}", first.text());
    let id = first.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(app.status(&id).await.json()["status"], "SUCCESS");
    app.sim.advance(2 * HOUR);
    // The gateway still holds the finished result (its own clock says it is fresh): reused.
    let reused = app.run(&body).await;
    assert_eq!(reused.status, 200, "{}", reused.text());
    assert_eq!(reused.json()["reused"], true);
    assert_error(&app.download(&id, "csv").await, 410, "report_expired");
    // The 410 dropped it: the next identical run starts a fresh report upstream.
    let runs = app.sim.counters().run;
    let fresh = app.run(&body).await;
    assert_eq!(fresh.status, 202, "{}", fresh.text());
    assert_eq!(fresh.json()["reused"], false);
    assert_eq!(app.sim.counters().run, runs + 1);
    let new_id = fresh.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(app.download(&new_id, "csv").await.status, 200);
}
