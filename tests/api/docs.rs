//! The documents operators copy from stay true: the example `serve` configuration loads with
//! the secrets its script makes, and the runbook names only what the gateway exposes.
use crate::helpers::{scrape, spawn_app, unknown_id};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn top_level_sections(yaml: &str) -> BTreeSet<String> {
    yaml.lines()
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_owned()))
        .collect()
}

#[test]
fn the_example_serve_config_passes_config_check_with_the_secrets_its_script_makes() {
    // Arrange: the documented commands make the secrets; the example's mount paths point at
    // them (in a container they are mounted at those paths instead).
    let dir = std::env::temp_dir().join(format!("rg-example-{}", unknown_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secrets = dir.join("secrets");
    let made = Command::new("sh")
        .arg(Path::new(ROOT).join("config/example-secrets.sh"))
        .arg(&secrets)
        .current_dir(&dir)
        .env("REPORTGATE", env!("CARGO_BIN_EXE_reportgate"))
        .env("TENANT_CLIENT_SECRET", "tenant-secret-from-the-admin-ui")
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let printed = String::from_utf8_lossy(&made.stdout);
    assert_eq!(
        printed.matches("SAIL_CLIENT_SECRET=rgs_").count(),
        2,
        "{printed}"
    );
    let example =
        std::fs::read_to_string(Path::new(ROOT).join("config/example-serve.yaml")).unwrap();
    let config = dir.join("serve.yaml");
    std::fs::write(
        &config,
        example
            .replace("/var/run/secrets/reportgate", secrets.to_str().unwrap())
            .replace(
                "/var/lib/reportgate/audit",
                dir.join("audit").to_str().unwrap(),
            ),
    )
    .unwrap();
    // Act
    let out = Command::new(env!("CARGO_BIN_EXE_reportgate"))
        .args(["config", "check", "--config"])
        .arg(&config)
        .env_remove("REPORTGATE_CONFIG")
        .output()
        .unwrap();
    // Assert: valid, with every section of the defaults set, and no secret printed.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let defaults = std::fs::read_to_string(Path::new(ROOT).join("config/default.yaml")).unwrap();
    assert_eq!(top_level_sections(&example), top_level_sections(&defaults));
    let checked: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(checked["auth"]["issuers"].as_array().unwrap().len(), 3);
    assert_eq!(checked["auth"]["clients"].as_array().unwrap().len(), 2);
    assert_eq!(checked["policy"]["teams"].as_array().unwrap().len(), 2);
    for file in [
        "tenant-client-secret",
        "id-signing-key",
        "caller-hmac-secret",
        "audit-hmac-key",
    ] {
        let secret = std::fs::read_to_string(secrets.join(file)).unwrap();
        assert!(!stdout.contains(secret.trim()), "{file} printed");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[actix_rt::test]
async fn the_runbook_names_only_metrics_readiness_checks_alerts_and_log_lines_that_exist() {
    // Arrange
    let runbook = std::fs::read_to_string(Path::new(ROOT).join("docs/runbook.md")).unwrap();
    let alerts =
        std::fs::read_to_string(Path::new(ROOT).join("helm/reportgate/files/alerts.yaml")).unwrap();
    let app = spawn_app().await;
    app.status(&unknown_id()).await;
    // Act
    let metrics = scrape(&app).await;
    let ready = app
        .raw_request_to(&app.admin_address, "/readyz")
        .await
        .json();
    // Assert: every metric family it names is exposed (counters at 0 from start)...
    let words = |prefix: &str| -> BTreeSet<String> {
        runbook
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    };
    let names = words("reportgate_");
    assert!(names.len() >= 10, "{names:?}");
    for name in &names {
        assert!(
            metrics.contains(&format!("# TYPE {name} ")),
            "{name} is not exposed"
        );
    }
    // ...every alert it names is defined...
    for alert in words("Reportgate") {
        assert!(
            alerts.contains(&format!("alert: {alert}\n")),
            "{alert} is not an alert"
        );
    }
    // ...and every `"check":"value"` quoted in a section about /readyz is a check it has.
    let checks = ready["checks"].as_object().unwrap();
    let mut quoted = 0;
    for fragment in runbook
        .split("\n## ")
        .filter(|section| section.contains("readyz"))
        .flat_map(|section| section.split('`'))
        .filter(|f| f.starts_with('"') && f.contains("\":\""))
    {
        let key = fragment.trim_matches('"').split("\":\"").next().unwrap();
        assert!(
            checks.contains_key(key),
            "/readyz has no check {key}: {ready}"
        );
        quoted += 1;
    }
    assert!(quoted >= 4, "{quoted} readyz fragments");
    // ...and every log line it names is one the gateway writes.
    let mut sources = String::new();
    let mut dirs = vec![Path::new(ROOT).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
    }
    let lines: Vec<&str> = runbook
        .split("log line")
        .skip(1)
        .filter_map(|after| after.split('`').nth(1))
        .collect();
    assert!(lines.len() >= 3, "{lines:?}");
    for line in lines {
        assert!(
            sources.contains(&format!("\"{line}\"")),
            "no log line {line:?} in src/"
        );
    }
}
