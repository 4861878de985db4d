//! `cache:` settings.
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheSettings {
    /// How long a running report's status may be served from the cache.
    #[serde(with = "humantime_serde")]
    pub running_ttl: Duration,
    /// How long a finished report's result is kept.
    #[serde(with = "humantime_serde")]
    pub terminal_ttl: Duration,
    pub status_entries: u64,
    /// Upper bound of `?wait=` on status reads.
    #[serde(with = "humantime_serde")]
    pub max_long_poll: Duration,
    /// Long-polls one team may hold open at once (per replica); more get 429.
    pub long_polls_per_team: usize,
    /// Files up to this size are cached; larger ones stream through.
    pub file_max_bytes: u64,
    pub files_capacity_mib: u64,
    #[serde(with = "humantime_serde")]
    pub idempotency_window: Duration,
    pub idempotency_entries: u64,
    /// The largest `maxAge` a run may ask for; the reuse index keeps each run twice as long.
    #[serde(with = "humantime_serde")]
    pub reuse_max_age: Duration,
    pub reuse_entries: u64,
    /// How long the gateway remembers which upstream reports it handed out, and to whom
    /// (at least as long as IdentityNow keeps report results).
    #[serde(with = "humantime_serde")]
    pub sealed_ids_retention: Duration,
    pub sealed_ids_entries: u64,
}
