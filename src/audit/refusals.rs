//! Requests refused before anyone was identified (no or bad token, or over the per-address
//! limit) are audited in aggregate: one record per client address and reason per interval,
//! with a count. One record per refusal let two anonymous connections write 45 MB/s of audit.
pub use crate::auth::Refusal as Reason;
use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, Weak};
use std::time::Duration;

/// Addresses tracked within one interval; refusals from more are counted under `"*"`, so
/// that a spread of source addresses cannot grow this map without bound.
const MAX_ADDRESSES: usize = 10_000;

struct Tally {
    count: u64,
    first: String,
    last: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    time: String,
    action: &'static str,
    caller: &'static str,
    team: &'static str,
    client_addr: &'a str,
    reason: &'static str,
    outcome: &'static str,
    status: u16,
    count: u64,
    first_at: &'a str,
    last_at: &'a str,
}

#[derive(Default)]
pub struct Refusals {
    tallies: Mutex<HashMap<(String, Reason), Tally>>,
}

impl Refusals {
    pub fn count(&self, addr: Option<IpAddr>, reason: Reason) {
        let now = super::now();
        let mut tallies = self.tallies.lock().unwrap();
        let mut addr = addr.map_or_else(|| "*".to_owned(), |a| a.to_string());
        if tallies.len() >= MAX_ADDRESSES && !tallies.contains_key(&(addr.clone(), reason)) {
            addr = "*".into();
        }
        let t = tallies.entry((addr, reason)).or_insert_with(|| Tally {
            count: 0,
            first: now.clone(),
            last: String::new(),
        });
        t.count += 1;
        t.last = now;
    }

    /// The records of the interval that ended, and a fresh start.
    pub fn take_lines(&self) -> Vec<String> {
        let tallies = std::mem::take(&mut *self.tallies.lock().unwrap());
        let time = super::now();
        let mut lines: Vec<String> = tallies
            .iter()
            .map(|((addr, reason), t)| {
                let (outcome, status) = reason.outcome();
                serde_json::to_string(&Record {
                    time: time.clone(),
                    action: "anonymous_refusals",
                    caller: "anonymous",
                    team: "anonymous",
                    client_addr: addr,
                    reason: reason.code(),
                    outcome,
                    status,
                    count: t.count,
                    first_at: &t.first,
                    last_at: &t.last,
                })
                .expect("a refusal record serializes")
            })
            .collect();
        lines.sort();
        lines
    }
}

/// Writes the aggregate records every `interval` while the audit trail exists.
pub fn start_flushing(audit: Weak<super::Audit>, interval: Duration) {
    let spawned = std::thread::Builder::new()
        .name("audit-refusals".into())
        .spawn(move || loop {
            std::thread::sleep(interval);
            match audit.upgrade() {
                Some(a) => a.flush_refusals(),
                None => return,
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the anonymous-refusal audit thread");
    }
}
