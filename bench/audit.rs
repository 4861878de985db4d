//! Audit sink throughput: records per second chained and written to a file, in batch mode
//! (queued; the writer group-commits without fsync) and in blocking mode (each caller waits
//! until its record is fsync'ed; concurrent callers share an fsync). The file is verified
//! afterwards with the same code as `reportgate audit verify`. Bounded: N records per mode.
//!
//! cargo run --release --example audit -- DIR [RECORDS] [BLOCKING_RECORDS] [CONCURRENCY]
use futures_util::future::join_all;
use reportgate::audit::{verify, AuditSettings, Mode, Modes, Sink};
use std::path::PathBuf;
use std::time::Instant;

/// A status-read record as the gateway writes it (typical size and field mix).
fn record(i: usize) -> String {
    format!(
        r#"{{"time":"2026-12-01T08:00:00.000Z","requestId":"{i:032x}","clientAddr":"127.0.0.1","userAgent":"bench","method":"GET","api":"v1","action":"status","caller":"bench","team":"bench","reportId":"2c9180835d2e5168015d32f890ca1581-0123456789abcdef0123456789abcdef","upstreamId":"2c9180835d2e5168015d32f890ca1581","reportType":null,"arguments":null,"outcome":"allowed","status":200,"upstreamStatus":null,"trackingId":null,"durationMs":0}}"#
    )
}

fn settings(file: PathBuf) -> AuditSettings {
    AuditSettings {
        stdout: false,
        file: Some(file),
        max_file_bytes: u64::MAX,
        max_files: usize::MAX,
        max_total_bytes: u64::MAX,
        max_backlog: 100_000,
        anonymous_interval: std::time::Duration::from_secs(60),
        modes: Modes {
            run: Mode::Blocking,
            status: Mode::Batch,
            download: Mode::Blocking,
            cancel: Mode::Blocking,
            other: Mode::Batch,
        },
        hmac_key: None,
        hmac_key_file: None,
        upstream_auditable: false,
    }
}

fn check(file: &PathBuf, expect: usize) {
    match verify::verify(std::slice::from_ref(file), None) {
        Ok(r) if r.records == expect => {}
        Ok(r) => panic!("{} records in the file, {expect} written", r.records),
        Err(b) => panic!("chain broken at line {}: {}", b.line, b.reason),
    }
}

#[actix_rt::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("DIR"));
    let n: usize = args.next().map_or(200_000, |v| v.parse().expect("RECORDS"));
    let nb: usize = args
        .next()
        .map_or(20_000, |v| v.parse().expect("BLOCKING_RECORDS"));
    let conc: usize = args.next().map_or(64, |v| v.parse().expect("CONCURRENCY"));

    let file = dir.join("batch.jsonl");
    let sink = Sink::start(&settings(file.clone()), None);
    let started = Instant::now();
    for i in 0..n {
        sink.enqueue(record(i));
    }
    sink.flush().await;
    let secs = started.elapsed().as_secs_f64();
    check(&file, n);
    println!(
        "  audit batch:    {:>9.0} records/s written ({n} records, {:.2} s, chain verified)",
        n as f64 / secs,
        secs
    );

    let file = dir.join("blocking.jsonl");
    let fsyncs = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new("w", "w"))
        .expect("histogram");
    let sink = Sink::start(&settings(file.clone()), Some(fsyncs.clone()));
    let started = Instant::now();
    let per = nb / conc;
    join_all((0..conc).map(|c| {
        let sink = &sink;
        async move {
            for i in 0..per {
                sink.write(record(c * per + i), true)
                    .await
                    .expect("blocking write");
            }
        }
    }))
    .await;
    let secs = started.elapsed().as_secs_f64();
    check(&file, per * conc);
    println!(
        "  audit blocking: {:>9.0} records/s written and fsync'ed ({} records from {conc} concurrent callers, {} fsyncs, {:.2} s, chain verified)",
        (per * conc) as f64 / secs,
        per * conc,
        fsyncs.get_sample_count(),
        secs
    );
}
