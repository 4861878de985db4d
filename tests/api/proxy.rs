//! Upstream through an egress proxy: CONNECT tunnels to a TLS tenant by name, NO_PROXY,
//! proxy credentials, refused and unreachable proxies, JWKS fetched through the proxy.
use crate::auth::{claims, start_idp, EcKey, Idp};
use crate::connect_proxy::{ConnectProxy, Mode};
use crate::helpers::{assert_error, scrape, settings_for, spawn_gateway, unknown_id, TestApp};
use crate::https::self_signed;
use crate::served::ClosedPort;
use reportgate::auth::settings::IssuerSettings;
use reportgate::config::Settings;
use reportgate::simulator::Simulator;
use serde_json::json;
use std::time::Duration;

const RUN: &str = r#"{"type":"ACCOUNTS","arguments":{"application":"2c9180835d2e5168015d32f890ca1581","sourceName":"AD"}}"#;
const PROXY_PASSWORD: &str = "pr0xy-pa55word-never-shown";

/// A TLS simulator (`https://localhost:PORT`, trusted through a CA bundle) and a gateway in
/// front of it, with `tweak` applied to its settings.
fn spawn_tls(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let (tls, pem) = self_signed();
    let sim = Simulator::builder()
        .tls(tls)
        .report_duration(Duration::ZERO)
        .start()
        .unwrap();
    let ca = std::env::temp_dir().join(format!("rg-proxy-ca-{}.pem", unknown_id()));
    std::fs::write(&ca, pem).unwrap();
    let mut settings = settings_for(&sim);
    settings.tenant.ca_bundle = Some(ca);
    tweak(&mut settings);
    spawn_gateway(sim, settings)
}

/// Proxy credentials as an operator gives them: a user name and a mounted password file.
fn with_credentials(settings: &mut Settings, password: &str) {
    let file = std::env::temp_dir().join(format!("rg-proxy-pw-{}", unknown_id()));
    std::fs::write(&file, format!("{password}\n")).unwrap();
    settings.tenant.proxy.username = Some("svc-reportgate".into());
    settings.tenant.proxy.password_file = Some(file);
    settings.tenant.proxy.read_secret_files().unwrap();
}

async fn run_status_download(app: &TestApp) {
    let id = app.run_accounts().await;
    let status = app.status(&id).await;
    assert_eq!(status.json()["status"], "SUCCESS", "{}", status.text());
    let file = app.download(&id, "csv").await;
    assert_eq!(file.status, 200, "{}", file.text());
    assert!(!file.body.is_empty());
}

#[actix_rt::test]
async fn a_report_runs_end_to_end_through_a_connect_tunnel_named_for_the_tenant_host() {
    // Arrange
    let proxy = ConnectProxy::start(Mode::Open);
    let app = spawn_tls(|s| s.tenant.proxy.url = Some(proxy.url()));
    let port = app.sim.addr().port();

    // Act
    run_status_download(&app).await;

    // Assert: every connection (token endpoint and report calls) was a tunnel to the
    // tenant's *name*: the proxy resolved it, the gateway did not.
    let tunnels = proxy.tunnels();
    assert!(!tunnels.is_empty(), "no tunnel through the proxy");
    for t in &tunnels {
        assert_eq!(t.target, format!("localhost:{port}"));
        assert_eq!(t.authorization, None);
    }
    let counters = app.sim.counters();
    assert!(
        counters.token_grants >= 1 && counters.file >= 1,
        "{counters:?}"
    );
}

#[actix_rt::test]
async fn hosts_in_no_proxy_are_reached_directly_and_the_others_through_the_proxy() {
    // Arrange: the tenant (localhost) is in no_proxy; the IdP (127.0.0.1) is not.
    let proxy = ConnectProxy::start(Mode::Open);
    let (idp, key) = start_idp_with_key();
    let app = spawn_tls(|s| {
        s.tenant.proxy.url = Some(proxy.url());
        s.tenant.proxy.no_proxy = vec![".localhost".into(), "10.0.0.0/8".into()];
        trust_idp(s, &idp);
    });

    // Act
    run_status_download(&app).await;
    let r = app
        .request_as(&key.sign(&claims(IDP_ISSUER)), "GET", MISSING, None)
        .await;

    // Assert: one tunnel, to the IdP; the tenant's connections went direct.
    assert_eq!(r.status, 404, "{}", r.text());
    let targets: Vec<String> = proxy.tunnels().into_iter().map(|t| t.target).collect();
    assert_eq!(targets, vec![host_of(&idp.url)]);
}

#[actix_rt::test]
async fn proxy_credentials_from_a_secret_file_open_the_tunnel() {
    // Arrange
    let proxy = ConnectProxy::start(Mode::RequireBasic(
        "svc-reportgate".into(),
        PROXY_PASSWORD.into(),
    ));
    let app = spawn_tls(|s| {
        s.tenant.proxy.url = Some(proxy.url());
        with_credentials(s, PROXY_PASSWORD);
    });

    // Act
    run_status_download(&app).await;

    // Assert
    let tunnels = proxy.tunnels();
    assert!(!tunnels.is_empty());
    assert!(
        tunnels.iter().all(|t| t.authorization.is_some()),
        "{tunnels:?}"
    );
}

#[actix_rt::test]
async fn a_proxy_refusing_the_tunnel_gives_callers_a_502_that_names_it_without_credentials() {
    // Arrange: the proxy wants another password (407), or refuses the tenant (403).
    let picky = ConnectProxy::start(Mode::RequireBasic(
        "svc-reportgate".into(),
        "the-right-one".into(),
    ));
    let refusing = ConnectProxy::start(Mode::Refuse("403 Forbidden"));
    for (proxy, status) in [(&picky, "407"), (&refusing, "403")] {
        let app = spawn_tls(|s| {
            s.tenant.proxy.url = Some(proxy.url());
            with_credentials(s, PROXY_PASSWORD);
        });

        // Act
        let run = app.run(RUN).await;
        let sdk = app
            .request("GET", &format!("/v3/reports/{}/result", unknown_id()), None)
            .await;

        // Assert
        assert_error(&run, 502, "upstream_proxy_failed");
        let message = run.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(status), "{message}");
        assert_eq!(sdk.status, 502, "{}", sdk.text());
        // Nowhere a caller or an operator looks: answers, audit records, metrics.
        let audit = app.audit_records(2).await;
        let seen = [
            run.text(),
            sdk.text(),
            format!("{audit:?}"),
            scrape(&app).await,
        ];
        for text in seen {
            assert!(!text.contains(PROXY_PASSWORD), "{text}");
            // base64("svc-reportgate:") starts the Basic value.
            assert!(
                !text.contains("c3ZjLXJlcG9ydGdhdGU6"),
                "Basic credentials: {text}"
            );
        }
        assert!(audit.iter().any(|r| r["status"] == 502), "{audit:?}");
        assert!(!proxy.tunnels().is_empty());
        assert_eq!(app.sim.counters().token_requests, 0);
    }
}

#[actix_rt::test]
async fn an_unreachable_proxy_gives_callers_a_502_upstream_proxy_failed() {
    // Arrange: a held port that refuses connections.
    let closed = ClosedPort::new();
    let url = format!("http://{}", closed.addr());
    let app = spawn_tls(|s| s.tenant.proxy.url = Some(url));

    // Act
    let r = app.run(RUN).await;

    // Assert
    assert_error(&r, 502, "upstream_proxy_failed");
    assert_eq!(app.sim.counters().token_requests, 0);
}

#[actix_rt::test]
async fn jwks_urls_are_fetched_through_the_proxy() {
    // Arrange: an IdP publishing an ES256 key over JWKS, reached only through the proxy.
    let proxy = ConnectProxy::start(Mode::Open);
    let (idp, key) = start_idp_with_key();
    let app = spawn_tls(|s| {
        s.tenant.proxy.url = Some(proxy.url());
        trust_idp(s, &idp);
    });

    // Act: a token signed with the published key, for a report that does not exist.
    let r = app
        .request_as(&key.sign(&claims(IDP_ISSUER)), "GET", MISSING, None)
        .await;

    // Assert: accepted (404, not 401), with the JWKS fetched through a tunnel to the IdP.
    assert_eq!(r.status, 404, "{}", r.text());
    let targets: Vec<String> = proxy.tunnels().into_iter().map(|t| t.target).collect();
    assert!(targets.contains(&host_of(&idp.url)), "{targets:?}");
}

const IDP_ISSUER: &str = "https://corp.idp.test";
/// A well-formed report id nobody ran: 404 once the caller is authenticated.
const MISSING: &str = "/v1/reports/0123456789abcdef0123456789abcdef";

fn start_idp_with_key() -> (Idp, EcKey) {
    let idp = start_idp();
    let key = EcKey::new("k1");
    *idp.jwks.lock().unwrap() = json!({"keys": [key.jwk()]});
    (idp, key)
}

/// Adds the IdP as a JWKS issuer.
fn trust_idp(settings: &mut Settings, idp: &Idp) {
    let mut issuer = IssuerSettings::hmac(
        IDP_ISSUER,
        "reportgate",
        reportgate::secret::Secret::new("x".repeat(32)),
    );
    issuer.hmac_secret = None;
    issuer.jwks_url = Some(idp.url.clone());
    settings.auth.issuers.push(issuer);
}

/// `host:port` of an http URL.
fn host_of(url: &str) -> String {
    url.trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}
