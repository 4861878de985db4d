//! The waiting stages abandon.rs and deadlines.rs leave out: a caller who arrives during
//! another request's 429 pause and hangs up; a caller who hangs up while queued for the
//! budget shared through Redis; a team with no wait (`max_wait: 0`) on the shared budget.
use crate::abandon::{abandoned_record, start_run, RUN};
use crate::helpers::until_metric;
use crate::helpers::{scrape, settings_for, spawn_gateway, team, token_for, unknown_id, value};
use crate::shared::{replica_settings, wait_for_mode, RedisServer};
use reportgate::simulator::{FaultAction, Op, Simulator};
use std::time::{Duration, Instant};

fn abandoned_at(text: &str, stage: &str) -> Option<f64> {
    value(
        text,
        &format!(r#"reportgate_abandoned_requests_total{{stage="{stage}",team="slow"}}"#),
    )
}

#[actix_rt::test]
async fn a_caller_who_arrives_during_anothers_429_pause_and_hangs_up_is_never_sent() {
    let sim = Simulator::builder().start().unwrap();
    let mut s = settings_for(&sim);
    s.policy.teams = vec![team("slow", 100.0, 100, Duration::from_secs(30))];
    let app = spawn_gateway(sim, s);
    app.sim.fail_next(
        Op::Run,
        FaultAction::RateLimited {
            retry_after: "3".into(),
        },
        1,
    );
    let token = token_for(&app.settings, "bob", "slow");
    // The first run gets the 429 and waits out the 3 s pause for another try.
    let first = actix_rt::spawn({
        let (address, token) = (app.address.clone(), token.clone());
        async move {
            awc::Client::default()
                .post(format!("{address}/v1/reports"))
                .insert_header(("authorization", format!("Bearer {token}")))
                .insert_header(("content-type", "application/json"))
                .timeout(Duration::from_secs(30))
                .send_body(RUN)
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    until_metric(&app, "reportgate_upstream_budget_queue_depth", 1.0).await;
    assert_eq!(app.sim.counters().rate_limited, 1);
    // The second arrives during the pause, queues behind it, and its caller hangs up.
    let conn = start_run(&app, &token).await;
    until_metric(&app, "reportgate_upstream_budget_queue_depth", 2.0).await;
    drop(conn);
    let record = abandoned_record(&app).await;
    assert_eq!(record["status"], 499, "{record}");
    assert_eq!(abandoned_at(&scrape(&app).await, "pause"), Some(1.0));
    // After the pause only the first goes out again.
    assert_eq!(first.await.unwrap(), 202);
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.sim.counters().run,
        2,
        "the 429'd attempt and its retry, nothing for the caller who left"
    );
}

#[actix_rt::test]
async fn a_caller_who_hangs_up_while_queued_for_the_shared_budget_takes_no_permit() {
    let redis = RedisServer::start();
    let sim = Simulator::builder().start().unwrap();
    let teams = [
        team("slow", 100.0, 100, Duration::from_secs(30)),
        team("next", 100.0, 100, Duration::from_secs(3)),
    ];
    let mut s = replica_settings(&sim, &redis, &teams);
    // One permit per 2 s, no burst, shared through Redis.
    s.limits.upstream_requests = 1;
    s.limits.upstream_window = Duration::from_secs(2);
    s.limits.upstream_safety = 1.0;
    s.limits.upstream_burst = 1;
    s.redis.fallback_share = 1.0;
    let app = spawn_gateway(sim, s);
    wait_for_mode(&app, "shared").await;
    let token = token_for(&app.settings, "bob", "slow");
    let first = app
        .request_as(&token, "POST", "/v1/reports", Some(RUN))
        .await;
    assert_eq!(first.status, 202, "{}", first.text());
    let started = Instant::now();
    let conn = start_run(&app, &token).await;
    until_metric(&app, "reportgate_upstream_budget_queue_depth", 1.0).await;
    drop(conn);
    let record = abandoned_record(&app).await;
    assert_eq!(record["status"], 499, "{record}");
    // The next caller gets the permit the one who left would have taken.
    let next = token_for(&app.settings, "carol", "next");
    let r = app
        .request_as(&next, "POST", "/v1/reports", Some(RUN))
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(started.elapsed() < Duration::from_millis(3500));
    assert_eq!(app.sim.counters().run, 2, "the first and the next only");
    assert_eq!(abandoned_at(&scrape(&app).await, "budget"), Some(1.0));
}

#[actix_rt::test]
async fn a_team_with_max_wait_zero_gets_its_fair_turn_of_the_shared_budget() {
    let redis = RedisServer::start();
    let sim = Simulator::builder().start().unwrap();
    let teams = [
        team("flood", 100.0, 100, Duration::from_secs(20)),
        team("zero", 100.0, 100, Duration::ZERO),
    ];
    let mut s = replica_settings(&sim, &redis, &teams);
    // One permit per 500 ms, no burst.
    s.limits.upstream_requests = 2;
    s.limits.upstream_window = Duration::from_secs(1);
    s.limits.upstream_safety = 1.0;
    s.limits.upstream_burst = 1;
    s.redis.fallback_share = 1.0;
    let app = spawn_gateway(sim, s);
    wait_for_mode(&app, "shared").await;
    let flood = token_for(&app.settings, "f", "flood");
    let queued = (0..8)
        .map(|_| {
            let (address, flood) = (app.address.clone(), flood.clone());
            actix_rt::spawn(async move {
                awc::Client::default()
                    .get(format!("{address}/v1/reports/{}", unknown_id()))
                    .insert_header(("authorization", format!("Bearer {flood}")))
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect::<Vec<_>>();
    for _ in 0..300 {
        let depth = value(
            &scrape(&app).await,
            "reportgate_upstream_budget_queue_depth",
        );
        if depth.unwrap_or(0.0) >= 5.0 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    let zero = token_for(&app.settings, "z", "zero");
    let started = Instant::now();
    let r = app
        .request_as(&zero, "GET", &format!("/v1/reports/{}", unknown_id()), None)
        .await;
    let took = started.elapsed();
    assert_eq!(
        r.status,
        404,
        "served, not refused ({took:?}): {}",
        r.text()
    );
    assert!(
        took < Duration::from_millis(1500),
        "one turn, not the queue: {took:?}"
    );
    for q in queued {
        assert_eq!(q.await.unwrap(), 404);
    }
}
