//! Rate limits across replicas sharing one Redis, round 2: a team limit books only what it
//! admits; a partial Redis outage (one replica cut off) never over-spends the tenant's limit.
use crate::helpers::{flood, spawn_gateway, team, token_for};
use crate::shared::{replica_settings, served, wait_for_mode, RedisServer};
use reportgate::simulator::Simulator;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// A TCP relay to Redis for one replica, which a test can cut (every connection dropped,
/// new ones refused) and restore: a network partition of that replica alone.
struct Relay {
    port: u16,
    cut: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<actix_rt::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn to(redis: &RedisServer) -> Self {
        let target = redis
            .url()
            .trim_start_matches("redis://")
            .trim_end_matches("/0")
            .to_owned();
        let listener = actix_rt::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (c, list) = (cut.clone(), conns.clone());
        actix_rt::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    continue; // refused: dropped at once
                }
                let target = target.clone();
                list.lock().unwrap().push(actix_rt::spawn(async move {
                    if let Ok(mut out) = actix_rt::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                }));
            }
        });
        Self { port, cut, conns }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[actix_rt::test]
async fn cutting_either_replica_or_both_off_redis_never_spends_more_than_the_tenants_limit() {
    let redis = RedisServer::start();
    // The simulator enforces the documented 100 requests per 10 s for the one API client.
    let sim = Simulator::builder().start().unwrap();
    let teams = [team("busy", 1000.0, 1000, Duration::from_secs(3))];
    let (relay_a, relay_b) = (Relay::to(&redis).await, Relay::to(&redis).await);
    let replica = |relay: &Relay| {
        let mut s = replica_settings(&sim, &redis, &teams);
        s.redis.url = Some(relay.url());
        s.redis.timeout = Duration::from_millis(200);
        spawn_gateway(sim.clone(), s)
    };
    let (a, b) = (replica(&relay_a), replica(&relay_b));
    for app in [&a, &b] {
        wait_for_mode(app, "shared").await;
    }
    let token = token_for(&a.settings, "u", "busy");
    // Each replica gets 10 req/s, twice the budget together, for 30 s; meanwhile A is cut
    // off, then B, then both, with both back in between.
    let load = futures_util::future::join(
        flood(&a, token.clone(), 10.0, 30.0),
        flood(&b, token.clone(), 10.0, 30.0),
    );
    let partitions = async {
        let phase = |s: u64| actix_rt::time::sleep(Duration::from_secs(s));
        phase(3).await;
        relay_a.cut();
        wait_for_mode(&a, "fallback").await;
        phase(7).await;
        relay_a.restore();
        wait_for_mode(&a, "shared").await;
        phase(3).await;
        relay_b.cut();
        wait_for_mode(&b, "fallback").await;
        phase(7).await;
        relay_b.restore();
        wait_for_mode(&b, "shared").await;
        phase(2).await;
        relay_a.cut();
        relay_b.cut();
        phase(5).await;
        relay_a.restore();
        relay_b.restore();
    };
    let started = Instant::now();
    let ((ra, rb), ()) = futures_util::join!(load, partitions);
    let elapsed = started.elapsed().as_secs_f64();
    let c = a.sim.counters();
    let used = c.result as f64 / (100.0 * elapsed / 10.0);
    println!(
        "partitions A, B, both over {elapsed:.1} s: {} upstream calls ({:.0} % of the limit), {} upstream 429s; served A {} B {}",
        c.result,
        used * 100.0,
        c.rate_limited,
        served(&ra),
        served(&rb)
    );
    assert_eq!(c.rate_limited, 0, "the tenant's limit was over-spent");
    assert!(used >= 0.6, "only {:.0} % of the limit used", used * 100.0);
}

#[actix_rt::test]
async fn a_team_sent_through_two_replicas_is_served_about_equally_by_each() {
    let redis = RedisServer::start();
    let sim = Simulator::builder().start().unwrap();
    let wait = Duration::from_secs(3);
    let teams = [
        team("both", 1000.0, 1000, wait),
        team("only-a", 1000.0, 1000, wait),
        team("only-b", 1000.0, 1000, wait),
    ];
    let (a, b) = crate::shared::two_replicas(sim, &redis, &teams).await;
    let tok = |t: &str| token_for(&a.settings, "u", t);
    // Team `both` at 5 req/s through each replica, beside a flood only on A and one only
    // on B: three times the budget together, for 12 s.
    let (ra, rb, _, _) = futures_util::join!(
        flood(&a, tok("both"), 5.0, 12.0),
        flood(&b, tok("both"), 5.0, 12.0),
        flood(&a, tok("only-a"), 10.0, 12.0),
        flood(&b, tok("only-b"), 10.0, 12.0)
    );
    let (sa, sb) = (served(&ra) as f64, served(&rb) as f64);
    println!("one team through two replicas: A served {sa}, B served {sb}");
    assert_eq!(a.sim.counters().rate_limited, 0);
    // Issue 22: 7 vs 40 of 49, a tie-break order. Within 25 % of each other now.
    assert!(
        (sa - sb).abs() <= 0.25 * sa.max(sb),
        "A {sa} vs B {sb}: one replica wins the ties"
    );
}

/// One call of the shared budget script as `replica`, holding waiters for `teams` (weight 1)
/// in the order given; returns its reason (`grant`, `fair`, `pace`…).
async fn budget_call(
    c: &mut redis::aio::MultiplexedConnection,
    replica: &str,
    teams: &[&str],
) -> String {
    let mut call = reportgate::shared::scripts::BUDGET.prepare_invoke();
    for k in ["t:budget", "t:vtime", "t:seen", "t:replicas"] {
        call.key(k);
    }
    // A pace that never holds (1 µs, 1 s tolerance): only the fair order decides.
    call.arg(1u64)
        .arg(1_000_000u64)
        .arg(2_000_000u64)
        .arg(0u64)
        .arg(replica)
        .arg(0.5f64);
    for t in teams {
        call.arg(*t).arg(1u32);
    }
    let (_, _, reason): (String, u64, String) = call.invoke_async(c).await.unwrap();
    reason
}

#[actix_rt::test]
async fn replicas_holding_the_same_tied_teams_in_different_orders_still_get_permits() {
    let redis = RedisServer::start();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    // Two replicas both wait for gamma and delta, tied in the fair order. Each team's last
    // permit went to a different replica: A had gamma's most recently, B had delta's.
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut c).await.unwrap();
    let now = secs * 1_000_000 + micros;
    let _: () = redis::pipe()
        .hset_multiple(
            "t:seen",
            &[
                ("aaaa:gamma", now),
                ("aaaa:delta", now),
                ("bbbb:gamma", now),
                ("bbbb:delta", now),
            ],
        )
        .hset_multiple(
            "t:vtime",
            &[
                ("gamma", 5),
                ("delta", 5),
                ("turn:aaaa:gamma", 200),
                ("turn:bbbb:gamma", 100),
                ("turn:aaaa:delta", 100),
                ("turn:bbbb:delta", 200),
            ],
        )
        .query_async(&mut c)
        .await
        .unwrap();
    // Each replica lists its teams in its own (hash map) order. Had each picked the first of
    // its tied teams, A would defer to B's older turn on gamma and B to A's on delta, forever.
    let mut reasons = Vec::new();
    for _ in 0..5 {
        reasons.push(budget_call(&mut c, "aaaa", &["gamma", "delta"]).await);
        reasons.push(budget_call(&mut c, "bbbb", &["delta", "gamma"]).await);
    }
    let grants = reasons.iter().filter(|r| *r == "grant").count();
    assert!(grants >= 5, "{grants} grants in 10 calls: {reasons:?}");
}
