//! Metrics a real Prometheus scrapes, bounded labels, readiness and graceful shutdown.
use crate::helpers::{scrape, spawn_with, unknown_id, value, TestApp};
use reportgate::simulator::{Simulator, SimulatorHandle};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

async fn drive(app: &TestApp) -> String {
    let id = app.run_accounts().await;
    for _ in 0..3 {
        app.status(&id).await;
    }
    app.download(&id, "csv").await;
    app.status(&unknown_id()).await;
    id
}

#[actix_rt::test]
async fn metrics_are_on_the_admin_listener_only_and_count_what_happened() {
    let app = spawn_with(
        Simulator::builder().report_duration(std::time::Duration::ZERO),
        |_| {},
    )
    .await;
    let id = drive(&app).await;
    assert_eq!(
        app.raw_request("GET", "/metrics", None, &[]).await.status,
        401,
        "not on the API listener"
    );
    let text = scrape(&app).await;
    assert_eq!(
        value(
            &text,
            r#"reportgate_http_requests_total{method="GET",route="/v1/reports/{id}",status_class="2xx"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"reportgate_http_requests_total{method="POST",route="/v1/reports",status_class="2xx"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"reportgate_upstream_requests_total{operation="run",status="200"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"reportgate_upstream_requests_total{operation="result",status="404"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"reportgate_token_refreshes_total{outcome="success"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&text, r#"reportgate_cache_hits_total{cache="results"}"#),
        Some(2.0),
        "two of three polls of a finished report"
    );
    assert!(value(&text, "reportgate_token_expires_in_seconds").unwrap() > 600.0);
    assert!(value(&text, "reportgate_download_bytes_total").unwrap() > 0.0);
    assert_eq!(value(&text, "reportgate_downloads_in_flight"), Some(0.0));
    assert!(value(&text, "reportgate_audit_writes_total").unwrap() >= 1.0);
    assert!(text.contains("reportgate_build_info{commit="));
    // Labels are bounded: no ids, tokens or raw paths.
    let raw_upstream = id.split_once('-').unwrap().0;
    for leak in [
        id.as_str(),
        raw_upstream,
        app.token.as_str(),
        "eyJ",
        "sim-secret",
    ] {
        assert!(!text.contains(leak), "{leak} in metrics");
    }
}

#[actix_rt::test]
async fn promtool_finds_nothing_to_report_on_a_live_scrape_after_traffic() {
    let app = spawn_with(
        Simulator::builder().report_duration(std::time::Duration::ZERO),
        |_| {},
    )
    .await;
    drive(&app).await;
    let text = scrape(&app).await;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (scripts/test.sh installs the prometheus package)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool: {report}"
    );
}

/// Reads Prometheus's log until it says `msg="Listening on" address=127.0.0.1:PORT` (it
/// says so within seconds; a closed pipe ends the wait), then keeps draining it.
fn prometheus_port(log: std::process::ChildStderr) -> u16 {
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(log).lines();
    let port = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            let rest = &l[l.find("msg=\"Listening on\" address=127.0.0.1:")? + 37..];
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .expect("prometheus says where it listens");
    std::thread::spawn(move || lines.for_each(drop));
    port
}

/// Starts a real Prometheus (the Debian package) on loopback scraping the admin listener.
#[actix_rt::test]
async fn a_real_prometheus_scrapes_the_gateway_and_sees_request_and_upstream_series() {
    let app = spawn_with(
        Simulator::builder().report_duration(std::time::Duration::ZERO),
        |_| {},
    )
    .await;
    drive(&app).await;
    let dir = std::env::temp_dir().join(format!("rg-prom-{}", unknown_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let target = app.admin_address.trim_start_matches("http://");
    std::fs::write(
        dir.join("prometheus.yml"),
        format!("global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: reportgate\n    static_configs: [{{targets: ['{target}']}}]\n"),
    )
    .unwrap();
    // Prometheus binds port 0 itself and logs the address it got.
    let mut prom = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg("--web.listen-address=127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prometheus is installed (scripts/test.sh installs it)");
    let port = prometheus_port(prom.stderr.take().unwrap());
    let query = |q: &str| {
        format!(
            "http://127.0.0.1:{port}/api/v1/query?query={}",
            urlencode(q)
        )
    };
    let http = awc::Client::default();
    let mut found = (None, None);
    // Bounded: Prometheus starts and scrapes within a few seconds.
    for _ in 0..150 {
        let get = |q: String| {
            let http = &http;
            async move {
                let mut r = http.get(q).send().await.ok()?;
                let v: serde_json::Value = r.json().await.ok()?;
                v["data"]["result"][0]["value"][1]
                    .as_str()?
                    .parse::<f64>()
                    .ok()
            }
        };
        found = (
            get(query(r#"reportgate_http_requests_total{route="/v1/reports/{id}",method="GET",status_class="2xx"}"#)).await,
            get(query(r#"reportgate_upstream_requests_total{operation="run",status="200"}"#)).await,
        );
        if found.0.is_some() && found.1.is_some() {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    }
    prom.kill().ok();
    prom.wait().ok();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(
        found,
        (Some(3.0), Some(1.0)),
        "series as Prometheus sees them"
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A download in progress at SIGTERM completes; readiness is false while draining; exit 0.
#[actix_rt::test]
async fn sigterm_drains_and_a_download_in_progress_completes() {
    let sim: SimulatorHandle = Simulator::builder()
        .report_duration(Duration::ZERO)
        .csv_rows(400_000)
        .start()
        .unwrap();
    let settings = crate::helpers::settings_for(&sim);
    let token = crate::helpers::token_for(&settings, "dl", "test-team");
    let dir = std::env::temp_dir().join(format!("rg-term-{}", unknown_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            "server: {{listen: \"127.0.0.1:0\", drain_delay: 1s, shutdown_timeout: 30s}}\nadmin: {{listen: \"127.0.0.1:0\"}}\n\
             tenant: {{base_url: \"{}\", client_id: sim-client, client_secret: sim-secret}}\nlog: {{level: info}}\n\
             auth:\n  issuers: [{{issuer: \"{}\", audiences: [reportgate], hmac_secret: \"{}\"}}]\n  id_signing_key: 0123456789abcdef0123456789abcdef\n\
             policy:\n  teams: [{{team: test-team, run: ['*']}}]\ncache: {{file_max_bytes: 1024}}\naudit: {{stdout: false, file: \"{}\"}}\n",
            sim.base_url(),
            crate::helpers::TEST_ISSUER,
            crate::helpers::TEST_HMAC_SECRET,
            dir.join("audit.jsonl").display()
        ),
    )
    .unwrap();
    let served = crate::served::Served::start(
        Command::new(env!("CARGO_BIN_EXE_reportgate"))
            .args(["serve", "--config"])
            .arg(&config),
    );
    let http = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let (base, admin) = (served.base_url(), served.admin_url());
    let mut r = http
        .post(format!("{base}/v1/reports"))
        .bearer_auth(&token)
        .send_body(r#"{"type":"IDENTITIES"}"#)
        .await
        .unwrap();
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut download = http
        .get(format!("{base}/v1/reports/{id}/file?format=csv"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    use futures_util::StreamExt;
    let mut received = download.next().await.unwrap().unwrap().len();

    Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    // Readiness turns false at once, while the listener still accepts during the drain delay.
    let mut draining = false;
    for _ in 0..50 {
        if let Ok(r) = http.get(format!("{admin}/readyz")).send().await {
            if r.status() == 503 {
                draining = true;
                break;
            }
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(draining, "readiness turned false after SIGTERM");
    // Slowly read the rest: the transfer must complete even though shutdown began.
    actix_rt::time::sleep(Duration::from_millis(1500)).await;
    while let Some(chunk) = download.next().await {
        received += chunk.expect("the download is not cut off").len();
    }
    assert_eq!(received as u64, reportgate::simulator::csv_len(400_000));
    let (code, log) = served.wait();
    assert_eq!(code, Some(0), "exit 0 after a graceful shutdown: {log}");
    let audit = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap();
    assert!(
        audit.contains("\"phase\":\"end\"") && audit.contains("\"completed\":true"),
        "the end record was flushed before exit"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[actix_rt::test]
async fn a_callers_traceparent_is_continued_upstream_with_a_new_span_id() {
    let app = crate::helpers::spawn_app().await;
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    app.request_with(
        "GET",
        &format!("/v1/reports/{}", unknown_id()),
        None,
        &[("traceparent", incoming)],
    )
    .await;
    let seen = app
        .sim
        .last_traceparent()
        .expect("upstream got a traceparent");
    assert!(
        seen.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{seen}"
    );
    assert!(
        !seen.contains("00f067aa0ba902b7"),
        "a new span id for the upstream call"
    );
    // Without one, the gateway starts a trace of its own.
    app.status(&unknown_id()).await;
    let started = app.sim.last_traceparent().unwrap();
    assert!(!started.contains("4bf92f3577b34da6a3ce929d0e0e4736"));
}

pub fn write_issuer_config() -> String {
    let path = std::env::temp_dir().join(format!("rg-otel-{}.yaml", unknown_id()));
    std::fs::write(
        &path,
        format!(
            "auth:\n  issuers: [{{issuer: \"{}\", audiences: [reportgate], hmac_secret: \"{}\"}}]\npolicy:\n  teams: [{{team: test-team, run: ['*'], raw_ids: true}}]\n",
            crate::helpers::TEST_ISSUER,
            crate::helpers::TEST_HMAC_SECRET
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// `reportgate healthcheck` (for runtimes without HTTP probes) follows /readyz.
#[actix_rt::test]
async fn healthcheck_exits_0_for_a_ready_gateway_and_1_when_it_cannot_be_reached_or_is_not_ready() {
    let app = crate::helpers::spawn_app().await;
    // The gateway serves on this thread: run the probe as a child without blocking it.
    let probe = |url: String| async move {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_reportgate"))
            .args(["healthcheck", "--url", &url, "--timeout", "2s"])
            .output()
            .await
            .unwrap()
    };
    let ready = probe(format!("{}/readyz", app.admin_address)).await;
    assert_eq!(ready.status.code(), Some(0), "{ready:?}");

    let not_found = probe(format!("{}/no-such-probe", app.admin_address)).await;
    assert_eq!(not_found.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&not_found.stderr).contains("answered 404"));

    // A port nobody listens on.
    let closed = crate::served::ClosedPort::new();
    let down = probe(format!("http://{}/readyz", closed.addr())).await;
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("cannot connect"));
}
