//! `raw_ids`: reading reports by their upstream id. It opens reports not started through
//! the gateway, within the team's `run`/`sources` policy; never one the gateway handed to
//! another team; and never cancels unless the team also has `raw_cancel`.
use crate::helpers::{
    assert_error, named_team as team, settings_for, sim_token_response, spawn_gateway, TestApp,
};
use crate::shared::{two_replicas, RedisServer};
use reportgate::auth::settings::{NamedTeamPolicy, TeamPolicy};
use reportgate::simulator::{Simulator, SimulatorHandle};
use serde_json::{json, Value};
use std::time::Duration;

/// `owner` runs reports; `prober` has raw ids and cancel rights but may run only
/// IDENTITIES and read ACCOUNTS of one source; only `canceller` has `raw_cancel`.
fn teams() -> Vec<NamedTeamPolicy> {
    vec![
        team(
            "owner",
            TeamPolicy {
                raw_cancel: false,
                ..TeamPolicy::allow_all()
            },
        ),
        team(
            "prober",
            TeamPolicy {
                run: vec!["IDENTITIES".into(), "ACCOUNTS".into()],
                sources: vec!["src-ok".into()],
                raw_cancel: false,
                ..TeamPolicy::allow_all()
            },
        ),
        team(
            "canceller",
            TeamPolicy {
                raw_cancel: true,
                ..TeamPolicy::allow_all()
            },
        ),
    ]
}

fn sim(duration: Duration) -> SimulatorHandle {
    Simulator::builder()
        .report_duration(duration)
        .start()
        .unwrap()
}

async fn spawn(duration: Duration) -> TestApp {
    let sim = sim(duration);
    let mut settings = settings_for(&sim);
    settings.policy.teams = teams();
    spawn_gateway(sim, settings)
}

/// Starts a report on the tenant directly (as the IdentityNow UI would): its upstream id.
async fn start_upstream(app: &TestApp, body: Value) -> String {
    let token = sim_token_response(&app.sim).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut r = awc::Client::default()
        .post(format!("{}/v3/reports/run", app.sim.base_url()))
        .bearer_auth(token)
        .send_json(&body)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let task: Value = r.json().await.unwrap();
    task["id"].as_str().unwrap().to_owned()
}

fn token(app: &TestApp, team: &str) -> String {
    crate::helpers::token_for(&app.settings, &format!("{team}-user"), team)
}

/// Every route a report id reaches, by raw id.
fn routes(raw: &str) -> [(&'static str, String); 6] {
    [
        ("GET", format!("/v1/reports/{raw}")),
        ("GET", format!("/v1/reports/{raw}/file?format=csv")),
        ("POST", format!("/v1/reports/{raw}/cancel")),
        ("GET", format!("/v3/reports/{raw}/result")),
        ("GET", format!("/reports/v1/{raw}?fileFormat=csv")),
        ("POST", format!("/v3/reports/{raw}/cancel")),
    ]
}

#[actix_rt::test]
async fn the_raw_id_of_another_teams_gateway_report_answers_like_a_missing_report() {
    // Arrange: the owner's report, and its upstream id stripped of the seal.
    let app = spawn(Duration::ZERO).await;
    let owner = token(&app, "owner");
    let r = app
        .request_as(
            &owner,
            "POST",
            "/v1/reports",
            Some(r#"{"type":"IDENTITIES"}"#),
        )
        .await;
    let sealed = r.json()["id"].as_str().unwrap().to_owned();
    let raw = sealed.split_once('-').unwrap().0.to_owned();
    let before = app.sim.counters();

    // Act + Assert: a team with raw_ids (and cancel, and raw_cancel) gets 404 everywhere.
    for t in ["prober", "canceller"] {
        let t = token(&app, t);
        for (method, path) in routes(&raw) {
            let r = app.request_as(&t, method, &path, None).await;
            assert_eq!(r.status, 404, "{method} {path}: {}", r.text());
            if path.starts_with("/v1/") {
                assert_error(&r, 404, "report_not_found");
                assert_eq!(r.json()["message"], "no such report");
            }
        }
    }
    assert_eq!(app.sim.counters(), before, "no upstream call");
    let r = app
        .request_as(&owner, "GET", &format!("/v1/reports/{sealed}"), None)
        .await;
    assert_eq!(
        r.json()["status"],
        "SUCCESS",
        "the owner's report was not touched"
    );
    // The owning team still reaches its own report by raw id.
    let r = app
        .request_as(&owner, "GET", &format!("/v1/reports/{raw}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[actix_rt::test]
async fn raw_ids_open_reports_started_outside_the_gateway_only_within_the_teams_run_policy() {
    // Arrange: reports started on the tenant directly.
    let app = spawn(Duration::ZERO).await;
    let identities = start_upstream(&app, json!({"reportType": "IDENTITIES"})).await;
    let search = start_upstream(
        &app,
        json!({"reportType": "SEARCH_EXPORT", "arguments": {"indices": ["identities"], "query": "*"}}),
    )
    .await;
    let accounts = start_upstream(
        &app,
        json!({"reportType": "ACCOUNTS", "arguments": {"application": "src-secret", "sourceName": "Payroll"}}),
    )
    .await;
    let prober = token(&app, "prober");

    // Act + Assert: a type the team may run reads and downloads...
    let r = app
        .request_as(&prober, "GET", &format!("/v1/reports/{identities}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "SUCCESS");
    let path = format!("/v1/reports/{identities}/file?format=csv");
    assert_eq!(
        app.request_as(&prober, "GET", &path, None).await.status,
        200
    );
    let path = format!("/v3/reports/{identities}/result");
    assert_eq!(
        app.request_as(&prober, "GET", &path, None).await.status,
        200
    );

    // ...a type it may not run, and ACCOUNTS of sources it cannot be shown to be allowed,
    // answer like missing reports, on every read route.
    for raw in [&search, &accounts] {
        for (method, path) in routes(raw).into_iter().filter(|(m, _)| *m == "GET") {
            let r = app.request_as(&prober, method, &path, None).await;
            assert_eq!(r.status, 404, "{path}: {}", r.text());
        }
    }
    let files = app.sim.counters().file;
    assert_eq!(files, 1, "no refused file was fetched from upstream");

    // An unknown raw id keeps upstream's answer: 404, no such report.
    let r = app
        .request_as(
            &prober,
            "GET",
            &format!("/v1/reports/{}", crate::helpers::unknown_id()),
            None,
        )
        .await;
    assert_error(&r, 404, "report_not_found");
}

#[actix_rt::test]
async fn a_raw_id_is_cancelled_only_by_a_team_with_raw_cancel() {
    // Arrange: a long report started on the tenant directly.
    let app = spawn(Duration::from_secs(3600)).await;
    let raw = start_upstream(&app, json!({"reportType": "IDENTITIES"})).await;

    // Act: a team with cancel and raw_ids, but not raw_cancel.
    let prober = token(&app, "prober");
    for path in [
        format!("/v1/reports/{raw}/cancel"),
        format!("/v3/reports/{raw}/cancel"),
    ] {
        let r = app.request_as(&prober, "POST", &path, None).await;
        assert_eq!(r.status, 403, "{}", r.text());
    }
    assert_eq!(app.sim.counters().cancel, 0);

    // A team with raw_cancel cancels it.
    let r = app
        .request_as(
            &token(&app, "canceller"),
            "POST",
            &format!("/v1/reports/{raw}/cancel"),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(app.sim.counters().cancel, 1);
}

#[actix_rt::test]
async fn a_replica_that_never_saw_the_run_refuses_its_raw_id_through_redis() {
    // Arrange: the owner runs on replica A; the prober asks replica B.
    let redis = RedisServer::start();
    let (a, b) = two_replicas(sim(Duration::ZERO), &redis, &teams()).await;
    let r = a
        .request_as(
            &token(&a, "owner"),
            "POST",
            "/v1/reports",
            Some(r#"{"type":"IDENTITIES"}"#),
        )
        .await;
    let raw = r.json()["id"]
        .as_str()
        .unwrap()
        .split_once('-')
        .unwrap()
        .0
        .to_owned();

    // Act
    let r = b
        .request_as(
            &token(&b, "prober"),
            "GET",
            &format!("/v1/reports/{raw}"),
            None,
        )
        .await;

    // Assert
    assert_error(&r, 404, "report_not_found");
}
