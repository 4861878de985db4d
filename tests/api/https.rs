use crate::helpers::{assert_error, settings_for, spawn_gateway};
use reportgate::simulator::Simulator;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use std::time::Duration;

pub(crate) fn self_signed() -> (rustls::ServerConfig, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    (config, cert.cert.pem())
}

#[actix_rt::test]
async fn an_https_upstream_with_a_configured_ca_bundle_serves_reports() {
    let (tls, pem) = self_signed();
    let sim = Simulator::builder()
        .tls(tls)
        .report_duration(Duration::ZERO)
        .start()
        .unwrap();
    assert!(sim.base_url().starts_with("https://localhost:"));
    let ca = std::env::temp_dir().join(format!(
        "rg-ca-{}-{}.pem",
        std::process::id(),
        sim.addr().port()
    ));
    std::fs::write(&ca, pem).unwrap();
    let mut settings = settings_for(&sim);
    settings.tenant.ca_bundle = Some(ca.clone());
    let app = spawn_gateway(sim, settings);

    let id = app.run_accounts().await;
    assert_eq!(app.status(&id).await.json()["status"], "SUCCESS");
    assert_eq!(app.download(&id, "csv").await.status, 200);
    std::fs::remove_file(ca).ok();
}

#[actix_rt::test]
async fn an_https_upstream_with_an_untrusted_certificate_is_refused() {
    let (tls, _) = self_signed();
    let sim = Simulator::builder().tls(tls).start().unwrap();
    let settings = settings_for(&sim);
    let app = spawn_gateway(sim, settings);
    assert_error(&app.status("abc").await, 503, "upstream_auth_failed");
    assert_eq!(
        app.sim.counters().token_requests,
        0,
        "no request crossed an untrusted connection"
    );
}
