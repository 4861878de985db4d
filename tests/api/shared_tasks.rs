//! One upstream task, two teams: IdentityNow answers a run of a non-concurrent report that
//! is already running with *that* task. The second team may read it; its cancel withdraws
//! only its own claim; the task is cancelled upstream by the last team holding it.
use crate::helpers::{settings_for, spawn_gateway, token_for, TestApp};
use crate::shared::{two_replicas, RedisServer};
use reportgate::auth::settings::{NamedTeamPolicy, TeamPolicy};
use reportgate::simulator::{Simulator, SimulatorHandle};
use std::time::Duration;

const EXPORT: &str = r#"{"type":"ACCOUNTS","arguments":{"application":"src-1","sourceName":"HR"}}"#;

fn teams() -> Vec<NamedTeamPolicy> {
    ["team-a", "team-b"]
        .into_iter()
        .map(|t| NamedTeamPolicy {
            team: t.into(),
            policy: TeamPolicy::allow_all(),
        })
        .collect()
}

fn long_reports() -> SimulatorHandle {
    Simulator::builder()
        .report_duration(Duration::from_secs(3600))
        .start()
        .unwrap()
}

async fn run(app: &TestApp, token: &str) -> (String, String) {
    let r = app
        .request_as(token, "POST", "/v1/reports", Some(EXPORT))
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    (r.json()["id"].as_str().unwrap().to_owned(), r.text())
}

async fn status(app: &TestApp, token: &str, id: &str) -> String {
    let r = app
        .request_as(token, "GET", &format!("/v1/reports/{id}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["status"].as_str().unwrap().to_owned()
}

async fn cancel(app: &TestApp, token: &str, id: &str) {
    let r = app
        .request_as(token, "POST", &format!("/v1/reports/{id}/cancel"), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
}

#[actix_rt::test]
async fn a_second_team_on_the_same_running_export_reads_it_but_its_cancel_leaves_the_first_teams_running(
) {
    // Arrange: team A's export runs; team B starts the same one and is handed A's task.
    let sim = long_reports();
    let mut settings = settings_for(&sim);
    settings.policy.teams = teams();
    let app = spawn_gateway(sim, settings);
    let a = token_for(&app.settings, "ann", "team-a");
    let b = token_for(&app.settings, "bob", "team-b");
    let (id_a, _) = run(&app, &a).await;
    let (id_b, answer_b) = run(&app, &b).await;
    let upstream = |id: &str| id.split_once('-').unwrap().0.to_owned();
    assert_eq!(upstream(&id_a), upstream(&id_b), "upstream de-duplicated");
    assert_ne!(id_a, id_b, "each team has its own id");
    assert!(
        !answer_b.contains(&id_a) && !answer_b.contains("team-a") && !answer_b.contains("ann"),
        "B's answer names nothing of A: {answer_b}"
    );

    // Act: B reads it, then cancels it.
    assert_eq!(status(&app, &b, &id_b).await, "RUNNING");
    cancel(&app, &b, &id_b).await;

    // Assert: A's export was not cancelled upstream and still runs.
    assert_eq!(app.sim.counters().cancel, 0);
    assert_eq!(status(&app, &a, &id_a).await, "RUNNING");
    // B cancelling again cannot reach A's task either.
    cancel(&app, &b, &id_b).await;
    assert_eq!(app.sim.counters().cancel, 0);

    // A, the last holder, cancels it upstream.
    cancel(&app, &a, &id_a).await;
    assert_eq!(app.sim.counters().cancel, 1);
    assert_eq!(status(&app, &a, &id_a).await, "CANCELLED");
}

#[actix_rt::test]
async fn replicas_agree_through_redis_on_who_still_holds_a_shared_task() {
    // Arrange: A runs through replica 1, B through replica 2: one upstream task.
    let redis = RedisServer::start();
    let (r1, r2) = two_replicas(long_reports(), &redis, &teams()).await;
    let a = token_for(&r1.settings, "ann", "team-a");
    let b = token_for(&r1.settings, "bob", "team-b");
    let (id_a, _) = run(&r1, &a).await;
    let (id_b, _) = run(&r2, &b).await;

    // Act: B cancels through replica 1, which never saw B's run.
    cancel(&r1, &b, &id_b).await;

    // Assert: only B's claim went; A's cancel through replica 2 (which never saw A's run)
    // is the last one and reaches upstream.
    assert_eq!(r1.sim.counters().cancel, 0);
    assert_eq!(status(&r1, &a, &id_a).await, "RUNNING");
    cancel(&r2, &a, &id_a).await;
    assert_eq!(r1.sim.counters().cancel, 1);
}
