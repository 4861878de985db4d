//! What anonymous callers can make the gateway log: nothing per malformed connection, and
//! nothing of a token's header unescaped.
use crate::config_checks::config_file;
use crate::served::{ClosedPort, Served};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Starts `serve` (pretty logs, `rust_log`) on port 0 and waits until it says it listens.
fn serve(rust_log: &str) -> Served {
    serve_with(rust_log, "")
}

/// `serve` with extra YAML sections.
fn serve_with(rust_log: &str, extra: &str) -> Served {
    serve_with_issuer(rust_log, "", extra)
}

/// `serve` with `issuer_extra` keys in the one issuer and `extra` YAML sections; the tenant
/// is a held port that refuses connections.
fn serve_with_issuer(rust_log: &str, issuer_extra: &str, extra: &str) -> Served {
    let tenant = ClosedPort::new();
    let path = config_file(
        &format!("http://{}", tenant.addr()),
        "",
        issuer_extra,
        &format!(
            "server:\n  listen: 127.0.0.1:0\nadmin:\n  listen: null\nlog:\n  format: pretty\n{extra}"
        ),
    );
    let mut cmd = crate::cli::reportgate();
    cmd.args(["serve", "--config"]).arg(&path);
    if rust_log.is_empty() {
        cmd.env_remove("RUST_LOG");
    } else {
        cmd.env("RUST_LOG", rust_log);
    }
    Served::start(&mut cmd).holding(tenant)
}

/// Sends raw bytes on a fresh connection and reads the answer.
fn send(port: u16, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn malformed_requests_get_400_without_a_log_line_each() {
    // Arrange
    let served = serve("");

    // Act
    let answers: Vec<String> = (0..20)
        .map(|i| send(served.port, format!("GARBAGE {i}\r\n\r\n").as_bytes()))
        .collect();

    // Assert
    let log = served.kill();
    assert!(
        answers.iter().all(|a| a.starts_with("HTTP/1.1 400")),
        "{answers:?}"
    );
    assert!(!log.contains("stream error"), "{log}");
}

#[test]
fn a_token_header_never_reaches_the_log_unescaped() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    // Arrange: an alg with a line break and a terminal escape, echoed by the JSON parser's
    // error, in a log format (pretty) that does not escape by itself.
    let served = serve("reportgate=debug");
    let header = B64.encode("{\"alg\":\"X\\nFORGED LOG LINE \\u001b[31m\",\"typ\":\"JWT\"}");
    let token = format!("{header}.eyJpc3MiOiJ4In0.c2ln");

    // Act
    let answer = send(
        served.port,
        format!(
            "GET /v1/reports/0123456789abcdef0123456789abcdef HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );

    // Assert
    let log = served.kill();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(log.contains("caller token refused"), "{log}");
    assert!(
        !log.lines().any(|l| l.starts_with("FORGED LOG LINE")),
        "{log}"
    );
    assert!(
        log.contains("FORGED LOG LINE"),
        "the reason is logged: {log}"
    );
    assert!(
        !log.contains("FORGED LOG LINE \u{1b}"),
        "a raw escape reached the log"
    );
}

#[test]
fn a_failing_audit_file_and_readiness_are_logged_when_they_change_not_at_every_request() {
    // Arrange: the audit file's directory does not exist, so every write fails.
    let dir = std::env::temp_dir().join(format!("rg-gone-{}", crate::helpers::unknown_id()));
    let served = serve_with(
        "",
        &format!(
            "audit:\n  stdout: false\n  file: {}\n",
            dir.join("audit.jsonl").display()
        ),
    );

    // Act: anonymous runs (each refused by the failing audit, its record retried) and probes.
    for _ in 0..20 {
        let answer = send(served.port,
            b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        );
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        std::thread::sleep(Duration::from_millis(10));
    }
    for _ in 0..10 {
        let answer = send(
            served.port,
            b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    }

    // Assert
    let log = served.kill();
    let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(
        count("audit write failed") + count("audit file cannot be opened"),
        1,
        "{log}"
    );
    assert_eq!(count("readiness: not ready"), 1, "{log}");
}

#[test]
fn a_jwks_url_is_logged_without_its_userinfo_or_query_string() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    // Arrange: nothing listens on the JWKS port, so the fetch fails and is logged.
    let jwks = ClosedPort::new();
    let served = serve_with_issuer(
        "",
        &format!(
            "      jwks_url: https://jwks-user:jwks-pass@{}/certs?token=query-secret\n",
            jwks.addr()
        ),
        "",
    )
    .holding(jwks);
    let header = B64.encode(r#"{"alg":"RS256","kid":"k1"}"#);
    let claims = B64.encode(r#"{"iss":"https://idp.example.com","sub":"a","aud":"reportgate"}"#);

    // Act: a token of that issuer with an unknown kid makes the gateway fetch the JWKS.
    let answer = send(
        served.port,
        format!(
            "GET /v1/reports/0123456789abcdef0123456789abcdef HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {header}.{claims}.c2ln\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );

    // Assert
    let log = served.kill();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let line = log
        .lines()
        .find(|l| l.contains("JWKS fetch failed"))
        .unwrap_or_else(|| panic!("no JWKS line in: {log}"));
    assert!(
        line.contains("https://127.0.0.1:") && line.contains("/certs"),
        "{line}"
    );
    assert!(!line.contains('@') && !line.contains('?'), "{line}");
    for secret in ["jwks-user", "jwks-pass", "query-secret"] {
        assert!(!log.contains(secret), "{secret} logged: {log}");
    }
}
