//! The caches' records kept in Redis: idempotency claims and runs, finished results.
//! Every function answers `None` (or does nothing) when Redis is down: callers then use
//! what this replica has.
use super::{CachedResult, IdempotentRun};
use crate::shared::SharedStore;
use crate::wire::models::ReportResults;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A run as kept under its idempotency key.
#[derive(Serialize, Deserialize)]
struct StoredRun {
    hash: String,
    /// Absent in runs stored before reuse existed: they were all 202.
    #[serde(default = "accepted")]
    status: u16,
    location: String,
    body: String,
}

fn accepted() -> u16 {
    202
}

/// A finished result.
#[derive(Serialize, Deserialize)]
struct StoredResult {
    body: String,
    results: ReportResults,
}

/// What Redis said about an idempotency key.
pub enum Claim {
    /// The run is ours to make.
    Mine,
    /// Another replica finished it.
    Done(IdempotentRun),
    /// Another replica is making it.
    Busy,
}

/// The Redis key of (owner, Idempotency-Key): hashed, so the caller's text is not a key.
pub fn idempotency_key(store: &SharedStore, owner: &str, key: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, format!("{owner}\n{key}").as_bytes());
    store.key(&["idem", &hex(digest.as_ref())])
}

/// SET NX of a pending marker (for at most a minute: a replica that dies mid-run frees the
/// key), or what is already there.
pub async fn claim(store: &SharedStore, key: &str, window: Duration) -> Option<Claim> {
    let key = key.to_owned();
    let pending_ms = window.min(Duration::from_secs(60)).as_millis().max(1) as u64;
    let (set, current): (Option<String>, Option<String>) = store
        .run(|mut c| async move {
            redis::pipe()
                .cmd("SET")
                .arg(&key)
                .arg("pending")
                .arg("NX")
                .arg("PX")
                .arg(pending_ms)
                .cmd("GET")
                .arg(&key)
                .query_async(&mut c)
                .await
        })
        .await?;
    if set.is_some() {
        return Some(Claim::Mine);
    }
    match current.as_deref() {
        None => Some(Claim::Mine),
        Some("pending") => Some(Claim::Busy),
        Some(v) => {
            let r: StoredRun = serde_json::from_str(v).ok()?;
            Some(Claim::Done(IdempotentRun {
                request_hash: unhex(&r.hash)?,
                status: r.status,
                location: r.location,
                body: Bytes::from(r.body),
            }))
        }
    }
}

/// Ends a claim: the run's answer is kept for `window`; a failed run frees the key for a
/// retry, as in one replica.
pub async fn settle(
    store: &SharedStore,
    key: String,
    run: Option<&IdempotentRun>,
    window: Duration,
) {
    let value = run.and_then(|r| {
        serde_json::to_string(&StoredRun {
            hash: hex(&r.request_hash),
            status: r.status,
            location: r.location.clone(),
            body: String::from_utf8(r.body.to_vec()).ok()?,
        })
        .ok()
    });
    let window_ms = window.as_millis().max(1) as u64;
    store
        .run(|mut c| async move {
            match value {
                Some(v) => {
                    redis::cmd("SET")
                        .arg(&key)
                        .arg(v)
                        .arg("PX")
                        .arg(window_ms)
                        .query_async::<()>(&mut c)
                        .await
                }
                None => redis::cmd("DEL").arg(&key).query_async::<()>(&mut c).await,
            }
        })
        .await;
}

pub async fn get_result(store: &SharedStore, key: &str) -> Option<CachedResult> {
    let stored: StoredResult = get_json(store, key.to_owned()).await?;
    Some(CachedResult::new(Bytes::from(stored.body), stored.results))
}

/// Keeps a finished result for `ttl` (bodies that are not UTF-8 JSON are not shared).
pub async fn put_result(store: &SharedStore, key: String, r: &CachedResult, ttl: Duration) {
    let Ok(body) = std::str::from_utf8(&r.body) else {
        return;
    };
    let stored = StoredResult {
        body: body.to_owned(),
        results: r.results.clone(),
    };
    set_json(store, key, &stored, ttl).await;
}

/// A JSON record under `key`, if Redis answers and it parses.
pub(super) async fn get_json<T: DeserializeOwned>(store: &SharedStore, key: String) -> Option<T> {
    let raw: Option<String> = store
        .run(|mut c| async move { redis::cmd("GET").arg(key).query_async(&mut c).await })
        .await?;
    serde_json::from_str(&raw?).ok()
}

/// Keeps `value` as JSON under `key` for `keep` (at least 1 ms).
pub(super) async fn set_json(
    store: &SharedStore,
    key: String,
    value: &impl Serialize,
    keep: Duration,
) {
    let Ok(value) = serde_json::to_string(value) else {
        return;
    };
    let keep_ms = keep.as_millis().max(1) as u64;
    store
        .run(|mut c| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(keep_ms)
                .query_async::<()>(&mut c)
                .await
        })
        .await;
}

/// Deletes shared results (a report upstream no longer has).
pub async fn forget(store: &SharedStore, keys: Vec<String>) {
    store
        .run(|mut c| async move { redis::cmd("DEL").arg(keys).query_async::<()>(&mut c).await })
        .await;
}

use crate::hex::encode as hex;

fn unhex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_hash_survives_the_trip_through_hex() {
        let h: [u8; 32] = std::array::from_fn(|i| (i * 37 % 256) as u8);
        assert_eq!(unhex(&hex(&h)), Some(h));
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex(&"g".repeat(64)), None);
    }
}
