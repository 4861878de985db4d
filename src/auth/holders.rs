//! Which owners hold each upstream report the gateway sealed. Sealed ids need no state
//! (`report_ids`), but two questions do: "was this upstream id handed out by the gateway?"
//! (then its raw id is no way in for another team) and "does another owner still hold this
//! task?" (IdentityNow answers a run of a non-concurrent report that is already running
//! with *that* task, so two teams can be handed one task; one's cancel must not end the
//! other's export).
//!
//! Kept in this process (moka) and, with Redis, in a set per upstream id shared by the
//! replicas; reads take the union of both, so a Redis outage never forgets a local claim.
//! Owners are stored as digests: Redis never holds team names or caller ids.
use crate::shared::SharedStore;
use moka::future::Cache;
use redis::Script;
use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

/// What withdrawing a claim left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Another owner still holds the task: only this owner's claim was withdrawn.
    Withdrawn,
    /// No other owner holds it: the task may be cancelled upstream.
    Last,
}

type Owners = Arc<Mutex<BTreeSet<String>>>;

/// Left in a local set whose last member withdrew while another replica's owner holds the
/// task: the id stays known as sealed. Never an owner (digests are hex).
const WITHDRAWN: &str = "withdrawn";

pub struct Holders {
    local: Cache<String, Owners>,
    shared: Option<Arc<SharedStore>>,
    retention: Duration,
}

/// SREM the owner only if another member remains; 1 when withdrawn, 0 when it is the last.
/// KEYS: the holders set. ARGV: owner digest.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = redis.call('SCARD', KEYS[1])
local me = redis.call('SISMEMBER', KEYS[1], ARGV[1])
if n - me > 0 then
  redis.call('SREM', KEYS[1], ARGV[1])
  return 1
end
return 0
",
    )
});

fn digest(owner: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, owner.as_bytes());
    crate::hex::encode(&d.as_ref()[..16])
}

impl Holders {
    pub fn new(retention: Duration, entries: u64, shared: Option<Arc<SharedStore>>) -> Self {
        Self {
            local: Cache::builder()
                .max_capacity(entries)
                .time_to_idle(retention)
                .build(),
            shared,
            retention,
        }
    }

    fn key(store: &SharedStore, upstream: &str) -> String {
        store.key(&["holders", upstream])
    }

    /// Records that `owner` was handed `upstream` (sealed for it).
    pub async fn hold(&self, owner: &str, upstream: &str) {
        let me = digest(owner);
        let set = self
            .local
            .get_with(upstream.to_owned(), async { Owners::default() })
            .await;
        set.lock().unwrap().insert(me.clone());
        if let Some(store) = &self.shared {
            let key = Self::key(store, upstream);
            let ttl = self.retention.as_millis().max(1) as u64;
            store
                .run(|mut c| async move {
                    redis::pipe()
                        .cmd("SADD")
                        .arg(&key)
                        .arg(&me)
                        .ignore()
                        .cmd("PEXPIRE")
                        .arg(&key)
                        .arg(ttl)
                        .ignore()
                        .query_async::<()>(&mut c)
                        .await
                })
                .await;
        }
    }

    /// Digests of the owners holding `upstream`; empty when the gateway never sealed it
    /// (or has forgotten it: past the retention, or after a restart without Redis).
    async fn owners(&self, upstream: &str) -> BTreeSet<String> {
        let mut all = match self.local.get(upstream).await {
            Some(set) => set.lock().unwrap().clone(),
            None => BTreeSet::new(),
        };
        if let Some(store) = &self.shared {
            let key = Self::key(store, upstream);
            let remote: Option<Vec<String>> =
                store
                    .run(|mut c| async move {
                        redis::cmd("SMEMBERS").arg(key).query_async(&mut c).await
                    })
                    .await;
            all.extend(remote.unwrap_or_default());
        }
        all
    }

    /// Whether the gateway sealed `upstream` for anyone.
    pub async fn sealed(&self, upstream: &str) -> bool {
        !self.owners(upstream).await.is_empty()
    }

    /// Whether `owner` holds `upstream`.
    pub async fn holds(&self, owner: &str, upstream: &str) -> bool {
        self.owners(upstream).await.contains(&digest(owner))
    }

    /// Withdraws `owner`'s claim on `upstream` if another owner still holds it; otherwise
    /// keeps it (the id stays known as sealed) and answers `Last`.
    pub async fn release(&self, owner: &str, upstream: &str) -> Release {
        let me = digest(owner);
        let remote = match &self.shared {
            Some(store) => {
                let mut call = RELEASE.prepare_invoke();
                call.key(Self::key(store, upstream)).arg(&me);
                store
                    .run(|mut c| async move { call.invoke_async::<i64>(&mut c).await })
                    .await
            }
            None => None,
        };
        let local = self.local.get(upstream).await;
        let outcome = match (remote, &local) {
            (Some(1), _) => Release::Withdrawn,
            (Some(_), _) => Release::Last,
            // Redis down or not configured: this replica's view decides.
            (None, Some(set)) => {
                let set = set.lock().unwrap();
                if set.iter().any(|o| *o != me && o != WITHDRAWN) {
                    Release::Withdrawn
                } else {
                    Release::Last
                }
            }
            (None, None) => Release::Last,
        };
        if outcome == Release::Withdrawn {
            if let Some(set) = local {
                let mut set = set.lock().unwrap();
                set.remove(&me);
                // Never empty: an emptied set would forget that the gateway sealed the id.
                if set.is_empty() {
                    set.insert(WITHDRAWN.to_owned());
                }
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn the_last_holder_is_told_so_and_others_only_withdraw() {
        let h = Holders::new(Duration::from_secs(60), 100, None);
        assert!(!h.sealed("x").await);
        h.hold("team-a", "x").await;
        h.hold("team-b", "x").await;
        assert!(h.sealed("x").await && h.holds("team-b", "x").await);
        assert_eq!(h.release("team-b", "x").await, Release::Withdrawn);
        assert!(!h.holds("team-b", "x").await);
        assert_eq!(h.release("team-a", "x").await, Release::Last);
        assert!(h.sealed("x").await && h.holds("team-a", "x").await);
    }
}
