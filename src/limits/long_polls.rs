//! How many long-polls each team holds open at once. A long-poll holds a connection and
//! re-reads the report every `running_ttl` for up to `cache.max_long_poll`: without a bound
//! one team could keep thousands open (each a socket, a task and, for uncached reports,
//! upstream polls). Counted per replica.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct LongPolls {
    per_team: usize,
    held: Mutex<HashMap<String, usize>>,
}

/// One long-poll's place; given back when dropped (the answer sent, or the caller gone).
pub struct Slot {
    polls: Arc<LongPolls>,
    team: String,
}

impl LongPolls {
    pub fn new(per_team: usize) -> Arc<Self> {
        Arc::new(Self {
            per_team,
            held: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one more long-poll of `team`, or `None` when it holds its bound.
    pub fn enter(self: &Arc<Self>, team: &str) -> Option<Slot> {
        let mut held = self.held.lock().unwrap();
        let n = held.entry(team.to_owned()).or_default();
        if *n >= self.per_team {
            return None;
        }
        *n += 1;
        Some(Slot {
            polls: self.clone(),
            team: team.to_owned(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.polls.held.lock().unwrap();
        if let Some(n) = held.get_mut(&self.team) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.team);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_team_holds_at_most_its_bound_and_a_finished_poll_frees_its_place() {
        let polls = LongPolls::new(2);
        let (a, _b) = (polls.enter("t").unwrap(), polls.enter("t").unwrap());
        assert!(polls.enter("t").is_none());
        assert!(polls.enter("other").is_some(), "teams are counted apart");
        drop(a);
        assert!(polls.enter("t").is_some());
    }
}
