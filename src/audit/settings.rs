//! `audit:` settings: where records go and which actions wait for the disk.
use crate::problem::{problem, secret_from_file, Problem};
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
    /// Rotated files kept; the oldest are deleted past this...
    pub max_files: usize,
    /// ...or when they and the current file hold more than this many bytes.
    pub max_total_bytes: u64,
    /// Batch records held while the file cannot be written; more are dropped and counted.
    pub max_backlog: usize,
    /// Requests refused before anyone was identified are written as one record per client
    /// address and reason per this interval, with a count.
    #[serde(with = "humantime_serde")]
    pub anonymous_interval: std::time::Duration,
    pub modes: Modes,
    /// Adds an HMAC of each record's hash (verify with the same key).
    pub hmac_key: Option<Secret>,
    pub hmac_key_file: Option<PathBuf>,
    /// Pass `auditable=true` on downloads so IdentityNow records them too.
    pub upstream_auditable: bool,
}

impl AuditSettings {
    pub fn read_secret_files(&mut self) -> Result<(), Problem> {
        if let Some(path) = &self.hmac_key_file {
            self.hmac_key = Some(secret_from_file("audit.hmac_key_file", path)?);
        }
        Ok(())
    }

    pub fn validate(&self, problems: &mut Vec<Problem>) {
        if let Some(m) = self.file.as_deref().and_then(not_a_regular_file) {
            problems.push(problem("audit.file", m));
        }
        if !self.stdout && self.file.is_none() {
            problems.push(problem(
                "audit.stdout",
                "at least one sink is required (stdout or file)",
            ));
        }
        if self.anonymous_interval.is_zero() {
            problems.push(problem(
                "audit.anonymous_interval",
                "must be greater than 0",
            ));
        }
        if self.max_backlog == 0 {
            problems.push(problem("audit.max_backlog", "must be greater than 0"));
        }
        if self.max_file_bytes < 4096 {
            problems.push(problem("audit.max_file_bytes", "must be at least 4096"));
        }
        if self.max_total_bytes < self.max_file_bytes.saturating_mul(2) {
            problems.push(problem(
                "audit.max_total_bytes",
                "must be at least twice max_file_bytes (the current file and one rotated)",
            ));
        }
    }
}

/// Why `path` cannot be the audit file, if it exists and is anything but a regular file (a
/// device such as /dev/full made start-up read forever, a FIFO blocks, a directory fails).
pub(crate) fn not_a_regular_file(path: &std::path::Path) -> Option<String> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => Some(format!(
            "{} must be a regular file (or not exist yet)",
            path.display()
        )),
        _ => None,
    }
}
