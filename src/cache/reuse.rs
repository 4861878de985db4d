//! The index `maxAge` reuse reads: for each run request (by its canonical fingerprint,
//! `domain::canonical`), the latest run the gateway started for it. Only who started which
//! upstream report is kept: its status and completion time are read through the result
//! cache when a caller asks, so a finished report costs no upstream call (and, with Redis,
//! none on another replica either, since finished results are shared there too).
//!
//! With Redis the index is shared: a run started on one replica is found by the others.
//! Redis down, each replica uses what it started or found itself.
use super::ReportCache;
use crate::error::GatewayError;
use crate::shared::SharedStore;
use crate::wire::models::TaskResultDetails;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The latest run of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestRun {
    pub upstream_id: String,
    /// Its owner (`policy.ownership`: a team or a caller) and the team that ran it.
    pub owner: String,
    pub team: String,
}

/// A run just started: who started it, and upstream's answer.
#[derive(Debug)]
pub struct StartedRun {
    pub run: LatestRun,
    pub task: TaskResultDetails,
}

impl ReportCache {
    /// Starts the run of a request once for all identical `maxAge` requests that arrive on
    /// this replica while its upstream call is under way (it may wait for a permit of the
    /// budget for seconds): the first makes the call, the others get its run (`false`).
    pub async fn start_once<Fut>(
        &self,
        fingerprint: &str,
        start: Fut,
    ) -> Result<(Arc<StartedRun>, bool), GatewayError>
    where
        Fut: Future<Output = Result<StartedRun, GatewayError>>,
    {
        let first = std::cell::Cell::new(false);
        let started = self
            .starting
            .try_get_with(fingerprint.to_owned(), async {
                first.set(true);
                start.await.map(Arc::new)
            })
            .await;
        if first.get() {
            // From now on the index has the run (or there is none to join).
            self.starting.invalidate(fingerprint).await;
        }
        started.map(|s| (s, first.get())).map_err(|e| (*e).clone())
    }

    /// The latest run of the request with this fingerprint, if one is remembered.
    pub async fn latest_run(&self, fingerprint: &str) -> Option<Arc<LatestRun>> {
        if let Some(store) = &self.shared {
            if let Some(run) = get(store, fingerprint).await {
                return Some(Arc::new(run));
            }
        }
        self.runs.get(fingerprint).await
    }

    /// Remembers a run as the latest of its request (for `2 × cache.reuse_max_age`, so a
    /// long run is still found when it ends).
    pub async fn remember_run(&self, fingerprint: &str, run: LatestRun) {
        if let Some(store) = &self.shared {
            put(store, fingerprint, &run, self.settings.reuse_max_age * 2).await;
        }
        self.runs
            .insert(fingerprint.to_owned(), Arc::new(run))
            .await;
    }
}

async fn get(store: &SharedStore, fingerprint: &str) -> Option<LatestRun> {
    super::remote::get_json(store, store.key(&["reuse", fingerprint])).await
}

async fn put(store: &SharedStore, fingerprint: &str, run: &LatestRun, keep: Duration) {
    super::remote::set_json(store, store.key(&["reuse", fingerprint]), run, keep).await;
}
