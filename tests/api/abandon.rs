//! A caller who hangs up while its request waits (held by its team limit, queued for the
//! budget, waiting out a 429 pause, or waiting for a tenant token) takes no permit and causes
//! no upstream call; the audit trail records the request as abandoned and a metric counts it.
use crate::helpers::{
    scrape, settings_for, spawn_gateway, team, token_for, until_metric, value, TestApp,
};
use reportgate::simulator::{FaultAction, Op, Simulator};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

pub const RUN: &str = r#"{"type":"ACCOUNTS","arguments":{"application":"2c9180835d2e5168015d32f890ca1581","sourceName":"Active Directory"}}"#;

/// A POST run sent over a connection of its own, left open: dropping it hangs up.
pub async fn start_run(app: &TestApp, token: &str) -> actix_rt::net::TcpStream {
    let addr = app.address.trim_start_matches("http://");
    let mut s = actix_rt::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /v1/reports HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{RUN}",
        RUN.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    s
}

/// The audit record of the abandoned request (bounded wait).
pub async fn abandoned_record(app: &TestApp) -> serde_json::Value {
    for _ in 0..500 {
        if let Some(r) = app
            .audit_lines()
            .into_iter()
            .find(|r| r["outcome"] == "abandoned")
        {
            return r;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no abandoned record: {:?}", app.audit_lines());
}

/// The count of abandoned requests of team `slow` at `stage`.
async fn abandoned(app: &TestApp, stage: &str) -> Option<f64> {
    let series = format!(r#"reportgate_abandoned_requests_total{{stage="{stage}",team="slow"}}"#);
    value(&scrape(app).await, &series)
}

/// A gateway whose team `slow` has this limit, tweaked further by `tweak`.
fn gateway(
    rate: f64,
    burst: u32,
    tweak: impl FnOnce(&mut reportgate::config::Settings),
) -> TestApp {
    let sim = Simulator::builder().start().unwrap();
    let mut settings = settings_for(&sim);
    settings.policy.teams = vec![team("slow", rate, burst, Duration::from_secs(30))];
    tweak(&mut settings);
    spawn_gateway(sim, settings)
}

fn assert_abandoned_run(r: &serde_json::Value) {
    assert_eq!(r["status"], 499, "{r}");
    assert_eq!(r["action"], "run", "{r}");
    assert_eq!(r["team"], "slow", "{r}");
}

#[actix_rt::test]
async fn a_caller_who_hangs_up_while_held_by_its_team_limit_leaves_and_nothing_goes_upstream() {
    let app = gateway(0.2, 1, |_| {});
    let token = token_for(&app.settings, "bob", "slow");
    let first = app
        .request_as(&token, "POST", "/v1/reports", Some(RUN))
        .await;
    assert_eq!(first.status, 202, "{}", first.text());
    // The second is held 5 s for the team's slot; its caller hangs up meanwhile.
    let conn = start_run(&app, &token).await;
    until_metric(&app, "reportgate_team_limit_held", 1.0).await;
    drop(conn);
    let record = abandoned_record(&app).await;
    assert_abandoned_run(&record);
    until_metric(&app, "reportgate_team_limit_held", 0.0).await;
    assert_eq!(abandoned(&app, "team_limit").await, Some(1.0));
    // The handler is over (its record is written): no upstream call can follow.
    assert!(record["upstreamStatus"].is_null(), "{record}");
    assert_eq!(app.sim.counters().run, 1);
}

#[actix_rt::test]
async fn a_caller_who_hangs_up_while_queued_for_the_budget_takes_no_permit() {
    let app = gateway(100.0, 100, |s| {
        // One permit per 2 s, no burst.
        s.limits.upstream_requests = 1;
        s.limits.upstream_window = Duration::from_secs(2);
        s.limits.upstream_safety = 1.0;
        s.limits.upstream_burst = 1;
        s.policy
            .teams
            .push(team("next", 100.0, 100, Duration::from_millis(3000)));
    });
    let token = token_for(&app.settings, "bob", "slow");
    let first = app
        .request_as(&token, "POST", "/v1/reports", Some(RUN))
        .await;
    assert_eq!(first.status, 202, "{}", first.text());
    let started = std::time::Instant::now();
    let conn = start_run(&app, &token).await;
    until_metric(&app, "reportgate_upstream_budget_queue_depth", 1.0).await;
    drop(conn);
    let record = abandoned_record(&app).await;
    assert_abandoned_run(&record);
    // The next caller gets the permit the one who left would have taken (in 2 s): had that
    // permit gone to nobody, this one's would come after 4 s, past its 3 s bound.
    let next = token_for(&app.settings, "carol", "next");
    let r = app
        .request_as(&next, "POST", "/v1/reports", Some(RUN))
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(started.elapsed() < Duration::from_millis(3500));
    assert_eq!(
        app.sim.counters().run,
        2,
        "the first and the next, not the one who left"
    );
    assert_eq!(abandoned(&app, "budget").await, Some(1.0));
}

#[actix_rt::test]
async fn a_caller_who_hangs_up_during_a_429_pause_leaves_it_and_is_not_retried() {
    let app = gateway(100.0, 100, |_| {});
    app.sim.fail_next(
        Op::Run,
        FaultAction::RateLimited {
            retry_after: "20".into(),
        },
        1,
    );
    let token = token_for(&app.settings, "bob", "slow");
    // The run gets a 429 upstream and is held for another try after the 20 s pause.
    let conn = start_run(&app, &token).await;
    until_metric(&app, "reportgate_upstream_budget_queue_depth", 1.0).await;
    assert_eq!(app.sim.counters().rate_limited, 1);
    drop(conn);
    let record = abandoned_record(&app).await;
    assert_abandoned_run(&record);
    // What upstream last said stays on the record: the 429 that started the pause.
    assert_eq!(record["upstreamStatus"], 429);
    assert_eq!(app.sim.counters().run, 1, "only the 429'd attempt");
    until_metric(&app, "reportgate_upstream_budget_queue_depth", 0.0).await;
    assert_eq!(abandoned(&app, "pause").await, Some(1.0));
}

#[actix_rt::test]
async fn a_caller_who_hangs_up_while_the_tenant_token_is_fetched_is_not_sent_upstream() {
    let app = gateway(100.0, 100, |s| {
        s.tenant.token_timeout = Duration::from_secs(10)
    });
    // The permit is had at once; the token endpoint takes 1.5 s.
    app.sim
        .fail_next(Op::Token, FaultAction::Delay { ms: 1500 }, 1);
    let token = token_for(&app.settings, "bob", "slow");
    let conn = start_run(&app, &token).await;
    for _ in 0..500 {
        if app.sim.counters().token_requests == 1 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(app.sim.counters().token_requests, 1);
    drop(conn);
    let record = abandoned_record(&app).await;
    assert_abandoned_run(&record);
    assert!(record["upstreamStatus"].is_null(), "{record}");
    assert_eq!(app.sim.counters().run, 0);
    assert_eq!(abandoned(&app, "before_send").await, Some(1.0));
}
