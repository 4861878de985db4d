//! What anonymous callers can make the gateway log: nothing per malformed connection, and
//! nothing of a token's header unescaped.
use crate::config_checks::config_file;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Starts `serve` (pretty logs, `rust_log`), waits until it answers, returns it and its port.
fn serve(rust_log: &str) -> (Child, u16) {
    serve_with(rust_log, "")
}

/// `serve` with `extra` YAML sections appended to the configuration.
fn serve_with(rust_log: &str, extra: &str) -> (Child, u16) {
    serve_with_issuer(rust_log, "", extra)
}

/// `serve` with `issuer_extra` keys in the one issuer and `extra` YAML sections.
fn serve_with_issuer(rust_log: &str, issuer_extra: &str, extra: &str) -> (Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = config_file(
        "http://127.0.0.1:9",
        "",
        issuer_extra,
        &format!(
            "server:\n  listen: 127.0.0.1:{port}\nadmin:\n  listen: null\nlog:\n  format: pretty\n{extra}"
        ),
    );
    let mut cmd = crate::cli::reportgate();
    cmd.args(["serve", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if rust_log.is_empty() {
        cmd.env_remove("RUST_LOG");
    } else {
        cmd.env("RUST_LOG", rust_log);
    }
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the gateway did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, port)
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

fn stop(mut child: Child) -> String {
    child.kill().ok();
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).ok();
    child.wait().ok();
    log
}

#[test]
fn malformed_requests_get_400_without_a_log_line_each() {
    // Arrange
    let (child, port) = serve("");

    // Act
    let answers: Vec<String> = (0..20)
        .map(|i| send(port, format!("GARBAGE {i}\r\n\r\n").as_bytes()))
        .collect();

    // Assert
    let log = stop(child);
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
    let (child, port) = serve("reportgate=debug");
    let header = B64.encode("{\"alg\":\"X\\nFORGED LOG LINE \\u001b[31m\",\"typ\":\"JWT\"}");
    let token = format!("{header}.eyJpc3MiOiJ4In0.c2ln");

    // Act
    let answer = send(
        port,
        format!(
            "GET /v1/reports/0123456789abcdef0123456789abcdef HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );

    // Assert
    let log = stop(child);
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
    let (child, port) = serve_with(
        "",
        &format!(
            "audit:\n  stdout: false\n  file: {}\n",
            dir.join("audit.jsonl").display()
        ),
    );

    // Act: anonymous runs (each refused by the failing audit, its record retried) and probes.
    for _ in 0..20 {
        let answer = send(
            port,
            b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        );
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        std::thread::sleep(Duration::from_millis(10));
    }
    for _ in 0..10 {
        let answer = send(
            port,
            b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    }

    // Assert
    let log = stop(child);
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
    let (child, port) = serve_with_issuer(
        "",
        "      jwks_url: https://jwks-user:jwks-pass@127.0.0.1:9/certs?token=query-secret\n",
        "",
    );
    let header = B64.encode(r#"{"alg":"RS256","kid":"k1"}"#);
    let claims = B64.encode(r#"{"iss":"https://idp.example.com","sub":"a","aud":"reportgate"}"#);

    // Act: a token of that issuer with an unknown kid makes the gateway fetch the JWKS.
    let answer = send(
        port,
        format!(
            "GET /v1/reports/0123456789abcdef0123456789abcdef HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {header}.{claims}.c2ln\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );

    // Assert
    let log = stop(child);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let line = log
        .lines()
        .find(|l| l.contains("JWKS fetch failed"))
        .unwrap_or_else(|| panic!("no JWKS line in: {log}"));
    assert!(line.contains("https://127.0.0.1:9/certs"), "{line}");
    for secret in ["jwks-user", "jwks-pass", "query-secret"] {
        assert!(!log.contains(secret), "{secret} logged: {log}");
    }
}
