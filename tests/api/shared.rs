//! Two replicas sharing one Redis (a real `redis-server` on loopback, started per test) and
//! one simulator: the budget, the fair order, team limits, idempotency keys and finished
//! results hold across replicas; losing Redis falls back safely and sharing resumes.
use crate::helpers::{
    flood, scrape, settings_for, spawn_gateway, team, token_for, unknown_id, until_metric, value,
    TestApp,
};
use reportgate::auth::settings::NamedTeamPolicy;
use reportgate::config::Settings;
use reportgate::simulator::{FaultAction, Op, Simulator, SimulatorHandle};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of this test's own on 127.0.0.1, stopped when dropped.
pub struct RedisServer {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<Child>,
    /// Extra arguments (TLS, password); with them, readiness is "the port accepts".
    extra: Vec<String>,
}

/// A free port for redis-server, which cannot bind port 0 itself (0 turns TCP off). It is
/// taken below the kernel's ephemeral range, from which every other server in the tests gets
/// its port 0, so none of them can take it while redis-server starts, stops or restarts.
fn redis_port() -> u16 {
    let low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let below = low.clamp(11000, 32768);
    for _ in 0..1000 {
        let port = rand::Rng::gen_range(&mut rand::thread_rng(), 10000..below);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below the ephemeral range {low}");
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_with(vec![])
    }

    /// A server with extra arguments; `{port}` in them is filled in.
    pub fn start_with(extra: Vec<String>) -> Self {
        let port = redis_port();
        let dir = std::env::temp_dir().join(format!("rg-redis-{}", unknown_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let extra = extra
            .into_iter()
            .map(|a| a.replace("{port}", &port.to_string()))
            .collect();
        let mut r = Self {
            port,
            dir,
            child: None,
            extra,
        };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts (again) on the same port, empty, and waits until it answers PING.
    pub fn restart(&mut self) {
        let port = self.port.to_string();
        let plain = if self.extra.is_empty() {
            vec!["--port", &port]
        } else {
            vec![]
        };
        let child = Command::new("redis-server")
            .args(plain)
            .args(&self.extra)
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test.sh installs it from apt)");
        self.child = Some(child);
        for _ in 0..250 {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        if !self.extra.is_empty() {
            return true;
        }
        s.set_read_timeout(Some(Duration::from_millis(200))).ok();
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// Settings of one replica: the simulator's, plus the shared Redis and these teams.
pub fn replica_settings(
    sim: &SimulatorHandle,
    redis: &RedisServer,
    teams: &[NamedTeamPolicy],
) -> Settings {
    let mut s = settings_for(sim);
    s.redis.url = Some(redis.url());
    s.redis.fallback_share = 0.5;
    s.redis.check_interval = Duration::from_millis(200);
    s.policy.teams.extend(teams.iter().cloned());
    s
}

/// Two replicas in front of one simulator, both using `redis`; waits until both share.
pub async fn two_replicas(
    sim: SimulatorHandle,
    redis: &RedisServer,
    teams: &[NamedTeamPolicy],
) -> (TestApp, TestApp) {
    let a = spawn_gateway(sim.clone(), replica_settings(&sim, redis, teams));
    let b = spawn_gateway(sim.clone(), replica_settings(&sim, redis, teams));
    for app in [&a, &b] {
        wait_for_mode(app, "shared").await;
    }
    (a, b)
}

/// The Redis mode a replica reports in /readyz, waited for (bounded).
pub async fn wait_for_mode(app: &TestApp, mode: &str) {
    let mut last = String::new();
    for _ in 0..100 {
        let r = app
            .http
            .get(format!("{}/readyz", app.admin_address))
            .send()
            .await;
        if let Ok(mut r) = r {
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            last = body["checks"]["redis"].as_str().unwrap_or("").to_owned();
            if last == mode {
                return;
            }
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("replica never reported redis={mode} (last: {last})");
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    value(&scrape(app).await, name).unwrap_or_else(|| panic!("no {name} in /metrics"))
}

pub fn served(r: &[(u16, Duration)]) -> usize {
    r.iter().filter(|(s, _)| *s == 404).count()
}

#[actix_rt::test]
async fn two_replicas_at_four_times_the_budget_cause_zero_upstream_429s_use_the_budget_and_share_it_by_weight(
) {
    let redis = RedisServer::start();
    // The simulator enforces the documented 100 requests per 10 s for the one API client.
    let sim = Simulator::builder().start().unwrap();
    let wait = Duration::from_secs(3);
    let mut teams = vec![
        team("alpha", 1000.0, 1000, wait),
        team("beta", 1000.0, 1000, wait),
        team("gamma", 1000.0, 1000, wait),
        team("delta", 1000.0, 1000, wait),
    ];
    teams[3].policy.weight = 2;
    let (a, b) = two_replicas(sim, &redis, &teams).await;
    let tok = |t: &str| token_for(&a.settings, "u", t);
    // 40 requests/s in all, 4 × the budget: alpha only through A, beta only through B,
    // gamma and delta (weight 2) through both.
    let secs = 20.0;
    let started = Instant::now();
    let (alpha, beta, gamma_a, gamma_b, delta_a, delta_b) = futures_util::join!(
        flood(&a, tok("alpha"), 10.0, secs),
        flood(&b, tok("beta"), 10.0, secs),
        flood(&a, tok("gamma"), 5.0, secs),
        flood(&b, tok("gamma"), 5.0, secs),
        flood(&a, tok("delta"), 5.0, secs),
        flood(&b, tok("delta"), 5.0, secs),
    );
    let elapsed = started.elapsed().as_secs_f64();
    let c = a.sim.counters();
    assert_eq!(c.rate_limited, 0, "the simulator never had to send a 429");
    let all: Vec<(u16, Duration)> = [&alpha, &beta, &gamma_a, &gamma_b, &delta_a, &delta_b]
        .iter()
        .flat_map(|v| v.iter().copied())
        .collect();
    assert!(
        all.iter().all(|(s, _)| matches!(s, 404 | 429)),
        "served or refused"
    );
    let total = served(&all) as f64;
    assert_eq!(total as u64, c.result);
    // The tenant allows 100 per 10 s; the two replicas together must have used >= 90 %.
    let allowed = 100.0 * elapsed / 10.0;
    let used = c.result as f64 / allowed;
    let shares = [
        ("alpha", served(&alpha) as f64, 1.0),
        ("beta", served(&beta) as f64, 1.0),
        ("gamma", (served(&gamma_a) + served(&gamma_b)) as f64, 1.0),
        ("delta", (served(&delta_a) + served(&delta_b)) as f64, 2.0),
    ];
    println!(
        "two replicas, 4x budget, {elapsed:.1} s: {} upstream calls ({:.0} % of the tenant's limit), 0 upstream 429s; served {shares:?}",
        c.result,
        used * 100.0
    );
    assert!(
        used >= 0.90,
        "only {:.1} % of the budget used",
        used * 100.0
    );
    // Each team within 10 % of its weighted fair share (weights 1, 1, 1, 2).
    for (name, got, weight) in shares {
        let fair = total * weight / 5.0;
        assert!(
            (got - fair).abs() / fair <= 0.10,
            "{name} served {got}, fair share {fair:.0}: {shares:?}"
        );
    }
}

#[actix_rt::test]
async fn a_teams_limit_holds_across_replicas() {
    let redis = RedisServer::start();
    let sim = Simulator::builder().start().unwrap();
    // One request per 10 s, no holding: the second anywhere is refused.
    let teams = [team("slow", 0.1, 1, Duration::ZERO)];
    let (a, b) = two_replicas(sim, &redis, &teams).await;
    let token = token_for(&a.settings, "u", "slow");
    let path = format!("/v1/reports/{}", unknown_id());
    let first = a.request_as(&token, "GET", &path, None).await;
    assert_eq!(first.status, 404, "{}", first.text());
    let second = b.request_as(&token, "GET", &path, None).await;
    assert_eq!(second.status, 429, "{}", second.text());
    assert_eq!(second.json()["error"], "rate_limited");
    let retry: u64 = second.header("retry-after").unwrap().parse().unwrap();
    assert!((8..=10).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        a.sim.counters().result,
        1,
        "the refused request cost no upstream call"
    );
}

#[actix_rt::test]
async fn an_idempotency_key_used_on_one_replica_is_honoured_on_the_other() {
    let redis = RedisServer::start();
    let sim = Simulator::builder().start().unwrap();
    let (a, b) = two_replicas(sim, &redis, &[]).await;
    let body = r#"{"type":"IDENTITIES","arguments":{}}"#;
    let key = [("idempotency-key", "nightly-2026-11-28")];
    let first = a
        .request_with("POST", "/v1/reports", Some(body), &key)
        .await;
    assert_eq!(first.status, 202, "{}", first.text());
    let again = b
        .request_with("POST", "/v1/reports", Some(body), &key)
        .await;
    assert_eq!(again.status, 202, "{}", again.text());
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.json()["id"], first.json()["id"]);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(
        a.sim.counters().run,
        1,
        "one upstream run for both replicas"
    );
    let other = r#"{"type":"ORPHAN_IDENTITIES","arguments":{}}"#;
    let reused = b
        .request_with("POST", "/v1/reports", Some(other), &key)
        .await;
    assert_eq!(reused.status, 422);
    assert_eq!(reused.json()["error"], "idempotency_key_reused");
    assert_eq!(a.sim.counters().run, 1);
}

#[actix_rt::test]
async fn a_report_run_on_one_replica_is_reused_on_the_other_without_an_upstream_run() {
    let redis = RedisServer::start();
    let sim = Simulator::builder()
        .report_duration(Duration::ZERO)
        .start()
        .unwrap();
    let (a, b) = two_replicas(sim, &redis, &[]).await;
    let id = a.run_accounts().await;
    let r = b
        .run(r#"{"maxAge":"15m","type":"ACCOUNTS","arguments":{"sourceName":"Active Directory","application":"2c9180835d2e5168015d32f890ca1581"}}"#)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["reused"], true);
    assert_eq!(r.json()["id"], id.as_str());
    assert_eq!(a.sim.counters().run, 1, "the index of runs is shared");
}

#[actix_rt::test]
async fn a_finished_report_read_on_one_replica_costs_the_other_no_upstream_call() {
    let redis = RedisServer::start();
    let sim = Simulator::builder()
        .report_duration(Duration::ZERO)
        .start()
        .unwrap();
    let (a, b) = two_replicas(sim, &redis, &[]).await;
    let id = a.run_accounts().await;
    let first = a.status(&id).await;
    assert_eq!(first.json()["status"], "SUCCESS", "{}", first.text());
    let calls = a.sim.counters().result;
    let other = b.status(&id).await;
    assert_eq!(other.status, 200);
    assert_eq!(other.json(), first.json());
    assert_eq!(a.sim.counters().result, calls, "served from Redis");
}

#[actix_rt::test]
async fn losing_redis_mid_flood_falls_back_without_upstream_429s_and_sharing_resumes() {
    let mut redis = RedisServer::start();
    let sim = Simulator::builder().start().unwrap();
    let wait = Duration::from_secs(3);
    let teams = [
        team("alpha", 1000.0, 1000, wait),
        team("beta", 1000.0, 1000, wait),
    ];
    let (a, b) = two_replicas(sim, &redis, &teams).await;
    let tok = |t: &str| token_for(&a.settings, "u", t);
    let secs = 21.0;
    let outage = async {
        actix_rt::time::sleep(Duration::from_secs(6)).await;
        redis.stop();
        for app in [&a, &b] {
            wait_for_mode(app, "fallback").await;
            assert_eq!(metric(app, "reportgate_redis_fallback").await, 1.0);
        }
        actix_rt::time::sleep(Duration::from_secs(6)).await;
        redis.restart();
        for app in [&a, &b] {
            wait_for_mode(app, "shared").await;
            assert_eq!(metric(app, "reportgate_redis_fallback").await, 0.0);
            assert!(metric(app, "reportgate_redis_fallbacks_total").await >= 1.0);
        }
    };
    let (alpha, beta, _) = futures_util::join!(
        flood(&a, tok("alpha"), 15.0, secs),
        flood(&b, tok("beta"), 15.0, secs),
        outage,
    );
    let c = a.sim.counters();
    assert_eq!(
        c.rate_limited, 0,
        "no upstream 429 before, during or after the outage"
    );
    assert!(alpha
        .iter()
        .chain(&beta)
        .all(|(s, _)| matches!(s, 404 | 429)));
    assert!(served(&alpha) > 0 && served(&beta) > 0);
    println!(
        "Redis outage mid-flood: {} upstream calls in {secs} s, 0 upstream 429s",
        c.result
    );
}

#[actix_rt::test]
async fn redis_over_tls_with_a_password_is_shared_and_a_wrong_password_falls_back_without_leaking_it(
) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let password = "redis-pass-7f3a9c1e";
    let certs = std::env::temp_dir().join(format!("rg-redis-tls-{}", unknown_id()));
    std::fs::create_dir_all(&certs).unwrap();
    let (cert_file, key_file) = (certs.join("cert.pem"), certs.join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    let redis = RedisServer::start_with(
        [
            "--port",
            "0",
            "--tls-port",
            "{port}",
            "--tls-auth-clients",
            "no",
            "--tls-cert-file",
            cert_file.to_str().unwrap(),
            "--tls-key-file",
            key_file.to_str().unwrap(),
            "--requirepass",
            password,
        ]
        .map(String::from)
        .to_vec(),
    );
    let ca = cert_file.clone();
    let sim = Simulator::builder().start().unwrap();
    let tls_settings = |pw: &str| {
        let mut s = replica_settings(&sim, &redis, &[]);
        s.redis.url = Some(redis.url().replace("redis://", "rediss://"));
        s.redis.ca_file = Some(ca.clone());
        s.redis.password = Some(reportgate::secret::Secret::new(pw.into()));
        s
    };
    let good = spawn_gateway(sim.clone(), tls_settings(password));
    wait_for_mode(&good, "shared").await;
    // The shared path works end to end over TLS: an idempotent run is claimed in Redis.
    let key = [("idempotency-key", "tls-check")];
    let r = good
        .request_with(
            "POST",
            "/v1/reports",
            Some(r#"{"type":"IDENTITIES"}"#),
            &key,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());

    // Connections the server has seen, asked over TLS with the right password.
    let connections = || {
        let out = Command::new("redis-cli")
            .args([
                "--tls",
                "--cacert",
                cert_file.to_str().unwrap(),
                "--no-auth-warning",
            ])
            .args([
                "-a",
                password,
                "-h",
                "127.0.0.1",
                "-p",
                &redis.port.to_string(),
            ])
            .args(["INFO", "stats"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("total_connections_received:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .expect("redis-cli INFO stats")
    };
    let before = connections();
    let bad = spawn_gateway(sim.clone(), tls_settings("wrong-password"));
    // Wait (bounded) until the bad replica has tried at least twice: it connected over TLS
    // and was refused at AUTH, and stays on its fallback share.
    // (Each INFO call is one connection of its own, counted out.)
    let mut tried = false;
    for polls in 1..=100 {
        if connections() >= before + polls + 2 {
            tried = true;
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        tried,
        "the replica with the wrong password never tried to connect"
    );
    // It serves (in fallback) and never becomes shared with a refused password.
    let r = bad
        .request("GET", &format!("/v1/reports/{}", unknown_id()), None)
        .await;
    assert_eq!(r.status, 404);
    wait_for_mode(&bad, "fallback").await;
    for app in [&good, &bad] {
        assert!(!scrape(app).await.contains("redis-pass"));
        let audit = serde_json::to_string(&app.audit_lines()).unwrap();
        assert!(!audit.contains("redis-pass"));
    }
    std::fs::remove_dir_all(&certs).ok();
}

#[actix_rt::test]
async fn an_upstream_429_seen_by_one_replica_pauses_the_other_too() {
    let redis = RedisServer::start();
    let sim = Simulator::builder().start().unwrap();
    let wait = Duration::from_secs(10);
    let (a, b) = two_replicas(sim, &redis, &[team("t", 1000.0, 1000, wait)]).await;
    let token = token_for(&a.settings, "u", "t");
    a.sim.fail_next(
        Op::Result,
        FaultAction::RateLimited {
            retry_after: "3".into(),
        },
        1,
    );
    let paths: Vec<String> = (0..4)
        .map(|_| format!("/v1/reports/{}", unknown_id()))
        .collect();
    let first = a.request_as(&token, "GET", &paths[0], None);
    // Callers of the other replica arrive once replica A has counted the 429 (the counter is
    // raised after the pause is in force and handed to the Redis dispatcher), not after a
    // guessed delay.
    let later = async {
        until_metric(&a, "reportgate_upstream_throttled_total", 1.0).await;
        let calls = paths[1..]
            .iter()
            .map(|p| b.request_as(&token, "GET", p, None));
        futures_util::future::join_all(calls).await
    };
    let (first, later) = futures_util::join!(first, later);
    assert_eq!(first.status, 404, "held and retried, not failed");
    assert!(
        later.iter().all(|r| r.status == 404),
        "no caller saw the 429"
    );
    let times = a.sim.call_times();
    assert_eq!(
        times.len(),
        5,
        "the 429'd call, its retry and three from replica B"
    );
    for t in &times[1..] {
        let gap = t.duration_since(times[0]);
        assert!(
            gap >= Duration::from_millis(2950),
            "an upstream call {gap:?} after the 429"
        );
    }
}
