//! Wait bounds at their edges: a request with no wait left (max_wait: 0, or a bound spent
//! held by its own team limit) still gets its fair turn of the budget; a pause known to
//! outlast a request's bound is answered at once.
use crate::abandon::RUN;
use crate::helpers::{
    scrape, settings_for, spawn_gateway, status_as, team, token_for, unknown_id, value, TestApp,
};
use reportgate::simulator::{FaultAction, Op, Simulator};
use std::time::{Duration, Instant};

/// One permit per 500 ms, no burst; team `flood` (20 s bound) and the given others.
fn slow_budget(others: Vec<reportgate::auth::settings::NamedTeamPolicy>) -> TestApp {
    let sim = Simulator::builder().start().unwrap();
    let mut s = settings_for(&sim);
    s.limits.upstream_requests = 2;
    s.limits.upstream_window = Duration::from_secs(1);
    s.limits.upstream_safety = 1.0;
    s.limits.upstream_burst = 1;
    s.policy.teams = vec![team("flood", 100.0, 100, Duration::from_secs(20))];
    s.policy.teams.extend(others);
    spawn_gateway(sim, s)
}

/// Starts eight requests of team `flood` and waits until at least five queue for the budget.
async fn queue_a_flood(app: &TestApp) -> Vec<actix_rt::task::JoinHandle<(u16, Duration)>> {
    let token = token_for(&app.settings, "f", "flood");
    let address = app.address.clone();
    let tasks = (0..8)
        .map(|_| {
            let (token, address) = (token.clone(), address.clone());
            actix_rt::spawn(async move {
                let started = Instant::now();
                let r = awc::Client::default()
                    .get(format!("{address}/v1/reports/{}", unknown_id()))
                    .insert_header(("authorization", format!("Bearer {token}")))
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), started.elapsed())
            })
        })
        .collect();
    let series = "reportgate_upstream_budget_queue_depth";
    for _ in 0..300 {
        if value(&scrape(app).await, series).unwrap_or(0.0) >= 5.0 {
            return tasks;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the flood never queued");
}

#[actix_rt::test]
async fn a_team_with_max_wait_zero_is_served_in_its_fair_turn_while_another_team_queues() {
    let app = slow_budget(vec![team("zero", 100.0, 100, Duration::ZERO)]);
    let flood = queue_a_flood(&app).await;
    let (status, took) = status_as(&app, &token_for(&app.settings, "z", "zero")).await;
    assert_eq!(status, 404, "served, not refused ({took:?})");
    assert!(
        took < Duration::from_millis(1500),
        "one turn, not the queue: {took:?}"
    );
    for t in flood {
        assert_eq!(t.await.unwrap().0, 404);
    }
}

#[actix_rt::test]
async fn a_request_that_spent_its_bound_held_by_its_team_limit_still_gets_its_turn() {
    // One request per second, a 1 s bound: of two sent together, the one that reaches the
    // gateway second (either, on a loaded machine) is held ~1 s and reaches the budget with
    // nothing left of its bound.
    let app = slow_budget(vec![team("held", 1.0, 1, Duration::from_secs(1))]);
    let token = token_for(&app.settings, "h", "held");
    let flood = queue_a_flood(&app).await;
    // Runs: a status read starts its budget wait afresh (as each poll of a long-poll does).
    let run = || async {
        let started = Instant::now();
        let r = app
            .request_as(&token, "POST", "/v1/reports", Some(RUN))
            .await;
        (r.status.as_u16(), started.elapsed())
    };
    let ((a, took_a), (b, took_b)) = futures_util::join!(run(), run());
    let took = took_a.max(took_b);
    assert_eq!(
        (a, b),
        (202, 202),
        "both served, the held one too ({took:?})"
    );
    assert!(took >= Duration::from_millis(900), "one was held: {took:?}");
    for t in flood {
        assert_eq!(t.await.unwrap().0, 404);
    }
}

#[actix_rt::test]
async fn a_pause_known_to_outlast_the_wait_bound_is_answered_at_once() {
    let sim = Simulator::builder().start().unwrap();
    let mut s = settings_for(&sim);
    s.policy.teams = vec![team("short", 100.0, 100, Duration::from_secs(5))];
    let app = spawn_gateway(sim, s);
    app.sim.fail_next(
        Op::Result,
        FaultAction::RateLimited {
            retry_after: "30".into(),
        },
        1,
    );
    let token = token_for(&app.settings, "s", "short");
    // The first gets the 429: its bound (5 s) is shorter than the pause, so it is answered.
    let path = || format!("/v1/reports/{}", unknown_id());
    let first = app.request_as(&token, "GET", &path(), None).await;
    assert_eq!(first.status, 429, "{}", first.text());
    // The next one arrives during the 30 s pause: no point holding it 5 s.
    let started = Instant::now();
    let r = app.request_as(&token, "GET", &path(), None).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["error"], "upstream_busy");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((25..=30).contains(&retry), "Retry-After {retry}");
    assert_eq!(app.sim.counters().result, 1, "only the 429'd call");
}

#[actix_rt::test]
async fn the_token_endpoints_retry_after_is_honoured_and_every_503_meanwhile_carries_it() {
    let sim = Simulator::builder().start().unwrap();
    let app = spawn_gateway(sim.clone(), settings_for(&sim));
    app.sim.fail_next(
        Op::Token,
        FaultAction::RateLimited {
            retry_after: "20".into(),
        },
        1,
    );
    let retry_after = |r: &crate::helpers::Response| -> u64 {
        r.header("retry-after")
            .expect("Retry-After")
            .parse()
            .unwrap()
    };
    let first = app.status(&unknown_id()).await;
    assert_eq!(first.status, 503, "{}", first.text());
    assert_eq!(first.json()["error"], "upstream_auth_failed");
    assert!(
        (19..=20).contains(&retry_after(&first)),
        "{:?}",
        first.headers
    );
    // 10 s later (the gateway's clock): still backing off, as asked; no token request.
    app.clock.advance(Duration::from_secs(10));
    let second = app.status(&unknown_id()).await;
    assert_eq!(second.status, 503);
    assert!(
        (9..=10).contains(&retry_after(&second)),
        "{:?}",
        second.headers
    );
    assert_eq!(app.sim.counters().token_requests, 1);
    // After the 20 s, the token is fetched and the read goes through.
    app.clock.advance(Duration::from_secs(11));
    assert_eq!(app.status(&unknown_id()).await.status, 404);
    assert_eq!(app.sim.counters().token_requests, 2);
}
