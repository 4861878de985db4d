use crate::helpers::{assert_error, settings_for, spawn_app, spawn_gateway, spawn_with};
use reportgate::simulator::{FaultAction, Op, Simulator};
use std::time::Duration;

const ID: &str = "0123456789abcdef0123456789abcdef";

#[actix_rt::test]
async fn an_upstream_500_becomes_502_without_echoing_the_upstream_body() {
    let app = spawn_app().await;
    app.sim
        .fail_next(Op::Result, FaultAction::Status { status: 500 }, 3);
    let r = app.status(ID).await;
    assert_error(&r, 502, "upstream_error");
    assert_eq!(
        app.sim.counters().result,
        3,
        "a read is tried three times in all"
    );
    assert!(!r.text().contains("trackingId") && !r.text().contains("Internal Fault"));
}

#[actix_rt::test]
async fn a_passing_upstream_5xx_on_a_read_is_retried_and_the_caller_never_sees_it() {
    let app = spawn_app().await;
    app.sim
        .fail_next(Op::Result, FaultAction::Status { status: 503 }, 1);
    assert_error(&app.status(ID).await, 404, "report_not_found");
    assert_eq!(app.sim.counters().result, 2);
}

#[actix_rt::test]
async fn a_run_is_never_retried_blindly_after_an_upstream_5xx() {
    let app = spawn_app().await;
    app.sim
        .fail_next(Op::Run, FaultAction::Status { status: 502 }, 1);
    assert_error(
        &app.run(r#"{"type":"IDENTITIES"}"#).await,
        502,
        "upstream_error",
    );
    app.sim
        .fail_next(Op::Cancel, FaultAction::Status { status: 500 }, 1);
    assert_error(&app.cancel(ID).await, 502, "upstream_error");
    let c = app.sim.counters();
    assert_eq!((c.run, c.cancel), (1, 1));
}

#[actix_rt::test]
async fn a_tenant_that_cannot_be_reached_at_all_answers_503_and_readyz_says_why() {
    let sim = Simulator::builder().start().unwrap();
    let mut settings = settings_for(&sim);
    // A port nothing listens on.
    let closed = crate::served::ClosedPort::new();
    settings.tenant.base_url = format!("http://{}", closed.addr());
    let app = spawn_gateway(sim, settings);
    assert_error(&app.status(ID).await, 503, "upstream_auth_failed");
    // Still ready (it can serve, and say 503 upstream_auth_failed); the body says why.
    let r = app.request("GET", "/readyz", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["checks"]["upstreamToken"], "unavailable");
}

#[actix_rt::test]
async fn an_upstream_that_stops_listening_becomes_502_upstream_unreachable() {
    let app = spawn_app().await;
    assert_eq!(app.status(ID).await.status, 404, "a token is cached now");
    app.sim.stop().await;
    assert!(
        std::net::TcpListener::bind(app.sim.addr()).is_err(),
        "the stopped simulator still holds its port, so no other server can answer on it"
    );
    assert_error(&app.status(ID).await, 502, "upstream_unreachable");
}

#[actix_rt::test]
async fn an_upstream_that_does_not_answer_in_time_becomes_504() {
    let app = spawn_with(Simulator::builder(), |s| {
        s.tenant.request_timeout = Duration::from_millis(300)
    })
    .await;
    app.sim.fail_next(Op::Result, FaultAction::Hang, 1);
    assert_error(&app.status(ID).await, 504, "upstream_timeout");
}

#[actix_rt::test]
async fn malformed_or_wrongly_shaped_upstream_json_becomes_502() {
    let app = spawn_app().await;
    app.sim.fail_next(Op::Result, FaultAction::Malformed, 1);
    assert_error(&app.status(ID).await, 502, "upstream_bad_response");
    app.sim.fail_next(Op::Result, FaultAction::WrongShape, 1);
    assert_error(&app.status(ID).await, 502, "upstream_bad_response");
    app.sim.fail_next(Op::Run, FaultAction::Malformed, 1);
    let r = app.run(r#"{"type":"IDENTITIES"}"#).await;
    assert_error(&r, 502, "upstream_bad_response");
}

#[actix_rt::test]
async fn an_upstream_429_longer_than_the_wait_bound_answers_429_with_the_pause() {
    let app = spawn_with(Simulator::builder(), |s| {
        s.limits.max_wait = Duration::from_secs(2)
    })
    .await;
    app.sim.fail_next(
        Op::Result,
        FaultAction::RateLimited {
            retry_after: "7".into(),
        },
        1,
    );
    let r = app.status(ID).await;
    assert_error(&r, 429, "upstream_busy");
    assert_eq!(r.header("retry-after").as_deref(), Some("7"));
    assert_eq!(app.sim.counters().result, 1, "not retried into the pause");
}

#[actix_rt::test]
async fn undeclared_methods_get_405_with_allow_and_unknown_paths_get_json_404() {
    let app = spawn_app().await;
    let r = app
        .request("DELETE", &format!("/v1/reports/{ID}"), None)
        .await;
    assert_error(&r, 405, "method_not_allowed");
    assert_eq!(r.header("allow").as_deref(), Some("GET"));
    let r = app.request("GET", "/v1/reports", None).await;
    assert_eq!(r.header("allow").as_deref(), Some("POST"));
    let r = app.request("PUT", "/v3/reports/run", None).await;
    assert_eq!(
        (r.status.as_u16(), r.header("allow").as_deref()),
        (405, Some("POST"))
    );
    assert_error(
        &app.request("GET", "/v2/nothing", None).await,
        404,
        "route_not_found",
    );
    assert_eq!(app.sim.counters().api_calls(), 0);
}

#[actix_rt::test]
async fn a_well_formed_request_id_is_kept_and_a_hostile_one_replaced() {
    let app = spawn_app().await;
    let r = app
        .request_with(
            "GET",
            "/healthz",
            None,
            &[("x-request-id", "trace-abc-123")],
        )
        .await;
    assert_eq!(r.header("x-request-id").as_deref(), Some("trace-abc-123"));
    let r = app
        .request_with("GET", "/healthz", None, &[("x-request-id", "a b<script>")])
        .await;
    let id = r.header("x-request-id").unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
}

/// The trackingId of the audit record of `action` (what the simulator sent).
async fn audited_tracking_id(app: &crate::helpers::TestApp, n: usize, action: &str) -> String {
    app.audit_records(n)
        .await
        .into_iter()
        .rev()
        .find(|r| r["action"] == action)
        .and_then(|r| r["trackingId"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no {action} record with a trackingId"))
}

#[actix_rt::test]
async fn a_v1_error_from_upstream_carries_upstreams_tracking_id_beside_the_request_id() {
    let app = spawn_app().await;
    app.sim
        .fail_next(Op::Run, FaultAction::Status { status: 500 }, 1);
    let r = app.run(r#"{"type":"IDENTITIES"}"#).await;
    assert_error(&r, 502, "upstream_error");
    let tracking = r.json()["upstreamTrackingId"].as_str().unwrap().to_owned();
    assert_eq!(tracking.len(), 32, "{tracking}");
    assert_ne!(Some(&tracking), r.header("x-request-id").as_ref());
    assert_eq!(tracking, audited_tracking_id(&app, 1, "run").await);
    // A gateway refusal has no upstream tracking id.
    let r = app.run(r#"{"type":"PAYROLL"}"#).await;
    assert_error(&r, 400, "invalid_argument");
    assert!(r.json().get("upstreamTrackingId").is_none());
}

#[actix_rt::test]
async fn sdk_path_errors_from_upstream_keep_its_tracking_id_as_upstream_sends_it() {
    let app = spawn_app().await;
    let run = r#"{"reportType":"IDENTITIES","arguments":{"correlatedOnly":true}}"#;
    // A 5xx becomes 502 in upstream's ErrorResponseDto shape, with upstream's trackingId.
    app.sim
        .fail_next(Op::Run, FaultAction::Status { status: 500 }, 1);
    let r = app.request("POST", "/v3/reports/run", Some(run)).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["detailCode"], "502 Bad Gateway");
    let tracking = r.json()["trackingId"].as_str().unwrap().to_owned();
    assert_ne!(Some(&tracking), r.header("x-request-id").as_ref());
    assert_eq!(tracking, audited_tracking_id(&app, 1, "sdk_run").await);
    // A 4xx passes through as upstream sent it.
    app.sim
        .fail_next(Op::Run, FaultAction::Status { status: 400 }, 1);
    let r = app.request("POST", "/reports/v1/run", Some(run)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["detailCode"], "400.1 Bad Request Content");
    assert_eq!(
        r.json()["trackingId"].as_str().unwrap(),
        audited_tracking_id(&app, 2, "sdk_run").await
    );
}
