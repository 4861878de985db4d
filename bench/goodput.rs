//! Goodput driver: clients that give up and retry, as SDKs and scripts do. Each of
//! `--clients` clients sends POST runs to the target(s) in a loop for `--secs` seconds; a
//! request not answered within `--give-up` seconds is abandoned (its connection closed) and
//! sent again at once; a 429 is retried after its `Retry-After` (at most the give-up time).
//! Prints one JSON line: answered runs (2xx) and what became of the other attempts. The
//! bench script sets the answers against the runs upstream saw: the share of upstream runs
//! that reached a caller still waiting.
//!
//! cargo run --release --example goodput -- --target http://127.0.0.1:8080 \
//!     --path /v3/reports/run --body '{"reportType":…}' --token TOKEN --clients 40 --secs 30
use futures_util::future::join_all;
use serde_json::json;
use std::time::{Duration, Instant};

struct Args {
    targets: Vec<String>,
    path: String,
    body: String,
    token: String,
    clients: usize,
    secs: f64,
    give_up: f64,
}

fn args() -> Args {
    let mut a = Args {
        targets: vec![],
        path: "/v3/reports/run".into(),
        body: String::new(),
        token: String::new(),
        clients: 40,
        secs: 30.0,
        give_up: 3.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--target" => a.targets.push(v),
            "--path" => a.path = v,
            "--body" => a.body = v,
            "--token" => a.token = v,
            "--clients" => a.clients = v.parse().expect("clients"),
            "--secs" => a.secs = v.parse().expect("secs"),
            "--give-up" => a.give_up = v.parse().expect("give-up"),
            _ => panic!("unknown argument {k}"),
        }
    }
    assert!(!a.targets.is_empty(), "--target is required");
    for t in &a.targets {
        assert!(t.starts_with("http://127."), "loopback only");
    }
    a
}

#[derive(Default)]
struct Tally {
    answered: usize,
    gave_up: usize,
    refused: usize,
    other: usize,
    answer_ms: Vec<f64>,
}

#[actix_rt::main]
async fn main() {
    let a = args();
    let give_up = Duration::from_secs_f64(a.give_up);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.secs);
    let clients = (0..a.clients).map(|c| {
        let a = &a;
        async move {
            // One client, one connection at a time; a request that times out takes its
            // connection with it (awc drops a connection whose response was not read).
            let http = awc::Client::builder()
                .connector(awc::Connector::new().limit(1))
                .timeout(give_up)
                .finish();
            let mut t = Tally::default();
            let mut i = c;
            while Instant::now() < end {
                let url = format!("{}{}", a.targets[i % a.targets.len()], a.path);
                i += 1;
                let t0 = Instant::now();
                let sent = http
                    .post(&url)
                    .insert_header(("authorization", format!("Bearer {}", a.token)))
                    .insert_header(("content-type", "application/json"))
                    .send_body(a.body.clone())
                    .await;
                match sent {
                    Ok(mut r) if r.status().is_success() => {
                        let _ = r.body().limit(1 << 20).await;
                        t.answered += 1;
                        t.answer_ms.push(t0.elapsed().as_secs_f64() * 1e3);
                    }
                    Ok(r) if r.status().as_u16() == 429 => {
                        t.refused += 1;
                        let after = r
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok()?.parse::<f64>().ok())
                            .unwrap_or(1.0);
                        actix_rt::time::sleep(Duration::from_secs_f64(after.min(a.give_up))).await;
                    }
                    Ok(_) => t.other += 1,
                    Err(awc::error::SendRequestError::Timeout) => t.gave_up += 1,
                    Err(_) => {
                        t.other += 1;
                        actix_rt::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            t
        }
    });
    let tallies = join_all(clients).await;
    let mut all = Tally::default();
    for t in tallies {
        all.answered += t.answered;
        all.gave_up += t.gave_up;
        all.refused += t.refused;
        all.other += t.other;
        all.answer_ms.extend(t.answer_ms);
    }
    all.answer_ms.sort_by(f64::total_cmp);
    let p = |q: f64| {
        all.answer_ms
            .get(((all.answer_ms.len() as f64 - 1.0) * q).round().max(0.0) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "{}",
        json!({
            "targets": a.targets, "clients": a.clients, "secs": a.secs, "give_up_s": a.give_up,
            "elapsed_s": start.elapsed().as_secs_f64(),
            "answered": all.answered, "gave_up": all.gave_up, "refused": all.refused,
            "other": all.other, "answer_p50_ms": p(0.5), "answer_p99_ms": p(0.99),
        })
    );
}
