//! The tenant's rate limit (RL-DOC): 100 requests per 10 s counted per client id **and API
//! version**, with escalating back-off for clients that keep calling after a 429.
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// 429s within [`VIOLATION_WINDOW`] that move a client to the next back-off tier
/// (RL-DOC's route example: `intervalThreshold: 3`).
pub const BACKOFF_THRESHOLD: usize = 3;
/// RL-DOC `violationWindow: 120`.
pub const VIOLATION_WINDOW: Duration = Duration::from_secs(120);
/// RL-DOC `tierMemoryWindow: 3600`: a client quiet this long starts from the first tier again.
pub const TIER_MEMORY: Duration = Duration::from_secs(3600);

#[derive(Default)]
struct Entry {
    log: VecDeque<Instant>,
    violations: VecDeque<Instant>,
    tier: Option<usize>,
    blocked_until: Option<Instant>,
    last_violation: Option<Instant>,
}

#[derive(Default)]
pub struct RateLimiter {
    entries: Mutex<HashMap<(String, String), Entry>>,
}

/// The API version a path is counted under: `v3`, `v2024`…, `beta`, or `v1` for the
/// per-service `/reports/v1` paths.
pub fn api_version(path: &str) -> &str {
    let mut parts = path.trim_start_matches('/').split('/');
    match (parts.next(), parts.next()) {
        (Some("reports"), Some(v)) => v,
        (Some(v), _) => v,
        _ => "",
    }
}

impl RateLimiter {
    /// `Err(retry_after_seconds)` when the client is over the limit for this version.
    pub fn admit(
        &self,
        client_id: &str,
        version: &str,
        now: Instant,
        limit: u32,
        window: Duration,
        tiers: &[u64],
    ) -> Result<(), u64> {
        if limit == 0 {
            return Ok(());
        }
        let mut entries = self.entries.lock().unwrap();
        let e = entries
            .entry((client_id.to_owned(), version.to_owned()))
            .or_default();
        while e
            .log
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            e.log.pop_front();
        }
        let blocked = e.blocked_until.filter(|b| *b > now);
        if blocked.is_none() && e.log.len() < limit as usize {
            e.log.push_back(now);
            return Ok(());
        }
        // A 429: count it, and escalate a client that keeps calling.
        if e.last_violation
            .is_some_and(|t| now.duration_since(t) >= TIER_MEMORY)
        {
            e.tier = None;
        }
        e.last_violation = Some(now);
        while e
            .violations
            .front()
            .is_some_and(|t| now.duration_since(*t) >= VIOLATION_WINDOW)
        {
            e.violations.pop_front();
        }
        e.violations.push_back(now);
        if !tiers.is_empty() && e.violations.len() >= BACKOFF_THRESHOLD {
            let tier = e.tier.map_or(0, |t| (t + 1).min(tiers.len() - 1));
            e.tier = Some(tier);
            e.violations.clear();
            e.blocked_until = Some(now + Duration::from_secs(tiers[tier]));
            return Err(tiers[tier]);
        }
        let wait = match blocked {
            Some(until) => until - now,
            None => (e.log[0] + window).saturating_duration_since(now),
        };
        Err(wait.as_secs_f64().ceil().max(1.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_both_path_families() {
        assert_eq!(api_version("/v3/reports/run"), "v3");
        assert_eq!(api_version("/v2025/reports/x/result"), "v2025");
        assert_eq!(api_version("/reports/v1/run"), "v1");
    }

    #[test]
    fn a_client_that_keeps_calling_climbs_the_tiers_and_a_quiet_one_starts_over() {
        let rl = RateLimiter::default();
        let tiers = [60, 300, 600, 1200];
        let w = Duration::from_secs(10);
        let t0 = Instant::now();
        let call = |at: Duration| rl.admit("c", "v3", t0 + at, 2, w, &tiers);
        assert!(call(Duration::ZERO).is_ok());
        assert!(call(Duration::ZERO).is_ok());
        assert_eq!(call(Duration::ZERO), Err(10));
        assert_eq!(call(Duration::from_secs(1)), Err(9));
        // The third 429 within 120 s: the first tier.
        assert_eq!(call(Duration::from_secs(2)), Err(60));
        // Calls during the block are answered with what is left, then the next tier.
        assert_eq!(call(Duration::from_secs(12)), Err(50));
        assert_eq!(call(Duration::from_secs(13)), Err(49));
        assert_eq!(call(Duration::from_secs(14)), Err(300));
        for (i, expect) in [600, 1200, 1200].into_iter().enumerate() {
            let at = 400 + 2000 * i as u64;
            // Out of the block: the window admits its two again, then three 429s.
            for k in 0..2 {
                assert!(call(Duration::from_secs(at)).is_ok(), "call {k}");
            }
            for k in 0..2 {
                call(Duration::from_secs(at + k)).unwrap_err();
            }
            assert_eq!(call(Duration::from_secs(at + 2)), Err(expect));
        }
        // Another version has its own count.
        assert!(rl.admit("c", "v2025", t0, 2, w, &tiers).is_ok());
        // An hour without a 429: back to the plain window, then the first tier.
        let later = 20_000;
        assert!(call(Duration::from_secs(later)).is_ok());
        assert!(call(Duration::from_secs(later)).is_ok());
        call(Duration::from_secs(later)).unwrap_err();
        call(Duration::from_secs(later)).unwrap_err();
        assert_eq!(call(Duration::from_secs(later)), Err(60));
    }
}
