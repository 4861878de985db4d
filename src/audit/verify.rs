//! `reportgate audit verify FILE...`: checks the chain across files given oldest first.
use super::chain::{self, GENESIS};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

pub struct Report {
    pub records: usize,
    /// Set when the first record continues an older chain (files archived before these).
    pub starts_after: Option<String>,
    /// Lines without a chain (a write torn by a crash): never part of the chain.
    pub torn: Vec<(PathBuf, usize)>,
}

pub struct Broken {
    pub file: PathBuf,
    pub line: usize,
    pub record: usize,
    pub reason: String,
    pub kind: Failure,
}

/// Why a set does not verify. An operator acts differently on each: a missing or unreadable
/// file says nothing about the chain (wrong path, permissions, a volume not mounted), while
/// content that does not verify is evidence of tampering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A file could not be opened or read.
    Unreadable,
    /// The content breaks the chain: edited, deleted, inserted or reordered records.
    Tampered,
}

pub fn verify(files: &[PathBuf], key: Option<&[u8]>) -> Result<Report, Broken> {
    let key = key.map(|k| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, k));
    let mut prev: Option<String> = None;
    let mut report = Report {
        records: 0,
        starts_after: None,
        torn: vec![],
    };
    for file in files {
        let f = std::fs::File::open(file).map_err(|e| Broken {
            file: file.clone(),
            line: 0,
            record: report.records,
            reason: format!("cannot read: {e}"),
            kind: Failure::Unreadable,
        })?;
        for (i, line) in BufReader::new(f).lines().enumerate() {
            let line = line.map_err(|e| Broken {
                file: file.clone(),
                line: i + 1,
                record: report.records + 1,
                // Bytes that are not UTF-8 are content; anything else is the disk.
                kind: if e.kind() == std::io::ErrorKind::InvalidData {
                    Failure::Tampered
                } else {
                    Failure::Unreadable
                },
                reason: e.to_string(),
            })?;
            if line.trim().is_empty() {
                continue;
            }
            if !line.contains(",\"hash\":\"")
                && serde_json::from_str::<serde_json::Value>(&line).is_err()
            {
                report.torn.push((file.clone(), i + 1));
                continue;
            }
            // The first record of a set may continue an older, archived chain.
            let expected = match &prev {
                Some(p) => p.clone(),
                None => {
                    let first = claimed_prev(&line).unwrap_or_else(|| GENESIS.to_owned());
                    if first != GENESIS {
                        report.starts_after = Some(first.clone());
                    }
                    first
                }
            };
            match chain::check(&line, &expected, key.as_ref()) {
                Ok(hash) => {
                    prev = Some(hash);
                    report.records += 1;
                }
                Err(reason) => {
                    return Err(Broken {
                        file: file.clone(),
                        line: i + 1,
                        record: report.records + 1,
                        reason,
                        kind: Failure::Tampered,
                    })
                }
            }
        }
    }
    Ok(report)
}

fn claimed_prev(line: &str) -> Option<String> {
    let i = line.rfind("\"prevHash\":\"")?;
    line.get(i + 12..i + 12 + 64).map(str::to_owned)
}
