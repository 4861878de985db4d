//! How many rotated audit files are kept: at most `audit.max_files`, and together with the
//! current file at most `audit.max_total_bytes`; the oldest go first. Without a cap, rotated
//! files piled up until the disk was full, and then every blocking action got 503.
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

pub struct Retention {
    max_files: usize,
    max_total_bytes: u64,
    /// Rotated files, oldest first (their names end in a UTC timestamp that sorts).
    rotated: VecDeque<(PathBuf, u64)>,
    rotated_bytes: u64,
}

/// The name a rotated copy of `current` gets, stamped with the time of rotation.
pub fn rotated_name(current: &Path, stamp: &str) -> PathBuf {
    current.with_extension(format!("jsonl.{stamp}"))
}

impl Retention {
    /// Finds the rotated files of `current` already on disk.
    pub fn scan(current: &Path, max_files: usize, max_total_bytes: u64) -> Self {
        let prefix = rotated_name(current, "");
        let dir = prefix
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let prefix = prefix
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut found: Vec<(PathBuf, u64)> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.len() > prefix.len() && name.starts_with(&prefix)
            })
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                meta.is_file().then(|| (e.path(), meta.len()))
            })
            .collect();
        found.sort();
        let rotated_bytes = found.iter().map(|(_, n)| n).sum();
        Self {
            max_files,
            max_total_bytes,
            rotated: found.into(),
            rotated_bytes,
        }
    }

    pub fn add(&mut self, path: PathBuf, bytes: u64) {
        self.rotated_bytes += bytes;
        self.rotated.push_back((path, bytes));
    }

    /// Bytes on disk: the rotated files and the current one.
    pub fn retained(&self, current: u64) -> u64 {
        self.rotated_bytes + current
    }

    /// Deletes the oldest rotated files past either cap; returns how many went.
    pub fn prune(&mut self, current: u64) -> u64 {
        let mut pruned = 0;
        while self.rotated.len() > self.max_files
            || (!self.rotated.is_empty() && self.retained(current) > self.max_total_bytes)
        {
            let (path, bytes) = self.rotated.pop_front().expect("not empty");
            match std::fs::remove_file(&path) {
                Ok(()) => pruned += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    // Kept in the count: it still takes space. Retried at the next rotation.
                    tracing::error!(file = %path.display(), error = %e, "cannot delete an old audit file");
                    self.rotated.push_front((path, bytes));
                    break;
                }
            }
            self.rotated_bytes -= bytes;
        }
        pruned
    }
}
