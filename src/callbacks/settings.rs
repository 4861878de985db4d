//! Callback settings: how deliveries are retried (`callbacks:`), and what each team allows
//! (`policy.teams[].webhook`).
use crate::problem::Problem;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallbackSettings {
    /// How long one delivery attempt may take (connect, send, answer).
    #[serde(with = "humantime_serde")]
    pub attempt_timeout: Duration,
    /// The wait before the first retry; it doubles after each failure...
    #[serde(with = "humantime_serde")]
    pub first_retry: Duration,
    /// ...up to this.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// No attempt starts later than this after the first one.
    #[serde(with = "humantime_serde")]
    pub retry_for: Duration,
    /// How often a running report is re-read (through the cache) while a callback waits.
    #[serde(with = "humantime_serde")]
    pub watch_interval: Duration,
    /// A report still running after this long gets no callback.
    #[serde(with = "humantime_serde")]
    pub max_watch: Duration,
}

impl CallbackSettings {
    pub fn validate(&self, problems: &mut Vec<Problem>) {
        for (key, v) in [
            ("callbacks.attempt_timeout", self.attempt_timeout),
            ("callbacks.first_retry", self.first_retry),
            ("callbacks.max_backoff", self.max_backoff),
            ("callbacks.watch_interval", self.watch_interval),
        ] {
            if v.is_zero() {
                problems.push(Problem {
                    key: key.into(),
                    message: "must be greater than 0".into(),
                });
            }
        }
    }
}

pub use crate::auth::webhook::WebhookPolicy;

/// Checks a team's callback rules (`key` names them in problems): a usable secret and URL
/// prefixes callbacks can be checked against.
pub fn validate_webhook(w: &WebhookPolicy, key: &str, problems: &mut Vec<Problem>) {
    let mut bad = |k: &str, m: String| {
        problems.push(Problem {
            key: format!("{key}.{k}"),
            message: m,
        })
    };
    match w.secret.as_ref().map(|s| super::sign::key(s.expose())) {
        None => bad("secret", "is required (or secret_file)".into()),
        Some(Err(m)) => bad("secret", m),
        Some(Ok(_)) => {}
    }
    if w.allowed_urls.is_empty() {
        bad("allowed_urls", "must list at least one URL prefix".into());
    }
    for (i, u) in w.allowed_urls.iter().enumerate() {
        if let Err(m) = super::target::prefix(u) {
            bad(&format!("allowed_urls[{i}]"), m);
        }
    }
}
