//! Requests no well-behaved HTTP client would send (bytes that are not UTF-8 in a header, a
//! megabyte of header, a chunked body with no length), written on raw TCP to the app.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What came back: the status (0 if the connection ended without one), the headers' text
/// and the body as JSON (`Null` if it is not JSON).
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    pub head: String,
    pub json: Value,
}

/// Sends `head` (request line and headers, without the blank line) and `body` to the app
/// at `base_url` (`http://127.0.0.1:port`) on a fresh connection, and reads the answer until
/// the server closes it.
pub async fn send(base_url: &str, head: &[u8], body: &[u8]) -> RawAnswer {
    let addr = base_url.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).await.expect("the app accepts");
    let (mut reader, mut writer) = stream.into_split();
    let mut request = head.to_vec();
    request.extend_from_slice(b"\r\nconnection: close\r\n\r\n");
    request.extend_from_slice(body);
    // The server may answer (and close) before it has read everything; that is fine.
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(&request).await;
        let _ = writer.flush().await;
        writer
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buf = [0u8; 8192];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the app neither answered nor closed");
    drop(writing.await);
    parse(&answer)
}

fn parse(answer: &[u8]) -> RawAnswer {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    RawAnswer {
        status,
        head: head.to_owned(),
        json: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

/// A chunked body of `chunks` pieces of `size` bytes each, with the final empty chunk.
pub fn chunked(piece: &[u8], chunks: usize) -> Vec<u8> {
    let mut body = Vec::new();
    for _ in 0..chunks {
        body.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        body.extend_from_slice(piece);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    body
}
