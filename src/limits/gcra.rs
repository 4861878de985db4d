//! GCRA (the generic cell rate algorithm): smooth pacing with a small burst, no window
//! edges. One `Gcra` is one "theoretical arrival time"; callers pass the current instant.
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Gcra {
    /// Time between two requests at the sustained rate.
    pub interval: Duration,
    /// How far ahead of schedule a request may be (burst − 1 intervals).
    pub tolerance: Duration,
    tat: Option<Instant>,
}

impl Gcra {
    /// `rate` requests per second sustained, `burst` at once.
    pub fn per_second(rate: f64, burst: u32) -> Self {
        let interval = Duration::from_secs_f64(1.0 / rate.max(1e-6));
        Self::new(interval, burst)
    }

    pub fn new(interval: Duration, burst: u32) -> Self {
        Self {
            interval,
            tolerance: interval * burst.max(1).saturating_sub(1),
            tat: None,
        }
    }

    fn tat(&self, now: Instant) -> Instant {
        self.tat.map_or(now, |t| t.max(now))
    }

    /// How long from `now` until the next request conforms (zero if it does now).
    pub fn wait(&self, now: Instant) -> Duration {
        (self.tat(now).checked_sub(self.tolerance).unwrap_or(now)).saturating_duration_since(now)
    }

    /// Books the next slot (which may be in the future) and returns the wait until it.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        let wait = self.wait(now);
        self.tat = Some(self.tat(now) + self.interval);
        wait
    }

    /// Requests that would conform right now, and the time until the bucket is full again.
    pub fn remaining(&self, now: Instant, burst: u32) -> (u32, Duration) {
        let ahead = self.tat(now).saturating_duration_since(now);
        let used = ahead.as_secs_f64() / self.interval.as_secs_f64();
        let remaining = (burst as f64 - used).floor().max(0.0) as u32;
        (remaining.min(burst), ahead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_requests_are_spaced_by_the_interval() {
        let t0 = Instant::now();
        let mut g = Gcra::new(Duration::from_millis(100), 3);
        assert_eq!(g.reserve(t0), Duration::ZERO);
        assert_eq!(g.reserve(t0), Duration::ZERO);
        assert_eq!(g.reserve(t0), Duration::ZERO);
        assert_eq!(g.reserve(t0), Duration::from_millis(100));
        assert_eq!(g.reserve(t0), Duration::from_millis(200));
        // After a quiet second the burst is available again.
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(g.wait(t1), Duration::ZERO);
        assert_eq!(g.remaining(t1, 3).0, 3);
    }

    #[test]
    fn no_window_ever_holds_more_than_rate_times_window_plus_burst() {
        let t0 = Instant::now();
        let mut g = Gcra::new(Duration::from_millis(100), 2);
        let grants: Vec<Instant> = (0..200).map(|_| t0 + g.reserve(t0)).collect();
        for (i, start) in grants.iter().enumerate() {
            let in_window = grants[i..]
                .iter()
                .filter(|t| **t < *start + Duration::from_secs(1))
                .count();
            assert!(in_window <= 10 + 2, "{in_window} grants in one second");
        }
    }
}
