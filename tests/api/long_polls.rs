//! Long-poll re-reads spend the team's own rate: a team limited to one request per second
//! cannot turn a handful of long-polls into the whole upstream budget. Re-reads served from
//! the cache cost nothing; a caller who hangs up during a long-poll stops its re-reads.
use crate::abandon::abandoned_record;
use crate::helpers::until_metric;
use crate::helpers::{settings_for, spawn_gateway, team, token_for, TestApp};
use crate::shared::{replica_settings, wait_for_mode, RedisServer};
use futures_util::future::join_all;
use reportgate::simulator::Simulator;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// Reports that keep running, no tenant limit: only the team's own limit can hold reads.
fn running() -> reportgate::simulator::SimulatorHandle {
    Simulator::builder()
        .report_duration(Duration::from_secs(3600))
        .rate_limit(0, Duration::from_secs(10))
        .start()
        .unwrap()
}

/// Team `poller`: one request per second, a burst of ten, never held (`max_wait: 0`).
fn poller() -> reportgate::auth::settings::NamedTeamPolicy {
    team("poller", 1.0, 10, Duration::ZERO)
}

/// Starts `n` distinct reports as team `poller` (search exports: upstream runs them side by
/// side) and returns their ids.
async fn start_reports(app: &TestApp, token: &str, n: usize) -> Vec<String> {
    let bodies: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"type":"SEARCH_EXPORT","arguments":{{"query":"name:a{i}*"}}}}"#))
        .collect();
    let runs = join_all(
        bodies
            .iter()
            .map(|b| app.request_as(token, "POST", "/v1/reports", Some(b))),
    )
    .await;
    runs.iter()
        .map(|r| {
            assert_eq!(r.status, 202, "{}", r.text());
            r.json()["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Five runs and five 4 s long-polls (the team's burst of ten), then one more status read.
/// Returns (upstream status reads, the status of the read after the long-polls).
async fn five_long_polls(app: &TestApp) -> (u64, u16) {
    let token = token_for(&app.settings, "p", "poller");
    let ids = start_reports(app, &token, 5).await;
    let started = Instant::now();
    let paths: Vec<String> = ids
        .iter()
        .map(|id| format!("/v1/reports/{id}?wait=4"))
        .collect();
    let polls = join_all(paths.iter().map(|p| app.request_as(&token, "GET", p, None))).await;
    for r in &polls {
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["status"], "RUNNING");
    }
    assert!(started.elapsed() >= Duration::from_millis(3900));
    let reads = app.sim.counters().result;
    let after = app
        .request_as(&token, "GET", &format!("/v1/reports/{}", ids[0]), None)
        .await;
    (reads, after.status.as_u16())
}

#[actix_rt::test]
async fn long_poll_rereads_spend_the_teams_own_rate_so_a_slow_team_cannot_take_the_budget() {
    // Running reports are re-read every 100 ms (not cached): five long-polls of 4 s made
    // about 200 upstream reads for a team allowed one request per second.
    let sim = running();
    let mut s = settings_for(&sim);
    s.policy.teams = vec![poller()];
    let app = spawn_gateway(sim, s);
    let (reads, after) = five_long_polls(&app).await;
    // One read per long-poll, then the team's 1/s over 4 s, plus at most one re-read per
    // long-poll beyond it (re-reads are charged when made).
    println!("five 4 s long-polls of a 1 req/s team: {reads} upstream reads");
    assert!(reads <= 5 + 4 + 5, "{reads} upstream reads");
    // The re-reads were the team's: its next request is over its rate.
    assert_eq!(
        after, 429,
        "the re-reads did not count against the team's rate"
    );
}

#[actix_rt::test]
async fn long_poll_rereads_spend_the_teams_shared_rate_across_replicas() {
    let redis = RedisServer::start();
    let sim = running();
    let app = spawn_gateway(sim.clone(), replica_settings(&sim, &redis, &[poller()]));
    wait_for_mode(&app, "shared").await;
    let (reads, after) = five_long_polls(&app).await;
    println!("five 4 s long-polls of a 1 req/s team, Redis: {reads} upstream reads");
    assert!(reads <= 5 + 4 + 5, "{reads} upstream reads");
    assert_eq!(
        after, 429,
        "the re-reads did not count against the team's rate"
    );
}

#[actix_rt::test]
async fn a_caller_who_hangs_up_during_a_long_poll_is_let_go_at_once() {
    let sim = running();
    let mut s = settings_for(&sim);
    s.policy.teams = vec![team("poller", 100.0, 100, Duration::from_secs(5))];
    // The running report is read once and then answered from the cache: no upstream call
    // would notice that the caller left.
    s.cache.running_ttl = Duration::from_secs(60);
    let app = spawn_gateway(sim, s);
    let token = token_for(&app.settings, "p", "poller");
    let id = start_reports(&app, &token, 1).await.remove(0);
    // A 30 s long-poll on a connection of its own.
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut conn = actix_rt::net::TcpStream::connect(&addr).await.unwrap();
    let req = format!(
        "GET /v1/reports/{id}?wait=30 HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\r\n"
    );
    conn.write_all(req.as_bytes()).await.unwrap();
    while app.sim.counters().result < 1 {
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    let left = Instant::now();
    drop(conn);
    // until_metric gives up after about 5 s, far short of the 30 s wait.
    let series = r#"reportgate_abandoned_requests_total{stage="long_poll",team="poller"}"#;
    until_metric(&app, series, 1.0).await;
    let record = abandoned_record(&app).await;
    assert_eq!(record["action"], "status", "{record}");
    assert_eq!(record["status"], 499, "{record}");
    assert!(
        left.elapsed() < Duration::from_secs(5),
        "{:?}",
        left.elapsed()
    );
    assert_eq!(app.sim.counters().result, 1);
}
