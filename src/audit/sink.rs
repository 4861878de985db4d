//! The audit sink: the queue between request handlers and the writer thread (`writer.rs`),
//! which owns the files, so records are chained in one order. Batch records are queued
//! without waiting; blocking records wait until the writer has them on disk.
use super::writer::Writer;
use super::AuditSettings;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// A record to write; `ack` is set for blocking records.
pub struct Entry {
    pub json: String,
    pub ack: Option<oneshot::Sender<Result<(), String>>>,
}

pub enum Msg {
    Write(Entry),
    Flush(oneshot::Sender<()>),
}

#[derive(Default)]
pub struct SinkStats {
    pub writes: AtomicU64,
    pub failures: AtomicU64,
    /// Write latency of the last batch, in microseconds.
    pub last_write_micros: AtomicU64,
    pub backlog: AtomicU64,
    pub dropped: AtomicU64,
    /// Bytes of audit files on disk (current and rotated), and rotated files deleted.
    pub retained_bytes: AtomicU64,
    pub pruned_files: AtomicU64,
}

/// The queue between request handlers and the writer. Batch records are pushed without
/// waking the writer while it is busy (it comes back every few milliseconds); blocking
/// records and flushes wake it at once.
#[derive(Default)]
pub(super) struct Queue {
    pub(super) msgs: Vec<Msg>,
    pub(super) urgent: bool,
    pub(super) idle: bool,
    pub(super) closed: bool,
}

pub(super) type Shared = Arc<(Mutex<Queue>, Condvar)>;

/// How long batch records may wait for company before they are written.
pub(super) const BATCH_WINDOW: Duration = Duration::from_millis(5);

pub struct Sink {
    queue: Shared,
    healthy: Arc<AtomicBool>,
    pub stats: Arc<SinkStats>,
}

impl Sink {
    pub fn start(settings: &AuditSettings, latency: Option<prometheus::Histogram>) -> Self {
        let queue: Shared = Arc::default();
        let healthy = Arc::new(AtomicBool::new(true));
        let stats = Arc::new(SinkStats::default());
        let mut writer = Writer::new(settings, healthy.clone(), stats.clone(), latency);
        let q = queue.clone();
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run(q))
            .expect("spawn the audit writer");
        Self {
            queue,
            healthy,
            stats,
        }
    }

    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    fn push(&self, msg: Msg, urgent: bool) {
        let (lock, cvar) = &*self.queue;
        let mut q = lock.lock().unwrap();
        q.msgs.push(msg);
        if urgent || q.idle {
            q.urgent |= urgent;
            q.idle = false;
            cvar.notify_one();
        }
    }

    /// Queues a batch record without waiting (usable from `Drop`).
    pub fn enqueue(&self, json: String) {
        self.push(Msg::Write(Entry { json, ack: None }), false);
    }

    /// Queues a record; for a blocking one, waits until it is on disk.
    pub async fn write(&self, json: String, blocking: bool) -> Result<(), String> {
        if !blocking {
            self.enqueue(json);
            return Ok(());
        }
        let (ack, done) = oneshot::channel();
        self.push(
            Msg::Write(Entry {
                json,
                ack: Some(ack),
            }),
            true,
        );
        done.await.map_err(|_| "audit writer stopped".to_string())?
    }

    /// Waits until everything queued so far has been attempted (shutdown, tests).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        self.push(Msg::Flush(tx), true);
        let _ = rx.await;
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let (lock, cvar) = &*self.queue;
        lock.lock().unwrap().closed = true;
        cvar.notify_one();
    }
}
