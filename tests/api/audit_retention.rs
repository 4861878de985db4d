//! Rotated audit files are capped by count and bytes, and what is kept is exported.
use crate::helpers::{scrape, spawn_with, value};
use reportgate::simulator::Simulator;
use std::path::Path;
use std::time::Duration;

/// The current audit file and its rotated copies: (count of rotated, bytes of all).
fn on_disk(current: &Path) -> (usize, u64) {
    let dir = current.parent().unwrap();
    let name = current.file_name().unwrap().to_string_lossy().into_owned();
    let mut rotated = 0;
    let mut bytes = std::fs::metadata(current).map(|m| m.len()).unwrap_or(0);
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(&format!("{name}.")) {
            rotated += 1;
            bytes += e.metadata().unwrap().len();
        }
    }
    (rotated, bytes)
}

#[actix_rt::test]
async fn rotated_audit_files_are_pruned_past_the_count_and_byte_caps_and_the_kept_bytes_are_exported(
) {
    // Arrange: ~6 records per file, at most 2 rotated files and 12 KiB in all.
    let app = spawn_with(Simulator::builder().report_duration(Duration::ZERO), |s| {
        s.audit.max_file_bytes = 4096;
        s.audit.max_files = 2;
        s.audit.max_total_bytes = 12288;
    })
    .await;
    let current = app.settings.audit.file.clone().unwrap();

    // Act: runs are audited in blocking mode, so each is on disk when it is answered.
    for _ in 0..40 {
        let r = app.run(r#"{"type":"IDENTITIES"}"#).await;
        assert_eq!(r.status, 202, "{}", r.text());
    }

    // Assert
    let (rotated, bytes) = on_disk(&current);
    assert!(rotated >= 1, "rotation happened");
    assert!(rotated <= 2, "{rotated} rotated files kept");
    assert!(bytes <= 12288, "{bytes} bytes kept");
    let metrics = scrape(&app).await;
    assert_eq!(
        value(&metrics, "reportgate_audit_retained_bytes"),
        Some(bytes as f64),
        "{metrics}"
    );
    assert_eq!(
        value(&metrics, "reportgate_audit_retained_bytes_limit"),
        Some(12288.0)
    );
    assert!(value(&metrics, "reportgate_audit_pruned_files_total").unwrap() >= 3.0);
}

#[actix_rt::test]
async fn audit_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    // Arrange
    let app = spawn_with(Simulator::builder().report_duration(Duration::ZERO), |_| {}).await;

    // Act: a blocking record is on disk when the run is answered.
    let r = app.run(r#"{"type":"IDENTITIES"}"#).await;

    // Assert
    assert_eq!(r.status, 202, "{}", r.text());
    let file = app.settings.audit.file.clone().unwrap();
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
}

#[test]
fn an_audit_file_that_is_not_a_regular_file_is_refused_at_start() {
    // Arrange
    let path = crate::config_checks::config_file("https://acme.api.identitynow.com", "", "", "");

    // Act: /dev/full reads zeros forever and refuses every write.
    let out = crate::cli::reportgate()
        .args(["serve", "--config"])
        .arg(&path)
        .env("REPORTGATE__AUDIT__FILE", "/dev/full")
        .env("REPORTGATE__SERVER__LISTEN", "127.0.0.1:0")
        .env("REPORTGATE__ADMIN__LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();

    // Assert
    let err = crate::config_checks::stderr(&out);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains("audit.file: /dev/full must be a regular file"),
        "{err}"
    );
}
