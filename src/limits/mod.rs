//! Rate limits: each team's own limit (held, then 429) and the one shared upstream budget
//! (paced, paused on upstream 429s, shared fairly by weight).
pub mod budget;
pub mod gcra;
mod middleware;
pub mod peer;
pub mod retry_after;

pub use budget::{BudgetConfig, Refusal, UpstreamBudget};
pub use middleware::{middleware, TeamLimiter};

use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LimitSettings {
    /// The tenant's limit: requests per window per API client.
    pub upstream_requests: u32,
    #[serde(with = "humantime_serde")]
    pub upstream_window: Duration,
    /// The budget runs at this share of the tenant's limit.
    pub upstream_safety: f64,
    /// Permits that may go out at once on top of the pace.
    pub upstream_burst: u32,
    /// Pause after an upstream 429 without a usable `Retry-After` (jitter added).
    #[serde(with = "humantime_serde")]
    pub retry_after_default: Duration,
    /// Longest pause an upstream `Retry-After` may impose.
    #[serde(with = "humantime_serde")]
    pub retry_after_cap: Duration,
    /// How long a caller's request may be held in total before it gets a 429.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    pub queue_per_team: usize,
    pub queue_global: usize,
}

impl LimitSettings {
    pub fn budget_config(&self) -> BudgetConfig {
        BudgetConfig {
            permits: ((self.upstream_requests as f64) * self.upstream_safety)
                .floor()
                .max(1.0) as u32,
            window: self.upstream_window,
            burst: self.upstream_burst.max(1),
            queue_per_team: self.queue_per_team,
            queue_global: self.queue_global,
        }
    }

    pub fn validate(&self, problems: &mut Vec<crate::config::Problem>) {
        let mut p = |key: &str, msg: &str| {
            problems.push(crate::config::Problem {
                key: format!("limits.{key}"),
                message: msg.into(),
            })
        };
        if self.upstream_requests == 0 {
            p("upstream_requests", "must be greater than 0");
        }
        if self.upstream_window.is_zero() {
            p("upstream_window", "must be greater than 0");
        }
        if !(self.upstream_safety > 0.0 && self.upstream_safety <= 1.0) {
            p("upstream_safety", "must be in (0, 1]");
        }
        if self.queue_per_team == 0 || self.queue_global == 0 {
            p("queue_per_team", "queues must hold at least one request");
        }
        if self.retry_after_cap.is_zero() {
            p("retry_after_cap", "must be greater than 0");
        }
    }
}

/// What the upstream client needs to know about the request it serves.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub team: String,
    pub weight: u32,
    /// The caller's wait bound: no permit wait, pause or retry goes past it.
    pub deadline: Instant,
    /// The bound itself, so that each poll of a long-poll gets a fresh deadline.
    pub bound: Duration,
    /// The caller's connection, watched while the request waits.
    pub peer: Option<peer::Peer>,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// The context of the request being served, if any (none for readiness probes).
pub fn current() -> Option<RequestContext> {
    CONTEXT.try_with(Clone::clone).ok()
}

/// Whether the caller of the request being served has closed its connection.
pub fn caller_gone() -> bool {
    CONTEXT
        .try_with(|c| c.peer.as_ref().is_some_and(peer::Peer::is_gone))
        .unwrap_or(false)
}

/// Runs `fut` (one upstream step of a long request, e.g. one poll of a long-poll) with a
/// fresh wait bound counted from now.
pub async fn with_fresh_deadline<F: std::future::Future>(fut: F) -> F::Output {
    match current() {
        Some(mut ctx) => {
            ctx.deadline = Instant::now() + ctx.bound;
            CONTEXT.scope(ctx, fut).await
        }
        None => fut.await,
    }
}

/// Seconds for a `Retry-After` header: rounded up, at least 1.
pub fn header_secs(d: Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}
