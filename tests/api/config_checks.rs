//! `config check` and `serve` refuse configuration that would be unsafe or that they do not
//! understand, listing every problem with its key.
use crate::cli::reportgate;
use crate::helpers::unknown_id;
use std::io::{BufRead, BufReader};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// A valid configuration (secrets inline) with `tenant_extra` keys in `tenant:`,
/// `issuer_extra` in the one issuer and `extra` YAML after it, written to a fresh file.
pub fn config_file(
    tenant: &str,
    tenant_extra: &str,
    issuer_extra: &str,
    extra: &str,
) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("rg-check-{}.yaml", unknown_id()));
    let yaml = format!(
        "tenant:\n  base_url: {tenant}\n  client_id: abc\n  client_secret: s3cr3t\n{tenant_extra}\
         auth:\n  id_signing_key: an-id-signing-key-that-is-long-enough\n  issuers:\n    \
         - issuer: https://idp.example.com\n      audiences: [reportgate]\n      \
         hmac_secret: an-hmac-secret-that-is-long-enough-123\n{issuer_extra}{extra}"
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

pub fn check(path: &std::path::Path) -> Output {
    reportgate()
        .args(["config", "check", "--config"])
        .arg(path)
        .output()
        .unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn plain_http_to_the_tenant_or_a_jwks_url_is_refused_unless_loopback_or_explicitly_allowed() {
    // Arrange / Act
    let tenant = check(&config_file("http://acme.api.identitynow.com", "", "", ""));
    let jwks = check(&config_file(
        "https://acme.api.identitynow.com",
        "",
        "      jwks_url: http://login.example.com/certs\n",
        "",
    ));
    let loopback = check(&config_file(
        "http://127.0.0.1:9000",
        "",
        "      jwks_url: http://localhost:9001/certs\n",
        "",
    ));
    let allowed = check(&config_file(
        "http://acme.api.identitynow.com",
        "  insecure_http: true\n",
        "      jwks_url: http://login.example.com/certs\n      insecure_http: true\n",
        "",
    ));

    // Assert
    assert_eq!(tenant.status.code(), Some(64), "{}", stderr(&tenant));
    assert!(stderr(&tenant).contains("tenant.base_url: must be https://"));
    assert_eq!(jwks.status.code(), Some(64), "{}", stderr(&jwks));
    assert!(stderr(&jwks).contains("auth.issuers[0].jwks_url: must be https://"));
    assert_eq!(loopback.status.code(), Some(0), "{}", stderr(&loopback));
    assert_eq!(allowed.status.code(), Some(0), "{}", stderr(&allowed));
}

#[test]
fn serve_warns_at_start_about_each_url_allowed_as_plain_http() {
    // Arrange: the tenant is never called (no request is made), so its host need not exist.
    let path = config_file(
        "http://tenant.reportgate-test.example",
        "  insecure_http: true\n",
        "",
        "server:\n  listen: 127.0.0.1:0\nadmin:\n  listen: null\n",
    );
    let mut child = reportgate()
        .args(["serve", "--config"])
        .arg(&path)
        .env("RUST_LOG", "warn,reportgate=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Act: read the log until the gateway says it listens (bounded).
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut log = String::new();
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        log.push_str(&line);
        log.push('\n');
        if line.contains("reportgate listening") {
            break;
        }
    }
    child.kill().ok();
    child.wait().ok();

    // Assert
    assert!(log.contains("reportgate listening"), "{log}");
    let warning = log
        .lines()
        .find(|l| l.contains("plain http"))
        .unwrap_or_else(|| panic!("no warning in: {log}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("tenant.base_url"), "{warning}");
}

#[test]
fn config_check_lists_every_unknown_key_duplicate_and_bad_level_with_the_nearest_name_and_exits_64()
{
    // Arrange: typos in three sections, a duplicate team and issuer, a level that is not one.
    let path = config_file(
        "https://acme.api.identitynow.com",
        "  base_ur: https://typo.example.com\n",
        "    - issuer: https://idp.example.com\n      audiences: [other]\n      \
         hmac_secret: another-hmac-secret-that-is-long-enough\n",
        "limits:\n  upstream_saftey: 0.5\nlog:\n  level: verbose\n  format: text\n\
         policy:\n  teams:\n    - team: finance\n      source: [abc]\n    - team: finance\n",
    );

    // Act
    let out = reportgate()
        .args(["config", "check", "--config"])
        .arg(&path)
        .env("REPORTGATE__AUDIT__MAX_FILE_BYTE", "4096")
        .output()
        .unwrap();

    // Assert
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(64), "{err}");
    for line in [
        "tenant.base_ur: is not a known key; did you mean `base_url`?",
        "limits.upstream_saftey: is not a known key; did you mean `upstream_safety`?",
        "policy.teams[0].source: is not a known key; did you mean `sources`?",
        "audit.max_file_byte: is not a known key; did you mean `max_file_bytes`?",
        "log.format: \"text\" is not one of json, pretty",
    ] {
        assert!(err.contains(line), "{line:?} missing in:\n{err}");
    }
    // Validation runs once the layers are typed: the same file with a known format.
    let fixed = std::fs::read_to_string(&path)
        .unwrap()
        .replace("format: text", "format: json");
    std::fs::write(&path, fixed).unwrap();
    let out = check(&path);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(64), "{err}");
    for line in [
        "policy.teams[1].team: duplicates policy.teams[0] (finance)",
        "auth.issuers[1].issuer: duplicates auth.issuers[0] (https://idp.example.com)",
        "log.level: \"verbose\" is not a level",
        "limits.upstream_saftey: is not a known key",
    ] {
        assert!(err.contains(line), "{line:?} missing in:\n{err}");
    }
    assert!(!err.contains("panicked"));
}

#[test]
fn config_check_never_prints_userinfo_or_query_strings_of_urls() {
    // Arrange
    let path = config_file(
        "https://acme.api.identitynow.com",
        "",
        "      jwks_url: https://jwks-user:jwks-pass@login.example.com/certs?token=query-secret\n",
        "",
    );

    // Act
    let out = check(&path);

    // Assert
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        shown["auth"]["issuers"][0]["jwks_url"],
        "https://login.example.com/certs"
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    for secret in ["jwks-user", "jwks-pass", "query-secret"] {
        assert!(!printed.contains(secret), "{secret} printed");
    }
}

#[test]
fn the_admin_listener_is_on_loopback_unless_configured_otherwise() {
    // Arrange / Act
    let out = check(&config_file("https://acme.api.identitynow.com", "", "", ""));

    // Assert: metrics name teams and routes; the chart sets the pod address explicitly.
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["admin"]["listen"], "127.0.0.1:9464");
    let chart = std::fs::read_to_string("helm/reportgate/templates/_helpers.tpl").unwrap();
    assert!(chart.contains("listen: \"0.0.0.0:{{ .Values.service.metricsPort }}\""));
}
