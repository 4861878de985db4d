//! Callers that hold the gateway's resources: a body that never finishes arriving, a
//! long-poll whose caller has hung up, a team opening long-polls without end.
use crate::helpers::{spawn_with, TestApp};
use reportgate::simulator::Simulator;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A raw connection to the gateway's API listener.
async fn connect(app: &TestApp) -> tokio::net::TcpStream {
    let addr = app.address.trim_start_matches("http://");
    tokio::net::TcpStream::connect(addr).await.unwrap()
}

#[actix_rt::test]
async fn a_request_body_that_does_not_arrive_in_time_gets_408_and_no_upstream_call() {
    // Arrange: a 300 ms body deadline.
    let app = spawn_with(Simulator::builder(), |s| {
        s.server.body_timeout = Duration::from_millis(300)
    })
    .await;
    let mut conn = connect(&app).await;
    let head = format!(
        "POST /v1/reports HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"type\":",
        app.token
    );

    // Act: announce 100 bytes, send 8, then nothing.
    let started = Instant::now();
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer)).await;

    // Assert: a JSON 408 soon after the deadline, and the connection closed.
    assert!(read.is_ok(), "the gateway closed the connection");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""error":"request_timeout""#), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(app.sim.counters().api_calls(), 0);
}

/// A long report (one hour) started through the gateway: its id.
async fn long_report(app: &TestApp) -> String {
    let r = app.run(r#"{"type":"IDENTITIES"}"#).await;
    assert_eq!(r.status, 202, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_owned()
}

fn long_reports() -> reportgate::simulator::SimulatorBuilder {
    Simulator::builder().report_duration(Duration::from_secs(3600))
}

/// A long-poll sent over a connection of its own, left open: dropping it hangs up.
async fn start_long_poll(app: &TestApp, id: &str) -> tokio::net::TcpStream {
    let mut conn = connect(app).await;
    let req = format!(
        "GET /v1/reports/{id}?wait=60 HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {}\r\n\r\n",
        app.token
    );
    conn.write_all(req.as_bytes()).await.unwrap();
    conn
}

#[actix_rt::test]
async fn a_long_poll_ends_when_its_caller_hangs_up() {
    // Arrange: a long-poll of a report that runs for an hour, its status cached for 30 s
    // (so the long-poll re-reads the cache, not upstream, where a departure was noticed).
    let app = spawn_with(long_reports(), |s| {
        s.cache.running_ttl = Duration::from_secs(30)
    })
    .await;
    let id = long_report(&app).await;
    let conn = start_long_poll(&app, &id).await;
    let started = Instant::now();
    while app.sim.counters().result < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the long-poll reads"
        );
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }

    // Act: the caller hangs up.
    drop(conn);

    // Assert: the request ends at once, audited as abandoned (499), not after 60 s.
    let record = loop {
        let found = app
            .audit_lines()
            .into_iter()
            .find(|r| r["action"] == "status" && r["status"] == 499);
        if let Some(r) = found {
            break r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the long-poll is still held: {:?}",
            app.audit_lines()
        );
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(record["outcome"], "abandoned", "{record}");
}

#[actix_rt::test]
async fn a_team_holds_at_most_its_bound_of_long_polls_and_more_get_429() {
    // Arrange: two long-polls per team.
    let app = spawn_with(long_reports(), |s| s.cache.long_polls_per_team = 2).await;
    let id = long_report(&app).await;
    let _held = [
        start_long_poll(&app, &id).await,
        start_long_poll(&app, &id).await,
    ];
    let started = Instant::now();
    while app.sim.counters().result < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "both long-polls run"
        );
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }

    // Act
    let third = app
        .request("GET", &format!("/v1/reports/{id}?wait=60"), None)
        .await;
    let plain = app.status(&id).await;

    // Assert: a third long-poll is refused at once; a plain status read is not.
    crate::helpers::assert_error(&third, 429, "too_many_long_polls");
    assert_eq!(third.header("retry-after").as_deref(), Some("1"));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(plain.status, 200);
}
