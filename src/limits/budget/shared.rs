//! The budget's Redis side: one dispatch step is one atomic decision across all replicas
//! (`shared::scripts::BUDGET`), keeping the pace, the pause and the fair order shared.
use super::UpstreamBudget;
use crate::shared::{scripts, SharedStore};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The Redis side of the budget.
pub(super) struct Shared {
    pub(super) store: Arc<SharedStore>,
    pub(super) keys: [String; 4],
    /// This replica's id in the heartbeats.
    pub(super) replica: String,
    /// This replica's share of the budget (`redis.fallback_share`).
    pub(super) share: f64,
    pub(super) interval_us: u64,
    pub(super) tolerance_us: u64,
    /// A team is active while a replica's heartbeat for it is younger than this.
    pub(super) active: Duration,
}

impl UpstreamBudget {
    /// One dispatch step against Redis: at most one permit per call (each is one atomic
    /// decision across all replicas). Returns when to look again.
    pub(super) async fn dispatch_shared(&self, sh: &Shared) -> Option<Instant> {
        let (teams, pause_us) = {
            let mut s = self.state.lock().unwrap();
            let now = Instant::now();
            s.prune(now);
            let pause_us = if std::mem::take(&mut s.pause_unshared) {
                s.paused_until
                    .map_or(0, |p| p.saturating_duration_since(now).as_micros() as u64)
            } else {
                0
            };
            let teams: Vec<(String, u32)> = s
                .teams
                .iter()
                .filter(|(_, q)| !q.waiters.is_empty())
                .map(|(t, q)| (t.clone(), q.weight as u32))
                .collect();
            // Idle replicas keep their heartbeat too: their share stays in the pace.
            let heartbeat_due = s
                .last_heard
                .is_none_or(|h| now.duration_since(h) >= sh.active / 4);
            if teams.is_empty() && !s.announced && pause_us == 0 && !heartbeat_due {
                return None;
            }
            s.announced = !teams.is_empty();
            (teams, pause_us)
        };
        let mut call = scripts::BUDGET.prepare_invoke();
        for k in &sh.keys {
            call.key(k);
        }
        call.arg(sh.interval_us)
            .arg(sh.tolerance_us)
            .arg(sh.active.as_micros() as u64)
            .arg(pause_us)
            .arg(&sh.replica)
            .arg(sh.share);
        for (team, weight) in &teams {
            call.arg(team).arg(*weight);
        }
        let reply: Option<(String, u64, String)> = sh
            .store
            .run(|mut c| async move { call.invoke_async(&mut c).await })
            .await;
        let now = Instant::now();
        let Some((team, wait_us, reason)) = reply else {
            // Redis went away: the next step runs locally. Our pause must reach Redis later.
            let mut s = self.state.lock().unwrap();
            s.pause_unshared |= pause_us > 0;
            s.announced = false;
            return Some(now);
        };
        self.state.lock().unwrap().last_heard = Some(now);
        let wait = Duration::from_micros(wait_us);
        match reason.as_str() {
            "grant" => {
                let mut s = self.state.lock().unwrap();
                if !s.grant_to(&team) {
                    tracing::debug!(team = %team, "shared permit found no live waiter");
                }
                Some(now)
            }
            "pause" => {
                // Another replica's 429 (or ours): show it here too.
                let mut s = self.state.lock().unwrap();
                let until = now + wait;
                s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
                Some(until)
            }
            "idle" => None,
            _ => Some(now + wait),
        }
    }
}
