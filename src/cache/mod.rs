//! Caches that understand reports. Results: a finished report never changes (kept long), a
//! running one is re-read at most once per `running_ttl`; concurrent misses make one upstream
//! call and failures are never cached. Files of finished reports up to a size are kept by
//! byte weight. Idempotency keys remember a run for a window. Ownership is always checked
//! before any of these is consulted (keys are upstream ids, reached only through
//! `resolve_id`).
//!
//! With Redis, idempotency keys, finished results and the reuse index are also kept there,
//! so that another replica replays the same run, serves a finished report without an
//! upstream call and reuses a run started elsewhere.
mod remote;
pub mod rendered;
mod reuse;
mod settings;

pub use reuse::{LatestRun, StartedRun};

pub use settings::CacheSettings;

use crate::domain::Status;
use crate::error::UpstreamError;
use crate::http::RequestContext;
use crate::shared::SharedStore;
use crate::wire::models::ReportResults;
use bytes::Bytes;
use moka::future::Cache;
use moka::Expiry;
use remote::Claim;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A report result as upstream sent it (the SDK paths relay the body) and as parsed.
#[derive(Debug)]
pub struct CachedResult {
    pub body: Bytes,
    pub results: ReportResults,
    /// The `/v1` body, rendered on the first `/v1` read without the caller's id
    /// (`rendered`); `None` inside when it cannot be rendered that way.
    pub v1_parts: std::sync::OnceLock<Option<rendered::Rendered>>,
}

impl CachedResult {
    pub fn new(body: Bytes, results: ReportResults) -> Self {
        Self {
            body,
            results,
            v1_parts: std::sync::OnceLock::new(),
        }
    }

    pub fn status(&self) -> Status {
        Status::from_upstream(self.results.status.as_deref())
    }
}

#[derive(Debug)]
pub struct CachedFile {
    pub content_type: Option<String>,
    pub content_disposition: Option<String>,
    pub body: Bytes,
}

/// A remembered run: which request made it, and what was answered.
#[derive(Debug)]
pub struct IdempotentRun {
    pub request_hash: [u8; 32],
    /// 202 for a started or joined run, 200 for a finished report handed over by reuse.
    pub status: u16,
    pub location: String,
    pub body: Bytes,
}

/// Hit/miss counters of one cache, for metrics.
#[derive(Debug, Default)]
pub struct Counters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub evictions: Arc<AtomicU64>,
}

struct ResultExpiry {
    running: Duration,
    terminal: Duration,
}

impl Expiry<(String, Option<bool>), Arc<CachedResult>> for ResultExpiry {
    fn expire_after_create(
        &self,
        _key: &(String, Option<bool>),
        value: &Arc<CachedResult>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(if value.status().is_terminal() {
            self.terminal
        } else {
            self.running
        })
    }
}

/// Why a file was not served from (or put in) the cache.
#[derive(Debug, thiserror::Error)]
pub enum FileMiss {
    #[error("file is larger than the cache's per-file limit")]
    TooLarge,
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

pub struct ReportCache {
    pub settings: CacheSettings,
    results: Cache<(String, Option<bool>), Arc<CachedResult>>,
    files: Cache<(String, String), Arc<CachedFile>>,
    /// Files known to be too large to cache: go straight to streaming.
    large_files: Cache<(String, String), ()>,
    idempotency: Cache<(String, String), Arc<IdempotentRun>>,
    /// The latest run of each request fingerprint (`maxAge` reuse, see `reuse`).
    runs: Cache<String, Arc<LatestRun>>,
    /// Runs being started, by fingerprint (see `start_once`).
    starting: Cache<String, Arc<StartedRun>>,
    shared: Option<Arc<SharedStore>>,
    pub result_counters: Counters,
    pub file_counters: Counters,
}

fn count_evictions<K, V>(
    c: &Arc<AtomicU64>,
) -> impl Fn(Arc<K>, V, moka::notification::RemovalCause) + Send + Sync + 'static {
    let c = c.clone();
    move |_, _, cause| {
        if cause.was_evicted() {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl ReportCache {
    pub fn new(settings: CacheSettings) -> Self {
        Self::with_store(settings, None)
    }

    pub fn with_store(settings: CacheSettings, shared: Option<Arc<SharedStore>>) -> Self {
        let result_counters = Counters::default();
        let file_counters = Counters::default();
        let results = Cache::builder()
            .max_capacity(settings.status_entries)
            .expire_after(ResultExpiry {
                running: settings.running_ttl,
                terminal: settings.terminal_ttl,
            })
            .eviction_listener(count_evictions(&result_counters.evictions))
            .build();
        let files = Cache::builder()
            .max_capacity(settings.files_capacity_mib * 1024 * 1024)
            .weigher(|_k: &(String, String), v: &Arc<CachedFile>| {
                v.body.len().try_into().unwrap_or(u32::MAX)
            })
            .time_to_live(settings.terminal_ttl)
            .eviction_listener(count_evictions(&file_counters.evictions))
            .build();
        let large_files = Cache::builder()
            .max_capacity(10_000)
            .time_to_live(settings.terminal_ttl)
            .build();
        let idempotency = Cache::builder()
            .max_capacity(settings.idempotency_entries)
            .time_to_live(settings.idempotency_window)
            .build();
        let runs = Cache::builder()
            .max_capacity(settings.reuse_entries)
            .time_to_live(settings.reuse_max_age * 2)
            .build();
        // Entries live only while their run starts; the bound is a backstop.
        let starting = Cache::builder()
            .max_capacity(10_000)
            .time_to_live(Duration::from_secs(60))
            .build();
        Self {
            settings,
            results,
            files,
            large_files,
            idempotency,
            runs,
            starting,
            shared,
            result_counters,
            file_counters,
        }
    }

    /// A report's result, from the cache or (one call for all concurrent askers) upstream.
    /// `fetch` makes the upstream call; it is only called on a miss.
    #[tracing::instrument(name = "Looking up a report result in the cache", skip_all)]
    pub async fn result<F, Fut>(
        &self,
        ctx: &RequestContext,
        id: &str,
        completed: Option<bool>,
        fetch: F,
    ) -> Result<Arc<CachedResult>, UpstreamError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedResult, UpstreamError>>,
    {
        let key = (id.to_owned(), completed);
        if let Some(hit) = self.results.get(&key).await {
            self.result_counters.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(hit);
        }
        self.result_counters.misses.fetch_add(1, Ordering::Relaxed);
        // Boxed: inline, the miss path's state (moka's single-flight around the whole
        // upstream call) made every status read's future tens of KB, copied as it was moved
        // and boxed by actix (the largest memcpy in profiles of cached reads).
        Box::pin(self.result_miss(ctx, key, id, completed, fetch())).await
    }

    /// Whether a read of this result would be answered from this replica's cache right now.
    pub fn has_result(&self, id: &str, completed: Option<bool>) -> bool {
        self.results.contains_key(&(id.to_owned(), completed))
    }

    async fn result_miss<Fut>(
        &self,
        ctx: &RequestContext,
        key: (String, Option<bool>),
        id: &str,
        completed: Option<bool>,
        fetch: Fut,
    ) -> Result<Arc<CachedResult>, UpstreamError>
    where
        Fut: Future<Output = Result<CachedResult, UpstreamError>>,
    {
        self.results
            .try_get_with(key, async {
                let rkey = self.shared.as_ref().map(|s| {
                    let c = completed.map_or("any", |c| if c { "done" } else { "all" });
                    s.key(&["result", id, c])
                });
                if let (Some(store), Some(rkey)) = (self.shared.as_ref(), rkey.as_ref()) {
                    if let Some(hit) = remote::get_result(store, rkey).await {
                        return Ok(Arc::new(hit));
                    }
                }
                let fresh = fetch.await?;
                if let (Some(store), Some(rkey)) = (self.shared.as_ref(), rkey) {
                    if fresh.status().is_terminal() {
                        remote::put_result(store, rkey, &fresh, self.settings.terminal_ttl).await;
                    }
                }
                Ok(Arc::new(fresh))
            })
            .await
            .map_err(|e| for_this_caller(&e, ctx))
    }

    /// The result of `id` as cached for a read without `completed`, if any (no upstream call).
    pub async fn peek_result(&self, id: &str) -> Option<Arc<CachedResult>> {
        self.results.get(&(id.to_owned(), None)).await
    }

    /// Drops everything kept about report `id`: its results, files and, with Redis, the
    /// shared copies (or another read would bring them back). For when upstream has purged it.
    pub async fn forget(&self, id: &str) {
        for completed in [None, Some(true), Some(false)] {
            self.results.invalidate(&(id.to_owned(), completed)).await;
        }
        for format in ["csv", "pdf"] {
            let key = (id.to_owned(), format.to_owned());
            self.files.invalidate(&key).await;
            self.large_files.invalidate(&key).await;
        }
        if let Some(store) = &self.shared {
            let keys = ["any", "done", "all"].map(|c| store.key(&["result", id, c]));
            remote::forget(store, keys.to_vec()).await;
        }
    }

    /// A small file from the cache, or fetched once for all concurrent askers. `Err(TooLarge)`
    /// means: stream it yourself (and the caller who fetched it keeps its stream in `spill`).
    #[tracing::instrument(name = "Looking up a report file in the cache", skip_all)]
    pub async fn file<F>(
        &self,
        ctx: &RequestContext,
        id: &str,
        format: &str,
        fetch: F,
    ) -> Result<Arc<CachedFile>, FileMiss>
    where
        F: Future<Output = Result<CachedFile, FileMiss>>,
    {
        let key = (id.to_owned(), format.to_owned());
        if self.large_files.contains_key(&key) {
            return Err(FileMiss::TooLarge);
        }
        if let Some(hit) = self.files.get(&key).await {
            self.file_counters.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(hit);
        }
        self.file_counters.misses.fetch_add(1, Ordering::Relaxed);
        match self
            .files
            .try_get_with(key.clone(), async { fetch.await.map(Arc::new) })
            .await
        {
            Ok(f) => Ok(f),
            Err(e) => match &*e {
                FileMiss::TooLarge => {
                    self.large_files.insert(key, ()).await;
                    Err(FileMiss::TooLarge)
                }
                FileMiss::Upstream(u) => Err(FileMiss::Upstream(for_this_caller(u, ctx))),
            },
        }
    }

    /// The remembered run for (team, key), or the result of `run` remembered under it.
    pub async fn idempotent<F>(
        &self,
        team: &str,
        key: &str,
        run: F,
    ) -> Result<Arc<IdempotentRun>, Arc<crate::error::GatewayError>>
    where
        F: Future<Output = Result<IdempotentRun, crate::error::GatewayError>>,
    {
        self.idempotency
            .try_get_with((team.to_owned(), key.to_owned()), async {
                match &self.shared {
                    Some(store) => self.idempotent_shared(store, team, key, run).await,
                    None => run.await,
                }
                .map(Arc::new)
            })
            .await
    }

    /// The run behind (team, key) across replicas: claimed with SET NX, so exactly one
    /// replica makes it; the others wait for its answer (bounded) and replay it. With Redis
    /// down, the run is made locally (remembered by this replica only).
    async fn idempotent_shared<F>(
        &self,
        store: &SharedStore,
        team: &str,
        key: &str,
        run: F,
    ) -> Result<IdempotentRun, crate::error::GatewayError>
    where
        F: Future<Output = Result<IdempotentRun, crate::error::GatewayError>>,
    {
        let rkey = remote::idempotency_key(store, team, key);
        let window = self.settings.idempotency_window;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match remote::claim(store, &rkey, window).await {
                None | Some(Claim::Mine) => break,
                Some(Claim::Done(r)) => return Ok(r),
                Some(Claim::Busy) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Some(Claim::Busy) => {
                    return Err(crate::error::GatewayError::Conflict {
                        code: "idempotency_key_in_progress",
                        message: "a request with this Idempotency-Key is still being made".into(),
                    })
                }
            }
        }
        let result = run.await;
        remote::settle(store, rkey, result.as_ref().ok(), window).await;
        result
    }

    /// (entries, weighted size) per cache: results, files.
    pub fn sizes(&self) -> [(&'static str, u64, u64); 2] {
        [
            (
                "results",
                self.results.entry_count(),
                self.results.entry_count(),
            ),
            (
                "files",
                self.files.entry_count(),
                self.files.weighted_size(),
            ),
        ]
    }
}

/// A waiter's copy of a failed single-flight's error. When the caller who made the call left
/// before it was sent, the others (still here) are asked to come back in a second rather
/// than told that they left.
fn for_this_caller(e: &UpstreamError, ctx: &RequestContext) -> UpstreamError {
    match e {
        UpstreamError::Abandoned if !ctx.caller_gone() => UpstreamError::Throttled {
            retry_after: std::time::Duration::from_secs(1),
        },
        e => e.clone(),
    }
}
