//! `maxAge` on `POST /v1/reports`: an identical report finished within that age is handed
//! over, a running one joined, and nothing runs upstream (the simulator's run counter says so).
use crate::helpers::{
    assert_error, named_team as team, scrape, settings_for, spawn_gateway, token_for, value,
    TestApp,
};
use reportgate::auth::settings::{NamedTeamPolicy, TeamPolicy};
use reportgate::simulator::{FaultAction, Op, Outcome, Simulator};
use serde_json::{json, Value};
use std::time::Duration;

const SOURCE: &str = "2c9180835d2e5168015d32f890ca1581";

fn accounts(source: &str) -> Value {
    json!({"type": "ACCOUNTS", "arguments": {"application": source, "sourceName": "Active Directory"}})
}

fn with_max_age(mut body: Value, age: &str) -> String {
    body["maxAge"] = json!(age);
    body.to_string()
}

/// Teams around one export: `producer` and `partner` share their exports, `private` does not (the
/// default), `reader` takes others' (the default), `barred` does not, and `elsewhere` may
/// export accounts of another source only.
fn teams() -> Vec<NamedTeamPolicy> {
    vec![
        team(
            "producer",
            TeamPolicy {
                share_exports: true,
                ..TeamPolicy::allow_all()
            },
        ),
        team(
            "partner",
            TeamPolicy {
                share_exports: true,
                ..TeamPolicy::allow_all()
            },
        ),
        team("private", TeamPolicy::allow_all()),
        team("reader", TeamPolicy::allow_all()),
        team(
            "barred",
            TeamPolicy {
                reuse_others: false,
                ..TeamPolicy::allow_all()
            },
        ),
        team(
            "elsewhere",
            TeamPolicy {
                sources: vec!["another-source".into()],
                ..TeamPolicy::allow_all()
            },
        ),
    ]
}

/// A gateway whose simulated reports take `report_duration`, with [`teams`].
fn spawn(report_duration: Duration) -> TestApp {
    let sim = Simulator::builder()
        .report_duration(report_duration)
        .start()
        .unwrap();
    let mut settings = settings_for(&sim);
    settings.policy.teams.extend(teams());
    spawn_gateway(sim, settings)
}

impl TestApp {
    async fn run_as(&self, team: &str, body: &str) -> crate::helpers::Response {
        let token = token_for(&self.settings, &format!("{team}-user"), team);
        self.request_as(&token, "POST", "/v1/reports", Some(body))
            .await
    }

    async fn get_as(&self, team: &str, path: &str) -> crate::helpers::Response {
        let token = token_for(&self.settings, &format!("{team}-user"), team);
        self.request_as(&token, "GET", path, None).await
    }
}

#[actix_rt::test]
async fn a_second_identical_run_within_max_age_gets_the_finished_report_and_no_upstream_run() {
    // Arrange
    let app = spawn(Duration::ZERO);
    let first = app.run(&accounts(SOURCE).to_string()).await;
    assert_eq!(first.status, 202, "{}", first.text());
    assert_eq!(first.json()["reused"], false);
    let id = first.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(app.sim.counters().run, 1);

    // Act
    let again = app.run(&with_max_age(accounts(SOURCE), "15m")).await;

    // Assert
    assert_eq!(again.status, 200, "{}", again.text());
    let body = again.json();
    assert_eq!(body["reused"], true);
    assert_eq!(body["id"], id, "the owner's own report keeps its id");
    assert_eq!(body["status"], "SUCCESS");
    assert!(body["completedAt"].as_str().is_some(), "{body}");
    assert_eq!(
        body["links"]["files"]["csv"],
        format!("/v1/reports/{id}/file?format=csv")
    );
    assert_eq!(
        again.header("location").unwrap(),
        format!("/v1/reports/{id}")
    );
    assert_eq!(app.sim.counters().run, 1, "no second upstream run");
    assert_eq!(app.download(&id, "csv").await.status, 200);
}

#[actix_rt::test]
async fn a_different_argument_order_is_still_the_identical_request() {
    let app = spawn(Duration::ZERO);
    let first = app
        .run(r#"{"type":"SEARCH_EXPORT","arguments":{"query":"name:a*","indices":["identities","roles"],"sort":["name"]}}"#)
        .await;
    assert_eq!(first.status, 202, "{}", first.text());
    // Keys in another order, the index set in another order and repeated, a null argument.
    let again = app
        .run(r#"{"maxAge":"15m","arguments":{"sort":["name"],"columns":null,"indices":["roles","identities","roles"],"query":"name:a*"},"type":"SEARCH_EXPORT"}"#)
        .await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["reused"], true);
    assert_eq!(again.json()["id"], first.json()["id"]);
    // What changes the export is another request: the sort order here.
    let other = app
        .run(r#"{"maxAge":"15m","type":"SEARCH_EXPORT","arguments":{"query":"name:a*","indices":["identities","roles"],"sort":["-name"]}}"#)
        .await;
    assert_eq!(other.status, 202);
    assert_eq!(other.json()["reused"], false);
    assert_eq!(app.sim.counters().run, 2);
}

#[actix_rt::test]
async fn without_max_age_every_run_is_a_fresh_one() {
    let app = spawn(Duration::ZERO);
    for _ in 0..2 {
        let r = app.run(&accounts(SOURCE).to_string()).await;
        assert_eq!(r.status, 202);
        assert_eq!(r.json()["reused"], false);
    }
    assert_eq!(app.sim.counters().run, 2);
}

#[actix_rt::test]
async fn an_expired_max_age_starts_a_fresh_run_which_the_next_one_reuses() {
    let app = spawn(Duration::ZERO);
    let first = app.run(&accounts(SOURCE).to_string()).await;
    assert_eq!(first.status, 202);
    // Twenty minutes pass, for the gateway and for the tenant.
    app.clock.advance(Duration::from_secs(20 * 60));
    app.sim.advance(Duration::from_secs(20 * 60));

    let fresh = app.run(&with_max_age(accounts(SOURCE), "15m")).await;
    assert_eq!(fresh.status, 202, "{}", fresh.text());
    assert_eq!(fresh.json()["reused"], false);
    assert_ne!(fresh.json()["id"], first.json()["id"]);
    assert_eq!(app.sim.counters().run, 2);

    // The fresh run is now the one an identical request within 15 minutes gets.
    let again = app.run(&with_max_age(accounts(SOURCE), "15m")).await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["id"], fresh.json()["id"]);
    assert_eq!(app.sim.counters().run, 2);
}

#[actix_rt::test]
async fn a_failed_or_warning_report_is_never_reused() {
    let app = spawn(Duration::ZERO);
    for (n, outcome) in [Outcome::Failure, Outcome::Warning].into_iter().enumerate() {
        app.sim.set_outcome(outcome);
        let source = format!("src-{n}");
        assert_eq!(app.run(&accounts(&source).to_string()).await.status, 202);
        app.sim.set_outcome(Outcome::Success);
        let r = app.run(&with_max_age(accounts(&source), "15m")).await;
        assert_eq!(r.status, 202, "{}", r.text());
        assert_eq!(r.json()["reused"], false);
    }
    assert_eq!(app.sim.counters().run, 4);
}

#[actix_rt::test]
async fn a_run_through_the_sdk_paths_is_reused_on_v1() {
    let app = spawn(Duration::ZERO);
    let sdk = app
        .request(
            "POST",
            "/v3/reports/run",
            Some(&json!({"reportType": "ACCOUNTS", "arguments": {"application": SOURCE, "sourceName": "Active Directory"}}).to_string()),
        )
        .await;
    assert_eq!(sdk.status, 200, "{}", sdk.text());
    let r = app.run(&with_max_age(accounts(SOURCE), "15m")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["id"], sdk.json()["id"]);
    assert_eq!(app.sim.counters().run, 1);
}

#[actix_rt::test]
async fn a_running_identical_report_is_joined_and_the_joiner_cannot_cancel_it() {
    // Arrange: a report that runs for an hour.
    let app = spawn(Duration::from_secs(3600));
    let first = app.run_as("producer", &accounts(SOURCE).to_string()).await;
    assert_eq!(first.status, 202);
    let producer_id = first.json()["id"].as_str().unwrap().to_owned();

    // Act
    let joined = app
        .run_as("reader", &with_max_age(accounts(SOURCE), "15m"))
        .await;

    // Assert: joined, not started; the reader's id is its own and reads the same report.
    assert_eq!(joined.status, 202, "{}", joined.text());
    let body = joined.json();
    assert_eq!(body["reused"], true);
    assert_eq!(body["status"], "RUNNING");
    let reader_id = body["id"].as_str().unwrap().to_owned();
    assert_ne!(reader_id, producer_id);
    assert_eq!(app.sim.counters().run, 1);
    let read = app
        .get_as("reader", &format!("/v1/reports/{reader_id}"))
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.json()["status"], "RUNNING");
    // The producer's id stays the producer's.
    assert_eq!(
        app.get_as("reader", &format!("/v1/reports/{producer_id}"))
            .await
            .status,
        404
    );

    // Cancel by the joiner is refused and cancels nothing upstream.
    let token = token_for(&app.settings, "reader-user", "reader");
    let cancel = app
        .request_as(
            &token,
            "POST",
            &format!("/v1/reports/{reader_id}/cancel"),
            None,
        )
        .await;
    assert_error(&cancel, 409, "report_reused");
    assert_eq!(app.sim.counters().cancel, 0);
    let sdk_cancel = app
        .request_as(
            &token,
            "POST",
            &format!("/v3/reports/{reader_id}/cancel"),
            None,
        )
        .await;
    assert_eq!(sdk_cancel.status, 409, "{}", sdk_cancel.text());
    assert_eq!(app.sim.counters().cancel, 0);
    let metrics = scrape(&app).await;
    let runs = |answer: &str| {
        value(
            &metrics,
            &format!("reportgate_report_runs_total{{answer=\"{answer}\"}}"),
        )
    };
    assert_eq!(
        (runs("fresh"), runs("joined"), runs("reused")),
        (Some(1.0), Some(1.0), Some(0.0))
    );
    let still = app
        .get_as("producer", &format!("/v1/reports/{producer_id}"))
        .await;
    assert_eq!(still.json()["status"], "RUNNING");

    // The owner joining its own running report gets its own id back, cancellable.
    let own = app
        .run_as("producer", &with_max_age(accounts(SOURCE), "15m"))
        .await;
    assert_eq!(own.status, 202);
    assert_eq!(own.json()["id"], producer_id);
    assert_eq!(app.sim.counters().run, 1);
    let token = token_for(&app.settings, "producer-user", "producer");
    let cancel = app
        .request_as(
            &token,
            "POST",
            &format!("/v1/reports/{producer_id}/cancel"),
            None,
        )
        .await;
    assert_eq!(cancel.status, 204);
    assert_eq!(app.sim.counters().cancel, 1);
}

#[actix_rt::test]
async fn identical_runs_arriving_together_start_one_upstream_run() {
    // Arrange: upstream takes half a second to answer the run, so the two overlap.
    let app = spawn(Duration::from_secs(3600));
    app.sim
        .fail_next(Op::Run, FaultAction::Delay { ms: 500 }, 1);
    let body = with_max_age(accounts(SOURCE), "15m");

    // Act
    let (a, b) = futures_util::join!(app.run_as("producer", &body), app.run_as("partner", &body));

    // Assert: one run; whichever came second joined it under an id of its own.
    assert_eq!(a.status, 202, "{}", a.text());
    assert_eq!(b.status, 202, "{}", b.text());
    let mut reused = [a.json()["reused"].clone(), b.json()["reused"].clone()];
    reused.sort_by_key(|v| v.to_string());
    assert_eq!(reused, [json!(false), json!(true)]);
    assert_ne!(a.json()["id"], b.json()["id"]);
    assert_eq!(app.sim.counters().run, 1);
}

#[actix_rt::test]
async fn a_run_started_together_by_a_team_that_does_not_share_is_not_joined_by_another() {
    let app = spawn(Duration::from_secs(3600));
    app.sim
        .fail_next(Op::Run, FaultAction::Delay { ms: 500 }, 1);
    let body = with_max_age(accounts(SOURCE), "15m");
    let first = app.run_as("private", &body);
    let second = async {
        // Arrives once the private team's run has reached upstream (and waits there).
        for _ in 0..200 {
            if app.sim.counters().run == 1 {
                break;
            }
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        }
        app.run_as("reader", &body).await
    };
    let (a, b) = futures_util::join!(first, second);
    assert_eq!(a.json()["reused"], false, "{}", a.text());
    assert_eq!(b.json()["reused"], false, "{}", b.text());
    assert_eq!(app.sim.counters().run, 2);
}

#[actix_rt::test]
async fn another_teams_report_is_reused_only_when_it_shares_and_the_reader_accepts() {
    let app = spawn(Duration::ZERO);
    // A team that does not share (the default): another team runs its own.
    let private = app
        .run_as("private", &accounts("src-private").to_string())
        .await;
    assert_eq!(private.status, 202);
    let r = app
        .run_as("reader", &with_max_age(accounts("src-private"), "15m"))
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["reused"], false);
    assert_eq!(app.sim.counters().run, 2);

    // A team that shares: the reader gets it under an id of its own and downloads it...
    let shared = app.run_as("producer", &accounts(SOURCE).to_string()).await;
    assert_eq!(shared.status, 202);
    let r = app
        .run_as("reader", &with_max_age(accounts(SOURCE), "15m"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["reused"], true);
    let reader_id = r.json()["id"].as_str().unwrap().to_owned();
    assert_ne!(reader_id, shared.json()["id"].as_str().unwrap());
    assert_eq!(app.sim.counters().run, 3);
    let file = app
        .get_as(
            "reader",
            &format!("/v1/reports/{reader_id}/file?format=csv"),
        )
        .await;
    assert_eq!(file.status, 200);

    // ...unless the reader's own policy bars reuse of others' exports.
    let r = app
        .run_as("barred", &with_max_age(accounts(SOURCE), "15m"))
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["reused"], false);
    assert_eq!(app.sim.counters().run, 4);
}

#[actix_rt::test]
async fn a_forbidden_source_is_never_reused() {
    let app = spawn(Duration::ZERO);
    assert_eq!(
        app.run_as("producer", &accounts(SOURCE).to_string())
            .await
            .status,
        202
    );
    let before = app.sim.counters();

    let r = app
        .run_as("elsewhere", &with_max_age(accounts(SOURCE), "15m"))
        .await;

    assert_error(&r, 403, "forbidden");
    assert!(r.json()["message"].as_str().unwrap().contains(SOURCE));
    let after = app.sim.counters();
    assert_eq!(after.api_calls(), before.api_calls(), "nothing upstream");
}

#[actix_rt::test]
async fn reuse_is_audited_with_the_original_reports_id() {
    let app = spawn(Duration::ZERO);
    let first = app.run_as("producer", &accounts(SOURCE).to_string()).await;
    let original = first.json()["id"].as_str().unwrap().to_owned();
    let r = app
        .run_as("reader", &with_max_age(accounts(SOURCE), "15m"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let reader_id = r.json()["id"].as_str().unwrap().to_owned();

    let records = app.audit_records(2).await;
    let fresh = records
        .iter()
        .find(|e| e["reportId"] == original.as_str())
        .expect("the original run's record");
    assert!(fresh.get("reusedFrom").is_none(), "{fresh}");
    let reused = records
        .iter()
        .find(|e| e["reportId"] == reader_id.as_str())
        .expect("the reused run's record");
    assert_eq!(reused["action"], "run");
    assert_eq!(reused["team"], "reader");
    assert_eq!(reused["outcome"], "allowed");
    assert_eq!(reused["status"], 200);
    assert_eq!(reused["reusedFrom"], original.as_str());
    assert_eq!(reused["upstreamId"], fresh["upstreamId"]);
}

#[actix_rt::test]
async fn a_max_age_that_is_not_a_usable_duration_is_refused_before_any_upstream_call() {
    let app = spawn(Duration::ZERO);
    for age in [json!("soon"), json!(900), json!(""), json!("1h 30m")] {
        let mut body = accounts(SOURCE);
        body["maxAge"] = age.clone();
        let r = app.run(&body.to_string()).await;
        assert_error(&r, 400, "invalid_argument");
        assert!(
            r.json()["message"].as_str().unwrap().starts_with("maxAge"),
            "{age}"
        );
    }
    assert_eq!(app.sim.counters().api_calls(), 0);
}

#[actix_rt::test]
async fn a_zero_max_age_reuses_nothing_finished_and_one_past_the_bound_is_read_as_the_bound() {
    let app = spawn(Duration::ZERO);
    assert_eq!(app.run(&accounts(SOURCE).to_string()).await.status, 202);
    let zero = app.run(&with_max_age(accounts(SOURCE), "0s")).await;
    assert_eq!(zero.status, 202, "{}", zero.text());
    assert_eq!(zero.json()["reused"], false);
    let long = app.run(&with_max_age(accounts(SOURCE), "30d")).await;
    assert_eq!(long.status, 200, "{}", long.text());
    assert_eq!(long.json()["id"], zero.json()["id"]);
    assert_eq!(app.sim.counters().run, 2);
}

#[actix_rt::test]
async fn an_idempotent_replay_of_a_reuse_answers_the_same_status_and_body() {
    let app = spawn(Duration::ZERO);
    assert_eq!(app.run(&accounts(SOURCE).to_string()).await.status, 202);
    let body = with_max_age(accounts(SOURCE), "15m");
    let headers = [("idempotency-key", "reuse-1")];
    let first = app
        .request_with("POST", "/v1/reports", Some(&body), &headers)
        .await;
    let replay = app
        .request_with("POST", "/v1/reports", Some(&body), &headers)
        .await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(replay.status, 200);
    assert_eq!(
        replay.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(replay.json(), first.json());
    assert_eq!(app.sim.counters().run, 1);
    let metrics = scrape(&app).await;
    let reused = value(&metrics, r#"reportgate_report_runs_total{answer="reused"}"#);
    assert_eq!(reused, Some(1.0), "a replay is not counted again");
}

#[actix_rt::test]
async fn the_openapi_document_describes_max_age_reused_and_the_refused_cancel() {
    let app = spawn(Duration::ZERO);
    let doc = app.request("GET", "/openapi.json", None).await.json();
    for branch in doc["components"]["schemas"]["RunReportRequest"]["oneOf"]
        .as_array()
        .unwrap()
    {
        assert_eq!(branch["properties"]["maxAge"]["type"], "string", "{branch}");
        assert_eq!(branch["properties"]["callback"]["type"], "object");
    }
    let report = &doc["components"]["schemas"]["Report"]["properties"];
    assert!(report["reused"]["description"]
        .as_str()
        .unwrap()
        .contains("maxAge"));
    let run = &doc["paths"]["/v1/reports"]["post"]["responses"];
    assert!(run["200"]["description"]
        .as_str()
        .unwrap()
        .contains("maxAge"));
    let cancel = &doc["paths"]["/v1/reports/{id}/cancel"]["post"]["responses"];
    assert!(cancel["409"]["description"]
        .as_str()
        .unwrap()
        .contains("report_reused"));
}
