//! `limits:` settings: the tenant's upstream limit and how callers wait for it.
use super::BudgetConfig;
use crate::problem::{problem, Problem};
use serde::{Deserialize, Serialize};
use std::time::Duration;

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
    /// Longest pause an upstream `Retry-After` may impose. Above upstream's top back-off
    /// tier (1200 s) by default: resuming early during a back-off escalates it.
    #[serde(with = "humantime_serde")]
    pub retry_after_cap: Duration,
    /// How long a caller's request may be held in total before it gets a 429.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    pub queue_per_team: usize,
    pub queue_global: usize,
    /// Requests refused authentication per client address: sustained per second...
    pub anonymous_rate: f64,
    /// ...and at once; past these the address gets 429 before its token is looked at.
    pub anonymous_burst: u32,
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

    pub fn validate(&self, problems: &mut Vec<Problem>) {
        let mut p = |key: &str, msg: &str| problems.push(problem(format!("limits.{key}"), msg));
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
        if !(self.anonymous_rate > 0.0 && self.anonymous_rate.is_finite()) {
            p(
                "anonymous_rate",
                "must be a positive number of requests per second",
            );
        }
        if self.anonymous_burst == 0 {
            p("anonymous_burst", "must be at least 1");
        }
        if self.retry_after_cap.is_zero() {
            p("retry_after_cap", "must be greater than 0");
        }
    }
}
