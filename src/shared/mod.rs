//! State shared by replicas through Redis: the upstream budget (pacing, the 429 pause and
//! the fair order across teams), per-team limits, idempotency keys and finished results.
//!
//! Redis is optional. When `redis.url` is set, one connection (multiplexed) is kept by a
//! thread of its own, which checks it every `check_interval`; a failed or slow command marks
//! the store down at once and every user falls back to its in-process state, each replica
//! taking `fallback_share` of the budget and of team limits, until the thread reconnects.
//! Nothing ever waits for Redis longer than `timeout`.
pub mod scripts;
mod settings;

pub use settings::RedisSettings;

use redis::aio::MultiplexedConnection;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

pub struct SharedStore {
    settings: RedisSettings,
    conn: Mutex<Option<MultiplexedConnection>>,
    up: AtomicBool,
    /// Commands that failed or timed out.
    pub errors: AtomicU64,
    /// Times the store went from up to down.
    pub fallbacks: AtomicU64,
}

impl SharedStore {
    /// Starts the connection thread; the store is down until its first connection succeeds
    /// (so a replica starts and serves in fallback mode when Redis is not there yet).
    pub fn start(settings: RedisSettings) -> anyhow::Result<Arc<Self>> {
        let client = settings.client()?;
        let store = Arc::new(Self {
            settings,
            conn: Mutex::new(None),
            up: AtomicBool::new(false),
            errors: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&store);
        std::thread::Builder::new()
            .name("redis".into())
            .spawn(move || keeper(weak, client))?;
        Ok(store)
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    /// The longest any one Redis decision may take.
    pub fn timeout(&self) -> std::time::Duration {
        self.settings.timeout
    }

    pub fn fallback_share(&self) -> f64 {
        self.settings.fallback_share
    }

    /// A key under this gateway's prefix. The `{…}` hash tag keeps every key of one gateway
    /// in one hash slot, as multi-key scripts would need on a cluster.
    pub fn key(&self, parts: &[&str]) -> String {
        let mut k = format!("{{{}}}", self.settings.key_prefix);
        for p in parts {
            k.push(':');
            k.push_str(p);
        }
        k
    }

    /// Runs one command against Redis within `timeout`. `None` when the store is down or
    /// the command fails: the caller uses its local state instead.
    pub async fn run<T, F, Fut>(&self, f: F) -> Option<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.conn.lock().unwrap().clone()?;
        match tokio::time::timeout(self.settings.timeout, f(conn)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                self.mark_down(&format!("command failed: {}", kind(&e)));
                None
            }
            Err(_) => {
                self.mark_down("command timed out");
                None
            }
        }
    }

    fn mark_down(&self, why: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        // Response errors from a script are bugs, not outages, but both end the same way:
        // local state is always safe.
        *self.conn.lock().unwrap() = None;
        if self.up.swap(false, Ordering::SeqCst) {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                reason = why,
                share = self.settings.fallback_share,
                "Redis unavailable: falling back to local limits (this replica takes its share of the budget)"
            );
        }
    }

    fn set_up(&self, conn: MultiplexedConnection) {
        *self.conn.lock().unwrap() = Some(conn);
        if !self.up.swap(true, Ordering::SeqCst) {
            tracing::info!("Redis reachable: budget, limits and idempotency are shared");
        }
    }
}

/// Keeps the connection: connects when there is none, pings it otherwise. Ends when the
/// store is dropped.
fn keeper(store: Weak<SharedStore>, client: redis::Client) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("redis runtime");
    // The connection's driver task lives on this runtime, so it runs for as long as the loop.
    rt.block_on(async move {
        loop {
            let Some(s) = store.upgrade() else { return };
            let interval = s.settings.check_interval;
            let timeout = s.settings.timeout;
            let current = s.conn.lock().unwrap().clone();
            match current {
                None => {
                    let cfg = redis::AsyncConnectionConfig::new()
                        .set_connection_timeout(Some(s.settings.connect_timeout))
                        .set_response_timeout(Some(timeout));
                    match client
                        .get_multiplexed_async_connection_with_config(&cfg)
                        .await
                    {
                        Ok(mut c) => {
                            let pong: redis::RedisResult<String> =
                                redis::cmd("PING").query_async(&mut c).await;
                            match pong {
                                Ok(_) => s.set_up(c),
                                Err(e) => {
                                    tracing::debug!(error = kind(&e), "Redis ping failed")
                                }
                            }
                        }
                        Err(e) => tracing::debug!(error = kind(&e), "Redis connect failed"),
                    }
                }
                Some(_) => {
                    let ok = s
                        .run(|mut c| async move {
                            redis::cmd("PING").query_async::<String>(&mut c).await
                        })
                        .await;
                    if ok.is_none() {
                        tracing::debug!("Redis ping failed");
                    }
                }
            }
            drop(s);
            tokio::time::sleep(interval).await;
        }
    });
}

/// The error's kind only: the kind is all operators need, and it can quote nothing.
fn kind(e: &redis::RedisError) -> String {
    format!("{:?}", e.kind())
}

/// The URL with any password replaced, for printing.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("REDACTED"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "[unparseable]".into(),
    }
}

/// Let tests and operators see the mode: "shared", "fallback" or "disabled".
pub fn mode(store: Option<&SharedStore>) -> &'static str {
    match store {
        None => "disabled",
        Some(s) if s.is_up() => "shared",
        Some(_) => "fallback",
    }
}
