//! The audit trail: one event per API request (downloads add an end record), chained with
//! SHA-256 (optionally HMAC'd), written to stdout and/or an append-only rotating file,
//! `blocking` (on disk before the response) or `batch` per action, failing closed.
pub(crate) mod chain;
mod event;
mod middleware;
mod sink;
pub mod verify;

pub use middleware::{middleware, note, Audit, AuditNote};
pub use sink::{Sink, SinkStats};

use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Queued and written within milliseconds; the response does not wait.
    Batch,
    /// Written and fsync'ed before the response (or a download's first byte) is sent.
    Blocking,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Modes {
    pub run: Mode,
    pub status: Mode,
    pub download: Mode,
    pub cancel: Mode,
    /// Requests that are none of the above (unknown paths, refused before routing).
    pub other: Mode,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditSettings {
    /// JSON lines on stdout (for cluster log pipelines).
    pub stdout: bool,
    /// An append-only JSONL file; rotated past `max_file_bytes`, the chain continues.
    pub file: Option<PathBuf>,
    pub max_file_bytes: u64,
    pub modes: Modes,
    /// Adds an HMAC of each record's hash (verify with the same key).
    pub hmac_key: Option<Secret>,
    pub hmac_key_file: Option<PathBuf>,
    /// Pass `auditable=true` on downloads so IdentityNow records them too.
    pub upstream_auditable: bool,
}

impl AuditSettings {
    pub fn read_secret_files(&mut self) -> Result<(), crate::config::Problem> {
        if let Some(path) = &self.hmac_key_file {
            let v = std::fs::read_to_string(path).map_err(|e| crate::config::Problem {
                key: "audit.hmac_key_file".into(),
                message: format!("cannot read {}: {e}", path.display()),
            })?;
            self.hmac_key = Some(Secret::new(v.trim_end_matches(['\r', '\n']).to_owned()));
        }
        Ok(())
    }

    pub fn validate(&self, problems: &mut Vec<crate::config::Problem>) {
        if !self.stdout && self.file.is_none() {
            problems.push(crate::config::Problem {
                key: "audit.stdout".into(),
                message: "at least one sink is required (stdout or file)".into(),
            });
        }
        if self.max_file_bytes < 4096 {
            problems.push(crate::config::Problem {
                key: "audit.max_file_bytes".into(),
                message: "must be at least 4096".into(),
            });
        }
    }
}
