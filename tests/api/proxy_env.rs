//! The proxy as a deployment sets it: `HTTPS_PROXY`/`NO_PROXY` in the environment of a real
//! `reportgate serve` (a child process, so no test touches this process's environment),
//! `tenant.proxy` winning over them, and the proxy password kept out of the log and of
//! `config check`.
use crate::cli::reportgate;
use crate::config_checks::{check, config_file, stderr};
use crate::connect_proxy::{ConnectProxy, Mode};
use crate::helpers::unknown_id;
use jsonwebtoken::{encode, EncodingKey, Header};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// `serve` with `tenant_extra` in `tenant:` and these proxy variables (and no others).
fn serve(tenant_extra: &str, env: &[(&str, String)]) -> (Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let extra = format!(
        "server:\n  listen: 127.0.0.1:{port}\nadmin:\n  listen: null\nlog:\n  format: pretty\n{POLICY}"
    );
    // Nothing listens on port 9: a direct connection is refused at once, on loopback.
    let path = config_file("https://localhost:9", tenant_extra, "", &extra);
    let mut cmd = reportgate();
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "reportgate=debug")
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the gateway did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, port)
}

fn stop(mut child: Child) -> String {
    child.kill().ok();
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).ok();
    child.wait().ok();
    log
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
    let (child, port) = serve("", &from_env);
    let answer = run_report(port);
    stop(child);
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    assert!(answer.contains("upstream_proxy_failed"), "{answer}");
    let seen = env_proxy.tunnels();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|t| t.target == "localhost:9"), "{seen:?}");

    // ...not for a host NO_PROXY names (lower-case form; `<local>` is skipped, not fatal)...
    let before = env_proxy.tunnels().len();
    let bypass = [
        from_env[0].clone(),
        ("no_proxy", "<local>,example.com,localhost".into()),
    ];
    let (child, port) = serve("", &bypass);
    let answer = run_report(port);
    stop(child);
    assert!(!answer.contains("upstream_proxy_failed"), "{answer}");
    assert_eq!(env_proxy.tunnels().len(), before, "NO_PROXY host tunnelled");

    // ...and tenant.proxy wins over the environment.
    let tenant = format!("  proxy:\n    url: {}\n", configured.url());
    let (child, port) = serve(&tenant, &from_env);
    let answer = run_report(port);
    stop(child);
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
    let (child, port) = serve(&tenant, &[]);

    // Act
    let answer = run_report(port);
    let log = stop(child);

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
