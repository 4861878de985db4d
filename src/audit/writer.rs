//! The audit writer: one thread owns the sinks, so records are chained in one order. It
//! drains whatever is queued, writes it (group commit), fsyncs when any record in the batch
//! is blocking, then acknowledges. A failing file makes the sink unhealthy (readiness false,
//! blocking actions refused) and keeps unwritten records in a bounded backlog for retry.
use super::chain::{self, Hex64, GENESIS};
use super::retention::{self, Retention};
use super::sink::{Msg, Shared, SinkStats, BATCH_WINDOW};
use super::AuditSettings;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub(super) struct Writer {
    path: Option<PathBuf>,
    stdout: bool,
    max_bytes: u64,
    key: Option<ring::hmac::Key>,
    file: Option<File>,
    size: u64,
    retention: Option<Retention>,
    prev: Hex64,
    /// Records not yet on disk, and whether a caller waits for each.
    backlog: VecDeque<(String, bool)>,
    backlog_max: usize,
    healthy: Arc<AtomicBool>,
    stats: Arc<SinkStats>,
    latency: Option<prometheus::Histogram>,
    stdout_buf: Vec<u8>,
    /// The batch being written: its sealed lines, and where each ends with its hash.
    buf: Vec<u8>,
    ends: Vec<(usize, Hex64)>,
}

/// The hash of the last complete line of an existing file, so the chain continues. Only a
/// regular file is read: a device such as /dev/full reads forever.
fn last_hash(path: &Path) -> Option<Hex64> {
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let file = File::open(path).ok()?;
    let mut last = None;
    for line in BufReader::new(file).lines().map_while(Result::ok) {
        if let Some(i) = line.rfind(",\"hash\":\"") {
            last = line
                .get(i + 9..i + 9 + 64)
                .and_then(|h| h.as_bytes().try_into().ok());
        }
    }
    last
}

impl Writer {
    pub(super) fn new(
        s: &AuditSettings,
        healthy: Arc<AtomicBool>,
        stats: Arc<SinkStats>,
        latency: Option<prometheus::Histogram>,
    ) -> Self {
        let path = s.file.clone();
        let prev = path
            .as_deref()
            .and_then(last_hash)
            .unwrap_or_else(|| GENESIS.as_bytes().try_into().expect("64 digits"));
        let mut w = Self {
            path,
            stdout: s.stdout,
            max_bytes: s.max_file_bytes,
            key: s
                .hmac_key
                .as_ref()
                .map(|k| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, k.expose().as_bytes())),
            file: None,
            size: 0,
            retention: s
                .file
                .as_deref()
                .map(|p| Retention::scan(p, s.max_files, s.max_total_bytes)),
            prev,
            backlog: VecDeque::new(),
            backlog_max: s.max_backlog,
            healthy,
            stats,
            latency,
            stdout_buf: Vec::new(),
            buf: Vec::new(),
            ends: Vec::new(),
        };
        if w.path.is_some() {
            if let Err(e) = w.open() {
                w.healthy.store(false, Ordering::Relaxed);
                tracing::error!(error = %e, "audit file cannot be opened; blocking actions are refused until a write succeeds");
            }
        }
        w.prune();
        w
    }

    /// Applies the retention caps and publishes the bytes kept.
    fn prune(&mut self) {
        if let Some(r) = self.retention.as_mut() {
            let pruned = r.prune(self.size);
            self.stats.pruned_files.fetch_add(pruned, Ordering::Relaxed);
            self.stats
                .retained_bytes
                .store(r.retained(self.size), Ordering::Relaxed);
        }
    }

    fn open(&mut self) -> std::io::Result<()> {
        let path = self.path.as_ref().expect("file sink");
        if let Some(problem) = super::settings::not_a_regular_file(path) {
            return Err(std::io::Error::other(problem));
        }
        // Owner only: records name callers, teams and report arguments.
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        self.size = f.metadata()?.len();
        // A crash can leave a partial last line: end it so the next record starts clean.
        if self.size > 0 {
            let mut tail = [0u8; 1];
            use std::io::{Read, Seek, SeekFrom};
            let mut r = File::open(path)?;
            r.seek(SeekFrom::End(-1))?;
            r.read_exact(&mut tail)?;
            if tail[0] != b'\n' {
                f.write_all(b"\n")?;
                self.size += 1;
            }
        }
        self.file = Some(f);
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let path = self.path.clone().expect("file sink");
        self.file = None;
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ").to_string();
        let rotated = retention::rotated_name(&path, &stamp);
        std::fs::rename(&path, &rotated)?;
        if let Some(r) = self.retention.as_mut() {
            r.add(rotated, self.size);
        }
        self.size = 0;
        self.open()?;
        self.prune();
        Ok(())
    }

    /// Writes the backlog; the chain advances only for lines that reached the file. The
    /// lines are sealed into one buffer and written with as few calls as the file allows
    /// (one per batch, plus one per rotation): a write per record cost a syscall each.
    fn write_backlog(&mut self, sync: bool) -> std::io::Result<()> {
        if self.path.is_none() {
            return Ok(());
        }
        if self.file.is_none() {
            self.open()?;
        }
        while !self.backlog.is_empty() {
            // Seal the lines that fit in the current file (at least one).
            self.buf.clear();
            self.ends.clear();
            let mut prev = self.prev;
            for (json, _) in &self.backlog {
                let start = self.buf.len();
                let hash = chain::seal_into(&mut self.buf, json, &prev, self.key.as_ref());
                self.buf.push(b'\n');
                let fits = self.size + self.buf.len() as u64 <= self.max_bytes;
                if !fits && (self.size > 0 || start > 0) {
                    self.buf.truncate(start);
                    break;
                }
                self.ends.push((self.buf.len(), hash));
                prev = hash;
            }
            if self.ends.is_empty() {
                self.rotate()?;
                continue;
            }
            let (written, error) = write_counted(self.file.as_mut().expect("opened"), &self.buf);
            // Every complete line that reached the file is part of the chain.
            let done = self
                .ends
                .iter()
                .take_while(|(end, _)| *end <= written)
                .count();
            let mut complete = 0;
            if let Some((end, hash)) = done.checked_sub(1).map(|i| self.ends[i]) {
                self.prev = hash;
                complete = end;
            }
            self.size += written as u64;
            if self.stdout {
                self.stdout_buf.extend_from_slice(&self.buf[..complete]);
            }
            self.backlog.drain(..done);
            if let Some(e) = error {
                self.file = None; // reopen next time
                return Err(e);
            }
            if !self.backlog.is_empty() {
                self.rotate()?;
            }
        }
        if !self.stdout_buf.is_empty() {
            let _ = std::io::stdout().lock().write_all(&self.stdout_buf);
            self.stdout_buf.clear();
        }
        if sync {
            self.file.as_mut().expect("opened").sync_data()?;
        }
        Ok(())
    }

    /// Waits for work: at once for urgent messages, else within the batch window.
    fn next_batch(queue: &Shared) -> Option<Vec<Msg>> {
        let (lock, cvar) = &**queue;
        let mut q = lock.lock().unwrap();
        loop {
            if !q.msgs.is_empty() && (q.urgent || q.closed) {
                break;
            }
            if q.msgs.is_empty() {
                if q.closed {
                    return None;
                }
                q.idle = true;
                q = cvar.wait(q).unwrap();
                continue;
            }
            // Batch records only: give them a few milliseconds to gather company.
            let (next, timeout) = cvar.wait_timeout(q, BATCH_WINDOW).unwrap();
            q = next;
            if timeout.timed_out() {
                break;
            }
        }
        q.urgent = false;
        q.idle = false;
        Some(std::mem::take(&mut q.msgs))
    }

    pub(super) fn run(&mut self, queue: Shared) {
        while let Some(batch) = Self::next_batch(&queue) {
            let mut acks = Vec::new();
            let mut flushes = Vec::new();
            let mut sync = false;
            let mut stdout_lines = Vec::new();
            for msg in batch {
                match msg {
                    Msg::Write(e) => {
                        if self.path.is_none() {
                            // stdout only: chain and print at once.
                            let start = stdout_lines.len();
                            self.prev = chain::seal_into(
                                &mut stdout_lines,
                                &e.json,
                                &self.prev,
                                self.key.as_ref(),
                            );
                            stdout_lines.push(b'\n');
                            if !self.stdout {
                                stdout_lines.truncate(start);
                            }
                        } else if self.backlog.len() >= self.backlog_max {
                            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                        } else {
                            self.backlog.push_back((e.json, e.ack.is_some()));
                        }
                        sync |= e.ack.is_some();
                        acks.extend(e.ack);
                    }
                    Msg::Flush(tx) => flushes.push(tx),
                }
            }
            if !stdout_lines.is_empty() {
                // One write for the whole batch, not a syscall per line.
                let _ = std::io::stdout().lock().write_all(&stdout_lines);
            }
            if self.backlog.is_empty() && acks.is_empty() && flushes.is_empty() {
                continue;
            }
            let started = Instant::now();
            let result = self.write_backlog(sync);
            self.stats
                .last_write_micros
                .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            if let Some(h) = &self.latency {
                h.observe(started.elapsed().as_secs_f64());
            }
            self.stats
                .backlog
                .store(self.backlog.len() as u64, Ordering::Relaxed);
            if let Some(r) = &self.retention {
                self.stats
                    .retained_bytes
                    .store(r.retained(self.size), Ordering::Relaxed);
            }
            match &result {
                Ok(()) => {
                    self.stats
                        .writes
                        .fetch_add(acks.len().max(1) as u64, Ordering::Relaxed);
                    if !self.healthy.swap(true, Ordering::Relaxed) {
                        tracing::info!("audit writes succeed again");
                    }
                }
                Err(e) => {
                    // Callers waiting on these get 503 and a new record says so; these go.
                    self.backlog.retain(|(_, blocking)| !blocking);
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    // Logged when writes start failing, not at every retry: while the disk is
                    // full, each batch (every few milliseconds under load) fails again.
                    // reportgate_audit_failures_total counts every one.
                    if self.healthy.swap(false, Ordering::Relaxed) {
                        tracing::error!(error = %e, "audit write failed");
                    } else {
                        tracing::debug!(error = %e, "audit write failed again");
                    }
                }
            }
            for ack in acks {
                let _ = ack.send(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
            }
            for f in flushes {
                let _ = f.send(());
            }
        }
    }
}

/// Writes `buf` to `f` like `write_all`, but says how much reached the file before an error
/// stopped it, so the chain advances over exactly the complete lines written.
fn write_counted(f: &mut File, buf: &[u8]) -> (usize, Option<std::io::Error>) {
    let mut written = 0;
    while written < buf.len() {
        match f.write(&buf[written..]) {
            Ok(0) => return (written, Some(std::io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (written, Some(e)),
        }
    }
    (written, None)
}
