//! The `reportgate` command line: serve, simulate, sandbox, config check.
use clap::{Parser, Subcommand};
use reportgate::clock::Clock;
use reportgate::config::Settings;
use reportgate::domain::ReportType;
use reportgate::sandbox::Sandbox;
use reportgate::simulator::{rows_for_size, ClientKind, Simulator};
use reportgate::startup::Application;
use reportgate::telemetry;
use reportgate::telemetry::LogFormat;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// sysexits' EX_USAGE: the configuration is wrong.
const EX_CONFIG: u8 = 64;
/// sysexits EX_NOINPUT: an input file is missing or unreadable.
const EX_NOINPUT: u8 = 66;

#[derive(Parser)]
#[command(
    name = "reportgate",
    version,
    about = "The internal front door for SailPoint IdentityNow reports",
    long_about = "reportgate holds the tenant's OAuth client credentials and forwards the Reports Data \
Extraction API (run, status, download, cancel) behind a simple /v1 REST API and the upstream's own \
/v3/reports, /reports/v1 and /v2024../v2026/reports paths, with POST /oauth/token for SDK client credentials.\n\nWith no subcommand it runs `serve`."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway from configuration (the default).
    Serve(ConfigArg),
    /// Run the IdentityNow simulator alone (for benchmarks, demos and other tools).
    Simulate(SimulateArgs),
    /// Run the simulator and the gateway together on loopback, ready to try with curl.
    Sandbox(SandboxArgs),
    /// Mint a caller token with the first configured HMAC issuer (for development).
    Token(TokenArgs),
    /// Gateway client credentials for POST /oauth/token (what SDKs use as SAIL_CLIENT_ID/SECRET).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Inspect configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run, follow, download and cancel reports through a gateway (REPORTGATE_URL, REPORTGATE_TOKEN).
    Report(reportgate::client::ReportArgs),
    /// Probe a running gateway's readiness (GET /readyz on its admin listener): exit 0 when
    /// ready, 1 otherwise. For runtimes without HTTP probes (Docker HEALTHCHECK, systemd).
    Healthcheck(HealthcheckArgs),
    /// Work with audit files.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(clap::Args)]
struct ConfigArg {
    /// A YAML file layered over the built-in defaults (environment variables REPORTGATE__SECTION__KEY override both).
    #[arg(long, env = "REPORTGATE_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(clap::Args)]
struct HealthcheckArgs {
    /// The readiness URL (the admin listener, plain http).
    #[arg(long, default_value = "http://127.0.0.1:9464/readyz")]
    url: url::Url,
    /// Give up after this long (connect and answer each).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

#[derive(clap::Args)]
struct TokenArgs {
    /// The caller id (the `sub` claim, or whatever auth.caller_claim names).
    #[arg(long)]
    sub: String,
    /// The caller's team (written to the claim auth.team_claim names).
    #[arg(long)]
    team: Option<String>,
    /// Lifetime, e.g. 1h or 30m.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    ttl: Duration,
    #[command(flatten)]
    config: ConfigArg,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of audit files (oldest first, e.g. rotated files then the
    /// current one); report the first broken record. Exit 0 when intact, 1 when broken
    /// (tampered), 66 when a file is missing or unreadable, 64 when the key file is.
    Verify {
        /// Audit JSONL files, oldest first.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The HMAC key file, when records carry an HMAC.
        #[arg(long)]
        hmac_key_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Make a client id and secret for a team; prints the secret once, and the entry to add
    /// to auth.clients (or to the clients.yaml of the Secret the Helm chart reads). Only
    /// the secret's SHA-256 is ever stored.
    Create {
        /// The team whose caller tokens the client gets.
        #[arg(long)]
        team: String,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load and validate the configuration; print it with secrets redacted (exit 0) or every problem (exit 64).
    Check(ConfigArg),
}

#[derive(clap::Args)]
struct SimulateArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// OAuth client id the simulator accepts.
    #[arg(long, default_value = "sim-client")]
    client_id: String,
    /// OAuth client secret the simulator accepts.
    #[arg(long, default_value = "sim-secret")]
    client_secret: String,
    /// How long reports run, e.g. 3s or 0s.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    report_duration: Duration,
    /// The kind of credential the client is. `pat`: a personal access token; tokens carry
    /// the user (identity_id, user_name) and last 43200 s. `api-client`: an API-management
    /// client; tokens have no user, last 749 s, and cancel answers 403 (upstream's cancel
    /// is userAuth only).
    #[arg(long, value_enum, default_value = "pat")]
    client_kind: ClientKind,
    /// Lifetime of issued tokens (expires_in); default by kind: 43200s (pat), 749s (api-client).
    #[arg(long, value_parser = humantime::parse_duration)]
    token_ttl: Option<Duration>,
    /// Scopes issued tokens carry, comma-separated. Run needs sp:report:manage; result and
    /// file need sp:report:read or sp:report:manage; sp:scopes:all covers both. Others get 403.
    #[arg(long, value_delimiter = ',', default_value = "sp:scopes:all")]
    scopes: Vec<String>,
    /// Escalating back-off, seconds, comma-separated: after 3 answers 429 within 120 s a
    /// client (per client id and API version) is blocked for the next tier; an hour without
    /// a 429 starts over. `off` keeps only the plain 10 s window.
    #[arg(long, default_value = "60,300,600,1200", value_parser = parse_tiers)]
    backoff_tiers: Tiers,
    /// Report types run one at a time, comma-separated (or `none`): starting one again with
    /// the same arguments while it runs returns the running task instead of a new one
    /// (upstream's run: "If non-concurrent task is already running then it returns"; which
    /// types is undocumented, so the default, every type but SEARCH_EXPORT, is an inference).
    #[arg(
        long,
        default_value = "ACCOUNTS,IDENTITIES_DETAILS,IDENTITIES,IDENTITY_PROFILE_IDENTITY_ERROR,ORPHAN_IDENTITIES,UNCORRELATED_ACCOUNTS",
        value_parser = parse_types
    )]
    non_concurrent: Types,
    /// Forget a report this long after it ends (finished or cancelled), e.g. 24h: its result
    /// and file then answer 404, as when upstream purges old reports (it documents no
    /// retention). Default: reports are kept while the simulator runs.
    #[arg(long, value_parser = humantime::parse_duration)]
    retention: Option<Duration>,
    /// Size of every CSV file, e.g. 1048576 for 1 MiB (rows are 128 bytes each).
    #[arg(long)]
    csv_bytes: Option<u64>,
    /// Requests per 10 s per client id and API version; 0 lifts the limit (for throughput benchmarks).
    #[arg(long, default_value_t = 100)]
    rate_limit: u32,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

#[derive(Clone)]
struct Tiers(Vec<u64>);

#[derive(Clone)]
struct Types(Vec<ReportType>);

fn parse_types(s: &str) -> Result<Types, String> {
    if s == "none" || s.is_empty() {
        return Ok(Types(vec![]));
    }
    s.split(',')
        .map(|p| {
            ReportType::parse(p.trim())
                .ok_or_else(|| format!("{p:?} is not a report type (ACCOUNTS, SEARCH_EXPORT, ...)"))
        })
        .collect::<Result<_, _>>()
        .map(Types)
}

fn parse_tiers(s: &str) -> Result<Tiers, String> {
    if s == "off" || s.is_empty() {
        return Ok(Tiers(vec![]));
    }
    s.split(',')
        .map(|p| match p.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{p:?} is not a number of seconds above 0")),
        })
        .collect::<Result<_, _>>()
        .map(Tiers)
}

#[derive(clap::Args)]
struct SandboxArgs {
    /// Where the gateway listens (the simulator takes a free loopback port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the admin listener (metrics, health) listens.
    #[arg(long, default_value = "127.0.0.1:9464")]
    admin_listen: SocketAddr,
}

fn env_map() -> HashMap<String, String> {
    std::env::vars().collect()
}

fn load(config: Option<&std::path::Path>) -> Result<Settings, ExitCode> {
    Settings::load(config, &env_map()).map_err(|problems| {
        eprintln!(
            "reportgate: the configuration has {} problem(s):",
            problems.len()
        );
        for p in problems {
            eprintln!("  {p}");
        }
        ExitCode::from(EX_CONFIG)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli
        .command
        .unwrap_or(Command::Serve(ConfigArg { config: None }));
    match command {
        Command::Report(args) => reportgate::client::main(args),
        Command::Client(ClientCommand::Create { team }) => {
            // Quotes would break the printed YAML and shell lines.
            if team.trim().is_empty() || team.chars().any(|c| c.is_control() || "'\"\\".contains(c))
            {
                eprintln!("reportgate: --team must be a team name (no quotes or backslashes)");
                return ExitCode::from(EX_CONFIG);
            }
            let (client, secret) = reportgate::auth::clients::create(&team);
            println!(
                "{}",
                reportgate::auth::clients::instructions(&client, &secret)
            );
            ExitCode::SUCCESS
        }
        Command::Config(ConfigCommand::Check(arg)) => match load(arg.config.as_deref()) {
            Ok(s) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&s.redacted()).expect("json")
                );
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Audit(AuditCommand::Verify {
            files,
            hmac_key_file,
        }) => {
            let key = match hmac_key_file.map(std::fs::read_to_string).transpose() {
                Ok(k) => k.map(|k| k.trim_end_matches(['\r', '\n']).to_owned()),
                Err(e) => {
                    eprintln!("reportgate: cannot read the HMAC key: {e}");
                    return ExitCode::from(EX_CONFIG);
                }
            };
            match reportgate::audit::verify::verify(&files, key.as_deref().map(str::as_bytes)) {
                Ok(r) => {
                    if let Some(p) = r.starts_after {
                        println!(
                            "note: the first record continues an earlier chain (prevHash {p})"
                        );
                    }
                    for (f, l) in &r.torn {
                        println!("note: {}:{l} is a torn write (a crash mid-line); it was never part of the chain", f.display());
                    }
                    println!("intact: {} records", r.records);
                    ExitCode::SUCCESS
                }
                Err(b) if b.kind == reportgate::audit::verify::Failure::Unreadable => {
                    eprintln!("reportgate: {}: {}", b.file.display(), b.reason);
                    ExitCode::from(EX_NOINPUT)
                }
                Err(b) => {
                    println!(
                        "BROKEN at {}:{} (record {}): {}",
                        b.file.display(),
                        b.line,
                        b.record,
                        b.reason
                    );
                    ExitCode::FAILURE
                }
            }
        }
        Command::Healthcheck(args) => {
            match reportgate::healthcheck::status(&args.url, args.timeout) {
                Ok(code) if (200..300).contains(&code) => ExitCode::SUCCESS,
                Ok(code) => {
                    eprintln!("reportgate: {} answered {code}", args.url);
                    ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("reportgate: {}: {e}", args.url);
                    ExitCode::FAILURE
                }
            }
        }
        Command::Token(args) => {
            let settings = match load(args.config.config.as_deref()) {
                Ok(s) => s,
                Err(code) => return code,
            };
            match reportgate::auth::mint::mint(
                &settings.auth,
                &args.sub,
                args.team.as_deref(),
                args.ttl,
            ) {
                Ok(t) => {
                    println!("{t}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("reportgate: {e}");
                    ExitCode::from(EX_CONFIG)
                }
            }
        }
        Command::Serve(arg) => {
            let settings = match load(arg.config.as_deref()) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let otlp = settings
                .log
                .otlp_endpoint
                .as_deref()
                .map(|e| (e, settings.log.service_name.as_str()));
            telemetry::init(settings.log.format, &settings.log.level, otlp);
            run(async move {
                let app = Application::build(&settings, Clock::default())?;
                tracing::info!(port = app.port(), "reportgate listening");
                app.run_until_stopped(true).await?;
                Ok(())
            })
        }
        Command::Simulate(args) => {
            telemetry::init(LogFormat::Pretty, "info", None);
            run(async move {
                let mut b = Simulator::builder()
                    .listen(args.listen)
                    .credentials(&args.client_id, &args.client_secret)
                    .report_duration(args.report_duration)
                    .client_kind(args.client_kind)
                    .scopes(&args.scopes.iter().map(String::as_str).collect::<Vec<_>>())
                    .backoff_tiers(&args.backoff_tiers.0)
                    .non_concurrent(&args.non_concurrent.0)
                    .rate_limit(args.rate_limit, Duration::from_secs(10))
                    .workers(args.workers);
                if let Some(ttl) = args.token_ttl {
                    b = b.token_ttl(ttl);
                }
                if let Some(keep) = args.retention {
                    b = b.retention(keep);
                }
                if let Some(bytes) = args.csv_bytes {
                    b = b.csv_rows(rows_for_size(bytes));
                }
                let sim = b.start()?;
                println!("IdentityNow simulator listening on {}", sim.base_url());
                println!(
                    "  client_id={} client_secret={} kind={:?} tokens last {}s",
                    args.client_id,
                    args.client_secret,
                    args.client_kind,
                    sim.config().token_lifetime().as_secs()
                );
                println!(
                    "  admin: GET/POST/DELETE {}/__sim/faults, GET {}/__sim/counters",
                    sim.base_url(),
                    sim.base_url()
                );
                std::future::pending::<()>().await;
                Ok(())
            })
        }
        Command::Sandbox(args) => {
            telemetry::init(LogFormat::Pretty, "info", None);
            run(async move {
                let sandbox = Sandbox::start(args.listen, args.admin_listen)?;
                println!("{}", sandbox.banner());
                sandbox.gateway.run_until_stopped(true).await?;
                Ok(())
            })
        }
    }
}

fn run(fut: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    match actix_web::rt::System::new().block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reportgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}
