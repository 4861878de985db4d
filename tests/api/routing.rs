//! The route is decided once: escaped paths cannot slip past policy, audit, fail-closed or
//! metrics, and the SDK-paths permission holds on every route the router sends there.
use crate::helpers::{assert_error, scrape, settings_for, spawn_gateway, token_for, value};
use reportgate::auth::settings::{NamedTeamPolicy, TeamPolicy};
use reportgate::simulator::Simulator;
use std::path::PathBuf;
use std::time::Duration;

const RUN: &str = r#"{"type":"IDENTITIES"}"#;
const SDK_RUN: &str = r#"{"reportType":"IDENTITIES","arguments":{}}"#;

/// Escaped spellings of every route the API serves (the router would decode each of them
/// into a real route).
fn escaped(id: &str) -> Vec<(&'static str, String, Option<&'static str>)> {
    vec![
        ("POST", "/v1/report%73".into(), Some(RUN)),
        ("POST", "/%761/reports".into(), Some(RUN)),
        ("GET", format!("/v1/%72eports/{id}"), None),
        ("GET", format!("/v1/reports/{id}/%66ile?format=csv"), None),
        ("POST", format!("/v1/reports/{id}/%63ancel"), None),
        ("POST", "/%763/reports/run".into(), Some(SDK_RUN)),
        ("POST", "/v3/reports/ru%6E".into(), Some(SDK_RUN)),
        ("GET", format!("/v3/reports/{id}/%72esult"), None),
        ("GET", format!("/v3/report%73/{id}?fileFormat=csv"), None),
        ("POST", format!("/v3/reports/{id}/cance%6C"), None),
        ("POST", "/reports/%761/run".into(), Some(SDK_RUN)),
        ("GET", format!("/reports/v1/{id}/resul%74"), None),
        ("GET", format!("/%72eports/v1/{id}?fileFormat=csv"), None),
        ("POST", format!("/reports/v1/{id}/%63ancel"), None),
        ("GET", "/%68ealthz".into(), None),
    ]
}

#[actix_rt::test]
async fn escaped_spellings_of_every_route_get_400_before_policy_audit_or_upstream() {
    let sim = Simulator::builder()
        .report_duration(Duration::ZERO)
        .start()
        .unwrap();
    let mut settings = settings_for(&sim);
    settings.policy.teams = vec![
        NamedTeamPolicy {
            team: "no-sdk".into(),
            policy: TeamPolicy {
                sdk_paths: false,
                ..TeamPolicy::allow_all()
            },
        },
        NamedTeamPolicy {
            team: "test-team".into(),
            policy: TeamPolicy::allow_all(),
        },
    ];
    let app = spawn_gateway(sim, settings);
    let id = app.run_accounts().await;
    let calls = app.sim.counters().api_calls();
    let records = app.audit_records(1).await.len();
    let token = token_for(&app.settings, "nora", "no-sdk");
    let paths = escaped(&id);
    for (method, path, body) in &paths {
        for t in [&app.token, &token] {
            let r = app.request_as(t, method, path, *body).await;
            assert_error(&r, 400, "invalid_path");
            assert!(r.header("x-request-id").is_some(), "{method} {path}");
        }
    }
    assert_eq!(
        app.sim.counters().api_calls(),
        calls,
        "nothing went upstream"
    );
    // Refused before the audit layer: no record of any action, and none mislabelled.
    assert_eq!(app.audit_lines().len(), records);
    let text = scrape(&app).await;
    for m in ["GET", "POST"] {
        let n = paths.iter().filter(|(pm, _, _)| *pm == m).count() * 2;
        assert_eq!(
            value(
                &text,
                &format!(
                    "reportgate_http_requests_total{{method=\"{m}\",route=\"unmatched\",status_class=\"4xx\"}}"
                )
            ),
            Some(n as f64),
            "{text}"
        );
    }
}

#[actix_rt::test]
async fn escaped_paths_are_refused_even_while_the_audit_file_cannot_be_written() {
    let sim = Simulator::builder().start().unwrap();
    let mut settings = settings_for(&sim);
    settings.audit.file = Some(PathBuf::from("/dev/null/audit.jsonl"));
    let app = spawn_gateway(sim, settings);
    for (method, path, body) in escaped(&crate::helpers::unknown_id()) {
        let r = app.request(method, &path, body).await;
        assert_error(&r, 400, "invalid_path");
    }
    assert_error(&app.run(RUN).await, 503, "audit_unavailable");
    assert_eq!(app.sim.counters().api_calls(), 0);
    assert_eq!(app.sim.counters().token_requests, 0);
}

#[actix_rt::test]
async fn a_team_without_sdk_paths_gets_403_on_every_route_of_both_sdk_families() {
    let sim = Simulator::builder().start().unwrap();
    let mut settings = settings_for(&sim);
    settings.policy.teams = vec![NamedTeamPolicy {
        team: "no-sdk".into(),
        policy: TeamPolicy {
            sdk_paths: false,
            ..TeamPolicy::allow_all()
        },
    }];
    let app = spawn_gateway(sim, settings);
    let token = token_for(&app.settings, "nora", "no-sdk");
    let id = crate::helpers::unknown_id();
    for prefix in ["/v3/reports", "/reports/v1"] {
        for (method, path, body) in [
            ("POST", format!("{prefix}/run"), Some(SDK_RUN)),
            ("GET", format!("{prefix}/run"), None),
            ("GET", format!("{prefix}/{id}/result"), None),
            ("GET", format!("{prefix}/{id}?fileFormat=csv"), None),
            ("POST", format!("{prefix}/{id}/cancel"), None),
        ] {
            let r = app.request_as(&token, method, &path, body).await;
            assert_eq!(r.status, 403, "{method} {path}: {}", r.text());
            // The upstream's 403 shape, which the SDKs parse.
            assert!(r.json()["messages"][0]["text"].is_string(), "{}", r.text());
        }
    }
    assert_eq!(app.sim.counters().api_calls(), 0);
}
