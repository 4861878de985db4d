//! Item 2: escalating back-off. Upstream's `Retry-After` climbs 60, 300, 600, 1200 s for a
//! client that keeps calling, counted per client id and API version.
use crate::helpers::{
    scrape, settings_for, sim_token_response, spawn_gateway, spawn_with, unknown_id, value,
};
use reportgate::simulator::{FaultAction, Op, Simulator};
use std::time::Duration;

#[actix_rt::test]
async fn the_simulator_escalates_back_off_for_a_client_that_keeps_calling_per_api_version() {
    let sim = Simulator::builder()
        .rate_limit(2, Duration::from_secs(10))
        .start()
        .unwrap();
    let http = awc::Client::default();
    let token = sim_token_response(&sim).await;
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let call = |prefix: &'static str| {
        let req = http
            .get(format!(
                "{}{prefix}/{}/result",
                sim.base_url(),
                unknown_id()
            ))
            .insert_header(("authorization", bearer.clone()));
        async move {
            let r = req.send().await.unwrap();
            (
                r.status().as_u16(),
                r.headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().parse::<u64>().unwrap()),
            )
        }
    };
    let mut seen = vec![];
    for _ in 0..5 {
        seen.push(call("/v3/reports").await);
    }
    assert_eq!(seen[0].0, 404);
    assert_eq!(seen[1].0, 404);
    assert!(seen[2].0 == 429 && seen[2].1.unwrap() <= 10);
    assert!(seen[3].0 == 429 && seen[3].1.unwrap() <= 10);
    assert_eq!(
        seen[4],
        (429, Some(60)),
        "the third 429 in 120 s: first tier"
    );
    for _ in 0..2 {
        assert_eq!(call("/v3/reports").await.0, 429);
    }
    assert_eq!(
        call("/v3/reports").await,
        (429, Some(300)),
        "kept calling: next tier"
    );
    // The per-service path is another API version with its own count.
    assert_eq!(call("/reports/v1").await.0, 404);
}

#[actix_rt::test]
async fn the_gateway_holds_off_for_a_1200_second_back_off_and_tells_callers_the_time_left() {
    let app = spawn_with(Simulator::builder(), |_| {}).await;
    app.sim.fail_next(
        Op::Result,
        FaultAction::RateLimited {
            retry_after: "1200".into(),
        },
        1,
    );
    let first = app.status(&unknown_id()).await;
    assert_eq!(first.status, 429, "{}", first.text());
    let told: u64 = first.header("retry-after").unwrap().parse().unwrap();
    assert!(told >= 1199, "Retry-After {told}: not capped at 300");
    let calls = app.sim.counters().result;
    // Later callers hear the true remaining time, and nothing goes upstream.
    let later = app.status(&unknown_id()).await;
    assert_eq!(later.status, 429);
    let told: u64 = later.header("retry-after").unwrap().parse().unwrap();
    assert!((1100..=1200).contains(&told), "Retry-After {told}");
    assert_eq!(
        app.sim.counters().result,
        calls,
        "no call during the back-off"
    );
    let pause = value(&scrape(&app).await, "reportgate_upstream_pause_seconds").unwrap();
    assert!(pause > 1100.0, "pause {pause}");
}

#[actix_rt::test]
async fn the_gateway_stops_at_the_first_429_so_the_tenant_never_escalates() {
    // The tenant allows 3 per 10 s; the gateway believes it may send 20.
    let sim = Simulator::builder()
        .rate_limit(3, Duration::from_secs(10))
        .start()
        .unwrap();
    let mut settings = settings_for(&sim);
    settings.limits.upstream_requests = 20;
    settings.limits.max_wait = Duration::from_secs(2);
    let app = spawn_gateway(sim, settings);
    let ids: Vec<String> = (0..8).map(|_| unknown_id()).collect();
    let answers: Vec<u16> = futures_util::future::join_all(ids.iter().map(|id| app.status(id)))
        .await
        .iter()
        .map(|r| r.status.as_u16())
        .collect();
    assert!(answers.contains(&429), "{answers:?}");
    let c = app.sim.counters();
    assert_eq!(
        c.rate_limited, 1,
        "one 429, then the gateway held off: {c:?}"
    );
}
