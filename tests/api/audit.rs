//! The audit trail: one event per request with the right fields, denied and unauthenticated
//! attempts, no secrets, fail-closed blocking, tamper evidence and a crash.
use crate::helpers::{
    settings_for, spawn_app, spawn_gateway, spawn_with, token_for, TestApp, TEST_HMAC_SECRET,
};
use reportgate::simulator::Simulator;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn by_request(records: &[Value], request_id: &str) -> Vec<Value> {
    records
        .iter()
        .filter(|r| r["requestId"] == request_id)
        .cloned()
        .collect()
}

#[actix_rt::test]
async fn every_action_produces_one_event_with_the_right_fields() {
    let app = spawn_with(Simulator::builder().report_duration(Duration::ZERO), |_| {}).await;
    let run = app
        .request_with(
            "POST",
            "/v1/reports",
            Some(r#"{"type":"ACCOUNTS","arguments":{"application":"src-1","sourceName":"HR"}}"#),
            &[("user-agent", "audit-test/1.0")],
        )
        .await;
    let id = run.json()["id"].as_str().unwrap().to_owned();
    let upstream_id = id.split_once('-').unwrap().0.to_owned();
    let status = app.status(&id).await;
    let file = app.download(&id, "csv").await;
    let cancel = app.cancel(&id).await;
    let records = app.audit_records(5).await;

    let ev = by_request(&records, &run.header("x-request-id").unwrap());
    assert_eq!(ev.len(), 1, "{records:?}");
    let e = &ev[0];
    assert_eq!(
        (
            e["action"].as_str(),
            e["api"].as_str(),
            e["outcome"].as_str()
        ),
        (Some("run"), Some("v1"), Some("allowed"))
    );
    assert_eq!(
        (e["caller"].as_str(), e["team"].as_str()),
        (Some("alice"), Some("test-team"))
    );
    assert_eq!(e["status"], 202);
    assert_eq!(e["upstreamStatus"], 200);
    assert_eq!(e["reportId"], json!(id));
    assert_eq!(e["upstreamId"], json!(upstream_id));
    assert_eq!(e["reportType"], "ACCOUNTS");
    assert_eq!(
        e["arguments"],
        json!({"application": "src-1", "sourceName": "HR"})
    );
    assert_eq!(e["clientAddr"], "127.0.0.1");
    assert_eq!(e["userAgent"], "audit-test/1.0");
    assert!(e["time"].as_str().unwrap().ends_with('Z'));
    assert!(e["durationMs"].is_u64());

    let ev = by_request(&records, &status.header("x-request-id").unwrap());
    assert_eq!(
        (
            ev.len(),
            ev[0]["action"].as_str(),
            ev[0]["upstreamId"].as_str()
        ),
        (1, Some("status"), Some(upstream_id.as_str()))
    );
    let ev = by_request(&records, &cancel.header("x-request-id").unwrap());
    assert_eq!(
        (ev.len(), ev[0]["action"].as_str(), ev[0]["status"].as_u64()),
        (1, Some("cancel"), Some(204))
    );

    let ev = by_request(
        &app.audit_records(6).await,
        &file.header("x-request-id").unwrap(),
    );
    assert_eq!(ev.len(), 2, "a download has a start and an end record");
    let end = ev.iter().find(|e| e["phase"] == "end").unwrap();
    assert_eq!(end["bytes"], json!(file.body.len()));
    assert_eq!(end["completed"], true);
}

#[actix_rt::test]
async fn denied_and_unauthenticated_attempts_are_recorded() {
    let sim = Simulator::builder()
        .report_duration(Duration::ZERO)
        .start()
        .unwrap();
    let mut settings = settings_for(&sim);
    settings.audit.anonymous_interval = Duration::from_millis(100);
    settings
        .policy
        .teams
        .push(reportgate::auth::settings::NamedTeamPolicy {
            team: "readers".into(),
            policy: reportgate::auth::settings::TeamPolicy {
                run: vec![],
                raw_ids: false,
                ..reportgate::auth::settings::TeamPolicy::allow_all()
            },
        });
    let app = spawn_gateway(sim, settings);
    let id = app.run_accounts().await;
    let reader = token_for(&app.settings, "rob", "readers");
    let forbidden = app
        .request_as(
            &reader,
            "POST",
            "/v1/reports",
            Some(r#"{"type":"IDENTITIES"}"#),
        )
        .await;
    let foreign = app
        .request_as(&reader, "GET", &format!("/v1/reports/{id}"), None)
        .await;
    let anonymous = app
        .raw_request("GET", &format!("/v1/reports/{id}"), None, &[])
        .await;
    assert_eq!(anonymous.status, 401);
    let records = app.audit_records(4).await;
    let one = |r: &crate::helpers::Response| {
        by_request(&records, &r.header("x-request-id").unwrap()).remove(0)
    };
    let f = one(&forbidden);
    assert_eq!(
        (
            f["outcome"].as_str(),
            f["status"].as_u64(),
            f["caller"].as_str()
        ),
        (Some("denied"), Some(403), Some("rob"))
    );
    assert_eq!(f["reportType"], "IDENTITIES");
    let g = one(&foreign);
    assert_eq!(
        (g["outcome"].as_str(), g["status"].as_u64()),
        (Some("denied"), Some(404)),
        "probing someone's report is a denial"
    );
    // Anonymous refusals are recorded in aggregate: per address and reason, with a count.
    let a = records
        .iter()
        .find(|r| r["action"] == "anonymous_refusals")
        .expect("the aggregate record of the anonymous attempt");
    assert_eq!(
        (
            a["outcome"].as_str(),
            a["caller"].as_str(),
            a["status"].as_u64(),
            a["reason"].as_str(),
            a["count"].as_u64()
        ),
        (
            Some("unauthenticated"),
            Some("anonymous"),
            Some(401),
            Some("no_token"),
            Some(1)
        )
    );
}

#[actix_rt::test]
async fn no_record_holds_a_token_or_a_secret() {
    let app = spawn_app().await;
    let id = app.run_accounts().await;
    app.status(&id).await;
    app.download(&id, "csv").await;
    app.raw_request(
        "GET",
        "/v1/reports/x",
        None,
        &[("authorization", "Bearer forged.token.value")],
    )
    .await;
    app.audit_records(5).await;
    let raw = std::fs::read_to_string(app.settings.audit.file.as_ref().unwrap()).unwrap();
    for secret in [
        app.token.as_str(),
        "Bearer",
        "forged.token",
        TEST_HMAC_SECRET,
        "sim-secret",
        "eyJ",
    ] {
        assert!(!raw.contains(secret), "{secret} found in the audit trail");
    }
}

#[actix_rt::test]
async fn a_blocking_action_with_an_unwritable_audit_file_gets_503_and_nothing_goes_upstream() {
    let sim = Simulator::builder().start().unwrap();
    let mut settings = settings_for(&sim);
    // A parent that is a file: no one, root included, can create this.
    settings.audit.file = Some(PathBuf::from("/dev/null/audit.jsonl"));
    let app = spawn_gateway(sim, settings);
    let r = app.run(r#"{"type":"IDENTITIES"}"#).await;
    crate::helpers::assert_error(&r, 503, "audit_unavailable");
    assert_eq!(
        app.raw_request("GET", "/readyz", None, &[]).await.status,
        503
    );
    assert_eq!(app.sim.counters().api_calls(), 0);
    assert_eq!(app.sim.counters().token_requests, 0);
}

#[actix_rt::test]
async fn a_download_cut_off_by_the_caller_is_recorded_as_incomplete() {
    let app = spawn_with(
        Simulator::builder()
            .report_duration(Duration::ZERO)
            .csv_rows(2_000_000),
        |s| s.cache.file_max_bytes = 1024,
    )
    .await;
    let id = app.run_accounts().await;
    {
        let mut resp = app
            .http
            .get(format!("{}/v1/reports/{id}/file?format=csv", app.address))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        use futures_util::StreamExt;
        let first = resp.next().await.unwrap().unwrap();
        assert!(!first.is_empty());
    } // dropped mid-transfer
    let end = app.audit_end_record().await;
    assert_eq!(end["completed"], false);
    assert!(end["bytes"].as_u64().unwrap() < reportgate::simulator::csv_len(2_000_000));
}

fn verify(files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_reportgate"))
        .args(["audit", "verify"])
        .args(files)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The rotated files (oldest first) and then the current one.
fn audit_set(current: &Path) -> Vec<PathBuf> {
    let dir = current.parent().unwrap();
    let stem = current.file_name().unwrap().to_string_lossy().into_owned();
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{stem}."))
        })
        .collect();
    rotated.sort();
    rotated.push(current.to_owned());
    rotated
}

async fn app_with_records(n: usize) -> (TestApp, Vec<PathBuf>) {
    let app = spawn_with(Simulator::builder().report_duration(Duration::ZERO), |s| {
        s.audit.max_file_bytes = 4096
    })
    .await;
    for _ in 0..n {
        app.run(r#"{"type":"IDENTITIES"}"#).await;
    }
    app.audit_records(n).await;
    let files = audit_set(app.settings.audit.file.as_ref().unwrap());
    (app, files)
}

#[actix_rt::test]
async fn audit_verify_passes_an_intact_rotated_set_and_finds_every_kind_of_tampering() {
    let (_app, files) = app_with_records(30).await;
    assert!(files.len() >= 3, "rotation happened: {files:?}");
    let (ok, out) = verify(&files);
    assert!(ok, "{out}");
    assert!(out.contains("intact: 30 records"), "{out}");

    let current = files.last().unwrap();
    let lines: Vec<String> = std::fs::read_to_string(current)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(lines.len() >= 3);
    let tampered = |name: &str, lines: Vec<String>| {
        let p = current.with_extension(format!("tampered-{name}"));
        std::fs::write(&p, lines.join("\n") + "\n").unwrap();
        let mut set = files[..files.len() - 1].to_vec();
        set.push(p.clone());
        let result = verify(&set);
        std::fs::remove_file(p).ok();
        result
    };
    let mut edited = lines.clone();
    edited[1] = edited[1].replace("\"status\":202", "\"status\":200");
    let (ok, out) = tampered("edited", edited);
    assert!(
        !ok && out.contains("edited") && out.contains(":2 "),
        "{out}"
    );

    let mut deleted = lines.clone();
    deleted.remove(1);
    let (ok, out) = tampered("deleted", deleted);
    assert!(!ok && out.contains("prevHash"), "{out}");

    let mut inserted = lines.clone();
    inserted.insert(1, lines[0].clone());
    let (ok, out) = tampered("inserted", inserted);
    assert!(!ok, "{out}");

    let mut reordered = lines.clone();
    reordered.swap(1, 2);
    let (ok, out) = tampered("reordered", reordered);
    assert!(!ok && out.contains("BROKEN"), "{out}");
}

#[actix_rt::test]
async fn audit_verify_tells_a_missing_file_from_a_tampered_one() {
    let (_app, files) = app_with_records(3).await;
    let current = files.last().unwrap();
    let missing = current.with_extension("missing");
    let run = |files: &[PathBuf]| {
        Command::new(env!("CARGO_BIN_EXE_reportgate"))
            .args(["audit", "verify"])
            .args(files)
            .output()
            .unwrap()
    };

    // A missing file, alone or in a set: exit 66 naming it on stderr, no BROKEN verdict.
    for set in [
        vec![missing.clone()],
        vec![missing.clone(), current.clone()],
    ] {
        let out = run(&set);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(66), "{stdout} {stderr}");
        assert!(
            stderr.contains(&*missing.to_string_lossy()) && stderr.contains("cannot read"),
            "{stderr}"
        );
        assert!(!stdout.contains("BROKEN"), "{stdout}");
    }

    // The same file edited: exit 1, BROKEN.
    let text = std::fs::read_to_string(current).unwrap();
    let edited = current.with_extension("edited");
    std::fs::write(
        &edited,
        text.replacen("\"status\":202", "\"status\":200", 1),
    )
    .unwrap();
    let out = run(std::slice::from_ref(&edited));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("BROKEN"));
}

/// The gateway under load is killed with SIGKILL: every blocking request whose caller got a
/// response has its record on disk, and the chain up to the crash verifies.
#[actix_rt::test]
async fn after_a_sigkill_under_load_every_answered_blocking_request_is_on_disk() {
    let sim = Simulator::builder()
        .report_duration(Duration::ZERO)
        .rate_limit(0, Duration::from_secs(10))
        .start()
        .unwrap();
    let settings = settings_for(&sim);
    let dir = std::env::temp_dir().join(format!("rg-crash-{}", crate::helpers::unknown_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let audit_file = dir.join("audit.jsonl");
    let config = dir.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            "server: {{listen: \"127.0.0.1:0\"}}\ntenant: {{base_url: \"{}\", client_id: sim-client, client_secret: sim-secret}}\n\
             log: {{level: info}}\nauth:\n  issuers: [{{issuer: \"{}\", audiences: [reportgate], hmac_secret: \"{}\"}}]\n  id_signing_key: 0123456789abcdef0123456789abcdef\n\
             limits: {{upstream_requests: 1000000}}\npolicy:\n  teams: [{{team: test-team, run: ['*'], rate: 100000, burst: 100000}}]\n\
             audit: {{stdout: false, file: \"{}\"}}\nadmin: {{listen: null}}\n",
            sim.base_url(),
            crate::helpers::TEST_ISSUER,
            TEST_HMAC_SECRET,
            audit_file.display()
        ),
    )
    .unwrap();
    let served = crate::served::Served::start(
        Command::new(env!("CARGO_BIN_EXE_reportgate"))
            .args(["serve", "--config"])
            .arg(&config),
    );
    let base = served.base_url();
    let http = awc::Client::builder()
        .connector(awc::Connector::new().limit(0))
        .timeout(Duration::from_secs(5))
        .finish();
    let token = token_for(&settings, "crash", "test-team");
    let answered = std::cell::RefCell::new(Vec::<String>::new());
    let load = futures_util::future::join_all((0..400).map(|i| {
        let (http, base, token, answered) = (&http, &base, &token, &answered);
        async move {
            actix_rt::time::sleep(Duration::from_millis(i as u64 * 2)).await;
            let sent = http
                .post(format!("{base}/v1/reports"))
                .bearer_auth(token)
                .send_body(r#"{"type":"SEARCH_EXPORT","arguments":{"query":"*"}}"#)
                .await;
            if let Ok(r) = sent {
                if let Some(id) = r.headers().get("x-request-id") {
                    answered.borrow_mut().push(id.to_str().unwrap().to_owned());
                }
            }
        }
    }));
    let killer = async {
        while answered.borrow().len() < 100 {
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        }
        served.kill(); // SIGKILL
    };
    futures_util::join!(load, killer);

    let answered = answered.into_inner();
    assert!(answered.len() >= 100);
    let raw = std::fs::read_to_string(&audit_file).unwrap();
    for id in &answered {
        assert!(
            raw.contains(&format!("\"requestId\":\"{id}\"")),
            "answered request {id} has no record"
        );
    }
    let (ok, out) = verify(std::slice::from_ref(&audit_file));
    assert!(ok, "{out}");
    std::fs::remove_dir_all(dir).ok();
}

#[actix_rt::test]
async fn batch_records_dropped_from_a_full_backlog_are_counted_in_the_metrics() {
    let sim = Simulator::builder().start().unwrap();
    let mut settings = settings_for(&sim);
    // Unwritable: every record stays in the backlog, which holds 2.
    settings.audit.file = Some(PathBuf::from("/dev/null/audit.jsonl"));
    settings.audit.max_backlog = 2;
    let app = spawn_gateway(sim, settings);
    let before = crate::helpers::scrape(&app).await;
    assert_eq!(
        crate::helpers::value(&before, "reportgate_audit_dropped_records_total"),
        Some(0.0)
    );
    // Status reads are batch records: answered, queued, then dropped past the backlog.
    for _ in 0..6 {
        assert_eq!(app.status(&crate::helpers::unknown_id()).await.status, 404);
    }
    let mut dropped = 0.0;
    for _ in 0..100 {
        let text = crate::helpers::scrape(&app).await;
        dropped = crate::helpers::value(&text, "reportgate_audit_dropped_records_total").unwrap();
        if dropped >= 4.0 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(dropped, 4.0, "6 records, 2 kept");
}
