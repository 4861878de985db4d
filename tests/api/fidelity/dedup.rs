//! Item 6: upstream returns a running non-concurrent report instead of starting another
//! (SPEC-V3 `reports-run.yaml`); which types are non-concurrent is undocumented, so the
//! simulator makes it configurable (default: every type but SEARCH_EXPORT).
use super::Tenant;
use reportgate::domain::ReportType;
use reportgate::simulator::Simulator;
use serde_json::{json, Value};
use std::time::Duration;

fn accounts() -> Value {
    json!({"reportType": "ACCOUNTS", "arguments": {"application": "2c9180835d2e5168015d32f890ca1581", "sourceName": "AD"}})
}

fn export() -> Value {
    json!({"reportType": "SEARCH_EXPORT", "arguments": {"query": "name:a*"}})
}

/// Whether starting `details` twice while the first runs gives one task.
async fn one_task(tenant: &Tenant, details: Value) -> bool {
    let a = tenant.run(details.clone()).await;
    let b = tenant.run(details).await;
    a["id"] == b["id"]
}

#[actix_rt::test]
async fn by_default_every_type_but_search_export_returns_the_running_report() {
    let sim = Simulator::builder()
        .report_duration(Duration::from_secs(600))
        .start()
        .unwrap();
    let tenant = Tenant::of(&sim).await;
    assert!(one_task(&tenant, accounts()).await);
    assert!(!one_task(&tenant, export()).await);
    // Other arguments are another report.
    let mut other = accounts();
    other["arguments"]["sourceName"] = json!("LDAP");
    assert_ne!(
        tenant.run(other).await["id"],
        tenant.run(accounts()).await["id"]
    );
}

#[actix_rt::test]
async fn which_types_return_the_running_report_is_configurable() {
    let sim = Simulator::builder()
        .report_duration(Duration::from_secs(600))
        .non_concurrent(&[ReportType::SearchExport])
        .start()
        .unwrap();
    let tenant = Tenant::of(&sim).await;
    assert!(one_task(&tenant, export()).await);
    assert!(!one_task(&tenant, accounts()).await);
    let none = Simulator::builder()
        .report_duration(Duration::from_secs(600))
        .non_concurrent(&[])
        .start()
        .unwrap();
    assert!(!one_task(&Tenant::of(&none).await, accounts()).await);
}

#[test]
fn simulate_help_documents_every_flag_and_the_defaults_that_are_inferences() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reportgate"))
        .args(["simulate", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "--client-id",
        "--client-secret",
        "--report-duration",
        "--client-kind",
        "--token-ttl",
        "--scopes",
        "--backoff-tiers",
        "--non-concurrent",
        "--retention",
        "--csv-bytes",
        "--rate-limit",
        "--workers",
    ] {
        assert!(
            help.contains(&format!("  {flag} ")),
            "{flag} missing:\n{help}"
        );
    }
    // Every flag there is, listed or added later, says what it does.
    let lines: Vec<&str> = help.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("--") {
            let described = lines.get(i + 1).unwrap_or(&"").trim();
            assert!(!described.is_empty(), "{line} has no description");
        }
    }
    assert!(help.contains("every type but SEARCH_EXPORT"), "{help}");
    assert!(
        help.contains("[default: ACCOUNTS,IDENTITIES_DETAILS"),
        "{help}"
    );
}
