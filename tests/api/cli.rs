use std::process::Command;

pub fn reportgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_reportgate"));
    // Start from a clean slate: no inherited REPORTGATE_* settings.
    for (k, _) in std::env::vars() {
        if k.starts_with("REPORTGATE") {
            c.env_remove(k);
        }
    }
    c
}

#[test]
fn config_check_lists_every_problem_with_its_key_and_exits_64() {
    let out = reportgate()
        .args(["config", "check"])
        .env("REPORTGATE__TENANT__BASE_URL", "not a url")
        .env("REPORTGATE__TENANT__CONNECT_TIMEOUT", "0s")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for key in [
        "tenant.base_url",
        "tenant.client_id",
        "tenant.client_secret",
        "tenant.connect_timeout",
    ] {
        assert!(err.contains(key), "{key} missing in: {err}");
    }
    assert!(!err.contains("panicked"));
}

#[test]
fn config_check_prints_the_effective_config_with_secrets_redacted() {
    let dir = std::env::temp_dir().join(format!("rg-cli-{}.yaml", std::process::id()));
    let yaml = r#"
tenant:
  base_url: https://acme.api.identitynow.com
  client_id: abc
auth:
  issuers:
    - issuer: https://idp.example.com
      audiences: [reportgate]
      hmac_secret: an-hmac-secret-that-is-long-enough-123
"#;
    std::fs::write(&dir, yaml).unwrap();
    let out = reportgate()
        .args(["config", "check", "--config"])
        .arg(&dir)
        .env("REPORTGATE__TENANT__CLIENT_SECRET", "very-secret-value")
        .env(
            "REPORTGATE__AUTH__ID_SIGNING_KEY",
            "an-id-signing-key-that-is-long-enough",
        )
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        shown["tenant"]["base_url"],
        "https://acme.api.identitynow.com"
    );
    assert_eq!(shown["tenant"]["client_secret"], "[REDACTED]");
    assert_eq!(shown["auth"]["issuers"][0]["hmac_secret"], "[REDACTED]");
    assert_eq!(shown["auth"]["id_signing_key"], "[REDACTED]");
    let printed = String::from_utf8_lossy(&out.stdout);
    for secret in ["very-secret-value", "an-hmac-secret", "an-id-signing-key"] {
        assert!(!printed.contains(secret), "{secret} printed");
    }
    std::fs::remove_file(dir).ok();
}

#[test]
fn serve_with_a_bad_configuration_exits_64_instead_of_panicking() {
    let out = reportgate().arg("serve").output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tenant.base_url"));
}

#[test]
fn help_explains_every_subcommand() {
    let out = reportgate().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in [
        "serve",
        "simulate",
        "sandbox",
        "token",
        "config",
        "healthcheck",
    ] {
        assert!(text.contains(sub), "{sub} missing in help");
    }
    for sub in [
        &["serve", "--help"][..],
        &["simulate", "--help"],
        &["sandbox", "--help"],
        &["config", "check", "--help"],
        &["healthcheck", "--help"],
    ] {
        let out = reportgate().args(sub).output().unwrap();
        assert!(out.status.success(), "{sub:?}");
    }
}

#[test]
fn token_mints_a_caller_token_for_the_configured_hmac_issuer() {
    let dir = std::env::temp_dir().join(format!("rg-token-{}.yaml", std::process::id()));
    let yaml = r#"
tenant:
  base_url: https://acme.api.identitynow.com
  client_id: abc
  client_secret: s
auth:
  issuers:
    - issuer: https://idp.example.com
      audiences: [reportgate]
      hmac_secret: an-hmac-secret-that-is-long-enough-123
  id_signing_key: an-id-signing-key-that-is-long-enough
"#;
    std::fs::write(&dir, yaml).unwrap();
    let out = reportgate()
        .args([
            "token", "--sub", "alice", "--team", "finance", "--ttl", "10m", "--config",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_issuer(&["https://idp.example.com"]);
    v.set_audience(&["reportgate"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(
        token.trim(),
        &jsonwebtoken::DecodingKey::from_secret(b"an-hmac-secret-that-is-long-enough-123"),
        &v,
    )
    .unwrap();
    assert_eq!(data.claims["sub"], "alice");
    assert_eq!(data.claims["team"], "finance");
    let ttl = data.claims["exp"].as_u64().unwrap() - data.claims["iat"].as_u64().unwrap();
    assert_eq!(ttl, 600);
    std::fs::remove_file(dir).ok();
}
