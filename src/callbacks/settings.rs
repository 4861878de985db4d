//! Callback settings: how deliveries are retried (`callbacks:`), and what each team allows
//! (`policy.teams[].webhook`).
use crate::problem::Problem;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
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

/// A team's callback rules. Without it, the team's runs may not ask for callbacks.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WebhookPolicy {
    /// The signing secret: `whsec_<base64>` as Standard Webhooks issues them (the key is the
    /// decoded bytes), or any other string (the key is its bytes).
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// URL prefixes callbacks may go to, e.g. `https://hooks.example.com/reports/`.
    #[serde(default)]
    pub allowed_urls: Vec<String>,
    /// Lets callbacks reach loopback, private and link-local addresses (off: no SSRF into
    /// the cluster through a callback).
    #[serde(default)]
    pub allow_private_addresses: bool,
}

impl PartialEq for WebhookPolicy {
    fn eq(&self, other: &Self) -> bool {
        self.secret.as_ref().map(Secret::expose) == other.secret.as_ref().map(Secret::expose)
            && self.secret_file == other.secret_file
            && self.allowed_urls == other.allowed_urls
            && self.allow_private_addresses == other.allow_private_addresses
    }
}

impl WebhookPolicy {
    pub fn read_secret_file(&mut self, key: &str) -> Result<(), Problem> {
        if let Some(path) = &self.secret_file {
            let v = std::fs::read_to_string(path).map_err(|e| Problem {
                key: format!("{key}.secret_file"),
                message: format!("cannot read {}: {e}", path.display()),
            })?;
            self.secret = Some(Secret::new(v.trim_end_matches(['\r', '\n']).to_owned()));
        }
        Ok(())
    }

    pub fn validate(&self, key: &str, problems: &mut Vec<Problem>) {
        let mut bad = |k: &str, m: String| {
            problems.push(Problem {
                key: format!("{key}.{k}"),
                message: m,
            })
        };
        match self.secret.as_ref().map(|s| super::sign::key(s.expose())) {
            None => bad("secret", "is required (or secret_file)".into()),
            Some(Err(m)) => bad("secret", m),
            Some(Ok(_)) => {}
        }
        if self.allowed_urls.is_empty() {
            bad("allowed_urls", "must list at least one URL prefix".into());
        }
        for (i, u) in self.allowed_urls.iter().enumerate() {
            if let Err(m) = super::target::prefix(u) {
                bad(&format!("allowed_urls[{i}]"), m);
            }
        }
    }
}
