//! Rate limits across replicas sharing one Redis, round 2: a team limit books only what it
//! admits; a partial Redis outage (one replica cut off) never over-spends the tenant's limit.
use crate::helpers::{flood, spawn_gateway, team, token_for};
use crate::shared::{replica_settings, served, wait_for_mode, RedisServer};
use reportgate::simulator::Simulator;
use std::time::Duration;

#[actix_rt::test]
async fn a_flood_on_a_shared_team_limit_is_served_at_the_teams_rate_and_refusals_book_nothing() {
    let redis = RedisServer::start();
    // No tenant limit here: only the team's own 20/s counts.
    let sim = Simulator::builder()
        .rate_limit(0, Duration::from_secs(10))
        .start()
        .unwrap();
    let teams = [team("busy", 20.0, 1, Duration::from_secs(1))];
    let mut settings = replica_settings(&sim, &redis, &teams);
    settings.limits.queue_per_team = 5;
    let app = spawn_gateway(sim, settings);
    wait_for_mode(&app, "shared").await;
    // 60 req/s for 3 s at a 20/s team: 60 can be served; 120 are refused at once.
    let r = flood(&app, token_for(&app.settings, "u", "busy"), 60.0, 3.0).await;
    let ok = served(&r);
    let refused = r.iter().filter(|(s, _)| *s == 429).count();
    println!("shared team limit, 60 req/s on 20/s for 3 s: {ok} served, {refused} refused");
    assert_eq!(ok + refused, r.len());
    // Booking refused requests spent the team's rate (issue 22: 105 of 200 in 10 s).
    assert!(
        ok >= 54,
        "only {ok} of ~60 served: refused requests spent the rate"
    );
    assert!(ok <= 66, "{ok} served: more than the team's rate");
    let slowest = r.iter().map(|(_, d)| *d).max().unwrap();
    assert!(
        slowest < Duration::from_millis(1800),
        "held {slowest:?}, bound 1 s"
    );
}
