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
