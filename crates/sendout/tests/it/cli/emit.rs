//! `sendout emit` as a platform should ingest (issue 17): every request carries an
//! `Idempotency-Key`, and a request whose answer never came is sent again with the same key.
//! Between the binary and the real app sits a loopback TCP relay that loses the first
//! answer: it passes the request on, waits until the app begins to answer (so the events are
//! committed: the 202 comes after the commit) and then closes both connections. The retry
//! gets the first answer again, and the app holds one event, not two.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;

use crate::helpers::app::TestApp;

/// A relay to `upstream` on loopback that drops the first answer (see the module docs);
/// returns its address and how many connections it took.
async fn relay_losing_the_first_answer(upstream: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let first = count.fetch_add(1, Ordering::SeqCst) == 0;
            tokio::spawn(async move {
                let mut server = TcpStream::connect(upstream).await.unwrap();
                if !first {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    return;
                }
                let (mut from_client, _to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                let forward = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_client, &mut to_server).await;
                });
                // The answer's first byte: the app has committed; the client never sees it.
                let mut byte = [0_u8; 1];
                let _ = from_server.read(&mut byte).await;
                forward.abort();
            });
        }
    });
    (addr, connections)
}

#[tokio::test]
async fn emit_sends_a_request_whose_answer_was_lost_again_with_its_key_and_ingests_it_once() {
    let app = TestApp::spawn().await;
    app.create_webhook(json!({"target_url": "http://127.0.0.1:9/hook", "events": ["*"]}))
        .await;
    let upstream: SocketAddr = app.base_url.trim_start_matches("http://").parse().unwrap();
    let (relay, connections) = relay_losing_the_first_answer(upstream).await;

    let mut command = Command::new(env!("CARGO_BIN_EXE_sendout"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SENDOUT_") {
            command.env_remove(name);
        }
    }
    let output = command
        .args(["emit", "--server", &format!("http://{relay}")])
        .args(["--app-id", &app.project.app_id])
        .args(["--app-token", &app.project.app_token])
        .args(["--count", "2", "--timeout", "20s"])
        .output()
        .await
        .expect("the sendout binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("202 "), "{stdout}");
    assert!(
        stderr.contains("sending again with the same Idempotency-Key"),
        "{stderr}"
    );
    assert_eq!(connections.load(Ordering::SeqCst), 2, "one retry");
    assert_eq!(
        app.send_out_total().await,
        2,
        "the batch of two was ingested once"
    );
    let answer: serde_json::Value = serde_json::from_str(&stdout[4..]).unwrap();
    let listed = app.send_outs("").await;
    let stored: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["event_id"].as_str().unwrap())
        .collect();
    for event in answer["data"].as_array().unwrap() {
        assert!(stored.contains(&event["id"].as_str().unwrap()), "{event}");
    }
}
