use awc::http::StatusCode;
use bytes::Bytes;
use reportgate::auth::clients::{sha256_hex, ClientSettings};
use reportgate::auth::mint::mint;
use reportgate::auth::settings::{IssuerSettings, NamedTeamPolicy, TeamPolicy};
use reportgate::clock::Clock;
use reportgate::config::Settings;
use reportgate::secret::Secret;
use reportgate::simulator::{Simulator, SimulatorBuilder, SimulatorHandle};
use reportgate::startup::Application;
use serde_json::Value;
use std::net::TcpListener;
use std::time::Duration;

pub struct TestApp {
    pub address: String,
    /// The admin listener (metrics, health).
    pub admin_address: String,
    pub sim: SimulatorHandle,
    /// The gateway's clock: moving it forward makes tokens due for refresh.
    pub clock: Clock,
    pub http: awc::Client,
    /// A token of team `test-team`, whose policy allows everything; sent by default.
    pub token: String,
    pub settings: Settings,
}

pub const TEST_HMAC_SECRET: &str = "test-hmac-secret-of-at-least-32-bytes!!";
/// Gateway client credentials of team `test-team` (POST /oauth/token).
pub const TEST_CLIENT_ID: &str = "rgc_test0123456789abcdef01";
pub const TEST_CLIENT_SECRET: &str = "rgs_test-client-secret-0123456789abcdef0123456789abcdef";
pub const TEST_ISSUER: &str = "https://idp.test";

/// A token from the test issuer for `sub` in `team`.
pub fn token_for(settings: &Settings, sub: &str, team: &str) -> String {
    mint(&settings.auth, sub, Some(team), Duration::from_secs(3600)).unwrap()
}

pub struct Response {
    pub status: StatusCode,
    pub headers: awc::http::header::HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Settings pointing at a simulator, on a random loopback port.
pub fn settings_for(sim: &SimulatorHandle) -> Settings {
    let mut s = Settings::defaults();
    s.server.listen = "127.0.0.1:0".into();
    s.server.workers = 2;
    s.tenant.base_url = sim.base_url();
    s.tenant.client_id = sim.config().client_id.clone();
    s.tenant.client_secret = Some(Secret::new(sim.config().client_secret.clone()));
    s.tenant.request_timeout = Duration::from_secs(5);
    s.tenant.token_timeout = Duration::from_secs(2);
    // The gateway's budget matches the simulated tenant's limit (lifted there, lifted here).
    let sim_limit = sim.config().rate_limit;
    s.limits.upstream_requests = if sim_limit == 0 { 1_000_000 } else { sim_limit };
    s.limits.upstream_window = sim.config().rate_window;
    s.admin.listen = Some("127.0.0.1:0".into());
    // Each gateway audits to its own file (not stdout, which would flood the test output).
    s.audit.stdout = false;
    s.audit.file = Some(std::env::temp_dir().join(format!("rg-audit-{}.jsonl", unknown_id())));
    // Running reports are not served from the cache unless a test asks for it: a zero TTL
    // expires on creation (moka compares `expires_at <= now`), so no race with the next read.
    s.cache.running_ttl = Duration::ZERO;
    s.auth.issuers = vec![IssuerSettings::hmac(
        TEST_ISSUER,
        "reportgate",
        Secret::new(TEST_HMAC_SECRET.into()),
    )];
    s.auth.id_signing_key = Some(Secret::new("test-id-signing-key-0123456789abcdef".into()));
    s.policy.teams = vec![NamedTeamPolicy {
        team: "test-team".into(),
        policy: TeamPolicy::allow_all(),
    }];
    s.auth.clients = vec![ClientSettings {
        id: TEST_CLIENT_ID.into(),
        team: "test-team".into(),
        secret_sha256: sha256_hex(TEST_CLIENT_SECRET),
    }];
    s
}

/// A simulator whose reports finish at once, and a gateway in front of it.
pub async fn spawn_app() -> TestApp {
    spawn_with(Simulator::builder().report_duration(Duration::ZERO), |_| {}).await
}

pub async fn spawn_with(sim: SimulatorBuilder, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let sim = sim.start().expect("simulator starts");
    let mut settings = settings_for(&sim);
    tweak(&mut settings);
    spawn_gateway(sim, settings)
}

pub fn spawn_gateway(sim: SimulatorHandle, settings: Settings) -> TestApp {
    let clock = Clock::default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let app =
        Application::with_listener(&settings, clock.clone(), listener).expect("gateway builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let admin_address = format!(
        "http://127.0.0.1:{}",
        app.admin_port().expect("admin listener")
    );
    actix_rt::spawn(app.run_until_stopped(false));
    TestApp {
        address,
        admin_address,
        sim,
        clock,
        // No client-side connection cap: load tests hold hundreds of requests open.
        http: awc::Client::builder()
            .connector(awc::Connector::new().limit(0))
            .timeout(Duration::from_secs(30))
            .finish(),
        token: token_for(&settings, "alice", "test-team"),
        settings,
    }
}

impl TestApp {
    pub async fn request(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        self.request_with(method, path, body, &[]).await
    }

    /// A request with the default token, unless `headers` carry an Authorization of their own.
    pub async fn request_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Response {
        let bearer = format!("Bearer {}", self.token);
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        {
            all.push(("authorization", &bearer));
        }
        self.raw_request(method, path, body, &all).await
    }

    /// Exactly these headers (`append`ed, so a header may repeat).
    pub async fn raw_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.address));
        for (k, v) in headers {
            req = req.append_header((*k, *v));
        }
        let mut resp = match body {
            Some(b) => {
                req.insert_header(("content-type", "application/json"))
                    .send_body(b.to_owned())
                    .await
            }
            None => req.send().await,
        }
        .expect("gateway answers");
        let body = resp.body().limit(1 << 30).await.expect("body");
        Response {
            status: resp.status(),
            headers: resp.headers().clone(),
            body,
        }
    }

    /// A GET to another listener of this gateway (e.g. the admin listener), no token.
    pub async fn raw_request_to(&self, base: &str, path: &str) -> Response {
        let mut resp = self
            .http
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("answers");
        let body = resp.body().limit(1 << 24).await.expect("body");
        Response {
            status: resp.status(),
            headers: resp.headers().clone(),
            body,
        }
    }

    /// A request with another caller's token.
    pub async fn request_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Response {
        let bearer = format!("Bearer {token}");
        self.raw_request(method, path, body, &[("authorization", &bearer)])
            .await
    }

    pub async fn run(&self, body: &str) -> Response {
        self.request("POST", "/v1/reports", Some(body)).await
    }

    pub async fn run_accounts(&self) -> String {
        let r = self
            .run(r#"{"type":"ACCOUNTS","arguments":{"application":"2c9180835d2e5168015d32f890ca1581","sourceName":"Active Directory"}}"#)
            .await;
        assert_eq!(r.status, 202, "{}", r.text());
        r.json()["id"].as_str().unwrap().to_owned()
    }

    pub async fn status(&self, id: &str) -> Response {
        self.request("GET", &format!("/v1/reports/{id}"), None)
            .await
    }

    pub async fn download(&self, id: &str, format: &str) -> Response {
        self.request(
            "GET",
            &format!("/v1/reports/{id}/file?format={format}"),
            None,
        )
        .await
    }

    pub async fn cancel(&self, id: &str) -> Response {
        self.request("POST", &format!("/v1/reports/{id}/cancel"), None)
            .await
    }
}

/// A fresh id of a report that does not exist (upstream answers 404, never cached), so
/// that concurrent requests are not coalesced into one.
/// The simulator's token response to a client-credentials grant with its own credentials.
pub async fn sim_token_response(sim: &SimulatorHandle) -> Value {
    let config = sim.config();
    let mut r = awc::Client::default()
        .post(format!("{}/oauth/token", sim.base_url()))
        .send_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", config.client_id.as_str()),
            ("client_secret", config.client_secret.as_str()),
        ])
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

pub fn unknown_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

impl TestApp {
    /// Waits (bounded) for a download's end record in the audit file.
    pub async fn audit_end_record(&self) -> serde_json::Value {
        for _ in 0..200 {
            if let Some(end) = self.audit_lines().into_iter().find(|r| r["phase"] == "end") {
                return end;
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no end record in the audit file");
    }

    /// Waits (bounded) until the audit file holds at least `n` records, and returns them all.
    pub async fn audit_records(&self, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..200 {
            let lines = self.audit_lines();
            if lines.len() >= n {
                return lines;
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
        self.audit_lines()
    }

    /// The audit records written so far.
    pub fn audit_lines(&self) -> Vec<serde_json::Value> {
        let path = self.settings.audit.file.as_ref().expect("audit file");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
            .collect()
    }
}

/// Asserts a `/v1` error body: code, message, request id matching the header.
pub fn assert_error(r: &Response, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text());
    let body = r.json();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(
        body["requestId"].as_str(),
        r.header("x-request-id").as_deref()
    );
}

/// A team allowed everything, with this limit and wait bound.
pub fn team(name: &str, rate: f64, burst: u32, max_wait: Duration) -> NamedTeamPolicy {
    named_team(
        name,
        TeamPolicy {
            rate,
            burst,
            max_wait: Some(max_wait),
            ..TeamPolicy::allow_all()
        },
    )
}

/// A team with its policy, as `policy.teams` lists it.
pub fn named_team(name: &str, policy: TeamPolicy) -> NamedTeamPolicy {
    NamedTeamPolicy {
        team: name.into(),
        policy,
    }
}

/// One caller request: (status, latency).
pub async fn status_as(app: &TestApp, token: &str) -> (u16, Duration) {
    let started = std::time::Instant::now();
    // Distinct ids: polls of one report would be coalesced by the cache.
    let r = app
        .request_as(token, "GET", &format!("/v1/reports/{}", unknown_id()), None)
        .await;
    (r.status.as_u16(), started.elapsed())
}

/// Sends `rate` requests per second for `secs`, each as its own task; returns the outcomes.
pub async fn flood(app: &TestApp, token: String, rate: f64, secs: f64) -> Vec<(u16, Duration)> {
    let n = (rate * secs) as usize;
    let gap = Duration::from_secs_f64(1.0 / rate);
    let start = std::time::Instant::now();
    let calls = (0..n).map(|i| {
        let token = token.clone();
        async move {
            actix_rt::time::sleep_until((start + gap * i as u32).into()).await;
            status_as(app, &token).await
        }
    });
    futures_util::future::join_all(calls).await
}

/// The admin listener's /metrics text.
pub async fn scrape(app: &TestApp) -> String {
    let r = app.raw_request_to(&app.admin_address, "/metrics").await;
    assert_eq!(r.status, 200);
    r.text()
}

/// The value of one series in a text exposition (labels given in their exposed order).
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Waits (bounded) until a metric series has this value.
pub async fn until_metric(app: &TestApp, series: &str, want: f64) {
    for _ in 0..500 {
        if value(&scrape(app).await, series) == Some(want) {
            return;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{series} never reached {want}");
}
