//! Completion callbacks: signed POSTs of the report resource to a receiver on loopback.
use crate::helpers::{assert_error, scrape, spawn_gateway, spawn_with, value, TestApp};
use crate::shared::{replica_settings, wait_for_mode, RedisServer};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine;
use reportgate::callbacks::settings::WebhookPolicy;
use reportgate::config::Settings;
use reportgate::secret::Secret;
use reportgate::simulator::Simulator;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the receiver got: headers (lower-case names) and body.
#[derive(Clone, Debug)]
struct Delivery {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Delivery {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header"))
    }
}

/// A callback receiver on 127.0.0.1: records every POST, answers the queued statuses first
/// (then 200).
struct Receiver {
    base: String,
    got: Arc<Mutex<Vec<Delivery>>>,
}

fn receiver(statuses: &[u16]) -> Receiver {
    let got: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let queue = Arc::new(Mutex::new(
        statuses.iter().copied().collect::<VecDeque<_>>(),
    ));
    let (g, q) = (got.clone(), queue.clone());
    let server = HttpServer::new(move || {
        let (g, q) = (g.clone(), q.clone());
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let (g, q) = (g.clone(), q.clone());
            async move {
                g.lock().unwrap().push(Delivery {
                    headers: req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                        .collect(),
                    body: body.to_vec(),
                });
                let status = q.lock().unwrap().pop_front().unwrap_or(200);
                HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .unwrap();
    let base = format!("http://{}", server.addrs()[0]);
    actix_rt::spawn(server.run());
    Receiver { base, got }
}

impl Receiver {
    /// Waits (bounded) until `n` deliveries arrived; answers all so far.
    async fn deliveries(&self, n: usize) -> Vec<Delivery> {
        for _ in 0..500 {
            if self.got.lock().unwrap().len() >= n {
                break;
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
        self.got.lock().unwrap().clone()
    }
}

fn secret() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
    )
}

/// Fast retries; the test team may call back under `allowed` (loopback allowed if `private`).
fn with_webhook(s: &mut Settings, secret: &str, allowed: &str, private: bool) {
    s.callbacks.first_retry = Duration::from_millis(20);
    s.callbacks.max_backoff = Duration::from_millis(100);
    s.callbacks.watch_interval = Duration::from_millis(20);
    s.callbacks.retry_for = Duration::from_secs(10);
    s.policy.teams[0].policy.webhook = Some(WebhookPolicy {
        secret: Some(Secret::new(secret.into())),
        allowed_urls: vec![allowed.into()],
        allow_private_addresses: private,
        ..WebhookPolicy::default()
    });
}

const ACCOUNTS: &str = r#""type":"ACCOUNTS","arguments":{"application":"2c9180835d2e5168015d32f890ca1581","sourceName":"Active Directory"}"#;

async fn run_with_callback(app: &TestApp, url: &str) -> crate::helpers::Response {
    app.run(&format!(r#"{{{ACCOUNTS},"callback":{{"url":"{url}"}}}}"#))
        .await
}

/// Standard Webhooks verification written independently, with Python's standard library.
fn python_verifies(secret: &str, d: &Delivery) -> bool {
    let body = std::env::temp_dir().join(format!("rg-cb-{:016x}", rand::random::<u64>()));
    std::fs::write(&body, &d.body).unwrap();
    let script = r#"
import base64, hashlib, hmac, sys
secret, msg_id, ts, sig, path = sys.argv[1:6]
key = base64.b64decode(secret.removeprefix("whsec_"))
body = open(path, "rb").read()
mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
expected = base64.b64encode(mac).decode()
ok = any(s.split(",", 1)[1] == expected for s in sig.split(" ") if s.startswith("v1,"))
sys.exit(0 if ok else 1)
"#;
    let status = std::process::Command::new("python3")
        .args(["-c", script, secret])
        .arg(d.header("webhook-id"))
        .arg(d.header("webhook-timestamp"))
        .arg(d.header("webhook-signature"))
        .arg(&body)
        .status()
        .expect("python3 runs");
    std::fs::remove_file(body).ok();
    status.success()
}

#[actix_rt::test]
async fn a_finished_report_is_posted_to_the_callback_signed_with_the_team_secret() {
    let rx = receiver(&[]);
    let secret = secret();
    let app = spawn_with(
        Simulator::builder().report_duration(Duration::from_millis(300)),
        |s| with_webhook(s, &secret, &format!("{}/hooks/", rx.base), true),
    )
    .await;
    let run = run_with_callback(&app, &format!("{}/hooks/team-a?x=1", rx.base)).await;
    assert_eq!(run.status, 202, "{}", run.text());
    let id = run.json()["id"].as_str().unwrap().to_owned();
    let got = rx.deliveries(1).await;
    assert_eq!(got.len(), 1);
    let report: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(report["id"], id.as_str());
    assert_eq!(report["status"], "SUCCESS");
    assert_eq!(
        report["links"]["files"]["csv"],
        format!("/v1/reports/{id}/file?format=csv")
    );
    assert_eq!(got[0].header("content-type"), "application/json");
    assert!(got[0].header("webhook-id").starts_with("msg_"));
    let ts: i64 = got[0].header("webhook-timestamp").parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
    assert!(python_verifies(&secret, &got[0]));
    // The check can fail: another secret, or a changed body, does not verify.
    assert!(!python_verifies(&self::secret(), &got[0]));
    let mut tampered = got[0].clone();
    tampered.body = tampered.body.replace_ascii("SUCCESS", "FAILED");
    assert!(!python_verifies(&secret, &tampered));
    // The secret appears nowhere in the audit trail.
    let audit = std::fs::read_to_string(app.settings.audit.file.as_ref().unwrap()).unwrap();
    assert!(!audit.contains(&secret) && !audit.contains(secret.trim_start_matches("whsec_")));
}

trait ReplaceAscii {
    fn replace_ascii(&self, from: &str, to: &str) -> Vec<u8>;
}

impl ReplaceAscii for Vec<u8> {
    fn replace_ascii(&self, from: &str, to: &str) -> Vec<u8> {
        String::from_utf8(self.clone())
            .unwrap()
            .replace(from, to)
            .into_bytes()
    }
}

#[actix_rt::test]
async fn a_callback_answered_500_is_retried_with_the_same_id_and_every_attempt_is_audited_and_counted(
) {
    let rx = receiver(&[500, 500]);
    let secret = secret();
    let app = spawn_with(Simulator::builder().report_duration(Duration::ZERO), |s| {
        with_webhook(s, &secret, &rx.base, true)
    })
    .await;
    let run = run_with_callback(&app, &format!("{}/cb", rx.base)).await;
    assert_eq!(run.status, 202, "{}", run.text());
    let id = run.json()["id"].as_str().unwrap().to_owned();
    let got = rx.deliveries(3).await;
    assert_eq!(got.len(), 3);
    assert!(got
        .iter()
        .all(|d| d.header("webhook-id") == got[0].header("webhook-id")));
    assert!(got.iter().all(|d| python_verifies(&secret, d)));
    let records = app.audit_records(4).await;
    let attempts: Vec<_> = records
        .iter()
        .filter(|r| r["action"] == "callback")
        .map(|r| {
            (
                r["outcome"].as_str().unwrap().to_owned(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            ("failed".into(), 500),
            ("failed".into(), 500),
            ("delivered".into(), 200)
        ]
    );
    assert!(records
        .iter()
        .filter(|r| r["action"] == "callback")
        .all(|r| r["reportId"] == id.as_str() && r["team"] == "test-team"));
    let metrics = scrape(&app).await;
    let count = |o: &str| {
        value(
            &metrics,
            &format!("reportgate_callback_attempts_total{{outcome=\"{o}\"}}"),
        )
    };
    assert_eq!(count("failed"), Some(2.0));
    assert_eq!(count("delivered"), Some(1.0));
}

#[actix_rt::test]
async fn a_callback_url_outside_the_allowed_urls_is_refused_and_nothing_runs() {
    let rx = receiver(&[]);
    let app = spawn_with(Simulator::builder(), |s| {
        with_webhook(s, &secret(), &format!("{}/hooks/", rx.base), true)
    })
    .await;
    for url in [
        format!("{}/other", rx.base),
        format!("{}/hooksX", rx.base),
        "https://example.com/hooks/".to_string(),
    ] {
        let r = run_with_callback(&app, &url).await;
        assert_error(&r, 403, "forbidden");
        assert!(
            r.json()["message"].as_str().unwrap().contains("allowed"),
            "{}",
            r.text()
        );
    }
    let r = app.run(&format!(r#"{{{ACCOUNTS},"callback":"x"}}"#)).await;
    assert_error(&r, 400, "invalid_argument");
    assert_eq!(app.sim.counters().run, 0);
}

#[actix_rt::test]
async fn a_loopback_callback_url_is_refused_unless_the_team_allows_private_addresses() {
    let rx = receiver(&[]);
    let app = spawn_with(Simulator::builder(), |s| {
        // Allowed by prefix, but loopback: refused without allow_private_addresses.
        with_webhook(s, &secret(), &rx.base, false)
    })
    .await;
    let r = run_with_callback(&app, &format!("{}/cb", rx.base)).await;
    assert_error(&r, 403, "forbidden");
    assert!(
        r.json()["message"].as_str().unwrap().contains("loopback"),
        "{}",
        r.text()
    );
    assert_eq!(app.sim.counters().run, 0);
    assert!(rx.got.lock().unwrap().is_empty());
}

#[actix_rt::test]
async fn a_team_without_a_webhook_policy_cannot_ask_for_callbacks() {
    let app = spawn_with(Simulator::builder(), |_| {}).await;
    let r = run_with_callback(&app, "https://hooks.example.com/x").await;
    assert_error(&r, 403, "forbidden");
    assert_eq!(app.sim.counters().run, 0);
}

#[actix_rt::test]
async fn with_two_replicas_a_callback_is_delivered_once() {
    let redis = RedisServer::start();
    let rx = receiver(&[]);
    let secret = secret();
    // Long enough that the second run arrives while the first is still running.
    let sim = Simulator::builder()
        .report_duration(Duration::from_secs(1))
        .start()
        .unwrap();
    let replica = || {
        let mut s = replica_settings(&sim, &redis, &[]);
        with_webhook(&mut s, &secret, &rx.base, true);
        spawn_gateway(sim.clone(), s)
    };
    let (a, b) = (replica(), replica());
    for app in [&a, &b] {
        wait_for_mode(app, "shared").await;
    }
    // The same caller runs the same non-concurrent report through each replica (no
    // Idempotency-Key): upstream answers the second run with the task already running, so
    // both replicas accept a callback for one report and both watch it. Only the Redis
    // claim keeps the receiver from getting it twice.
    let body = format!(r#"{{{ACCOUNTS},"callback":{{"url":"{}/cb"}}}}"#, rx.base);
    let first = a.request("POST", "/v1/reports", Some(&body)).await;
    let again = b.request("POST", "/v1/reports", Some(&body)).await;
    assert_eq!(first.status, 202, "{}", first.text());
    assert_eq!(again.status, 202, "{}", again.text());
    assert_eq!(
        first.json()["id"],
        again.json()["id"],
        "upstream de-duplicated the run"
    );
    assert_eq!(rx.deliveries(1).await.len(), 1);
    // The replica that lost the claim says so in its audit trail; after that record no
    // second delivery can come.
    let skipped = |r: &serde_json::Value| r["action"] == "callback" && r["outcome"] == "skipped";
    let mut seen = false;
    for _ in 0..500 {
        if a.audit_lines().iter().chain(&b.audit_lines()).any(skipped) {
            seen = true;
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        seen,
        "one replica skipped the delivery claimed by the other"
    );
    assert_eq!(rx.got.lock().unwrap().len(), 1);
}

#[actix_rt::test]
async fn callback_watchers_read_the_report_through_the_cache_not_once_each_per_interval() {
    let rx = receiver(&[]);
    let secret = secret();
    let app = spawn_with(
        Simulator::builder().report_duration(Duration::from_millis(1500)),
        |s| {
            with_webhook(s, &secret, &rx.base, true);
            // Watchers look every 20 ms; upstream is read at most once a second.
            s.cache.running_ttl = Duration::from_secs(1);
        },
    )
    .await;
    // Three runs of the same report (upstream answers the running task), three watchers.
    let url = format!("{}/cb", rx.base);
    for _ in 0..3 {
        assert_eq!(run_with_callback(&app, &url).await.status, 202);
    }
    assert_eq!(rx.deliveries(3).await.len(), 3);
    // Through the cache: one read per second while running, then the finished one (3 here).
    // With running reports uncached (running_ttl 0) the same watchers read 14 times.
    let reads = app.sim.counters().result;
    assert!(reads <= 5, "{reads} upstream reads for three watchers");
}
