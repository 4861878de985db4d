//! `reportgate report`: the real binary against the real gateway and simulator.
use crate::helpers::{spawn_with, token_for, TestApp};
use actix_rt::net::{TcpListener, TcpStream};
use reportgate::auth::settings::{NamedTeamPolicy, TeamPolicy};
use reportgate::simulator::{FaultAction, FaultRule, Op, Outcome, Simulator, SimulatorBuilder};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn finished(rows: u64) -> SimulatorBuilder {
    Simulator::builder()
        .report_duration(Duration::ZERO)
        .csv_rows(rows)
        .rate_limit(0, Duration::from_secs(10))
}

fn cli(url: &str, token: &str) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_reportgate"));
    for (k, _) in std::env::vars() {
        if k.starts_with("REPORTGATE") {
            c.env_remove(k);
        }
    }
    c.env("REPORTGATE_URL", url)
        .env("REPORTGATE_TOKEN", token)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    c
}

const ACCOUNTS: [&str; 6] = [
    "report",
    "run",
    "ACCOUNTS",
    "--arg",
    "application=2c9180835d2e5168015d32f890ca1581",
    "--arg=sourceName=Active Directory",
];

async fn run_cli(app: &TestApp, url: &str, extra: &[&str]) -> Output {
    let mut c = cli(url, &app.token);
    c.args(ACCOUNTS).args(extra);
    actix_rt::time::timeout(Duration::from_secs(60), c.output())
        .await
        .expect("the command ends")
        .expect("the command starts")
}

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("rg-cli-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `run --json --out` succeeded and `out`, alone in its directory, holds exactly the bytes a
/// direct download of the report gives. Returns the report resource it printed.
async fn assert_wrote_the_direct_download(
    app: &TestApp,
    o: &Output,
    out: &Path,
) -> serde_json::Value {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["status"], "SUCCESS");
    let direct = app.download(report["id"].as_str().unwrap(), "csv").await;
    assert_eq!(direct.status, 200);
    assert_eq!(std::fs::read(out).unwrap(), direct.body.to_vec());
    let name = out.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(files_in(out.parent().unwrap()), [name]);
    report
}

#[actix_rt::test]
async fn run_with_out_writes_exactly_the_bytes_of_a_direct_download() {
    let app = spawn_with(finished(20_000), |_| {}).await;
    let dir = temp_dir();
    let out = dir.join("accounts.csv");
    let o = run_cli(
        &app,
        &app.address,
        &["--json", "--out", out.to_str().unwrap()],
    )
    .await;
    assert_wrote_the_direct_download(&app, &o, &out).await;
    // Off a terminal it says nothing but what --json asks for.
    assert_eq!(stderr(&o), "");
}

#[actix_rt::test]
async fn run_with_max_age_downloads_the_identical_report_without_running_it_again() {
    let app = spawn_with(finished(2_000), |_| {}).await;
    let dir = temp_dir();
    let first = dir.join("first.csv");
    let o = run_cli(
        &app,
        &app.address,
        &["--json", "--out", first.to_str().unwrap()],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let dir2 = temp_dir();
    let again = dir2.join("again.csv");
    let o = run_cli(
        &app,
        &app.address,
        &[
            "--json",
            "--max-age",
            "15m",
            "--out",
            again.to_str().unwrap(),
        ],
    )
    .await;
    let report = assert_wrote_the_direct_download(&app, &o, &again).await;
    assert_eq!(report["reused"], true);
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&first).unwrap()
    );
    assert_eq!(app.sim.counters().run, 1);
}

#[actix_rt::test]
async fn run_with_no_wait_prints_the_id_of_the_running_report() {
    let app = spawn_with(
        Simulator::builder().report_duration(Duration::from_secs(3600)),
        |_| {},
    )
    .await;
    let o = run_cli(&app, &app.address, &["--no-wait"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let id = String::from_utf8(o.stdout).unwrap();
    let status = app.status(id.trim()).await;
    assert_eq!(status.status, 200);
    assert_eq!(status.json()["status"], "RUNNING");
}

#[actix_rt::test]
async fn a_failed_report_exits_1_and_writes_no_file() {
    let app = spawn_with(finished(10), |_| {}).await;
    app.sim.set_outcome(Outcome::Failure);
    let dir = temp_dir();
    let out = dir.join("accounts.csv");
    let o = run_cli(&app, &app.address, &["--out", out.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("FAILED"), "{}", stderr(&o));
    assert!(files_in(&dir).is_empty());
}

#[actix_rt::test]
async fn a_refused_run_exits_3_with_the_gateways_message_and_request_id() {
    let app = spawn_with(finished(10), |s| {
        s.policy.teams.push(NamedTeamPolicy {
            team: "identities-only".into(),
            policy: TeamPolicy {
                run: vec!["IDENTITIES".into()],
                ..TeamPolicy::allow_all()
            },
        })
    })
    .await;
    let token = token_for(&app.settings, "bob", "identities-only");
    let mut c = cli(&app.address, &token);
    let o = c.args(ACCOUNTS).output().await.unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("403 forbidden"), "{err}");
    assert!(err.contains("ACCOUNTS"), "{err}");
    let request_id = err.split("request id ").nth(1).expect("a request id");
    assert_eq!(request_id.trim().trim_end_matches(')').len(), 32, "{err}");
    assert_eq!(app.sim.counters().run, 0);
}

#[actix_rt::test]
async fn an_unreachable_gateway_exits_4() {
    let app = spawn_with(finished(10), |_| {}).await;
    let closed = crate::served::ClosedPort::new();
    let url = format!("http://{}", closed.addr());
    let o = run_cli(&app, &url, &[]).await;
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot be reached"), "{}", stderr(&o));
}

#[actix_rt::test]
async fn gateway_trouble_during_a_run_exits_4() {
    let app = spawn_with(finished(10), |_| {}).await;
    app.sim
        .fail_next(Op::Run, FaultAction::Status { status: 500 }, 1);
    let o = run_cli(&app, &app.address, &[]).await;
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("502"), "{}", stderr(&o));
}

/// A loopback TCP proxy in front of the gateway that breaks the first connection once
/// `cut_after` bytes went back to the client, and remembers the requests it carried.
struct CutProxy {
    url: String,
    requests: Arc<Mutex<String>>,
}

async fn cut_proxy(upstream: &str, cut_after: usize) -> CutProxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let target = upstream.trim_start_matches("http://").to_owned();
    let requests = Arc::new(Mutex::new(String::new()));
    let cut_done = Arc::new(AtomicBool::new(false));
    let seen = requests.clone();
    actix_rt::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let mut server = TcpStream::connect(&target).await.unwrap();
            let (seen, cut_done) = (seen.clone(), cut_done.clone());
            actix_rt::spawn(async move {
                let (mut cr, mut cw) = client.split();
                let (mut sr, mut sw) = server.split();
                let up = async {
                    let mut buf = vec![0; 16 * 1024];
                    while let Ok(n @ 1..) = cr.read(&mut buf).await {
                        seen.lock()
                            .unwrap()
                            .push_str(&String::from_utf8_lossy(&buf[..n]));
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                let down = async {
                    let mut buf = vec![0; 16 * 1024];
                    let mut sent = 0;
                    while let Ok(n @ 1..) = sr.read(&mut buf).await {
                        let cutting = !cut_done.load(Ordering::SeqCst) && sent + n > cut_after;
                        let n = if cutting { cut_after - sent } else { n };
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        sent += n;
                        if cutting {
                            cut_done.store(true, Ordering::SeqCst);
                            break;
                        }
                    }
                };
                // Whichever side ends first ends the connection.
                tokio::select! { _ = up => {}, _ = down => {} }
            });
        }
    });
    CutProxy { url, requests }
}

async fn a_cut_download_resumes_and_produces_the_whole_file(stream: bool) {
    let app = spawn_with(finished(20_000), |s| {
        if stream {
            s.cache.file_max_bytes = 1024;
        }
    })
    .await;
    let proxy = cut_proxy(&app.address, 700_000).await;
    let dir = temp_dir();
    let out = dir.join("accounts.csv");
    let o = run_cli(
        &app,
        &proxy.url,
        &["--json", "--out", out.to_str().unwrap()],
    )
    .await;
    assert_wrote_the_direct_download(&app, &o, &out).await;
    assert!(std::fs::metadata(&out).unwrap().len() > 2_000_000);
    // It resumed where the cut left it, rather than starting over.
    let requests = proxy.requests.lock().unwrap().to_ascii_lowercase();
    assert!(requests.contains("range: bytes="), "{requests}");
    assert!(!requests.contains("range: bytes=0-"), "{requests}");
}

#[actix_rt::test]
async fn a_download_cut_mid_transfer_resumes_with_range_and_produces_the_whole_cached_file() {
    a_cut_download_resumes_and_produces_the_whole_file(false).await;
}

#[actix_rt::test]
async fn a_download_cut_mid_transfer_resumes_with_range_and_produces_the_whole_streamed_file() {
    a_cut_download_resumes_and_produces_the_whole_file(true).await;
}

#[actix_rt::test]
async fn a_download_that_keeps_breaking_exits_4_and_leaves_no_partial_file() {
    let app = spawn_with(finished(20_000), |s| s.cache.file_max_bytes = 1024).await;
    // Every upstream file transfer breaks after 64 KiB: the gateway's stream breaks too.
    app.sim.inject(FaultRule {
        op: Some(Op::File),
        action: FaultAction::ResetMidBody,
        times: None,
        probability: None,
    });
    let dir = temp_dir();
    let out = dir.join("accounts.csv");
    let o = run_cli(&app, &app.address, &["--out", out.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(files_in(&dir).is_empty(), "{:?}", files_in(&dir));
}

#[actix_rt::test]
async fn ctrl_c_with_cancel_on_interrupt_cancels_the_report_and_exits_130() {
    let app = spawn_with(
        Simulator::builder().report_duration(Duration::from_secs(3600)),
        |_| {},
    )
    .await;
    let mut c = cli(&app.address, &app.token);
    let child = c
        .args(ACCOUNTS)
        .arg("--cancel-on-interrupt")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded wait until the report is running upstream and the client is polling it.
    for _ in 0..500 {
        if app.sim.counters().result > 0 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(app.sim.counters().run, 1);
    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = actix_rt::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(stderr(&o).contains("cancelled"), "{}", stderr(&o));
    assert_eq!(app.sim.counters().cancel, 1);
}

#[actix_rt::test]
async fn a_search_export_is_saved_under_upstreams_zip_name() {
    let app = spawn_with(finished(193), |_| {}).await;
    let dir = temp_dir();
    let mut c = cli(&app.address, &app.token);
    c.current_dir(&dir).args([
        "report",
        "run",
        "SEARCH_EXPORT",
        "--arg",
        "query=*",
        "--arg",
        "indices=identities,roles",
    ]);
    let o = actix_rt::time::timeout(Duration::from_secs(60), c.output())
        .await
        .expect("the command ends")
        .expect("the command starts");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(files_in(&dir), ["Search Export.zip"]);
    let zip = std::fs::read(dir.join("Search Export.zip")).unwrap();
    assert!(zip.starts_with(b"PK\x03\x04"));
}
