use crate::helpers::{assert_error, scrape, spawn_app, spawn_with, value};
use futures_util::future::join_all;
use reportgate::simulator::{FaultAction, Op, Simulator};
use std::time::Duration;

#[actix_rt::test]
async fn one_token_serves_many_requests() {
    let app = spawn_app().await;
    let id = app.run_accounts().await;
    for _ in 0..5 {
        assert_eq!(app.status(&id).await.status, 200);
    }
    assert_eq!(app.sim.counters().token_requests, 1);
}

#[actix_rt::test]
async fn two_hundred_concurrent_calls_on_a_cold_gateway_make_exactly_one_token_request() {
    // Slow token endpoint, so that every call arrives while the first fetch is in flight.
    let app = spawn_with(
        Simulator::builder()
            .report_duration(Duration::ZERO)
            .rate_limit(0, Duration::from_secs(10)),
        |_| {},
    )
    .await;
    app.sim
        .fail_next(Op::Token, FaultAction::Delay { ms: 300 }, 1);
    let ids: Vec<String> = (0..200).map(|_| crate::helpers::unknown_id()).collect();
    let calls = ids.iter().map(|id| app.status(id));
    let responses = join_all(calls).await;
    assert!(
        responses.iter().all(|r| r.status == 404),
        "every call reached upstream"
    );
    assert_eq!(app.sim.counters().token_requests, 1);
    assert_eq!(app.sim.counters().result, 200);
}

#[actix_rt::test]
async fn a_token_is_refreshed_before_it_expires() {
    let app = spawn_with(
        Simulator::builder()
            .report_duration(Duration::ZERO)
            .token_ttl(Duration::from_secs(600)),
        |s| {
            s.tenant.token_refresh_margin = Duration::from_secs(60);
        },
    )
    .await;
    let id = app.run_accounts().await;
    app.clock.advance(Duration::from_secs(530));
    assert_eq!(app.status(&id).await.status, 200);
    assert_eq!(
        app.sim.counters().token_requests,
        1,
        "still well before the margin"
    );
    app.clock.advance(Duration::from_secs(20));
    // A report the cache cannot answer, so that the call goes upstream.
    assert_eq!(app.status(&crate::helpers::unknown_id()).await.status, 404);
    assert_eq!(
        app.sim.counters().token_requests,
        2,
        "inside the margin: refreshed"
    );
    assert_eq!(
        app.sim.counters().unauthorized,
        0,
        "the old token was never used past expiry"
    );
}

#[actix_rt::test]
async fn a_token_the_upstream_says_has_expired_is_replaced_and_the_call_retried_once() {
    let app = spawn_app().await;
    let id = app.run_accounts().await;
    // The tenant's clock runs ahead: our token is expired there but not by our reckoning.
    app.sim.advance(Duration::from_secs(50_000));
    let r = app.status(&id).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let c = app.sim.counters();
    assert_eq!((c.unauthorized, c.token_grants), (1, 2));
}

#[actix_rt::test]
async fn a_revoked_token_is_replaced_once_and_concurrent_failures_do_not_storm() {
    let app = spawn_app().await;
    let id = app.run_accounts().await;
    app.sim.revoke_tokens();
    let responses = join_all((0..20).map(|_| app.status(&id))).await;
    assert!(responses.iter().all(|r| r.status == 200));
    let grants = app.sim.counters().token_grants;
    assert!(grants <= 3, "{grants} token grants for one revocation");
}

#[actix_rt::test]
async fn a_401_on_every_call_ends_in_a_clear_503_after_one_refresh() {
    let app = spawn_app().await;
    app.sim
        .fail_next(Op::Result, FaultAction::Status { status: 401 }, 100);
    let r = app.status("0123456789abcdef0123456789abcdef").await;
    assert_error(&r, 503, "upstream_auth_failed");
    let c = app.sim.counters();
    assert_eq!(
        (c.result, c.token_grants),
        (2, 2),
        "one retry with one fresh token"
    );
}

#[actix_rt::test]
async fn token_endpoint_failures_give_503_upstream_auth_failed() {
    let app = spawn_app().await;
    app.sim
        .fail_next(Op::Token, FaultAction::Status { status: 500 }, 1);
    assert_error(&app.status("abc").await, 503, "upstream_auth_failed");
    assert_eq!(app.sim.counters().api_calls(), 0);
    // Right after a failure the token endpoint is left alone: a fast 503, no new request.
    assert_error(&app.status("abc").await, 503, "upstream_auth_failed");
    assert_eq!(app.sim.counters().token_requests, 1);
    // Once the back-off has passed, the next call gets a token.
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(app.status("abc").await.status, 404);
    assert_eq!(app.sim.counters().token_requests, 2);
}

#[actix_rt::test]
async fn wrong_client_credentials_give_503_and_readyz_reports_the_token_unavailable() {
    let app = spawn_with(Simulator::builder(), |s| {
        s.tenant.client_secret = Some(reportgate::secret::Secret::new("wrong".into()));
    })
    .await;
    assert_error(&app.status("abc").await, 503, "upstream_auth_failed");
    let r = app.request("GET", "/readyz", None).await;
    assert_eq!(r.status, 200, "the replica can still serve");
    assert_eq!(r.json()["checks"]["upstreamToken"], "unavailable");
}

#[actix_rt::test]
async fn a_hanging_token_endpoint_gives_503_within_the_token_timeout() {
    let app = spawn_with(Simulator::builder(), |s| {
        s.tenant.token_timeout = Duration::from_millis(300)
    })
    .await;
    app.sim.fail_next(Op::Token, FaultAction::Hang, 1);
    let started = std::time::Instant::now();
    assert_error(&app.status("abc").await, 503, "upstream_auth_failed");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[actix_rt::test]
async fn readiness_reports_ok_when_a_token_can_be_had() {
    let app = spawn_app().await;
    let r = app.request("GET", "/readyz", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["checks"]["upstreamToken"], "ok");
    assert_eq!(app.request("GET", "/healthz", None).await.status, 200);
}

#[actix_rt::test]
async fn readiness_stays_200_through_a_token_endpoint_outage_while_callers_get_503_upstream_auth_failed(
) {
    let app = spawn_with(
        Simulator::builder()
            .report_duration(Duration::ZERO)
            .token_ttl(Duration::from_secs(600)),
        |s| s.cache.terminal_ttl = Duration::from_secs(3600),
    )
    .await;
    let readyz = || app.raw_request_to(&app.admin_address, "/readyz");
    let r = readyz().await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["checks"]["upstreamToken"],
        "ok",
        "probes fetch the token"
    );
    let finished = app.run_accounts().await;
    assert_eq!(app.status(&finished).await.status, 200);

    // The token expires and the token endpoint is down.
    app.sim
        .fail_next(Op::Token, FaultAction::Status { status: 503 }, 1_000);
    app.clock.advance(Duration::from_secs(601));
    assert_error(
        &app.status(&crate::helpers::unknown_id()).await,
        503,
        "upstream_auth_failed",
    );
    for _ in 0..3 {
        let r = readyz().await;
        assert_eq!(r.status, 200, "still in the Service: {}", r.text());
        assert_eq!(r.json()["status"], "ready");
        assert_eq!(r.json()["checks"]["upstreamToken"], "unavailable");
        app.clock.advance(Duration::from_secs(1));
    }
    // Finished reports cached before the outage are still served.
    assert_eq!(app.status(&finished).await.status, 200);
    let text = scrape(&app).await;
    assert_eq!(value(&text, "reportgate_ready"), Some(1.0));
    assert_eq!(value(&text, "reportgate_upstream_token_valid"), Some(0.0));
    assert!(value(&text, "reportgate_token_consecutive_failures").unwrap() >= 1.0);
    assert!(
        value(
            &text,
            r#"reportgate_token_refreshes_total{outcome="failure"}"#
        )
        .unwrap()
            >= 1.0
    );

    // The endpoint recovers: the next probe after the back-off fetches a token.
    app.sim.clear_faults();
    app.clock.advance(Duration::from_secs(31));
    let r = readyz().await;
    assert_eq!(r.json()["checks"]["upstreamToken"], "ok", "{}", r.text());
    assert_eq!(app.status(&crate::helpers::unknown_id()).await.status, 404);
    let text = scrape(&app).await;
    assert_eq!(value(&text, "reportgate_upstream_token_valid"), Some(1.0));
    assert_eq!(
        value(&text, "reportgate_token_consecutive_failures"),
        Some(0.0)
    );
}
