//! The proxy as a deployment sets it: `HTTPS_PROXY`/`NO_PROXY` in the environment of a real
//! `reportgate serve` (a child process, so no test touches this process's environment),
//! `tenant.proxy` winning over them, and the proxy password kept out of the log and of
//! `config check`.
use crate::cli::reportgate;
use crate::config_checks::{check, config_file, stderr};
use crate::connect_proxy::{ConnectProxy, Mode};
use crate::helpers::unknown_id;
use crate::served::{ClosedPort, Served};
use jsonwebtoken::{encode, EncodingKey, Header};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const PASSWORD: &str = "env-test-proxy-pa55word";
/// Policy letting every team run reports, so that a run reaches the upstream client.
const POLICY: &str = "policy:\n  default:\n    run: [\"*\"]\n";
const PROXY_VARS: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// `serve` on port 0 with `tenant_extra` in `tenant:` and these proxy variables (and no
/// others). The tenant is `https://localhost:PORT`, a held port refusing connections (what a
/// direct connection finds, on loopback); the proxies in these tests never dial it.
fn serve(tenant_extra: &str, env: &[(&str, String)]) -> (Served, String) {
    let tenant = ClosedPort::new();
    let target = format!("localhost:{}", tenant.addr().port());
    let extra = format!(
        "server:\n  listen: 127.0.0.1:0\nadmin:\n  listen: null\nlog:\n  format: pretty\n{POLICY}"
    );
    let path = config_file(&format!("https://{target}"), tenant_extra, "", &extra);
    let mut cmd = reportgate();
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "reportgate=debug")
        .args(["serve", "--config"])
        .arg(&path);
    (Served::start(&mut cmd).holding(tenant), target)
}

/// A report run by a caller of the configured HMAC issuer: the whole answer, as text.
fn run_report(port: u16) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let claims = serde_json::json!({"iss": "https://idp.example.com", "aud": "reportgate",
                                    "sub": "alice", "exp": exp});
    let token = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(b"an-hmac-secret-that-is-long-enough-123"),
    )
    .unwrap();
    let body = r#"{"type":"ACCOUNTS","arguments":{"application":"2c9180835d2e5168015d32f890ca1581","sourceName":"AD"}}"#;
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST /v1/reports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn https_proxy_in_the_environment_is_used_unless_no_proxy_or_tenant_proxy_says_otherwise() {
    // Arrange: two proxies refusing every tunnel, so each attempt is counted and answered.
    let env_proxy = ConnectProxy::start(Mode::Refuse("403 Forbidden"));
    let configured = ConnectProxy::start(Mode::Refuse("403 Forbidden"));
    let from_env = [("HTTPS_PROXY", env_proxy.url())];

    // Act / Assert: the environment's proxy is used...
    let (served, target) = serve("", &from_env);
    let answer = run_report(served.port);
    served.kill();
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    assert!(answer.contains("upstream_proxy_failed"), "{answer}");
    let seen = env_proxy.tunnels();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|t| t.target == target), "{seen:?}");

    // ...not for a host NO_PROXY names (lower-case form; `<local>` is skipped, not fatal)...
    let before = env_proxy.tunnels().len();
    let bypass = [
        from_env[0].clone(),
        ("no_proxy", "<local>,example.com,localhost".into()),
    ];
    let (served, _) = serve("", &bypass);
    let answer = run_report(served.port);
    served.kill();
    assert!(!answer.contains("upstream_proxy_failed"), "{answer}");
    assert_eq!(env_proxy.tunnels().len(), before, "NO_PROXY host tunnelled");

    // ...and tenant.proxy wins over the environment.
    let tenant = format!("  proxy:\n    url: {}\n", configured.url());
    let (served, _) = serve(&tenant, &from_env);
    let answer = run_report(served.port);
    served.kill();
    assert!(answer.contains("upstream_proxy_failed"), "{answer}");
    assert_eq!(
        env_proxy.tunnels().len(),
        before,
        "the environment's proxy was used"
    );
    assert!(!configured.tunnels().is_empty());
}

#[test]
fn a_proxy_refusing_the_credentials_leaves_the_password_out_of_the_log_and_the_answer() {
    // Arrange
    let proxy = ConnectProxy::start(Mode::RequireBasic("svc".into(), "another".into()));
    let file = std::env::temp_dir().join(format!("rg-proxy-pw-{}", unknown_id()));
    std::fs::write(&file, PASSWORD).unwrap();
    let tenant = format!(
        "  proxy:\n    url: {}\n    username: svc\n    password_file: {}\n",
        proxy.url(),
        file.display()
    );
    let (served, _) = serve(&tenant, &[]);

    // Act
    let answer = run_report(served.port);
    let log = served.kill();

    // Assert
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    assert!(answer.contains("upstream_proxy_failed"), "{answer}");
    assert!(answer.contains("407"), "{answer}");
    assert!(
        log.contains("407"),
        "the log does not name the refusal: {log}"
    );
    // base64("svc:") starts every encoding of these credentials.
    for secret in [PASSWORD, "c3ZjOm"] {
        assert!(!answer.contains(secret), "{secret} answered: {answer}");
        assert!(!log.contains(secret), "{secret} logged: {log}");
    }
    let tunnels = proxy.tunnels();
    assert!(
        tunnels.iter().all(|t| t.authorization.is_some()),
        "{tunnels:?}"
    );
}

#[test]
fn proxy_settings_are_strict_and_config_check_never_prints_the_password() {
    // Arrange
    let typo = config_file(
        "https://acme.api.identitynow.com",
        "  proxy:\n    url: http://proxy.corp:3128\n    no_prxy: [a]\n",
        "",
        "",
    );
    let with_password = config_file(
        "https://acme.api.identitynow.com",
        &format!("  proxy:\n    url: http://proxy.corp:3128\n    username: svc\n    password: {PASSWORD}\n    no_proxy: [.corp.example, 10.0.0.0/8]\n"),
        "",
        "",
    );
    let in_url = config_file(
        "https://acme.api.identitynow.com",
        &format!("  proxy:\n    url: http://svc:{PASSWORD}@proxy.corp:3128\n"),
        "",
        "",
    );

    // Act
    let typo = check(&typo);
    let ok = check(&with_password);
    let in_url = check(&in_url);

    // Assert
    assert_eq!(typo.status.code(), Some(64));
    assert!(
        stderr(&typo).contains("tenant.proxy.no_prxy"),
        "{}",
        stderr(&typo)
    );
    assert!(stderr(&typo).contains("no_proxy"), "{}", stderr(&typo));
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let shown: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(shown["tenant"]["proxy"]["password"], "[REDACTED]");
    assert_eq!(shown["tenant"]["proxy"]["url"], "http://proxy.corp:3128");
    assert_eq!(in_url.status.code(), Some(64));
    assert!(
        stderr(&in_url).contains("tenant.proxy.url"),
        "{}",
        stderr(&in_url)
    );
    for out in [&typo, &ok, &in_url] {
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(out));
        assert!(!all.contains(PASSWORD), "password printed: {all}");
    }
}
