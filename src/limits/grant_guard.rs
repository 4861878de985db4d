//! Failed client-credentials grants, limited per client id and per source address. Only
//! failures count, so a client that knows its secret is never slowed by its own grants.
//!
//! Both limits are GCRA buckets with short refills rather than lockout windows: an
//! address (a whole NAT'd office) that trips its limit is refused for about a second per
//! extra failure, never for minutes, while a guesser gets at most one try per second per
//! address and one per 6 s per client id after the first burst.
use super::gcra::Gcra;
use crate::clock::Clock;
use moka::sync::Cache;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Per client id: 10 failures at once, then one per 6 s.
const CLIENT_BURST: u32 = 10;
const CLIENT_INTERVAL: Duration = Duration::from_secs(6);
/// Per source address: 30 failures at once (several people mistyping), then one per second.
const ADDRESS_BURST: u32 = 30;
const ADDRESS_INTERVAL: Duration = Duration::from_secs(1);

type Bucket = Arc<Mutex<Gcra>>;

pub struct GrantGuard {
    by_client: Cache<String, Bucket>,
    by_address: Cache<IpAddr, Bucket>,
    clock: Clock,
}

/// IPv6 hosts usually hold a whole /64: one address there is the /64.
fn address_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

impl GrantGuard {
    pub fn new(clock: Clock) -> Self {
        // Idle buckets have long refilled (at most 60 s and 30 s): dropping them is exact.
        Self {
            by_client: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(600))
                .build(),
            by_address: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(600))
                .build(),
            clock,
        }
    }

    /// `Err(retry_after)` while either the client id or the address is over its limit.
    pub fn check(&self, client: &str, addr: Option<IpAddr>) -> Result<(), Duration> {
        let now = self.clock.now();
        let client_wait = self
            .by_client
            .get(client)
            .map_or(Duration::ZERO, |b| b.lock().unwrap().wait(now));
        let address_wait = addr
            .and_then(|a| self.by_address.get(&address_key(a)))
            .map_or(Duration::ZERO, |b| b.lock().unwrap().wait(now));
        match client_wait.max(address_wait) {
            w if w.is_zero() => Ok(()),
            w => Err(w),
        }
    }

    /// Counts a failed grant against the client id and the address.
    pub fn failed(&self, client: &str, addr: Option<IpAddr>) {
        let now = self.clock.now();
        self.by_client
            .get_with_by_ref(client, || {
                Arc::new(Mutex::new(Gcra::new(CLIENT_INTERVAL, CLIENT_BURST)))
            })
            .lock()
            .unwrap()
            .reserve(now);
        if let Some(a) = addr {
            self.by_address
                .get_with(address_key(a), || {
                    Arc::new(Mutex::new(Gcra::new(ADDRESS_INTERVAL, ADDRESS_BURST)))
                })
                .lock()
                .unwrap()
                .reserve(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_id_is_refused_after_its_burst_and_recovers_within_seconds() {
        let clock = Clock::default();
        let guard = GrantGuard::new(clock.clone());
        let addr: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..CLIENT_BURST {
            assert!(guard.check("rgc_a", Some(addr)).is_ok());
            guard.failed("rgc_a", Some(addr));
        }
        let wait = guard.check("rgc_a", Some(addr)).unwrap_err();
        assert!(wait <= CLIENT_INTERVAL, "{wait:?}");
        assert!(
            guard.check("rgc_b", Some(addr)).is_ok(),
            "other ids unaffected"
        );
        clock.advance(CLIENT_INTERVAL);
        assert!(guard.check("rgc_a", Some(addr)).is_ok());
    }

    #[test]
    fn an_address_is_refused_after_its_burst_for_about_a_second() {
        let clock = Clock::default();
        let guard = GrantGuard::new(clock.clone());
        let addr: IpAddr = "2001:db8::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8::2".parse().unwrap();
        for i in 0..ADDRESS_BURST {
            guard.failed(&format!("rgc_{i}"), Some(addr));
        }
        let wait = guard.check("rgc_new", Some(same_64)).unwrap_err();
        assert!(wait <= ADDRESS_INTERVAL, "{wait:?}");
        assert!(guard
            .check("rgc_new", Some("2001:db9::1".parse().unwrap()))
            .is_ok());
        clock.advance(ADDRESS_INTERVAL);
        assert!(guard.check("rgc_new", Some(addr)).is_ok());
    }
}
