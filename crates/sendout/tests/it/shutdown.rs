//! A graceful stop when the database has gone away (issue 6): the worker does not wait for it
//! longer than its shutdown bound, and what it could not write stays open for the lease to
//! bring back.
//!
//! PostgreSQL is reached through a loopback proxy the test cuts: open connections drop and new
//! ones are accepted but never answered, as with a database host that vanished. The store's
//! acquire timeout is set far beyond the hang guard, so only the shutdown bound can end the
//! stop in time. Needs PostgreSQL (`SENDOUT_TEST_DATABASE_URL`, see
//! `sendout-store/tests/story/pg.rs`); fails, never skips, without it.

use crate::helpers;
use crate::helpers::pg;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use helpers::app::{test_config, MANAGEMENT_ID, MANAGEMENT_TOKEN};
use helpers::receiver::{Behaviour, Receiver, Reply};
use sendout::app;
use sendout::config::{Database, Secret};
use sendout_store::postgres::{PostgresOptions, PostgresStore};
use serde_json::json;
use sqlx::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// Only a guard against a hang: a stop bounded by the worker takes a few seconds.
const HANG_GUARD: Duration = Duration::from_secs(120);
/// Far longer than the guard: without the shutdown bound, each write would wait this long.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3600);

/// A TCP proxy to PostgreSQL that can be cut.
struct Proxy {
    addr: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let cut = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (cut2, links2) = (cut.clone(), links.clone());
        let accept = tokio::spawn(async move {
            // Connections accepted after the cut are held open, unanswered, until the test ends.
            let mut held = Vec::new();
            while let Ok((mut client, _)) = listener.accept().await {
                if cut2.load(Ordering::SeqCst) {
                    held.push(client);
                    continue;
                }
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                links2.lock().expect("links").push(link.abort_handle());
            }
        });
        Self {
            addr,
            cut,
            links,
            accept: accept.abort_handle(),
        }
    }

    /// Drops every open connection and answers no new one.
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self.links.lock().expect("links").drain(..) {
            link.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// `url` with its host and port replaced by `addr` (user, database and query kept).
fn through(url: &str, addr: std::net::SocketAddr) -> String {
    let start = url.find("://").expect("a URL") + 3;
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| start + i);
    let host_start = url[start..end].rfind('@').map_or(start, |i| start + i + 1);
    format!("{}{addr}{}", &url[..host_start], &url[end..])
}

/// The host and port of `url`.
fn host_port(url: &str) -> String {
    let start = url.find("://").expect("a URL") + 3;
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| start + i);
    let host = &url[start..end];
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_with_the_database_gone_ends_and_leaves_the_unwritten_outcome_open() {
    let db = pg::TestDatabase::create().await;
    let proxy = Proxy::start(host_port(db.url())).await;
    let receiver = Receiver::start().await;
    // The attempt ends by the delivery timeout, after the proxy is cut.
    receiver.on(
        "/hook",
        Behaviour::always(Reply::ok().delay(Duration::from_secs(3600))),
    );

    let dir = tempfile::tempdir().expect("a temporary directory");
    let proxied = through(db.url(), proxy.addr);
    let mut config = test_config(dir.path());
    config.database = Database::Postgres(Secret::new(proxied.clone()));
    config.delivery_timeout = Duration::from_secs(5);
    let options = PostgresOptions {
        pool_size: 4,
        acquire_timeout: ACQUIRE_TIMEOUT,
    };
    let store = PostgresStore::open_with(&proxied, options)
        .await
        .expect("the store opens");
    sendout_store::Lifecycle::migrate(&store)
        .await
        .expect("migrations apply");
    let server = app::start_with_store(config, Arc::new(store), true)
        .await
        .expect("sendout starts");
    let keys = server
        .first_start
        .project
        .clone()
        .expect("a default project");
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let created = client
        .post(format!(
            "{base}/management/v1/projects/{}/webhooks",
            keys.project.id
        ))
        .header("X-Management-Id", MANAGEMENT_ID)
        .header("X-Management-Token", MANAGEMENT_TOKEN)
        .header("content-type", "application/json")
        .body(json!({"target_url": receiver.url("/hook"), "events": ["*"]}).to_string())
        .send()
        .await
        .expect("the API answers");
    assert_eq!(created.status(), 200, "{:?}", created.text().await);
    let ingested = client
        .post(format!("{base}/v1/events"))
        .header("X-App-Id", &keys.project.app_id)
        .header("X-App-Token", keys.app_token.expose())
        .header("content-type", "application/json")
        .body(json!({"type": "voucher.published", "data": {}}).to_string())
        .send()
        .await
        .expect("the API answers");
    assert_eq!(ingested.status(), 202, "{:?}", ingested.text().await);

    receiver.wait_for(1, Duration::from_secs(60)).await;
    proxy.cut();
    tokio::time::timeout(HANG_GUARD, server.shutdown())
        .await
        .expect("the stop ends although the database is unreachable");

    // The attempt's outcome was not written: the send out is still open, held by its lease.
    let mut conn = sqlx::PgConnection::connect(db.url())
        .await
        .expect("the database answers directly");
    let (status, attempts): (String, i64) =
        sqlx::query_as("SELECT status, attempts FROM send_outs")
            .fetch_one(&mut conn)
            .await
            .expect("one send out");
    assert_eq!((status.as_str(), attempts), ("PENDING", 0));
    let _ = conn.close().await;
}
