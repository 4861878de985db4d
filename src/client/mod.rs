//! `reportgate report`: the gateway's client for people and scripts (run, wait, download,
//! status, cancel), so nobody hand-writes run/poll/download loops.
//!
//! Exit codes (also in the README):
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | done (report finished with files and, for `run`/`download`, the file is written) |
//! | 1    | the report finished without files (FAILED or CANCELLED) |
//! | 2    | usage: bad flags or arguments, no URL or token |
//! | 3    | refused by the gateway (a 4xx other than 429: invalid, unauthenticated, forbidden, not found, not finished) |
//! | 4    | gateway or upstream trouble: unreachable, 5xx, 429, broken download after retries |
//! | 5    | local trouble: the file cannot be written |
//! | 130  | interrupted (Ctrl-C) |
mod args;
mod download;
mod gateway;
mod progress;

use crate::domain::ReportId;
use gateway::{Gateway, Problem};
use progress::Progress;
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Why a command did not succeed; each maps to one exit code.
#[derive(Debug)]
pub enum Failure {
    ReportFailed { id: String, status: String },
    Usage(String),
    Refused(Problem),
    Trouble(Problem),
    Local(String),
    Interrupted(String),
}

impl Failure {
    pub fn code(&self) -> u8 {
        match self {
            Self::ReportFailed { .. } => 1,
            Self::Usage(_) => 2,
            Self::Refused(_) => 3,
            Self::Trouble(_) => 4,
            Self::Local(_) => 5,
            Self::Interrupted(_) => 130,
        }
    }

    fn message(&self) -> String {
        match self {
            Self::ReportFailed { id, status } => {
                format!("report {id} finished with status {status} and has no file")
            }
            Self::Usage(m) | Self::Local(m) | Self::Interrupted(m) => m.clone(),
            Self::Refused(p) | Self::Trouble(p) => p.to_string(),
        }
    }
}

#[derive(clap::Args)]
pub struct Connection {
    /// The gateway's base URL, e.g. https://reportgate.internal.
    #[arg(long, env = "REPORTGATE_URL", global = true)]
    url: Option<String>,
    /// A bearer token for the gateway.
    #[arg(long, env = "REPORTGATE_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// No progress on stderr (it is off anyway when stderr is not a terminal).
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Print the report resource as JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: ReportCommand,
}

#[derive(clap::Subcommand)]
enum ReportCommand {
    /// Run a report, wait for it (long-polling) and download its file.
    Run(RunArgs),
    /// Show a report's status.
    Status {
        id: String,
        /// Wait up to this long for the report to finish, e.g. 30s.
        #[arg(long, value_parser = humantime::parse_duration)]
        wait: Option<Duration>,
    },
    /// Download a finished report's file.
    Download(FileArgs),
    /// Cancel a report.
    Cancel { id: String },
}

#[derive(clap::Args)]
struct FileArgs {
    id: String,
    #[command(flatten)]
    file: FileChoice,
}

#[derive(clap::Args)]
struct FileChoice {
    /// csv or pdf.
    #[arg(long, default_value = "csv", value_parser = ["csv", "pdf"])]
    format: String,
    /// Where to write the file (default: the gateway's file name in the current directory).
    #[arg(long, short)]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The report type, e.g. ACCOUNTS or SEARCH_EXPORT.
    #[arg(value_name = "TYPE")]
    report_type: String,
    /// An argument as key=value (arrays: comma-separated or repeated) or key:=JSON.
    #[arg(long = "arg", value_name = "KEY=VALUE")]
    args: Vec<String>,
    /// Start the report and print its id without waiting.
    #[arg(long)]
    no_wait: bool,
    /// On Ctrl-C, cancel the report without asking.
    #[arg(long)]
    cancel_on_interrupt: bool,
    /// Take an identical report that finished within this age (e.g. 15m) instead of
    /// running one, or join an identical one still running (the gateway's `maxAge`).
    #[arg(long, value_name = "AGE")]
    max_age: Option<String>,
    #[command(flatten)]
    file: FileChoice,
}

/// Runs `reportgate report …` to completion.
pub fn main(args: ReportArgs) -> ExitCode {
    let outcome = actix_rt::System::new().block_on(dispatch(args));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("reportgate: {}", f.message());
            ExitCode::from(f.code())
        }
    }
}

async fn dispatch(args: ReportArgs) -> Result<(), Failure> {
    let conn = args.conn;
    let url = conn
        .url
        .ok_or_else(|| Failure::Usage("no gateway URL: set REPORTGATE_URL or --url".into()))?;
    let token = conn
        .token
        .ok_or_else(|| Failure::Usage("no token: set REPORTGATE_TOKEN or --token".into()))?;
    let gw = Gateway::new(&url, &token)?;
    let progress = Progress::new(conn.quiet);
    match args.command {
        ReportCommand::Run(run) => run_report(&gw, run, conn.json, &progress).await,
        ReportCommand::Status { id, wait } => {
            let id = report_id(&id)?;
            let report = gw.status(&id, wait.unwrap_or_default()).await?;
            if conn.json {
                print_json(&report);
            } else {
                println!("{} {}", id, report["status"].as_str().unwrap_or("UNKNOWN"));
            }
            Ok(())
        }
        ReportCommand::Download(d) => {
            let id = report_id(&d.id)?;
            fetch(&gw, &id, &d.file, &progress).await?;
            Ok(())
        }
        ReportCommand::Cancel { id } => gw.cancel(&report_id(&id)?).await,
    }
}

fn report_id(raw: &str) -> Result<ReportId, Failure> {
    ReportId::parse(raw).map_err(|m| Failure::Usage(format!("{raw}: {m}")))
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).expect("json"));
}

async fn fetch(
    gw: &Gateway,
    id: &ReportId,
    file: &FileChoice,
    progress: &Progress,
) -> Result<(), Failure> {
    let (path, bytes) =
        download::download(gw, id, &file.format, file.out.as_deref(), progress).await?;
    progress.clear();
    if progress.shown() {
        eprintln!("saved {} ({bytes} bytes)", path.display());
    }
    Ok(())
}

/// How long each status request holds (the gateway bounds it by its `max_long_poll`).
const LONG_POLL: Duration = Duration::from_secs(60);

async fn run_report(
    gw: &Gateway,
    run: RunArgs,
    json_out: bool,
    progress: &Progress,
) -> Result<(), Failure> {
    let arguments = args::arguments(&run.args).map_err(Failure::Usage)?;
    let mut body = json!({"type": run.report_type, "arguments": arguments});
    if let Some(age) = &run.max_age {
        body["maxAge"] = json!(age);
    }
    let started = gw.run(&body).await?;
    if started["reused"] == true {
        progress.note(&match started["completedAt"].as_str() {
            Some(at) => format!("reused an identical report completed at {at}"),
            None => "joined an identical report still running".to_owned(),
        });
    }
    let id = started["id"]
        .as_str()
        .and_then(|s| ReportId::parse(s).ok())
        .ok_or_else(|| Failure::Trouble(Problem::local("the gateway's answer has no report id")))?;
    if run.no_wait {
        if json_out {
            print_json(&started);
        } else {
            println!("{id}");
        }
        return Ok(());
    }
    let work = async {
        let mut report = started.clone();
        loop {
            let status = report["status"].as_str().unwrap_or("UNKNOWN").to_owned();
            progress.waiting(id.as_str(), &status);
            match status.as_str() {
                "SUCCESS" | "WARNING" => break,
                "FAILED" | "CANCELLED" => {
                    progress.clear();
                    if json_out {
                        print_json(&report);
                    }
                    return Err(Failure::ReportFailed {
                        id: id.to_string(),
                        status,
                    });
                }
                _ => report = gw.status(&id, LONG_POLL).await?,
            }
        }
        fetch(gw, &id, &run.file, progress).await?;
        if json_out {
            print_json(&report);
        }
        Ok(())
    };
    tokio::select! {
        done = work => done,
        _ = tokio::signal::ctrl_c() => {
            progress.clear();
            interrupted(gw, &id, run.cancel_on_interrupt).await
        }
    }
}

/// Ctrl-C while a report runs: cancel it if asked to (or if the person at the terminal
/// says so), else leave it running and say how to come back to it.
async fn interrupted(gw: &Gateway, id: &ReportId, cancel: bool) -> Result<(), Failure> {
    let cancel = cancel
        || (std::io::stdin().is_terminal()
            && {
                eprint!("reportgate: interrupted. Cancel report {id} on the gateway? [y/N] ");
                let answer = tokio::task::spawn_blocking(|| {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).map(|_| line)
                })
                .await;
                matches!(answer, Ok(Ok(l)) if l.trim().eq_ignore_ascii_case("y") || l.trim().eq_ignore_ascii_case("yes"))
            });
    if cancel {
        gw.cancel(id).await?;
        return Err(Failure::Interrupted(format!(
            "interrupted; report {id} cancelled"
        )));
    }
    Err(Failure::Interrupted(format!(
        "interrupted; report {id} is still running (reportgate report status {id})"
    )))
}
