//! Requests without a valid token: limited per client address before authentication, and
//! audited in aggregate rather than one record each.
use crate::helpers::{assert_error, scrape, spawn_with, value, TestApp};
use reportgate::simulator::Simulator;
use serde_json::Value;
use std::time::Duration;

async fn spawn_limited(burst: u32) -> TestApp {
    spawn_with(Simulator::builder().report_duration(Duration::ZERO), |s| {
        s.limits.anonymous_burst = burst;
        s.limits.anonymous_rate = 0.01;
        s.audit.anonymous_interval = Duration::from_millis(100);
    })
    .await
}

/// The audit backlog once the writer has tried its batches: polled (bounded) until it holds
/// at least `n` records, then read once more after the writer's batch window has passed.
async fn backlog_reaching(app: &TestApp, n: f64) -> f64 {
    let read = || async { value(&scrape(app).await, "reportgate_audit_backlog_records").unwrap() };
    for _ in 0..100 {
        if read().await >= n {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    actix_rt::time::sleep(Duration::from_millis(50)).await;
    read().await
}

/// Waits (bounded) until the aggregate records written count `n` refusals in all (they may
/// be spread over several intervals).
async fn refusal_records(app: &TestApp, n: u64) -> Vec<Value> {
    let mut found = vec![];
    for _ in 0..100 {
        found = app
            .audit_lines()
            .into_iter()
            .filter(|r| r["action"] == "anonymous_refusals")
            .collect();
        if found
            .iter()
            .filter_map(|r| r["count"].as_u64())
            .sum::<u64>()
            >= n
        {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    found
}

#[actix_rt::test]
async fn an_address_past_its_refused_requests_gets_429_with_retry_after_before_its_token_is_checked(
) {
    // Arrange: alice's token is verified once, before the flood.
    let app = spawn_limited(5).await;
    let known = app.status(&crate::helpers::unknown_id()).await;
    assert_eq!(known.status, 404, "{}", known.text());
    let calls_before = app.sim.counters().api_calls();
    let path = "/v1/reports/0123456789abcdef0123456789abcdef";

    // Act: five refusals use up the address's burst.
    for _ in 0..5 {
        let r = app.raw_request("GET", path, None, &[]).await;
        assert_eq!(r.status, 401);
    }
    let anonymous = app.raw_request("GET", path, None, &[]).await;
    let forged = app.request_as("not.a.token", "GET", path, None).await;
    let sdk = app
        .raw_request("POST", "/v3/reports/run", Some("{}"), &[])
        .await;
    let known = app.status(&crate::helpers::unknown_id()).await;

    // Assert
    assert_error(&anonymous, 429, "too_many_refused_requests");
    let retry: u64 = anonymous.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=100).contains(&retry), "Retry-After {retry}");
    assert_error(&forged, 429, "too_many_refused_requests");
    assert_eq!(sdk.status, 429);
    assert!(sdk.header("retry-after").is_some());
    assert_eq!(known.status, 404, "a recently verified token still passes");
    assert_eq!(app.sim.counters().api_calls(), calls_before + 1);
    let metrics = scrape(&app).await;
    assert_eq!(
        value(
            &metrics,
            r#"reportgate_anonymous_refusals_total{reason="no_token"}"#
        ),
        Some(5.0)
    );
    assert_eq!(
        value(
            &metrics,
            r#"reportgate_anonymous_refusals_total{reason="rate_limited"}"#
        ),
        Some(3.0)
    );
}

#[actix_rt::test]
async fn anonymous_refusals_are_audited_as_one_record_per_address_and_reason_with_a_count() {
    // Arrange
    let app = spawn_limited(10).await;
    let path = "/v1/reports/0123456789abcdef0123456789abcdef";

    // Act: 4 without a token, 3 with a bad one, 3 malformed, then 5 over the limit.
    for _ in 0..4 {
        app.raw_request("GET", path, None, &[]).await;
    }
    for _ in 0..3 {
        app.request_as("not.a.token", "GET", path, None).await;
    }
    for _ in 0..3 {
        app.raw_request("GET", path, None, &[("authorization", "Basic x")])
            .await;
    }
    for _ in 0..5 {
        let r = app.raw_request("GET", path, None, &[]).await;
        assert_eq!(r.status, 429);
    }
    let records = refusal_records(&app, 15).await;

    // Assert: no record per request, one per reason with its count.
    let all = app.audit_lines();
    assert!(
        all.iter().all(|r| r["action"] == "anonymous_refusals"),
        "{all:?}"
    );
    let count = |reason: &str| {
        records
            .iter()
            .filter(|r| r["reason"] == reason)
            .map(|r| {
                assert_eq!(r["clientAddr"], "127.0.0.1");
                assert_eq!(r["caller"], "anonymous");
                r["count"].as_u64().unwrap()
            })
            .sum::<u64>()
    };
    assert_eq!(count("no_token"), 4, "{records:?}");
    assert_eq!(count("invalid_token"), 3, "{records:?}");
    assert_eq!(count("malformed_credential"), 3, "{records:?}");
    assert_eq!(count("rate_limited"), 5, "{records:?}");
    let limited = records
        .iter()
        .find(|r| r["reason"] == "rate_limited")
        .unwrap();
    assert_eq!(
        (limited["outcome"].as_str(), limited["status"].as_u64()),
        (Some("rate_limited"), Some(429))
    );
    // The chain holds across aggregate records.
    let file = app.settings.audit.file.clone().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reportgate"))
        .args(["audit", "verify"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[actix_rt::test]
async fn while_the_audit_file_fails_anonymous_runs_are_counted_not_queued_ahead_of_known_callers() {
    // Arrange: the audit file's directory does not exist, so every write fails and waits in
    // the backlog; alice's token is verified before (a status read is batch, so it passes).
    let dir = std::env::temp_dir().join(format!("rg-gone-{}", crate::helpers::unknown_id()));
    let app = spawn_with(Simulator::builder().report_duration(Duration::ZERO), |s| {
        s.audit.file = Some(dir.join("audit.jsonl"));
        s.audit.anonymous_interval = Duration::from_secs(3600);
    })
    .await;
    assert_eq!(app.status(&crate::helpers::unknown_id()).await.status, 404);
    let before = backlog_reaching(&app, 1.0).await;
    assert_eq!(before, 1.0, "the status read's record waits");

    // Act
    for _ in 0..20 {
        let r = app
            .raw_request("POST", "/v1/reports", Some("{}"), &[])
            .await;
        assert_error(&r, 503, "audit_unavailable");
    }
    let known = app.run(r#"{"type":"IDENTITIES"}"#).await;

    // Assert: fail-closed for everyone, one backlog record for alice's refused run only.
    assert_error(&known, 503, "audit_unavailable");
    assert_eq!(backlog_reaching(&app, 2.0).await, 2.0);
    let metrics = scrape(&app).await;
    assert_eq!(
        value(
            &metrics,
            r#"reportgate_anonymous_refusals_total{reason="audit_unavailable"}"#
        ),
        Some(20.0)
    );
    assert_eq!(app.sim.counters().api_calls(), 1);
}
