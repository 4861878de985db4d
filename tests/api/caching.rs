//! Report-aware caching: coalesced polls, finished results, long-poll, files, idempotency.
use crate::helpers::{assert_error, settings_for, spawn_gateway, spawn_with, token_for};
use futures_util::future::join_all;
use reportgate::auth::settings::{NamedTeamPolicy, TeamPolicy};
use reportgate::simulator::{FaultAction, Op, Simulator};
use std::time::{Duration, Instant};

fn running() -> reportgate::simulator::SimulatorBuilder {
    Simulator::builder()
        .report_duration(Duration::from_secs(3600))
        .rate_limit(0, Duration::from_secs(10))
}

#[actix_rt::test]
async fn two_hundred_concurrent_polls_of_a_running_report_make_one_upstream_call() {
    let app = spawn_with(running(), |s| s.cache.running_ttl = Duration::from_secs(30)).await;
    let id = app.run_accounts().await;
    let polls = join_all((0..200).map(|_| app.status(&id))).await;
    assert!(polls
        .iter()
        .all(|r| r.status == 200 && r.json()["status"] != "SUCCESS"));
    assert_eq!(app.sim.counters().result, 1);
}

#[actix_rt::test]
async fn a_running_report_is_re_read_at_most_once_per_interval() {
    let app = spawn_with(running(), |s| {
        s.cache.running_ttl = Duration::from_millis(300)
    })
    .await;
    let id = app.run_accounts().await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1400) {
        assert_eq!(app.status(&id).await.status, 200);
    }
    let calls = app.sim.counters().result;
    assert!(
        (3..=6).contains(&calls),
        "{calls} upstream calls in 1.4 s at one per 300 ms"
    );
}

#[actix_rt::test]
async fn a_finished_report_costs_no_upstream_call_on_later_polls() {
    let app = spawn_with(Simulator::builder().report_duration(Duration::ZERO), |_| {}).await;
    let id = app.run_accounts().await;
    assert_eq!(app.status(&id).await.json()["status"], "SUCCESS");
    for _ in 0..20 {
        assert_eq!(app.status(&id).await.json()["status"], "SUCCESS");
    }
    assert_eq!(app.sim.counters().result, 1);
}

#[actix_rt::test]
async fn a_failed_upstream_poll_is_not_cached() {
    let app = spawn_app_running().await;
    let id = app.run_accounts().await;
    app.sim.fail_next(Op::Result, FaultAction::Malformed, 1);
    assert_eq!(app.status(&id).await.status, 502);
    assert_eq!(
        app.status(&id).await.status,
        200,
        "the next poll tried again"
    );
    assert_eq!(app.sim.counters().result, 2);
}

async fn spawn_app_running() -> crate::helpers::TestApp {
    spawn_with(running(), |_| {}).await
}

#[actix_rt::test]
async fn a_hundred_long_poll_waiters_cost_what_one_costs_and_all_see_the_finish() {
    let sim = Simulator::builder()
        .report_duration(Duration::from_millis(1500))
        .start()
        .unwrap();
    let mut settings = settings_for(&sim);
    settings.cache.running_ttl = Duration::from_millis(250);
    let app = spawn_gateway(sim, settings);
    let id = app.run_accounts().await;
    let started = Instant::now();
    let path = format!("/v1/reports/{id}?wait=10");
    let waiters = join_all((0..100).map(|_| app.request("GET", &path, None))).await;
    assert!(
        waiters.iter().all(|r| r.json()["status"] == "SUCCESS"),
        "every waiter saw the finish"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    // ~1.5 s of running at one call per 250 ms, then the final read: about 7, never 100s.
    let calls = app.sim.counters().result;
    assert!(calls <= 10, "{calls} upstream calls for 100 waiters");
}

#[actix_rt::test]
async fn a_long_poll_returns_the_current_state_when_the_wait_elapses() {
    let app = spawn_with(running(), |s| {
        s.cache.running_ttl = Duration::from_millis(100)
    })
    .await;
    let id = app.run_accounts().await;
    let started = Instant::now();
    let r = app
        .request("GET", &format!("/v1/reports/{id}?wait=1"), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "RUNNING");
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_error(
        &app.request("GET", &format!("/v1/reports/{id}?wait=soon"), None)
            .await,
        400,
        "invalid_query",
    );
    // Past the documented maximum is a mistake the caller hears about, not a silent clamp.
    let r = app
        .request("GET", &format!("/v1/reports/{id}?wait=3601"), None)
        .await;
    assert_error(&r, 400, "invalid_query");
    assert!(r.json()["message"].as_str().unwrap().contains("3600"));
}

#[actix_rt::test]
async fn the_cache_never_serves_one_teams_report_to_another() {
    let sim = running().start().unwrap();
    let mut settings = settings_for(&sim);
    settings.policy.teams.push(NamedTeamPolicy {
        team: "other".into(),
        policy: TeamPolicy {
            raw_ids: false,
            ..TeamPolicy::allow_all()
        },
    });
    let app = spawn_gateway(sim, settings);
    let id = app.run_accounts().await;
    assert_eq!(app.status(&id).await.status, 200); // now cached
    let other = token_for(&app.settings, "eve", "other");
    assert_eq!(
        app.request_as(&other, "GET", &format!("/v1/reports/{id}"), None)
            .await
            .status,
        404
    );
    let raw = id.split_once('-').unwrap().0;
    assert_eq!(
        app.request_as(&other, "GET", &format!("/v1/reports/{raw}"), None)
            .await
            .status,
        404
    );
}

#[actix_rt::test]
async fn concurrent_downloads_of_a_small_file_make_one_upstream_request_and_repeat_from_cache() {
    let app = spawn_with(
        Simulator::builder()
            .report_duration(Duration::ZERO)
            .csv_rows(1000),
        |_| {},
    )
    .await;
    let id = app.run_accounts().await;
    let downloads = join_all((0..20).map(|_| app.download(&id, "csv"))).await;
    assert!(downloads
        .iter()
        .all(|r| r.status == 200 && r.body.len() == downloads[0].body.len()));
    assert_eq!(downloads[0].text().lines().count(), 1001);
    assert_eq!(app.download(&id, "csv").await.status, 200);
    assert_eq!(app.sim.counters().file, 1);
}

#[actix_rt::test]
async fn a_file_over_the_cache_limit_streams_through_every_time() {
    let app = spawn_with(
        Simulator::builder()
            .report_duration(Duration::ZERO)
            .csv_rows(100_000),
        |s| s.cache.file_max_bytes = 1024 * 1024,
    )
    .await;
    let id = app.run_accounts().await;
    for _ in 0..3 {
        let r = app.download(&id, "csv").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len() as u64, reportgate::simulator::csv_len(100_000));
    }
    assert_eq!(app.sim.counters().file, 3, "large files are not cached");
}

#[actix_rt::test]
async fn an_idempotent_retry_returns_the_same_report_and_a_different_body_gets_422() {
    let app = spawn_with(running(), |_| {}).await;
    let body = r#"{"type":"SEARCH_EXPORT","arguments":{"query":"name:a*"}}"#;
    let key = [("idempotency-key", "export-2026-11-28")];
    let first = app
        .request_with("POST", "/v1/reports", Some(body), &key)
        .await;
    assert_eq!(first.status, 202);
    let same_reordered = r#"{"arguments":{"query":"name:a*"},"type":"SEARCH_EXPORT"}"#;
    let retry = app
        .request_with("POST", "/v1/reports", Some(same_reordered), &key)
        .await;
    assert_eq!(retry.status, 202);
    assert_eq!(retry.json()["id"], first.json()["id"]);
    assert_eq!(retry.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(app.sim.counters().run, 1, "one export, not two");

    let other = r#"{"type":"SEARCH_EXPORT","arguments":{"query":"name:b*"}}"#;
    assert_error(
        &app.request_with("POST", "/v1/reports", Some(other), &key)
            .await,
        422,
        "idempotency_key_reused",
    );
    // Without a key, SEARCH_EXPORT (concurrent) starts another.
    assert_eq!(app.run(body).await.status, 202);
    assert_eq!(app.sim.counters().run, 2);
    let bad = [("idempotency-key", "")];
    assert_error(
        &app.request_with("POST", "/v1/reports", Some(body), &bad)
            .await,
        400,
        "invalid_idempotency_key",
    );
}
