//! The fault matrix: one row per fault and operation. Each row checks what the caller got
//! (status and error code), the audit outcome, the metric that moved, and that the gateway
//! is still ready afterwards.
use crate::helpers::{spawn_with, unknown_id, TestApp};
use reportgate::simulator::{FaultAction, Op, Simulator};
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
enum Call {
    Run,
    Status,
    Download,
    Cancel,
}

struct Row {
    fault: FaultAction,
    times: u32,
    op: Op,
    call: Call,
    status: u16,
    code: Option<&'static str>,
    /// `(operation, status)` of reportgate_upstream_requests_total that must have moved.
    metric: (&'static str, &'static str),
}

async fn app() -> TestApp {
    spawn_with(
        Simulator::builder()
            .report_duration(Duration::ZERO)
            .csv_rows(50_000),
        |s| {
            s.tenant.request_timeout = Duration::from_millis(400);
            s.tenant.download_idle_timeout = Duration::from_millis(400);
            s.cache.file_max_bytes = 1024; // downloads stream, so mid-transfer faults show
        },
    )
    .await
}

async fn call(app: &TestApp, call: Call, id: &str) -> crate::helpers::Response {
    match call {
        Call::Run => {
            app.run(r#"{"type":"SEARCH_EXPORT","arguments":{"query":"*"}}"#)
                .await
        }
        Call::Status => app.status(id).await,
        Call::Download => app.download(id, "csv").await,
        Call::Cancel => app.cancel(id).await,
    }
}

fn metric(text: &str, op: &str, status: &str) -> f64 {
    let series =
        format!("reportgate_upstream_requests_total{{operation=\"{op}\",status=\"{status}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[actix_rt::test]
async fn every_fault_gives_callers_a_clear_answer_and_leaves_the_gateway_ready() {
    use FaultAction::*;
    let rows = vec![
        Row {
            fault: Status { status: 500 },
            times: 3,
            op: Op::Result,
            call: Call::Status,
            status: 502,
            code: Some("upstream_error"),
            metric: ("result", "500"),
        },
        Row {
            fault: Status { status: 502 },
            times: 1,
            op: Op::Run,
            call: Call::Run,
            status: 502,
            code: Some("upstream_error"),
            metric: ("run", "502"),
        },
        Row {
            fault: Status { status: 503 },
            times: 1,
            op: Op::Cancel,
            call: Call::Cancel,
            status: 502,
            code: Some("upstream_error"),
            metric: ("cancel", "503"),
        },
        Row {
            fault: Status { status: 503 },
            times: 3,
            op: Op::File,
            call: Call::Download,
            status: 502,
            code: Some("upstream_error"),
            metric: ("file", "503"),
        },
        Row {
            fault: Hang,
            times: 1,
            op: Op::Result,
            call: Call::Status,
            status: 504,
            code: Some("upstream_timeout"),
            metric: ("result", "timeout"),
        },
        Row {
            fault: Hang,
            times: 1,
            op: Op::Run,
            call: Call::Run,
            status: 504,
            code: Some("upstream_timeout"),
            metric: ("run", "timeout"),
        },
        Row {
            fault: Hang,
            times: 1,
            op: Op::Cancel,
            call: Call::Cancel,
            status: 504,
            code: Some("upstream_timeout"),
            metric: ("cancel", "timeout"),
        },
        Row {
            fault: Hang,
            times: 1,
            op: Op::File,
            call: Call::Download,
            status: 504,
            code: Some("upstream_timeout"),
            metric: ("file", "timeout"),
        },
        Row {
            fault: HangAfterHeaders,
            times: 1,
            op: Op::Result,
            call: Call::Status,
            status: 504,
            code: Some("upstream_timeout"),
            metric: ("result", "200"),
        },
        Row {
            fault: Malformed,
            times: 1,
            op: Op::Result,
            call: Call::Status,
            status: 502,
            code: Some("upstream_bad_response"),
            metric: ("result", "200"),
        },
        Row {
            fault: Malformed,
            times: 1,
            op: Op::Run,
            call: Call::Run,
            status: 502,
            code: Some("upstream_bad_response"),
            metric: ("run", "200"),
        },
        Row {
            fault: WrongShape,
            times: 1,
            op: Op::Result,
            call: Call::Status,
            status: 502,
            code: Some("upstream_bad_response"),
            metric: ("result", "200"),
        },
        Row {
            fault: WildResult,
            times: 1,
            op: Op::Result,
            call: Call::Status,
            status: 200,
            code: None,
            metric: ("result", "200"),
        },
        Row {
            fault: Status { status: 401 },
            times: 2,
            op: Op::Result,
            call: Call::Status,
            status: 503,
            code: Some("upstream_auth_failed"),
            metric: ("result", "401"),
        },
        Row {
            fault: Status { status: 403 },
            times: 1,
            op: Op::Run,
            call: Call::Run,
            status: 502,
            code: Some("upstream_forbidden"),
            metric: ("run", "403"),
        },
    ];
    for (i, row) in rows.into_iter().enumerate() {
        let app = app().await;
        // A finished report of the caller's own for status, download and cancel rows.
        let id = app.run(r#"{"type":"IDENTITIES"}"#).await.json()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let id = if matches!(row.call, Call::Status) {
            format!("{}-{}", unknown_id(), "0".repeat(32))
                .split_once('-')
                .unwrap()
                .0
                .to_owned()
        } else {
            id
        };
        let before = app
            .raw_request_to(&app.admin_address, "/metrics")
            .await
            .text();
        app.sim.fail_next(row.op, row.fault.clone(), row.times);
        let r = call(&app, row.call, &id).await;
        let name = format!("row {i}: {:?} on {:?}", row.fault, row.call);
        assert_eq!(r.status.as_u16(), row.status, "{name}: {}", r.text());
        if let Some(code) = row.code {
            assert_eq!(r.json()["error"], code, "{name}");
            assert!(
                !r.text().contains("trackingId"),
                "{name}: no upstream body in a 5xx"
            );
        }
        let after = app
            .raw_request_to(&app.admin_address, "/metrics")
            .await
            .text();
        let (op, st) = row.metric;
        assert!(
            metric(&after, op, st) > metric(&before, op, st),
            "{name}: upstream_requests_total{{{op},{st}}} moved"
        );
        let audit = app.audit_records(3).await;
        let event = audit
            .iter()
            .find(|e| e["requestId"].as_str() == r.header("x-request-id").as_deref())
            .unwrap_or_else(|| panic!("{name}: audited"));
        let expected = if row.status < 300 { "allowed" } else { "error" };
        assert_eq!(event["outcome"], expected, "{name}");
        assert_eq!(
            app.raw_request_to(&app.admin_address, "/readyz")
                .await
                .status,
            200,
            "{name}: still ready"
        );
    }
}

#[actix_rt::test]
async fn a_connection_reset_mid_download_is_a_visible_cut_off_and_audited_as_incomplete() {
    let app = app().await;
    let id = app.run_accounts().await;
    app.sim.fail_next(Op::File, FaultAction::ResetMidBody, 1);
    let sent = app
        .http
        .get(format!("{}/v1/reports/{id}/file?format=csv", app.address))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    let mut sent = sent;
    assert_eq!(sent.status(), 200, "the headers went out before the reset");
    let declared: usize = sent
        .headers()
        .get("content-length")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let got = sent
        .body()
        .limit(1 << 30)
        .await
        .map(|b| b.len())
        .unwrap_or(0);
    assert!(got < declared, "the caller sees the transfer cut off ({got} of {declared} bytes), not a short file as if whole");
    assert_eq!(app.audit_end_record().await["completed"], false);
    assert_eq!(
        app.raw_request_to(&app.admin_address, "/readyz")
            .await
            .status,
        200
    );
}

#[actix_rt::test]
async fn a_download_that_stalls_after_headers_is_cut_off_by_the_idle_timeout() {
    let app = app().await;
    let id = app.run_accounts().await;
    app.sim
        .fail_next(Op::File, FaultAction::HangAfterHeaders, 1);
    let started = std::time::Instant::now();
    let mut sent = app
        .http
        .get(format!("{}/v1/reports/{id}/file?format=csv", app.address))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    let declared: usize = sent
        .headers()
        .get("content-length")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let got = sent
        .body()
        .limit(1 << 30)
        .await
        .map(|b| b.len())
        .unwrap_or(0);
    assert!(
        got < declared,
        "cut off: {got} of {declared}, status {}",
        sent.status()
    );
    assert!(started.elapsed() < Duration::from_secs(5), "no 1-hour hang");
}

#[actix_rt::test]
async fn wild_upstream_results_are_tolerated_not_a_502() {
    let app = app().await;
    app.sim.fail_next(Op::Result, FaultAction::WildResult, 1);
    let r = app.status(&unknown_id()).await;
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(
        body["type"],
        "Certification Signoff Report-286d342a929c41f4820dfbfbfa7d644e"
    );
    assert_eq!(body["createdAt"], "2024-07-01T22:35:38.709Z");
    assert_eq!(body["status"], "SUCCESS");
}

/// A tenant whose connections hang (the accept queue is full, SYNs are dropped): the caller
/// gets a clear 503 within the connect timeout, not a hang.
#[actix_rt::test]
async fn a_connect_hang_ends_in_a_clear_answer_within_the_connect_timeout() {
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = hung.local_addr().unwrap();
    // Fill the accept queue of a listener that never accepts (bounded: stops at the first
    // connection that no longer completes).
    let mut held = Vec::new();
    for _ in 0..1024 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    let sim = Simulator::builder().start().unwrap();
    let mut settings = crate::helpers::settings_for(&sim);
    settings.tenant.base_url = format!("http://{addr}");
    settings.tenant.connect_timeout = Duration::from_millis(300);
    let app = crate::helpers::spawn_gateway(sim, settings);
    let started = std::time::Instant::now();
    let r = app.status(&unknown_id()).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"], "upstream_auth_failed");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered in {:?}",
        started.elapsed()
    );
    drop(held);
}
