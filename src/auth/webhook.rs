//! A team's completion-callback rules (`policy.teams[].webhook`): part of what the team may
//! do. The callbacks service checks and uses them (`callbacks::settings::validate_webhook`).
use crate::problem::Problem;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
}
