//! One thing wrong with the configuration, reported with the key it is about. A leaf: every
//! settings module (each owned by the component it configures) reports through it, and
//! `config` collects them, so nothing below `config` imports `config`.
use crate::secret::Secret;
use std::fmt;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

pub fn problem(key: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        key: key.into(),
        message: message.into(),
    }
}

/// A secret kept in a file (a mounted Kubernetes secret): read, one trailing newline dropped.
pub fn secret_from_file(key: impl Into<String>, path: &Path) -> Result<Secret, Problem> {
    let value = std::fs::read_to_string(path)
        .map_err(|e| problem(key, format!("cannot read {}: {e}", path.display())))?;
    Ok(Secret::new(value.trim_end_matches(['\r', '\n']).to_owned()))
}
