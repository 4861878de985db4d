//! Where the proxy comes from: tenant.proxy, the environment, credentials, problems.
use super::*;

fn settings() -> ProxySettings {
    ProxySettings {
        url: None,
        username: None,
        password: None,
        password_file: None,
        no_proxy: vec![],
        from_environment: true,
        environment: ProxyEnvironment::default(),
    }
}

fn env(pairs: &[(&str, &str)]) -> ProxyEnvironment {
    ProxyEnvironment::read(
        &pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn route(e: &Egress, scheme: &str, host: &str, port: u16) -> Option<String> {
    e.route(scheme, host, port)
        .map(|p| format!("{}:{}", p.host, p.port))
}

#[test]
fn the_environment_gives_a_proxy_per_scheme_lower_case_first() {
    let mut s = settings();
    s.environment = env(&[
        ("HTTPS_PROXY", "http://upper:1"),
        ("https_proxy", "http://lower:2"),
        ("HTTP_PROXY", "plain:3"),
        ("NO_PROXY", "internal.corp,10.0.0.0/8"),
    ]);
    let e = s.egress().unwrap();
    assert_eq!(
        route(&e, "https", "acme.api.identitynow.com", 443).as_deref(),
        Some("lower:2")
    );
    assert_eq!(
        route(&e, "http", "acme.example", 80).as_deref(),
        Some("plain:3")
    );
    assert_eq!(route(&e, "https", "idp.internal.corp", 443), None);
    assert_eq!(route(&e, "https", "10.1.1.1", 443), None);
}

#[test]
fn no_environment_and_no_url_means_direct() {
    let e = settings().egress().unwrap();
    assert_eq!(route(&e, "https", "acme.api.identitynow.com", 443), None);
    assert_eq!(e.describe(), "direct (no proxy)");
}

#[test]
fn tenant_proxy_wins_over_the_environment_and_its_no_proxy() {
    let mut s = settings();
    s.environment = env(&[("HTTPS_PROXY", "http://env:1"), ("NO_PROXY", "*")]);
    s.url = Some("http://configured:3128".into());
    s.no_proxy = vec!["idp.corp".into()];
    let e = s.egress().unwrap();
    assert_eq!(
        route(&e, "https", "acme.api.identitynow.com", 443).as_deref(),
        Some("configured:3128")
    );
    assert_eq!(
        route(&e, "http", "127.0.0.1", 8080).as_deref(),
        Some("configured:3128")
    );
    assert_eq!(route(&e, "https", "idp.corp", 443), None);
    assert_eq!(
        e.describe(),
        "http://configured:3128 (from tenant.proxy.url)"
    );
}

#[test]
fn from_environment_false_ignores_the_environment() {
    let mut s = settings();
    s.environment = env(&[("HTTPS_PROXY", "http://env:1")]);
    s.from_environment = false;
    assert_eq!(route(&s.egress().unwrap(), "https", "a.example", 443), None);
}

#[test]
fn credentials_become_a_basic_proxy_authorization_never_shown() {
    let mut s = settings();
    s.url = Some("http://proxy.corp:3128".into());
    s.username = Some("svc".into());
    s.password = Some(Secret::new("pa:ss".into()));
    let e = s.egress().unwrap();
    let p = e.route("https", "a.example", 443).unwrap();
    // base64("svc:pa:ss")
    assert_eq!(
        p.authorization.as_ref().unwrap().expose(),
        "Basic c3ZjOnBhOnNz"
    );
    assert!(!format!("{e:?} {}", e.describe()).contains("pa:ss"));

    let mut s = settings();
    s.environment = env(&[("https_proxy", "http://svc:p%40ss@env-proxy:8080")]);
    let e = s.egress().unwrap();
    let p = e.route("https", "a.example", 443).unwrap();
    // base64("svc:p@ss")
    assert_eq!(
        p.authorization.as_ref().unwrap().expose(),
        "Basic c3ZjOnBAc3M="
    );
    assert_eq!(
        e.describe(),
        "https via http://env-proxy:8080 (from https_proxy), http via direct"
    );
}

#[test]
fn configured_credentials_apply_to_the_environments_proxy_unless_its_url_has_its_own() {
    let mut s = settings();
    s.username = Some("svc".into());
    s.password = Some(Secret::new("pa:ss".into()));
    s.environment = env(&[
        ("HTTPS_PROXY", "http://env-proxy:8080"),
        ("HTTP_PROXY", "http://other:x@plain-proxy:8080"),
        ("NO_PROXY", "<local>,.svc"),
    ]);
    let e = s.egress().unwrap();
    let auth = |scheme| {
        e.route(scheme, "a.example", 443)
            .and_then(|p| p.authorization.as_ref())
            .map(|a| a.expose().to_owned())
    };
    // base64("svc:pa:ss") and base64("other:x")
    assert_eq!(auth("https").as_deref(), Some("Basic c3ZjOnBhOnNz"));
    assert_eq!(auth("http").as_deref(), Some("Basic b3RoZXI6eA=="));
    assert_eq!(e.skipped, vec!["<local>"]);
    assert!(e.route("https", "api.ns.svc", 443).is_none());
}

#[test]
fn bad_proxy_settings_are_reported_with_their_key_and_without_the_password() {
    type Change = fn(&mut ProxySettings);
    let cases: [(&str, Change); 8] = [
        ("tenant.proxy.url", |s| {
            s.url = Some("https://proxy:3128".into())
        }),
        ("tenant.proxy.url", |s| {
            s.url = Some("http://u:hunter2@proxy:3128".into())
        }),
        ("tenant.proxy.url", |s| {
            s.url = Some("http://proxy:3128/path".into())
        }),
        ("tenant.proxy.no_proxy", |s| {
            s.url = Some("http://proxy:3128".into());
            s.no_proxy = vec!["10.0.0.0/99".into()];
        }),
        ("tenant.proxy.password", |s| {
            s.url = Some("http://proxy:3128".into());
            s.username = Some("u".into());
        }),
        ("tenant.proxy.username", |s| {
            s.username = Some("u".into());
            s.password = Some(Secret::new("hunter2".into()));
        }),
        ("HTTPS_PROXY", |s| {
            s.environment = env(&[("HTTPS_PROXY", "socks5://u:hunter2@p:1080")])
        }),
        ("tenant.proxy.username", |s| {
            s.environment = env(&[("HTTPS_PROXY", "p:1")]);
            s.from_environment = false;
            s.username = Some("u".into());
            s.password = Some(Secret::new("hunter2".into()));
        }),
    ];
    for (key, change) in cases {
        let mut s = settings();
        change(&mut s);
        let problems = s.egress().unwrap_err();
        assert!(problems.iter().any(|p| p.key == key), "{key}: {problems:?}");
        assert!(!format!("{problems:?}").contains("hunter2"), "{problems:?}");
    }
}
