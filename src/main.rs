//! The `reportgate` command line: serve, simulate, sandbox, config check.
mod cli;

use clap::Parser;
use cli::{AuditCommand, Cli, ClientCommand, Command, ConfigArg, ConfigCommand};
use reportgate::clock::Clock;
use reportgate::config::Settings;
use reportgate::sandbox::Sandbox;
use reportgate::simulator::{rows_for_size, Simulator};
use reportgate::startup::Application;
use reportgate::telemetry;
use reportgate::telemetry::LogFormat;
use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

/// sysexits' EX_USAGE: the configuration is wrong.
const EX_CONFIG: u8 = 64;
/// sysexits EX_NOINPUT: an input file is missing or unreadable.
const EX_NOINPUT: u8 = 66;

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
            // Kept until the server has stopped: dropping it flushes the last spans.
            let _telemetry = telemetry::init(
                settings.log.format,
                &settings.log.level,
                Some(&settings.log),
            );
            run(async move {
                let app = Application::build(&settings, Clock::default())?;
                tracing::info!(
                    port = app.port(),
                    admin_port = app.admin_port(),
                    "reportgate listening"
                );
                app.run_until_stopped(true).await?;
                Ok(())
            })
        }
        Command::Simulate(args) => {
            let _telemetry = telemetry::init(LogFormat::Pretty, "info", None);
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
            let _telemetry = telemetry::init(LogFormat::Pretty, "info", None);
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
