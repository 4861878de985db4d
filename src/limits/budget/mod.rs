//! The one upstream budget: every upstream call (except the token endpoint) takes a permit.
//! Permits are paced by GCRA below the tenant's limit, the whole budget pauses when the
//! upstream answers 429, and waiting callers are served by weighted fair queuing across
//! teams (start-time fair queuing: the team with the smallest virtual time goes next), so
//! a team that floods cannot starve a quiet one.
//!
//! With Redis (`shared`), the pace, the pause and the fair order live in Redis (see
//! `shared::scripts::BUDGET`) so that all replicas together keep to the one budget; each
//! replica keeps only its own queues. While Redis is down the local GCRA runs at the
//! replica's `fallback_share` of the budget.
mod shared;

use self::shared::Shared;
use super::gcra::Gcra;
use crate::shared::SharedStore;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Notify};

#[derive(Debug, Clone)]
pub struct BudgetConfig {
    /// Permits per window the budget hands out (the tenant limit times the safety factor).
    pub permits: u32,
    pub window: Duration,
    pub burst: u32,
    pub queue_per_team: usize,
    pub queue_global: usize,
}

struct Waiter {
    tx: oneshot::Sender<()>,
    deadline: Instant,
}

#[derive(Default)]
struct TeamQueue {
    weight: f64,
    vtime: f64,
    waiters: VecDeque<Waiter>,
}

struct State {
    gcra: Gcra,
    paused_until: Option<Instant>,
    teams: HashMap<String, TeamQueue>,
    vclock: f64,
    queued: usize,
    /// A pause this replica set that Redis has not heard of yet.
    pause_unshared: bool,
    /// Whether Redis holds heartbeats of ours (to drop them when our queues empty).
    announced: bool,
    /// When Redis last answered the budget script (our replica heartbeat).
    last_heard: Option<Instant>,
}

/// Why no permit was had in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The queues are full: answered at once.
    QueueFull,
    /// The caller's wait bound passed first.
    Timeout,
}

pub struct UpstreamBudget {
    cfg: BudgetConfig,
    state: Mutex<State>,
    wake: Notify,
    shared: Option<Shared>,
}

impl UpstreamBudget {
    /// Creates the budget and its dispatcher thread (which ends when the budget is dropped).
    pub fn start(cfg: BudgetConfig) -> Arc<Self> {
        Self::start_with(cfg, None)
    }

    /// The budget, shared through `store` when there is one.
    pub fn start_with(cfg: BudgetConfig, store: Option<Arc<SharedStore>>) -> Arc<Self> {
        let interval = cfg.window / cfg.permits.max(1);
        let shared = store.map(|store| Shared {
            keys: [
                store.key(&["budget"]),
                store.key(&["budget", "vtime"]),
                store.key(&["budget", "seen"]),
                store.key(&["budget", "replicas"]),
            ],
            share: store.fallback_share(),
            replica: format!("{:016x}", rand::random::<u64>()),
            interval_us: interval.as_micros() as u64,
            tolerance_us: (interval * cfg.burst.max(1).saturating_sub(1)).as_micros() as u64,
            active: Duration::from_secs(2).max(interval * 4),
            store,
        });
        // The local pace: the whole budget alone, or this replica's share of it as fallback.
        let local = match &shared {
            None => Gcra::new(interval, cfg.burst),
            Some(sh) => Gcra::new(interval.div_f64(sh.store.fallback_share()), 1),
        };
        let budget = Arc::new(Self {
            state: Mutex::new(State {
                gcra: local,
                paused_until: None,
                teams: HashMap::new(),
                vclock: 0.0,
                queued: 0,
                pause_unshared: false,
                announced: false,
                last_heard: None,
            }),
            cfg,
            wake: Notify::new(),
            shared,
        });
        let weak = Arc::downgrade(&budget);
        std::thread::Builder::new()
            .name("upstream-budget".into())
            .spawn(move || dispatcher(weak))
            .expect("spawn the budget dispatcher");
        budget
    }

    /// Waits for a permit until `deadline`. Immediate when nobody queues and the pace allows.
    #[tracing::instrument(name = "Waiting for an upstream permit", skip_all, fields(team = %team))]
    pub async fn acquire(&self, team: &str, weight: u32, deadline: Instant) -> Result<(), Refusal> {
        // Every request may wait one turn of the budget, however little of its own bound is
        // left (max_wait: 0, or a bound spent held by its team limit): it is served if its
        // team is next in the fair order, instead of being refused whenever anyone queues.
        // A shared permit is also a Redis round trip away.
        let now = Instant::now();
        let round_trip = match &self.shared {
            Some(sh) if sh.store.is_up() => sh.store.timeout(),
            _ => Duration::ZERO,
        };
        let deadline = deadline.max(now + self.turn() + round_trip);
        let rx = {
            let mut s = self.state.lock().unwrap();
            let paused = s.paused_until.is_some_and(|p| p > now);
            if s.paused_until.is_some_and(|p| p > deadline) {
                // A pause known to outlast the bound: answer now, not at the bound.
                return Err(Refusal::Timeout);
            }
            // Shared grants all go through the dispatcher (one Redis call each).
            if s.queued == 0
                && !paused
                && !self.is_shared()
                && self.fallback_hold(&s, now).is_none()
                && s.gcra.wait(now).is_zero()
            {
                s.gcra.reserve(now);
                return Ok(());
            }
            if s.queued >= self.cfg.queue_global {
                return Err(Refusal::QueueFull);
            }
            let vclock = s.vclock;
            let q = s.teams.entry(team.to_owned()).or_default();
            if q.waiters.len() >= self.cfg.queue_per_team {
                return Err(Refusal::QueueFull);
            }
            q.weight = f64::from(weight.max(1));
            if q.waiters.is_empty() {
                // A team that was idle joins at the current virtual time: no credit for idling.
                q.vtime = q.vtime.max(vclock);
            }
            let (tx, rx) = oneshot::channel();
            q.waiters.push_back(Waiter { tx, deadline });
            s.queued += 1;
            rx
        };
        self.wake.notify_one();
        match tokio::time::timeout_at(deadline.into(), rx).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(Refusal::Timeout),
        }
    }

    /// One turn of the budget: the pace's interval, twice (the next permit may be up to one
    /// interval away, and the one after it is the next turn of the fair order), at most 1 s,
    /// plus a grace of a quarter interval (at most 100 ms): a grant due exactly at the end of
    /// the turn arrives a little after it (the dispatcher's own wake-up), and was refused.
    fn turn(&self) -> Duration {
        let interval = self.state.lock().unwrap().gcra.interval;
        (interval * 2).min(Duration::from_secs(1)) + (interval / 4).min(Duration::from_millis(100))
    }

    /// After losing Redis, local permits wait until Redis has stopped counting this replica
    /// among the heard (its heartbeat is `active` old): until then its share is still in the
    /// shared pace, and spending it locally too would over-spend.
    fn fallback_hold(&self, s: &State, now: Instant) -> Option<Instant> {
        let sh = self.shared.as_ref()?;
        let from = s.last_heard? + sh.active;
        (now < from).then_some(from)
    }

    /// Stops all upstream calls until `now + d` (or later, if already paused longer).
    pub fn pause(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut s = self.state.lock().unwrap();
        s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
        s.pause_unshared = self.shared.is_some();
        drop(s);
        self.wake.notify_one();
    }

    /// Time left in the current pause.
    pub fn pause_remaining(&self) -> Duration {
        let s = self.state.lock().unwrap();
        s.paused_until.map_or(Duration::ZERO, |p| {
            p.saturating_duration_since(Instant::now())
        })
    }

    /// Callers waiting for a permit.
    pub fn queued(&self) -> usize {
        self.state.lock().unwrap().queued
    }

    /// Permits that could be granted right now (the GCRA bucket's content).
    pub fn available(&self) -> u32 {
        let s = self.state.lock().unwrap();
        s.gcra.remaining(Instant::now(), self.cfg.burst).0
    }

    /// A rough wait for a caller that arrives now: the pause, plus one interval per waiter.
    pub fn estimated_wait(&self) -> Duration {
        let s = self.state.lock().unwrap();
        let now = Instant::now();
        let pause = s
            .paused_until
            .map_or(Duration::ZERO, |p| p.saturating_duration_since(now));
        pause + s.gcra.wait(now) + s.gcra.interval * s.queued as u32
    }

    /// Whether permits come from Redis right now.
    pub fn is_shared(&self) -> bool {
        self.shared.as_ref().is_some_and(|sh| sh.store.is_up())
    }

    /// One dispatch step: grants what can be granted now; returns when to look again.
    fn dispatch(&self) -> Option<Instant> {
        let mut s = self.state.lock().unwrap();
        loop {
            let now = Instant::now();
            s.prune(now);
            if s.queued == 0 {
                return None;
            }
            if let Some(p) = s.paused_until.filter(|p| *p > now) {
                return Some(p);
            }
            if let Some(from) = self.fallback_hold(&s, now) {
                return Some(from);
            }
            let wait = s.gcra.wait(now);
            if !wait.is_zero() {
                return Some(now + wait);
            }
            let team = s
                .teams
                .iter()
                .filter(|(_, q)| !q.waiters.is_empty())
                .min_by(|a, b| a.1.vtime.total_cmp(&b.1.vtime))
                .map(|(name, _)| name.clone())
                .expect("queued > 0");
            let q = s.teams.get_mut(&team).expect("team exists");
            let waiter = q.waiters.pop_front().expect("non-empty");
            let start = q.vtime;
            if waiter.tx.send(()).is_ok() {
                q.vtime += 1.0 / q.weight;
                s.vclock = start;
                s.gcra.reserve(now);
            }
            s.queued -= 1;
        }
    }
}

impl State {
    /// Drops waiters that gave up (timed out or disconnected).
    fn prune(&mut self, now: Instant) {
        let mut dropped = 0;
        for q in self.teams.values_mut() {
            let before = q.waiters.len();
            q.waiters.retain(|w| !w.tx.is_closed() && w.deadline > now);
            dropped += before - q.waiters.len();
        }
        self.queued -= dropped;
    }

    /// Hands a permit to the team's first live waiter; false if none was left.
    fn grant_to(&mut self, team: &str) -> bool {
        let Some(q) = self.teams.get_mut(team) else {
            return false;
        };
        while let Some(w) = q.waiters.pop_front() {
            self.queued -= 1;
            if w.tx.send(()).is_ok() {
                return true;
            }
        }
        false
    }
}

fn dispatcher(budget: Weak<UpstreamBudget>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("dispatcher runtime");
    rt.block_on(async move {
        loop {
            let Some(b) = budget.upgrade() else { return };
            // Wake at the next grant time, on an arrival, or at least every second to notice
            // that the budget was dropped (shared: often enough to keep heartbeats fresh).
            let (next, cap) = match &b.shared {
                Some(sh) if sh.store.is_up() => (b.dispatch_shared(sh).await, sh.active / 4),
                _ => (b.dispatch(), Duration::from_secs(1)),
            };
            let cap = Instant::now() + cap;
            let next = next.unwrap_or(cap).min(cap);
            let wake = b.wake.notified();
            tokio::select! {
                _ = wake => {}
                _ = tokio::time::sleep_until(next.into()) => {}
            }
        }
    });
}

#[cfg(test)]
mod tests;
