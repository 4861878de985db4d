//! `Range` on `/v1` file downloads, for cached and streamed files alike.
use crate::helpers::{assert_error, spawn_with, TestApp};
use reportgate::simulator::Simulator;
use std::time::Duration;

/// A finished report whose CSV is `rows` rows; `stream` makes downloads bypass the cache.
async fn app_with_file(rows: u64, stream: bool) -> (TestApp, String, bytes::Bytes) {
    let app = spawn_with(
        Simulator::builder()
            .report_duration(Duration::ZERO)
            .csv_rows(rows),
        |s| {
            if stream {
                s.cache.file_max_bytes = 1024;
            }
        },
    )
    .await;
    let id = app.run_accounts().await;
    let whole = app.download(&id, "csv").await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("accept-ranges").as_deref(), Some("bytes"));
    (app, id, whole.body)
}

async fn ranged(app: &TestApp, id: &str, range: &str) -> crate::helpers::Response {
    app.request_with(
        "GET",
        &format!("/v1/reports/{id}/file?format=csv"),
        None,
        &[("range", range)],
    )
    .await
}

async fn a_range_is_answered_with_exactly_those_bytes(stream: bool) {
    let (app, id, whole) = app_with_file(2_000, stream).await;
    let len = whole.len();
    for (range, start, end) in [
        ("bytes=0-99", 0, 99),
        ("bytes=100000-", 100_000, len - 1),
        ("bytes=-500", len - 500, len - 1),
        (&format!("bytes=1000-{}", len + 10), 1000, len - 1),
    ] {
        let r = ranged(&app, &id, range).await;
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {start}-{end}/{len}")),
            "{range}"
        );
        assert_eq!(r.body, whole.slice(start..=end), "{range}");
        assert_eq!(
            r.header("content-length"),
            Some((end - start + 1).to_string())
        );
    }
}

#[actix_rt::test]
async fn a_range_of_a_cached_file_is_answered_with_206_and_exactly_those_bytes() {
    a_range_is_answered_with_exactly_those_bytes(false).await;
}

#[actix_rt::test]
async fn a_range_of_a_streamed_file_is_answered_with_206_and_exactly_those_bytes() {
    a_range_is_answered_with_exactly_those_bytes(true).await;
}

#[actix_rt::test]
async fn a_range_past_the_end_is_answered_416_with_the_length() {
    for stream in [false, true] {
        let (app, id, whole) = app_with_file(100, stream).await;
        let r = ranged(&app, &id, &format!("bytes={}-", whole.len())).await;
        assert_error(&r, 416, "range_not_satisfiable");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes */{}", whole.len()))
        );
    }
}

#[actix_rt::test]
async fn unusable_or_conditional_ranges_get_the_whole_file() {
    let (app, id, whole) = app_with_file(100, false).await;
    for range in ["bytes=0-1,5-9", "bytes=9-2", "lines=1-2", "bytes=x-"] {
        let r = ranged(&app, &id, range).await;
        assert_eq!(r.status, 200, "{range}");
        assert_eq!(r.body, whole, "{range}");
    }
    let r = app
        .request_with(
            "GET",
            &format!("/v1/reports/{id}/file?format=csv"),
            None,
            &[("range", "bytes=0-9"), ("if-range", "\"some-etag\"")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, whole);
}
