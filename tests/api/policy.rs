//! Per-team policy and report ownership.
use crate::helpers::{assert_error, settings_for, spawn_gateway, token_for, TestApp};
use reportgate::auth::settings::{NamedTeamPolicy, Ownership, TeamPolicy};
use reportgate::config::Settings;
use reportgate::simulator::{Simulator, SimulatorHandle};
use serde_json::json;
use std::time::Duration;

fn team(name: &str, policy: TeamPolicy) -> NamedTeamPolicy {
    NamedTeamPolicy {
        team: name.into(),
        policy,
    }
}

fn restricted() -> TeamPolicy {
    TeamPolicy {
        run: vec!["IDENTITIES".into(), "ACCOUNTS".into()],
        sources: vec!["src-ok".into()],
        cancel: false,
        sdk_paths: false,
        raw_ids: false,
        ..TeamPolicy::allow_all()
    }
}

fn policy_settings(sim: &SimulatorHandle) -> Settings {
    let mut s = settings_for(sim);
    s.policy.teams = vec![
        team("reporting", restricted()),
        team("team-a", TeamPolicy::allow_all()),
        team(
            "team-b",
            TeamPolicy {
                raw_ids: false,
                ..TeamPolicy::allow_all()
            },
        ),
    ];
    s
}

async fn spawn() -> TestApp {
    let sim = Simulator::builder()
        .report_duration(Duration::ZERO)
        .start()
        .unwrap();
    let settings = policy_settings(&sim);
    spawn_gateway(sim, settings)
}

#[actix_rt::test]
async fn a_team_runs_what_its_policy_allows_and_gets_403_naming_the_rest() {
    let app = spawn().await;
    let t = token_for(&app.settings, "rita", "reporting");
    let run = |body: serde_json::Value| {
        let t = t.clone();
        let app = &app;
        async move {
            app.request_as(&t, "POST", "/v1/reports", Some(&body.to_string()))
                .await
        }
    };
    assert_eq!(run(json!({"type": "IDENTITIES"})).await.status, 202);
    assert_eq!(
        run(
            json!({"type": "ACCOUNTS", "arguments": {"application": "src-ok", "sourceName": "HR"}})
        )
        .await
        .status,
        202
    );

    let r = run(json!({"type": "SEARCH_EXPORT", "arguments": {"query": "*"}})).await;
    assert_error(&r, 403, "forbidden");
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("SEARCH_EXPORT"));

    let r = run(json!({"type": "ACCOUNTS", "arguments": {"application": "src-secret", "sourceName": "Payroll"}})).await;
    assert_error(&r, 403, "forbidden");
    assert!(r.json()["message"].as_str().unwrap().contains("src-secret"));
    assert_eq!(
        app.sim.counters().run,
        2,
        "denied runs never reached upstream"
    );
}

#[actix_rt::test]
async fn a_team_without_cancel_rights_gets_403_and_no_upstream_call() {
    let app = spawn().await;
    let t = token_for(&app.settings, "rita", "reporting");
    let r = app
        .request_as(&t, "POST", "/v1/reports", Some(r#"{"type":"IDENTITIES"}"#))
        .await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let r = app
        .request_as(&t, "POST", &format!("/v1/reports/{id}/cancel"), None)
        .await;
    assert_error(&r, 403, "forbidden");
    assert!(r.json()["message"].as_str().unwrap().contains("cancel"));
    assert_eq!(app.sim.counters().cancel, 0);
}

#[actix_rt::test]
async fn a_team_without_sdk_path_rights_gets_403_in_the_upstream_shape() {
    let app = spawn().await;
    let t = token_for(&app.settings, "rita", "reporting");
    let r = app
        .request_as(
            &t,
            "POST",
            "/v3/reports/run",
            Some(r#"{"reportType":"IDENTITIES"}"#),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["detailCode"], "403 Forbidden");
    assert_eq!(app.sim.counters().api_calls(), 0);
}

#[actix_rt::test]
async fn unknown_teams_get_the_default_policy_which_allows_nothing() {
    let app = spawn().await;
    let t = token_for(&app.settings, "nobody", "unlisted-team");
    let r = app
        .request_as(&t, "POST", "/v1/reports", Some(r#"{"type":"IDENTITIES"}"#))
        .await;
    assert_error(&r, 403, "forbidden");
    assert_eq!(
        Settings::defaults().policy.default.run,
        Vec::<String>::new(),
        "shipped default allows nothing"
    );
}

#[actix_rt::test]
async fn another_team_gets_404_on_status_file_and_cancel_exactly_as_for_a_missing_report() {
    let app = spawn().await;
    let a = token_for(&app.settings, "ann", "team-a");
    let b = token_for(&app.settings, "bob", "team-b");
    let r = app
        .request_as(&a, "POST", "/v1/reports", Some(r#"{"type":"IDENTITIES"}"#))
        .await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let before = app.sim.counters();
    for (method, path) in [
        ("GET", format!("/v1/reports/{id}")),
        ("GET", format!("/v1/reports/{id}/file?format=csv")),
        ("POST", format!("/v1/reports/{id}/cancel")),
    ] {
        let r = app.request_as(&b, method, &path, None).await;
        assert_error(&r, 404, "report_not_found");
        assert_eq!(r.json()["message"], "no such report");
    }
    for (method, path) in [
        ("GET", format!("/v3/reports/{id}/result")),
        ("GET", format!("/reports/v1/{id}?fileFormat=csv")),
        ("POST", format!("/v3/reports/{id}/cancel")),
    ] {
        assert_eq!(
            app.request_as(&b, method, &path, None).await.status,
            404,
            "{path}"
        );
    }
    assert_eq!(
        app.sim.counters(),
        before,
        "no upstream call for someone else's report"
    );
    // A teammate of the owner reads it (ownership is per team by default).
    let a2 = token_for(&app.settings, "amy", "team-a");
    assert_eq!(
        app.request_as(&a2, "GET", &format!("/v1/reports/{id}"), None)
            .await
            .status,
        200
    );
}

#[actix_rt::test]
async fn with_caller_ownership_a_teammate_gets_404() {
    let sim = Simulator::builder()
        .report_duration(Duration::ZERO)
        .start()
        .unwrap();
    let mut settings = policy_settings(&sim);
    settings.policy.ownership = Ownership::Caller;
    let app = spawn_gateway(sim, settings);
    let ann = token_for(&app.settings, "ann", "team-a");
    let amy = token_for(&app.settings, "amy", "team-a");
    let r = app
        .request_as(
            &ann,
            "POST",
            "/v1/reports",
            Some(r#"{"type":"IDENTITIES"}"#),
        )
        .await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.request_as(&ann, "GET", &format!("/v1/reports/{id}"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.request_as(&amy, "GET", &format!("/v1/reports/{id}"), None)
            .await
            .status,
        404
    );
}

#[actix_rt::test]
async fn the_owner_keeps_access_after_a_restart_with_the_same_key_and_loses_it_with_another() {
    let sim = Simulator::builder()
        .report_duration(Duration::ZERO)
        .start()
        .unwrap();
    let settings = policy_settings(&sim);
    let first = spawn_gateway(sim.clone(), settings.clone());
    let ann = token_for(&settings, "ann", "team-a");
    let r = first
        .request_as(
            &ann,
            "POST",
            "/v1/reports",
            Some(r#"{"type":"IDENTITIES"}"#),
        )
        .await;
    let id = r.json()["id"].as_str().unwrap().to_owned();

    // A second gateway (a restart, or another replica) with the same key and no shared state.
    let second = spawn_gateway(sim.clone(), settings.clone());
    let r = second
        .request_as(&ann, "GET", &format!("/v1/reports/{id}"), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "SUCCESS");

    let mut rekeyed = settings.clone();
    rekeyed.auth.id_signing_key = Some(reportgate::secret::Secret::new(
        "another-signing-key-0123456789abcdef".into(),
    ));
    let third = spawn_gateway(sim, rekeyed);
    assert_eq!(
        third
            .request_as(&ann, "GET", &format!("/v1/reports/{id}"), None)
            .await
            .status,
        404
    );
}

#[actix_rt::test]
async fn a_tampered_id_gets_404() {
    let app = spawn().await;
    let a = token_for(&app.settings, "ann", "team-a");
    let r = app
        .request_as(&a, "POST", "/v1/reports", Some(r#"{"type":"IDENTITIES"}"#))
        .await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let (upstream, mac) = id.split_once('-').unwrap();
    let mut flipped = upstream.to_owned().into_bytes();
    flipped[0] = if flipped[0] == b'a' { b'b' } else { b'a' };
    let tampered = format!("{}-{mac}", String::from_utf8(flipped).unwrap());
    assert_error(
        &app.request_as(&a, "GET", &format!("/v1/reports/{tampered}"), None)
            .await,
        404,
        "report_not_found",
    );
}

#[actix_rt::test]
async fn raw_upstream_ids_are_reachable_only_by_teams_allowed_raw_ids() {
    let app = spawn().await;
    let a = token_for(&app.settings, "ann", "team-a");
    let b = token_for(&app.settings, "bob", "team-b");
    let r = app
        .request_as(&a, "POST", "/v1/reports", Some(r#"{"type":"IDENTITIES"}"#))
        .await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let raw = id.split_once('-').unwrap().0;
    assert_eq!(
        app.request_as(&a, "GET", &format!("/v1/reports/{raw}"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.request_as(&b, "GET", &format!("/v1/reports/{raw}"), None)
            .await
            .status,
        404
    );
}
