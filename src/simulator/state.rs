//! The simulator's memory: reports and their lifecycle, issued tokens, the sliding
//! rate limit, injected faults and counters.
use crate::domain::ReportType;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How the simulated tenant behaves. Defaults follow the shared API notes.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub client_id: String,
    pub client_secret: String,
    /// What kind of credential `client_id` is: a personal access token (user context,
    /// the default) or an API-management client (no user; cancel is refused).
    pub client_kind: ClientKind,
    /// `expires_in` of issued tokens; `None` takes the kind's default
    /// ([`ClientKind::default_ttl`]).
    pub token_ttl: Option<Duration>,
    /// The scopes granted to issued tokens (SPEC-V3: run needs `sp:report:manage`; result
    /// and file `sp:report:read` or `sp:report:manage`; `sp:scopes:all` covers both).
    pub scopes: Vec<String>,
    /// Escalating back-off (RL-DOC): after `BACKOFF_THRESHOLD` 429s within
    /// `BACKOFF_VIOLATION_WINDOW`, a client is blocked for the next tier's seconds. Empty:
    /// only the plain sliding window.
    pub backoff_tiers: Vec<u64>,
    /// Report types upstream runs one at a time: starting one with the same arguments while
    /// it runs returns the running task (SPEC-V3 `reports-run.yaml`: "If non-concurrent task
    /// is already running then it returns"). The spec does not say which types are
    /// non-concurrent; the default, every type but SEARCH_EXPORT, is an inference.
    pub non_concurrent: Vec<ReportType>,
    /// How long upstream keeps a report after it ends (finished or cancelled); after that
    /// its result and file answer 404. Upstream documents no retention, only that reports
    /// disappear; `None` keeps them for the simulator's life.
    pub retention: Option<Duration>,
    /// How long a report runs before it finishes.
    pub report_duration: Duration,
    /// Rows in every generated CSV (each row is [`super::files::ROW_BYTES`] bytes).
    pub csv_rows: u64,
    /// Requests allowed per `rate_window` per client id (0 lifts the limit).
    pub rate_limit: u32,
    pub rate_window: Duration,
    pub org: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            client_id: "sim-client".into(),
            client_secret: "sim-secret".into(),
            client_kind: ClientKind::Pat,
            token_ttl: None,
            scopes: vec!["sp:scopes:all".into()],
            backoff_tiers: vec![60, 300, 600, 1200],
            non_concurrent: default_non_concurrent(),
            retention: None,
            report_duration: Duration::from_secs(3),
            csv_rows: 193,
            rate_limit: 100,
            rate_window: Duration::from_secs(10),
            org: "acme-sandbox".into(),
        }
    }
}

/// Every report type but SEARCH_EXPORT (see [`SimConfig::non_concurrent`]).
pub fn default_non_concurrent() -> Vec<ReportType> {
    ReportType::ALL
        .into_iter()
        .filter(|t| *t != ReportType::SearchExport)
        .collect()
}

impl SimConfig {
    /// The lifetime of issued tokens.
    pub fn token_lifetime(&self) -> Duration {
        self.token_ttl.unwrap_or(self.client_kind.default_ttl())
    }

    /// Whether issued tokens carry this right (`sp:scopes:all` carries every right).
    pub fn grants(&self, scope: &str) -> bool {
        self.scopes
            .iter()
            .any(|s| s == scope || s == "sp:scopes:all")
    }
}

/// The two kinds of OAuth client a tenant issues (ROOT-V3 `userAuth` / `applicationAuth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ClientKind {
    /// A personal access token: tokens carry the identity (`identity_id`, `user_name`).
    Pat,
    /// An API-management client: client credentials with no user context.
    ApiClient,
}

impl ClientKind {
    /// `accessTokenValiditySeconds` defaults: 43200 for a PAT
    /// (CreatePersonalAccessTokenRequest), about 750 for an API client (the docs' 749).
    pub fn default_ttl(self) -> Duration {
        match self {
            Self::Pat => Duration::from_secs(43_200),
            Self::ApiClient => Duration::from_secs(749),
        }
    }
}

/// The upstream operations, as counted and as targeted by faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Token,
    Run,
    Result,
    File,
    Cancel,
}

/// What an injected fault does to a matching request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with this status and the upstream's error body for it.
    Status { status: u16 },
    /// Answer 429 with this `Retry-After` value (seconds or an HTTP-date).
    RateLimited { retry_after: String },
    /// Answer 200 with a body that is not JSON.
    Malformed,
    /// Answer 200 with JSON of the wrong shape.
    WrongShape,
    /// Never answer.
    Hang,
    /// Answer normally after this delay.
    Delay { ms: u64 },
    /// Send 200 and headers, then never send the body.
    HangAfterHeaders,
    /// Send 200, headers and part of the body, then break the connection.
    ResetMidBody,
    /// Answer `result` with a real-world oddity: a non-enum `reportType` and a timezone-less
    /// `created` (developer.sailpoint.com issue #587).
    WildResult,
}

/// One injected fault: which operation, what happens, how often.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRule {
    /// `None` matches every operation.
    #[serde(default)]
    pub op: Option<Op>,
    #[serde(flatten)]
    pub action: FaultAction,
    /// How many requests it applies to; `None` means until cleared.
    #[serde(default)]
    pub times: Option<u32>,
    /// Probability (0..=1) that a matching request is affected; default 1.
    #[serde(default)]
    pub probability: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    Success,
    Warning,
    Failure,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub id: String,
    pub report_type: ReportType,
    pub arguments: Value,
    pub launcher: String,
    pub created: DateTime<Utc>,
    pub started: Instant,
    pub duration: Duration,
    pub outcome: Outcome,
    pub rows: u64,
    pub formats: Vec<&'static str>,
    pub cancelled: Option<Instant>,
    /// What its run answer and results carry beyond the plain lifecycle.
    pub details: super::details::TaskDetails,
}

/// Where a report is in its life at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    Done(Outcome),
    Terminated,
}

impl Report {
    pub fn phase(&self, now: Instant) -> Phase {
        if self.details.temp_error {
            return Phase::Done(Outcome::Failure);
        }
        match self.cancelled {
            Some(at) if at < self.started + self.duration => Phase::Terminated,
            _ if now >= self.started + self.duration => Phase::Done(self.outcome),
            _ => Phase::Running,
        }
    }

    /// When the report ended (finished or was cancelled), if it has.
    pub fn ended(&self, now: Instant) -> Option<Instant> {
        if self.details.temp_error {
            return Some(self.started);
        }
        match self.cancelled {
            Some(at) if at < self.started + self.duration => Some(at),
            _ => (now >= self.started + self.duration).then_some(self.started + self.duration),
        }
    }

    pub fn completed_at(&self) -> DateTime<Utc> {
        let elapsed = match self.cancelled {
            _ if self.details.temp_error => Duration::ZERO,
            Some(at) if at < self.started + self.duration => at - self.started,
            _ => self.duration,
        };
        self.created + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }
}

/// Counters tests and the admin endpoint read.
#[derive(Debug, Default)]
pub struct Counters {
    pub token_requests: AtomicU64,
    pub token_grants: AtomicU64,
    pub run: AtomicU64,
    pub result: AtomicU64,
    pub file: AtomicU64,
    pub cancel: AtomicU64,
    /// File downloads that asked to be audited upstream (`auditable=true`).
    pub auditable_files: AtomicU64,
    pub rate_limited: AtomicU64,
    pub unauthorized: AtomicU64,
    /// 403s for missing rights or, on cancel, a token without a user.
    pub forbidden: AtomicU64,
}

/// A point-in-time copy of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterSnapshot {
    pub token_requests: u64,
    pub token_grants: u64,
    pub run: u64,
    pub result: u64,
    pub file: u64,
    pub cancel: u64,
    #[serde(default)]
    pub auditable_files: u64,
    pub rate_limited: u64,
    pub unauthorized: u64,
    pub forbidden: u64,
}

impl CounterSnapshot {
    /// Report API calls (everything but the token endpoint).
    pub fn api_calls(&self) -> u64 {
        self.run + self.result + self.file + self.cancel
    }
}

impl Counters {
    pub fn bump(&self, op: Op) {
        let c = match op {
            Op::Token => &self.token_requests,
            Op::Run => &self.run,
            Op::Result => &self.result,
            Op::File => &self.file,
            Op::Cancel => &self.cancel,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CounterSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterSnapshot {
            token_requests: g(&self.token_requests),
            token_grants: g(&self.token_grants),
            run: g(&self.run),
            result: g(&self.result),
            file: g(&self.file),
            cancel: g(&self.cancel),
            auditable_files: g(&self.auditable_files),
            rate_limited: g(&self.rate_limited),
            unauthorized: g(&self.unauthorized),
            forbidden: g(&self.forbidden),
        }
    }
}

pub struct SimState {
    pub config: SimConfig,
    pub signing_key: Vec<u8>,
    pub counters: Counters,
    /// Added to the wall and monotonic clocks, so tests can move time forward.
    clock_offset_ms: AtomicU64,
    pub reports: Mutex<HashMap<String, Report>>,
    /// Token ids that are currently valid; revoking clears it.
    pub live_tokens: Mutex<HashSet<String>>,
    rate: super::ratelimit::RateLimiter,
    faults: Mutex<Vec<FaultRule>>,
    /// Outcome given to reports started from now on.
    pub next_outcome: Mutex<Outcome>,
    /// Task details given to reports started from now on.
    pub next_details: Mutex<super::details::TaskDetails>,
    /// When report API calls arrived (real time), the most recent ones.
    pub call_times: Mutex<VecDeque<Instant>>,
    /// The `traceparent` of the last report API call, to check trace propagation.
    pub last_traceparent: Mutex<Option<String>>,
    /// Report API calls by API version (`v3`, `v2024`, …, `v1`), as the rate limit counts them.
    pub calls_by_version: Mutex<std::collections::BTreeMap<String, u64>>,
}

impl SimState {
    pub fn new(config: SimConfig) -> Self {
        Self {
            config,
            signing_key: rand::random::<[u8; 32]>().to_vec(),
            counters: Counters::default(),
            clock_offset_ms: AtomicU64::new(0),
            reports: Mutex::default(),
            live_tokens: Mutex::default(),
            rate: Default::default(),
            faults: Mutex::default(),
            next_outcome: Mutex::new(Outcome::Success),
            next_details: Mutex::default(),
            calls_by_version: Mutex::default(),
            call_times: Mutex::default(),
            last_traceparent: Mutex::default(),
        }
    }

    fn offset(&self) -> Duration {
        Duration::from_millis(self.clock_offset_ms.load(Ordering::Relaxed))
    }

    pub fn now(&self) -> Instant {
        Instant::now() + self.offset()
    }

    pub fn utc_now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.offset()).unwrap_or_default()
    }

    pub fn advance(&self, by: Duration) {
        self.clock_offset_ms
            .fetch_add(by.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn add_fault(&self, rule: FaultRule) {
        self.faults.lock().unwrap().push(rule);
    }

    pub fn clear_faults(&self) {
        self.faults.lock().unwrap().clear();
    }

    pub fn faults(&self) -> Vec<FaultRule> {
        self.faults.lock().unwrap().clone()
    }

    /// The fault (if any) that applies to this request, consuming one use of it.
    pub fn take_fault(&self, op: Op) -> Option<FaultAction> {
        let mut faults = self.faults.lock().unwrap();
        let idx = faults.iter().position(|f| {
            f.op.is_none_or(|o| o == op)
                && f.times != Some(0)
                && f.probability.is_none_or(|p| rand::random::<f64>() < p)
        })?;
        let rule = &mut faults[idx];
        if let Some(t) = rule.times.as_mut() {
            *t -= 1;
        }
        let action = rule.action.clone();
        if rule.times == Some(0) {
            faults.remove(idx);
        }
        Some(action)
    }

    /// The tenant's limit for this client and API version: `Err(retry_after_seconds)` when over it.
    pub fn admit(&self, client_id: &str, version: &str) -> Result<(), u64> {
        self.rate.admit(
            client_id,
            version,
            self.now(),
            self.config.rate_limit,
            self.config.rate_window,
            &self.config.backoff_tiers,
        )
    }

    /// A copy of report `id`, unless there is none or retention has purged it (then it is
    /// dropped from memory too).
    pub fn report(&self, id: &str) -> Option<Report> {
        let now = self.now();
        let mut reports = self.reports.lock().unwrap();
        let r = reports.get(id)?;
        if let (Some(keep), Some(ended)) = (self.config.retention, r.ended(now)) {
            if now >= ended + keep {
                reports.remove(id);
                return None;
            }
        }
        reports.get(id).cloned()
    }

    pub fn revoke_tokens(&self) {
        self.live_tokens.lock().unwrap().clear();
    }
}
