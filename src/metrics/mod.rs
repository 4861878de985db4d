//! Prometheus metrics on the gateway's own registry, served by the admin listener.
//! Labels are bounded: route patterns (never raw paths), operations, status codes from a
//! fixed set, and teams limited to the configured ones plus `other`.
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

mod http;
mod labels;
pub use http::HttpMetrics;
pub use labels::{status_label, UPSTREAM_FAILURES, UPSTREAM_OPERATIONS};

const LATENCY: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
const WAITS: &[f64] = &[
    0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0,
];

pub struct Metrics {
    pub registry: Registry,
    /// Tells this registry's series apart in the per-worker cache of HTTP series (tests run
    /// several gateways, each with its own registry, in one process).
    id: u64,
    teams: HashSet<String>,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub upstream_requests: IntCounterVec,
    pub upstream_duration: HistogramVec,
    pub upstream_throttled: IntCounter,
    pub upstream_pause: Gauge,
    pub budget_available: IntGauge,
    pub budget_queue: IntGauge,
    pub caller_wait: HistogramVec,
    pub rejections: IntCounterVec,
    /// Requests refused before anyone was identified, by reason.
    pub anonymous_refusals: IntCounterVec,
    pub abandoned: IntCounterVec,
    pub team_held: IntGauge,
    pub token_refreshes: IntCounterVec,
    pub token_expires_in: Gauge,
    /// 1 for the kind of tenant credential held (`personal_access_token`, `api_client`).
    pub credential_kind: IntGaugeVec,
    pub cache_hits: IntCounterVec,
    /// `POST /v1/reports` answers by how the report came about (`maxAge` reuse).
    pub report_runs: IntCounterVec,
    pub cache_misses: IntCounterVec,
    pub cache_evictions: IntCounterVec,
    pub cache_entries: IntGaugeVec,
    pub cache_bytes: IntGaugeVec,
    pub audit_writes: IntCounter,
    pub audit_failures: IntCounter,
    pub audit_write_seconds: Histogram,
    pub audit_backlog: IntGauge,
    pub audit_dropped: IntCounter,
    pub audit_retained_bytes: IntGauge,
    pub audit_retained_limit: IntGauge,
    pub audit_pruned_files: IntCounter,
    pub token_valid: IntGauge,
    pub token_failures: IntGauge,
    pub downloads_in_flight: IntGauge,
    pub download_bytes: IntCounter,
    pub ready: IntGauge,
    pub redis_fallback: IntGauge,
    pub redis_fallbacks: IntCounter,
    pub redis_errors: IntCounter,
    pub jwks_unusable: IntGaugeVec,
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
    r.register(Box::new(c.clone()))
        .expect("metric names are unique");
    c
}

impl Metrics {
    pub fn new(teams: impl IntoIterator<Item = String>) -> Self {
        let r = Registry::new_custom(Some("reportgate".into()), None).expect("registry");
        let hist = |name: &str, help: &str, buckets: &[f64], labels: &[&str]| {
            reg(
                &r,
                HistogramVec::new(
                    HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                    labels,
                )
                .expect("histogram"),
            )
        };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &r,
                IntCounterVec::new(Opts::new(name, help), labels).expect("counter"),
            )
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &r,
                IntGaugeVec::new(Opts::new(name, help), labels).expect("gauge"),
            )
        };
        let build = gauge_vec(
            "build_info",
            "Build information; always 1.",
            &["version", "commit"],
        );
        build
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                option_env!("REPORTGATE_GIT_COMMIT").unwrap_or("unknown"),
            ])
            .set(1);
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let m = Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            teams: teams.into_iter().collect(),
            http_requests: counter(
                "http_requests_total",
                "API requests by route pattern, method and status class.",
                &["route", "method", "status_class"],
            ),
            http_duration: hist(
                "http_request_duration_seconds",
                "API request latency by route pattern, method and kind (call, long_poll, \
                 download): long-polls and file transfers are slow by design and kept apart \
                 from ordinary calls.",
                LATENCY,
                &["route", "method", "kind"],
            ),
            upstream_requests: counter(
                "upstream_requests_total",
                "IdentityNow calls by operation and status.",
                &["operation", "status"],
            ),
            upstream_duration: hist(
                "upstream_request_duration_seconds",
                "IdentityNow call latency by operation.",
                LATENCY,
                &["operation"],
            ),
            upstream_throttled: reg(
                &r,
                IntCounter::new(
                    "upstream_throttled_total",
                    "429 answers received from IdentityNow.",
                )
                .unwrap(),
            ),
            upstream_pause: reg(
                &r,
                Gauge::new(
                    "upstream_pause_seconds",
                    "Seconds left in the current upstream pause (after a 429).",
                )
                .unwrap(),
            ),
            budget_available: reg(
                &r,
                IntGauge::new(
                    "upstream_budget_permits_available",
                    "Upstream permits that could be granted right now.",
                )
                .unwrap(),
            ),
            budget_queue: reg(
                &r,
                IntGauge::new(
                    "upstream_budget_queue_depth",
                    "Requests waiting for an upstream permit.",
                )
                .unwrap(),
            ),
            caller_wait: hist(
                "caller_wait_seconds",
                "Time requests were held by the team limit and the upstream budget.",
                WAITS,
                &["team"],
            ),
            rejections: counter(
                "rate_limit_rejections_total",
                "Requests answered 429 by team and reason.",
                &["team", "reason"],
            ),
            anonymous_refusals: counter(
                "anonymous_refusals_total",
                "Requests refused before anyone was identified, by reason (no_token, \
                 malformed_credential, invalid_token, rate_limited: over the per-address limit, \
                 audit_unavailable: a blocking action refused while the audit file fails).",
                &["reason"],
            ),
            abandoned: counter(
                "abandoned_requests_total",
                "Requests whose caller closed the connection while they waited, by team and \
                 where they waited (team_limit, budget, pause, before_send, long_poll); none went \
                 upstream.",
                &["team", "stage"],
            ),
            team_held: reg(
                &r,
                IntGauge::new(
                    "team_limit_held",
                    "Requests held right now until their team's rate allows them.",
                )
                .unwrap(),
            ),
            token_refreshes: counter(
                "token_refreshes_total",
                "Tenant token fetches by outcome.",
                &["outcome"],
            ),
            token_expires_in: reg(
                &r,
                Gauge::new(
                    "token_expires_in_seconds",
                    "Seconds until the current tenant token expires.",
                )
                .unwrap(),
            ),
            credential_kind: gauge_vec(
                "upstream_credential_kind",
                "1 for the kind of tenant credential held: personal_access_token (cancel \
                 works) or api_client (IdentityNow refuses cancel); 0 for the other.",
                &["kind"],
            ),
            cache_hits: counter("cache_hits_total", "Cache hits by cache.", &["cache"]),
            report_runs: counter(
                "report_runs_total",
                "Run answers: fresh (an upstream run), reused (a finished identical report \
                 handed over by maxAge) or joined (an identical running one).",
                &["answer"],
            ),
            cache_misses: counter("cache_misses_total", "Cache misses by cache.", &["cache"]),
            cache_evictions: counter(
                "cache_evictions_total",
                "Cache evictions by cache.",
                &["cache"],
            ),
            cache_entries: gauge_vec("cache_entries", "Entries by cache.", &["cache"]),
            cache_bytes: gauge_vec(
                "cache_bytes",
                "Weighted size by cache (bytes for files, entries for results).",
                &["cache"],
            ),
            audit_writes: reg(
                &r,
                IntCounter::new(
                    "audit_writes_total",
                    "Audit write batches that reached the sinks.",
                )
                .unwrap(),
            ),
            audit_failures: reg(
                &r,
                IntCounter::new("audit_failures_total", "Audit write batches that failed.")
                    .unwrap(),
            ),
            audit_write_seconds: reg(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new("audit_write_seconds", "Audit write (and fsync) latency.")
                        .buckets(LATENCY.to_vec()),
                )
                .unwrap(),
            ),
            audit_backlog: reg(
                &r,
                IntGauge::new(
                    "audit_backlog_records",
                    "Audit records waiting to be written.",
                )
                .unwrap(),
            ),
            audit_dropped: reg(
                &r,
                IntCounter::new(
                    "audit_dropped_records_total",
                    "Batch audit records dropped because the write backlog was full.",
                )
                .unwrap(),
            ),
            audit_retained_bytes: reg(
                &r,
                IntGauge::new(
                    "audit_retained_bytes",
                    "Bytes of audit files on disk: the current file and the rotated ones kept.",
                )
                .unwrap(),
            ),
            audit_retained_limit: reg(
                &r,
                IntGauge::new(
                    "audit_retained_bytes_limit",
                    "audit.max_total_bytes: past it the oldest rotated files are deleted (0: no file sink).",
                )
                .unwrap(),
            ),
            audit_pruned_files: reg(
                &r,
                IntCounter::new(
                    "audit_pruned_files_total",
                    "Rotated audit files deleted by the retention caps (audit.max_files, max_total_bytes).",
                )
                .unwrap(),
            ),
            token_valid: reg(
                &r,
                IntGauge::new(
                    "upstream_token_valid",
                    "1 while the gateway holds an unexpired tenant token.",
                )
                .unwrap(),
            ),
            token_failures: reg(
                &r,
                IntGauge::new(
                    "token_consecutive_failures",
                    "Tenant token fetches failed in a row (0 after a success).",
                )
                .unwrap(),
            ),
            downloads_in_flight: reg(
                &r,
                IntGauge::new("downloads_in_flight", "Report downloads being streamed.").unwrap(),
            ),
            download_bytes: reg(
                &r,
                IntCounter::new("download_bytes_total", "Report file bytes sent to callers.")
                    .unwrap(),
            ),
            ready: reg(
                &r,
                IntGauge::new("ready", "1 when the gateway reports ready.").unwrap(),
            ),
            redis_fallback: reg(
                &r,
                IntGauge::new(
                    "redis_fallback",
                    "1 while Redis is configured but unreachable (local fallback share in use).",
                )
                .unwrap(),
            ),
            redis_fallbacks: reg(
                &r,
                IntCounter::new(
                    "redis_fallbacks_total",
                    "Times the gateway lost Redis and fell back to local limits.",
                )
                .unwrap(),
            ),
            redis_errors: reg(
                &r,
                IntCounter::new(
                    "redis_errors_total",
                    "Redis commands that failed or timed out.",
                )
                .unwrap(),
            ),
            jwks_unusable: gauge_vec(
                "jwks_unusable_keys",
                "Keys of an issuer's last fetched JWKS that the gateway skipped (unsupported \
                 algorithm or key type); the issuer's other keys are used.",
                &["issuer"],
            ),
            registry: r,
        };
        m.zero_series();
        m
    }

    /// Creates, at 0, every labelled series an alert rule reads, so that `rate()` and
    /// `increase()` see the first event instead of a series appearing at 1.
    fn zero_series(&self) {
        for outcome in ["success", "failure"] {
            self.token_refreshes.with_label_values(&[outcome]);
        }
        for answer in ["fresh", "reused", "joined"] {
            self.report_runs.with_label_values(&[answer]);
        }
        for reason in [
            "no_token",
            "malformed_credential",
            "invalid_token",
            "rate_limited",
            "audit_unavailable",
        ] {
            self.anonymous_refusals.with_label_values(&[reason]);
        }
        let teams = self.teams.iter().map(String::as_str).chain(["other"]);
        for team in teams {
            for reason in ["team_limit", "upstream_busy"] {
                self.rejections.with_label_values(&[team, reason]);
            }
        }
        for op in UPSTREAM_OPERATIONS {
            for status in UPSTREAM_FAILURES {
                self.upstream_requests.with_label_values(&[op, status]);
            }
        }
    }

    /// The team label: configured teams by name, everyone else as `other`.
    pub fn team<'a>(&self, team: &'a str) -> &'a str {
        if self.teams.contains(team) {
            team
        } else {
            "other"
        }
    }

    /// Renders the text format (`Observed::observe` brings scrape-time values up to date).
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding");
        String::from_utf8(out).expect("utf-8")
    }
}
