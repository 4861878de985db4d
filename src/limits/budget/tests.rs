use super::*;

fn budget(permits: u32, window_ms: u64) -> Arc<UpstreamBudget> {
    UpstreamBudget::start(BudgetConfig {
        permits,
        window: Duration::from_millis(window_ms),
        burst: 1,
        queue_per_team: 1000,
        queue_global: 1000,
    })
}

#[tokio::test(flavor = "current_thread")]
async fn equal_weights_share_permits_equally_and_a_heavier_weight_gets_more() {
    let b = budget(200, 1000); // one permit per 5 ms
    let deadline = Instant::now() + Duration::from_secs(5);
    let served = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
    let mut tasks = Vec::new();
    let local = tokio::task::LocalSet::new();
    for (team, weight) in [("a", 1), ("b", 1), ("c", 2)] {
        for _ in 0..60 {
            let (b, served) = (b.clone(), served.clone());
            tasks.push(local.spawn_local(async move {
                if b.acquire(team, weight, deadline).await.is_ok() {
                    *served.lock().unwrap().entry(team.into()).or_default() += 1;
                }
            }));
        }
    }
    // Stop after 80 permits: the order of service is what is measured.
    local
        .run_until(async {
            while served.lock().unwrap().values().sum::<u32>() < 80 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    let s = served.lock().unwrap().clone();
    let (a, bb, c) = (s["a"] as f64, s["b"] as f64, s["c"] as f64);
    assert!((a - bb).abs() <= 3.0, "{s:?}");
    assert!(c > a * 1.6 && c < a * 2.4, "{s:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_pause_holds_every_permit_until_it_ends() {
    let b = budget(1000, 1000);
    b.pause(Duration::from_millis(300));
    let started = Instant::now();
    b.acquire("a", 1, started + Duration::from_secs(2))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(290));
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_refuses_at_once() {
    let b = UpstreamBudget::start(BudgetConfig {
        permits: 1,
        window: Duration::from_secs(100),
        burst: 1,
        queue_per_team: 2,
        queue_global: 10,
    });
    let deadline = Instant::now() + Duration::from_millis(200);
    b.acquire("a", 1, deadline).await.unwrap(); // the one permit
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let w1 = tokio::task::spawn_local({
                let b = b.clone();
                async move { b.acquire("a", 1, deadline).await }
            });
            let w2 = tokio::task::spawn_local({
                let b = b.clone();
                async move { b.acquire("a", 1, deadline).await }
            });
            tokio::task::yield_now().await;
            assert_eq!(b.acquire("a", 1, deadline).await, Err(Refusal::QueueFull));
            assert_eq!(w1.await.unwrap(), Err(Refusal::Timeout));
            assert_eq!(w2.await.unwrap(), Err(Refusal::Timeout));
        })
        .await;
}
