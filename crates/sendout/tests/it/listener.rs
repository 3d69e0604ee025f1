//! The API's listener against clients that hold sockets without working (issue 16): idle
//! connections and a slowloris sending its head a byte at a time are closed after the header
//! timeout, so `/health` and an authenticated ingest still answer with the connection limit
//! full of them; at the limit the oldest connection without a request makes room, and with
//! every connection busy a new one waits until one closes; a body sent a byte at a time is
//! cut off after the request timeout.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::app::TestApp;

/// Far longer than anything here should take; only a hang reaches it.
const BOUND: Duration = Duration::from_secs(10);

/// The app with these listener limits.
async fn listening(header_timeout: Duration, max_connections: usize) -> TestApp {
    TestApp::spawn_with(|c| {
        c.http_header_timeout = header_timeout;
        c.http_max_connections = max_connections;
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base_url.trim_start_matches("http://"))
        .await
        .expect("the app's port accepts")
}

/// Waits until the server has closed `stream` (reading its end, whatever it sent before).
async fn closed_by_the_server(stream: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(BOUND, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept the connection open");
}

async fn health(app: &TestApp) -> u16 {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(BOUND)
        .build()
        .unwrap();
    let answer = client.get(format!("{}/health", app.base_url)).send().await;
    answer.expect("/health answers").status().as_u16()
}

#[tokio::test]
async fn idle_sockets_and_a_slowloris_are_closed_while_health_and_ingest_still_answer() {
    const LIMIT: usize = 8;
    let app = listening(Duration::from_secs(1), LIMIT).await;
    // The limit, full: idle sockets and one sending a request head that never ends.
    let mut idle = Vec::new();
    for _ in 0..LIMIT - 1 {
        idle.push(connect(&app).await);
    }
    let slowloris = connect(&app).await;
    let (mut slow_reader, mut slow_writer) = slowloris.into_split();
    let trickling = tokio::spawn(async move {
        let head = b"POST /v1/events HTTP/1.1\r\nhost: sendout\r\nx-padding: ".iter();
        for byte in head.chain(std::iter::repeat(&b'a')) {
            if slow_writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });

    // New clients get in once the header timeout has closed the sockets doing nothing.
    assert_eq!(health(&app).await, 200);
    app.ingest(&json!({"type": "voucher.created", "data": {}}))
        .await
        .expect(202);

    for stream in &mut idle {
        closed_by_the_server(stream).await;
    }
    let mut buf = [0u8; 1024];
    let slow_closed = tokio::time::timeout(BOUND, async {
        while let Ok(n) = slow_reader.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    assert!(slow_closed.is_ok(), "the slowloris kept its connection");
    trickling.abort();
}

/// A connection in the middle of a request: one answered request, then an authenticated
/// ingest whose body has not all come.
async fn busy(app: &TestApp) -> TcpStream {
    let mut stream = connect(app).await;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: sendout\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(BOUND, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the server closed a connection with a request");
        answer.extend_from_slice(&buf[..n]);
    }
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nhost: sendout\r\nx-app-id: {}\r\nx-app-token: {}\r\n\
         content-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"type\":",
        app.project.app_id, app.project.app_token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn at_the_connection_limit_the_oldest_connection_without_a_request_makes_room() {
    const LIMIT: usize = 4;
    let app = listening(Duration::from_secs(600), LIMIT).await;
    let mut oldest = connect(&app).await;
    let mut others = Vec::new();
    for _ in 1..LIMIT {
        others.push(connect(&app).await);
    }

    // Far sooner than the header timeout would close any of them.
    assert_eq!(health(&app).await, 200);
    assert_eq!(health(&app).await, 200);

    closed_by_the_server(&mut oldest).await;
}

#[tokio::test]
async fn with_every_connection_busy_a_new_one_waits_until_one_closes() {
    let app = listening(Duration::from_secs(600), 2).await;
    let first = busy(&app).await;
    let _second = busy(&app).await;
    let base = app.base_url.clone();
    let waiting = tokio::spawn(async move {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let answer = client.get(format!("{base}/health")).send().await;
        answer.unwrap().status().as_u16()
    });

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "a third connection was served");

    drop(first);
    let status = tokio::time::timeout(BOUND, waiting).await;
    assert_eq!(status.expect("served once a slot was free").unwrap(), 200);
}

/// Graceful shutdown waits for the connections' requests, not for sockets doing nothing: idle
/// ones and one halfway through its head are closed at once, long before the header timeout.
#[tokio::test]
async fn a_shutdown_is_not_held_up_by_idle_or_half_sent_connections() {
    let app = listening(Duration::from_secs(600), 512).await;
    let mut idle = connect(&app).await;
    let mut half = connect(&app).await;
    half.write_all(b"GET /health HTTP/1.1\r\nhost: send")
        .await
        .unwrap();
    assert_eq!(health(&app).await, 200);

    let stopped = tokio::time::timeout(BOUND, app.shutdown()).await;

    assert!(stopped.is_ok(), "the shutdown waited for idle connections");
    closed_by_the_server(&mut idle).await;
    closed_by_the_server(&mut half).await;
}

/// A request whose body comes a byte at a time is cut off after `http_request_timeout` with
/// `408 request_timeout` (the API's error shape) and its connection closed, so it cannot hold
/// one of the listener's connections for long; nothing of it is stored.
#[tokio::test]
async fn a_body_sent_a_byte_at_a_time_is_cut_off_with_408_after_the_request_timeout() {
    let app = TestApp::spawn_with(|c| c.http_request_timeout = Duration::from_millis(700)).await;
    // A webhook for every event, so that an event stored would show as a send out.
    app.create_webhook(json!({"target_url": "http://127.0.0.1:9/never", "events": ["*"]}))
        .await;
    let mut stream = connect(&app).await;
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nhost: sendout\r\nx-app-id: {}\r\nx-app-token: {}\r\n\
         content-type: application/json\r\ncontent-length: 1000\r\n\r\n",
        app.project.app_id, app.project.app_token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Trickle until the server answers (each byte well inside any per-read timeout).
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let trickled = tokio::time::timeout(BOUND, async {
        for byte in b"{\"type\":\"voucher.created\",\"data\":{".iter().cycle() {
            if stream.write_all(&[*byte]).await.is_err() {
                break;
            }
            match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
            if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    assert!(trickled.is_ok(), "the server never cut the request off");
    let text = String::from_utf8_lossy(&answer).to_string();
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    // The rest of the answer (its error body), then the server closes the connection.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(BOUND, stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection was kept open");
    let text = format!("{text}{}", String::from_utf8_lossy(&rest));
    assert!(text.contains("\"key\":\"request_timeout\""), "{text}");
    assert_eq!(app.send_out_total().await, 0);

    // A request that arrives whole in time is answered as usual.
    assert_eq!(health(&app).await, 200);
}
