//! What the handlers and the callbacks share: the per-process state built at start-up, and
//! the operations over several services that both need (a report's result through the
//! cache). Above the services, below the routes; `startup` builds it.
use crate::audit::Audit;
use crate::auth::ReportIds;
use crate::cache::{CachedResult, ReportCache};
use crate::clock::Clock;
use crate::domain::ReportId;
use crate::error::UpstreamError;
use crate::http::RequestContext;
use crate::limits::{TeamLimiter, UpstreamBudget};
use crate::metrics::Metrics;
use crate::shared::SharedStore;
use crate::upstream::token::TokenProvider;
use crate::upstream::{IdentityNow, PathFamily};
use actix_web::web;
use prometheus::IntCounter;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Settings every worker reads.
#[derive(Clone)]
pub struct AppState {
    pub max_body_bytes: usize,
    /// How long a request body may take to arrive.
    pub body_timeout: std::time::Duration,
    /// Long-polls held open, per team.
    pub long_polls: Arc<crate::limits::long_polls::LongPolls>,
    pub ids: ReportIds,
    /// Who holds each upstream report the gateway sealed.
    pub holders: Arc<crate::auth::Holders>,
    pub cache: Arc<ReportCache>,
    pub lifecycle: Arc<Lifecycle>,
    /// The Redis store, when `redis.url` is set.
    pub shared: Option<Arc<SharedStore>>,
    /// The gateway's clock (report ages for `maxAge` are measured on it).
    pub clock: Clock,
}

/// What the process is doing: serving, or draining before shutdown.
#[derive(Default)]
pub struct Lifecycle {
    pub draining: AtomicBool,
    /// The last readiness answered: 0 none yet, 1 ready, 2 not ready.
    readiness: std::sync::atomic::AtomicU8,
}

impl Lifecycle {
    /// Logs readiness when it changes, not at every probe (anyone can call `/readyz`).
    pub fn note_readiness(&self, serving: Result<(), &'static str>) {
        let now = if serving.is_ok() { 1 } else { 2 };
        let before = self.readiness.swap(now, Ordering::Relaxed);
        match (before, serving) {
            (b, _) if b == now => {}
            (_, Ok(())) => tracing::info!("readiness: ready"),
            (_, Err(reason)) => tracing::warn!(reason, "readiness: not ready"),
        }
    }
}

/// What the metrics endpoint reads at scrape time.
pub struct Observed {
    pub budget: Arc<UpstreamBudget>,
    pub limiter: web::Data<TeamLimiter>,
    pub tokens: Arc<TokenProvider>,
    pub cache: Arc<ReportCache>,
    pub audit: web::Data<Audit>,
    /// The Redis store, when `redis.url` is set.
    pub shared: Option<Arc<SharedStore>>,
    pub auth: web::Data<crate::auth::Authenticator>,
}

impl Observed {
    /// Brings the scrape-time values of `m` up to date from the services' own counters.
    pub fn observe(&self, m: &Metrics) {
        let budget = &self.budget;
        m.upstream_pause.set(budget.pause_remaining().as_secs_f64());
        m.budget_available.set(budget.available() as i64);
        m.budget_queue.set(budget.queued() as i64);
        m.team_held.set(self.limiter.held() as i64);
        let expires_in = self.tokens.expires_in().unwrap_or_default();
        m.token_expires_in.set(expires_in.as_secs_f64());
        m.token_valid.set(i64::from(!expires_in.is_zero()));
        m.token_failures.set(i64::from(self.tokens.failures()));
        if let Some(kind) = self.tokens.kind() {
            use crate::domain::credential::CredentialKind::{ApiClient, PersonalAccessToken};
            for k in [PersonalAccessToken, ApiClient] {
                m.credential_kind
                    .with_label_values(&[k.label()])
                    .set(i64::from(k == kind));
            }
        }
        for (issuer, n) in self.auth.unusable_jwks_keys() {
            m.jwks_unusable.with_label_values(&[issuer]).set(n as i64);
        }
        let sync = |c: &IntCounter, v: u64| c.inc_by(v.saturating_sub(c.get()));
        for (name, counters) in [
            ("results", &self.cache.result_counters),
            ("files", &self.cache.file_counters),
        ] {
            sync(
                &m.cache_hits.with_label_values(&[name]),
                counters.hits.load(Ordering::Relaxed),
            );
            sync(
                &m.cache_misses.with_label_values(&[name]),
                counters.misses.load(Ordering::Relaxed),
            );
            sync(
                &m.cache_evictions.with_label_values(&[name]),
                counters.evictions.load(Ordering::Relaxed),
            );
        }
        for (name, entries, weight) in self.cache.sizes() {
            m.cache_entries
                .with_label_values(&[name])
                .set(entries as i64);
            m.cache_bytes.with_label_values(&[name]).set(weight as i64);
        }
        if let Some(store) = &self.shared {
            m.redis_fallback.set(i64::from(!store.is_up()));
            sync(&m.redis_fallbacks, store.fallbacks.load(Ordering::Relaxed));
            sync(&m.redis_errors, store.errors.load(Ordering::Relaxed));
        }
        let stats = &self.audit.sink.stats;
        sync(&m.audit_writes, stats.writes.load(Ordering::Relaxed));
        sync(&m.audit_failures, stats.failures.load(Ordering::Relaxed));
        sync(&m.audit_dropped, stats.dropped.load(Ordering::Relaxed));
        m.audit_backlog
            .set(stats.backlog.load(Ordering::Relaxed) as i64);
        m.audit_retained_bytes
            .set(stats.retained_bytes.load(Ordering::Relaxed) as i64);
        m.audit_retained_limit
            .set(self.audit.retention_limit() as i64);
        sync(
            &m.audit_pruned_files,
            stats.pruned_files.load(Ordering::Relaxed),
        );
    }
}

/// A report's result, from the cache or (once, however many callers ask at the same time)
/// from upstream.
pub async fn cached_result(
    ctx: &RequestContext,
    state: &AppState,
    upstream: &IdentityNow,
    family: PathFamily,
    id: &ReportId,
    completed: Option<bool>,
) -> Result<Arc<CachedResult>, UpstreamError> {
    state
        .cache
        .result(ctx, id.as_str(), completed, || async {
            let (body, results) = upstream.result(ctx, family, id, completed).await?;
            Ok(CachedResult::new(body, results))
        })
        .await
}
