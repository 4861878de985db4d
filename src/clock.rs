//! A monotonic clock tests can move forward, so expiry is tested without sleeping.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Default, Debug)]
pub struct Clock {
    offset_ms: Arc<AtomicU64>,
}

impl Clock {
    pub fn now(&self) -> Instant {
        Instant::now() + Duration::from_millis(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Wall time, moved forward with the clock: what report ages (`maxAge`) are measured
    /// against, so tests can age a finished report without waiting.
    pub fn utc_now(&self) -> chrono::DateTime<chrono::Utc> {
        let offset = Duration::from_millis(self.offset_ms.load(Ordering::Relaxed));
        chrono::Utc::now() + chrono::Duration::from_std(offset).unwrap_or_default()
    }

    /// The same wall time in Unix seconds: the `iat`/`exp` of tokens the gateway issues and
    /// checks.
    pub fn unix_secs(&self) -> u64 {
        self.utc_now().timestamp().max(0) as u64
    }

    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as u64, Ordering::Relaxed);
    }
}
