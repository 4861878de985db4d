//! Overload driver: N teams each send at a fixed rate for a fixed time against one target
//! (reportgate or a peer), loopback only, every request bounded by a client timeout.
//! Prints one JSON line: per-team served/refused, wait p50/p99, and Jain's fairness index.
//!
//! cargo run --release --example overload -- --target http://127.0.0.1:8080 [--target …] \
//!     --path /v3/reports/ID/result --rate 30 --secs 30 --team t0=TOKEN0 --team t1=TOKEN1
use futures_util::future::join_all;
use serde_json::json;
use std::time::{Duration, Instant};

struct Args {
    /// One or more targets: request i of a team goes to target i mod n (round-robin, as a
    /// Kubernetes Service spreads a team's requests over replicas).
    targets: Vec<String>,
    path: String,
    rate: f64,
    secs: f64,
    teams: Vec<(String, String, f64)>,
}

fn args() -> Args {
    let mut a = Args {
        targets: vec![],
        path: String::new(),
        rate: 30.0,
        secs: 30.0,
        teams: vec![],
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--target" => a.targets.push(v),
            "--path" => a.path = v,
            "--rate" => a.rate = v.parse().expect("rate"),
            "--secs" => a.secs = v.parse().expect("secs"),
            "--team" => {
                let (name, rest) = v.split_once('=').expect("--team NAME=TOKEN[@RATE]");
                let (token, rate) = match rest.rsplit_once('@') {
                    Some((t, r)) => (t, r.parse().expect("rate")),
                    None => (rest, f64::NAN),
                };
                a.teams.push((name.into(), token.into(), rate));
            }
            _ => panic!("unknown argument {k}"),
        }
    }
    assert!(!a.targets.is_empty(), "--target is required");
    for t in &a.targets {
        assert!(
            t.starts_with("http://127.") || t.starts_with("http://[::1]"),
            "loopback only"
        );
    }
    a
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[actix_rt::main]
async fn main() {
    let a = args();
    let http = awc::Client::builder()
        .connector(awc::Connector::new().limit(0))
        .timeout(Duration::from_secs(60))
        .finish();
    let start = Instant::now();
    let per_team = a.teams.iter().map(|(team, token, rate)| {
        let (http, targets, path) = (&http, &a.targets, &a.path);
        let rate = if rate.is_nan() { a.rate } else { *rate };
        let n = (rate * a.secs) as usize;
        let gap = Duration::from_secs_f64(1.0 / rate);
        async move {
            let calls = (0..n).map(|i| {
                // `{id}` in the path becomes a fresh report id per request, so that no two
                // requests can be answered by one upstream call (no coalescing, no cache).
                let url = format!("{}{path}", targets[i % targets.len()])
                    .replace("{id}", &format!("{:032x}", rand::random::<u128>()));
                async move {
                    actix_rt::time::sleep_until((start + gap * i as u32).into()).await;
                    let t0 = Instant::now();
                    let status = match http
                        .get(&url)
                        .insert_header(("authorization", format!("Bearer {token}")))
                        .send()
                        .await
                    {
                        Ok(mut r) => {
                            let _ = r.body().limit(1 << 20).await;
                            r.status().as_u16()
                        }
                        Err(_) => 0,
                    };
                    (status, t0.elapsed().as_secs_f64())
                }
            });
            (team.clone(), join_all(calls).await)
        }
    });
    let results = join_all(per_team).await;
    let mut teams = serde_json::Map::new();
    let mut served_counts = vec![];
    let mut total = 0usize;
    let mut ok_total = 0usize;
    for (team, rs) in &results {
        // "Served": the upstream answered (the report is unknown there, so 404 is a success).
        let served: Vec<f64> = rs
            .iter()
            .filter(|(s, _)| matches!(s, 200 | 404))
            .map(|(_, l)| *l)
            .collect();
        let mut waits: Vec<f64> = rs.iter().map(|(_, l)| *l).collect();
        waits.sort_by(f64::total_cmp);
        let mut served_sorted = served.clone();
        served_sorted.sort_by(f64::total_cmp);
        let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
        for (s, _) in rs {
            *statuses.entry(*s).or_default() += 1;
        }
        served_counts.push(served.len() as f64);
        total += rs.len();
        ok_total += served.len();
        teams.insert(
            team.clone(),
            json!({
                "sent": rs.len(), "served": served.len(), "statuses": statuses,
                "wait_p50_ms": pct(&waits, 0.5) * 1e3, "wait_p99_ms": pct(&waits, 0.99) * 1e3,
                "served_wait_p99_ms": pct(&served_sorted, 0.99) * 1e3,
            }),
        );
    }
    let sum: f64 = served_counts.iter().sum();
    let sq: f64 = served_counts.iter().map(|x| x * x).sum();
    let jain = if sq == 0.0 {
        0.0
    } else {
        sum * sum / (served_counts.len() as f64 * sq)
    };
    println!(
        "{}",
        json!({
            "targets": a.targets, "elapsed_s": start.elapsed().as_secs_f64(), "sent": total, "served": ok_total,
            "success_rate": ok_total as f64 / total.max(1) as f64,
            "jain_index": jain, "teams": teams,
        })
    );
}
