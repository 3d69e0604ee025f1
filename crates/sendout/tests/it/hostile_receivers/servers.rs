//! Receivers that break HTTP on purpose, written on raw TCP because a well-behaved server
//! library cannot misbehave enough: garbage instead of a status line, a reset connection,
//! silence, a body or a header block that never ends, a byte at a time.
//!
//! Each listens on a loopback address and counts the connections it got and the bytes it
//! wrote; a connection it was still writing to when the client went away counts as
//! `abandoned`, so a test can tell "the client stopped reading" from "the server stopped".
//! Everything stops when the server is dropped.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How a [`RawServer`] answers every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Bytes that are not HTTP, then close.
    Garbage,
    /// Reads the request, then resets the connection (RST, not FIN).
    Reset,
    /// Reads the request and never answers, holding the connection open.
    Silent,
    /// `200 OK` with a chunked body that never ends.
    EndlessBody,
    /// A status line, then header lines forever.
    EndlessHeaders,
    /// The status line one byte every 100 ms, never finishing the head.
    TrickleHead,
    /// A complete `200 OK` head, then the body one byte every 100 ms.
    TrickleBody,
    /// A `200 OK` head announcing 100 bytes, 10 of them, then the connection closed.
    CutShortBody,
    /// A plain-HTTP answer at once, before reading anything: what an `https://` target
    /// pointing at a plain-HTTP port sends back to a TLS handshake.
    PlainHttp,
}

#[derive(Debug, Default)]
struct Counts {
    written: AtomicU64,
}

/// A misbehaving receiver on loopback.
#[derive(Debug)]
pub struct RawServer {
    addr: SocketAddr,
    counts: Arc<Counts>,
    connections: watch::Receiver<u64>,
    abandoned: watch::Receiver<u64>,
    task: JoinHandle<()>,
}

impl RawServer {
    /// Starts on 127.0.0.1 and a free port.
    pub async fn start(how: Misbehaviour) -> Self {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), how).await
    }

    /// Starts on a loopback address and a free port.
    pub async fn start_on(ip: IpAddr, how: Misbehaviour) -> Self {
        assert!(ip.is_loopback(), "test receivers listen on loopback only");
        let listener = TcpListener::bind(SocketAddr::new(ip, 0))
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("the server's address");
        let counts = Arc::new(Counts::default());
        let (connections_tx, connections) = watch::channel(0);
        let (abandoned_tx, abandoned) = watch::channel(0);
        let (connections_tx, abandoned_tx) = (Arc::new(connections_tx), Arc::new(abandoned_tx));
        let shared = counts.clone();
        let task = tokio::spawn(async move {
            let mut open = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections_tx.send_modify(|n| *n += 1);
                let (counts, abandoned) = (shared.clone(), abandoned_tx.clone());
                open.spawn(async move {
                    if misbehave(stream, how, &counts).await.is_err() {
                        abandoned.send_modify(|n| *n += 1);
                    }
                });
            }
        });
        Self {
            addr,
            counts,
            connections,
            abandoned,
            task,
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `scheme://addr/hook`.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}/hook", self.addr)
    }

    /// Bytes written to clients so far.
    pub fn written(&self) -> u64 {
        self.counts.written.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        *self.connections.borrow()
    }

    /// Waits until `n` connections were abandoned by the client while the server wrote.
    pub async fn wait_abandoned(&self, n: u64, timeout: Duration) {
        let mut abandoned = self.abandoned.clone();
        let done = tokio::time::timeout(timeout, abandoned.wait_for(|a| *a >= n)).await;
        assert!(
            matches!(done, Ok(Ok(_))),
            "the client did not let go of the connection ({} bytes written)",
            self.written()
        );
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection task.
        self.task.abort();
    }
}

/// Reads until the end of the request head (or 64 KiB, or the client stops).
async fn read_head(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(())
}

async fn write(stream: &mut TcpStream, bytes: &[u8], counts: &Counts) -> std::io::Result<()> {
    stream.write_all(bytes).await?;
    counts
        .written
        .fetch_add(bytes.len() as u64, Ordering::SeqCst);
    Ok(())
}

/// Serves one connection; an error means the client went away while we were writing.
async fn misbehave(
    mut stream: TcpStream,
    how: Misbehaviour,
    counts: &Counts,
) -> std::io::Result<()> {
    let tick = Duration::from_millis(100);
    match how {
        Misbehaviour::Garbage => {
            read_head(&mut stream).await?;
            write(
                &mut stream,
                b"\x16\x03\x01 this is not HTTP at all\r\n\r\n",
                counts,
            )
            .await
        }
        Misbehaviour::Reset => {
            read_head(&mut stream).await?;
            stream.set_zero_linger()?;
            drop(stream);
            Ok(())
        }
        Misbehaviour::Silent => {
            read_head(&mut stream).await?;
            std::future::pending().await
        }
        Misbehaviour::EndlessBody => {
            read_head(&mut stream).await?;
            let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
            write(&mut stream, head, counts).await?;
            let chunk = format!("4000\r\n{}\r\n", "x".repeat(0x4000));
            loop {
                write(&mut stream, chunk.as_bytes(), counts).await?;
            }
        }
        Misbehaviour::EndlessHeaders => {
            read_head(&mut stream).await?;
            write(&mut stream, b"HTTP/1.1 200 OK\r\n", counts).await?;
            let line = format!("x-junk: {}\r\n", "y".repeat(1000));
            loop {
                write(&mut stream, line.as_bytes(), counts).await?;
            }
        }
        Misbehaviour::TrickleHead => {
            read_head(&mut stream).await?;
            for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n".iter().cycle() {
                write(&mut stream, &[*byte], counts).await?;
                tokio::time::sleep(tick).await;
            }
            Ok(())
        }
        Misbehaviour::CutShortBody => {
            read_head(&mut stream).await?;
            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789";
            write(&mut stream, answer, counts).await?;
            stream.shutdown().await
        }
        Misbehaviour::PlainHttp => {
            write(
                &mut stream,
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
                counts,
            )
            .await
        }
        Misbehaviour::TrickleBody => {
            read_head(&mut stream).await?;
            write(
                &mut stream,
                b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n",
                counts,
            )
            .await?;
            loop {
                write(&mut stream, b"z", counts).await?;
                tokio::time::sleep(tick).await;
            }
        }
    }
}
