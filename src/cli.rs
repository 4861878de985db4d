//! The binary's command line: subcommands and their arguments (clap). `main` acts on them.
use clap::{Parser, Subcommand};
use reportgate::domain::ReportType;
use reportgate::simulator::ClientKind;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "reportgate",
    version,
    about = "The internal front door for SailPoint IdentityNow reports",
    long_about = "reportgate holds the tenant's OAuth client credentials and forwards the Reports Data \
Extraction API (run, status, download, cancel) behind a simple /v1 REST API and the upstream's own \
/v3/reports, /reports/v1 and /v2024../v2026/reports paths, with POST /oauth/token for SDK client credentials.\n\nWith no subcommand it runs `serve`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
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
pub struct ConfigArg {
    /// A YAML file layered over the built-in defaults (environment variables REPORTGATE__SECTION__KEY override both).
    #[arg(long, env = "REPORTGATE_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct HealthcheckArgs {
    /// The readiness URL (the admin listener, plain http).
    #[arg(long, default_value = "http://127.0.0.1:9464/readyz")]
    pub url: url::Url,
    /// Give up after this long (connect and answer each).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

#[derive(clap::Args)]
pub struct TokenArgs {
    /// The caller id (the `sub` claim, or whatever auth.caller_claim names).
    #[arg(long)]
    pub sub: String,
    /// The caller's team (written to the claim auth.team_claim names).
    #[arg(long)]
    pub team: Option<String>,
    /// Lifetime, e.g. 1h or 30m.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Subcommand)]
pub enum AuditCommand {
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
pub enum ClientCommand {
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
pub enum ConfigCommand {
    /// Load and validate the configuration; print it with secrets redacted (exit 0) or every problem (exit 64).
    Check(ConfigArg),
}

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// OAuth client id the simulator accepts.
    #[arg(long, default_value = "sim-client")]
    pub client_id: String,
    /// OAuth client secret the simulator accepts.
    #[arg(long, default_value = "sim-secret")]
    pub client_secret: String,
    /// How long reports run, e.g. 3s or 0s.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub report_duration: Duration,
    /// The kind of credential the client is. `pat`: a personal access token; tokens carry
    /// the user (identity_id, user_name) and last 43200 s. `api-client`: an API-management
    /// client; tokens have no user, last 749 s, and cancel answers 403 (upstream's cancel
    /// is userAuth only).
    #[arg(long, value_enum, default_value = "pat")]
    pub client_kind: ClientKind,
    /// Lifetime of issued tokens (expires_in); default by kind: 43200s (pat), 749s (api-client).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub token_ttl: Option<Duration>,
    /// Scopes issued tokens carry, comma-separated. Run needs sp:report:manage; result and
    /// file need sp:report:read or sp:report:manage; sp:scopes:all covers both. Others get 403.
    #[arg(long, value_delimiter = ',', default_value = "sp:scopes:all")]
    pub scopes: Vec<String>,
    /// Escalating back-off, seconds, comma-separated: after 3 answers 429 within 120 s a
    /// client (per client id and API version) is blocked for the next tier; an hour without
    /// a 429 starts over. `off` keeps only the plain 10 s window.
    #[arg(long, default_value = "60,300,600,1200", value_parser = parse_tiers)]
    pub backoff_tiers: Tiers,
    /// Report types run one at a time, comma-separated (or `none`): starting one again with
    /// the same arguments while it runs returns the running task instead of a new one
    /// (upstream's run: "If non-concurrent task is already running then it returns"; which
    /// types is undocumented, so the default, every type but SEARCH_EXPORT, is an inference).
    #[arg(
        long,
        default_value = "ACCOUNTS,IDENTITIES_DETAILS,IDENTITIES,IDENTITY_PROFILE_IDENTITY_ERROR,ORPHAN_IDENTITIES,UNCORRELATED_ACCOUNTS",
        value_parser = parse_types
    )]
    pub non_concurrent: Types,
    /// Forget a report this long after it ends (finished or cancelled), e.g. 24h: its result
    /// and file then answer 404, as when upstream purges old reports (it documents no
    /// retention). Default: reports are kept while the simulator runs.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub retention: Option<Duration>,
    /// Size of every CSV file, e.g. 1048576 for 1 MiB (rows are 128 bytes each).
    #[arg(long)]
    pub csv_bytes: Option<u64>,
    /// Requests per 10 s per client id and API version; 0 lifts the limit (for throughput benchmarks).
    #[arg(long, default_value_t = 100)]
    pub rate_limit: u32,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

#[derive(Clone)]
pub struct Tiers(pub Vec<u64>);

#[derive(Clone)]
pub struct Types(pub Vec<ReportType>);

pub fn parse_types(s: &str) -> Result<Types, String> {
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

pub fn parse_tiers(s: &str) -> Result<Tiers, String> {
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
pub struct SandboxArgs {
    /// Where the gateway listens (the simulator takes a free loopback port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the admin listener (metrics, health) listens.
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub admin_listen: SocketAddr,
}
