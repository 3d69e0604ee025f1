//! Assembling a running sendout: open the store, migrate, create the first management key and
//! project on an empty store, start the delivery workers and the HTTP server, and stop them all
//! together on one cancellation token (graceful shutdown: the server stops accepting, workers
//! stop claiming and finish or release what they hold).

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::Router;
use sendout_core::time::Timestamp;
use sendout_store::postgres::{PostgresOptions, PostgresStore};
use sendout_store::sqlite::{SqliteOptions, SqliteStore};
use sendout_store::{hash_token, FirstStartRecords, Store, StoreError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Database, Secret};
use crate::delivery::{worker, Deliverer};
use crate::ops::keys::AppKeys;
pub use crate::ops::projects::{create_project, NewProjectKeys};
use crate::ops::projects::{new_project, random_token};
use crate::ops::throttle::AuthThrottle;
pub use crate::ops::AppState;

/// Why sendout could not start. Each message names what failed; the cause is its source, so
/// that a printed chain (`{:#}`) says it once.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the store could not be opened")]
    Store(#[from] StoreError),
    #[error("the data directory {path} could not be created")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("could not listen on {addr}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}

/// Opens (creating if needed) the configured store and applies migrations.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    let store: Arc<dyn Store> = match &config.database {
        Database::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| StartError::DataDir {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
            let options = SqliteOptions {
                min_free_bytes: config.min_free_disk_bytes,
                ..SqliteOptions::default()
            };
            Arc::new(SqliteStore::open_with(&path.to_string_lossy(), options).await?)
        }
        Database::Postgres(url) => {
            let options = PostgresOptions {
                pool_size: config.database_pool_size,
                ..PostgresOptions::default()
            };
            Arc::new(PostgresStore::open_with(url.expose(), options).await?)
        }
    };
    store.migrate().await?;
    Ok(store)
}

/// What the first start on an empty store created, to be printed once.
#[derive(Debug, Clone)]
pub struct FirstStart {
    /// `None` when the management key came from the configuration.
    pub management_key: Option<(String, Secret)>,
    pub project: Option<NewProjectKeys>,
}

/// Makes sure a management key exists (the configured one, or a generated one on an empty
/// store) and, on an empty store, a default project. The store creates the generated key and
/// the project only if none exists, atomically, so nodes starting together on one database
/// create them once; only the node that created them reports them.
pub async fn bootstrap(store: &dyn Store, config: &Config) -> Result<FirstStart, StoreError> {
    let generated_key =
        if let (Some(id), Some(token)) = (&config.management_id, &config.management_token) {
            store
                .put_management_key(id, &hash_token(token.expose()))
                .await?;
            None
        } else {
            Some((format!("M-{}", random_token(24)), random_token(48)))
        };
    let (project, app_token) = new_project("Default project".into(), None, "Etc/UTC".into());
    let created = store
        .create_first_start(FirstStartRecords {
            management_key: generated_key
                .as_ref()
                .map(|(id, token)| (id.clone(), hash_token(token))),
            project,
        })
        .await?;
    Ok(FirstStart {
        management_key: generated_key
            .filter(|_| created.management_key)
            .map(|(id, token)| (id, Secret::new(token))),
        project: created.project.map(|project| NewProjectKeys {
            project,
            app_token: Secret::new(app_token),
        }),
    })
}

/// How often retention pruning runs.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes finished send outs, attempts and events older than `retention`, every hour while
/// workers run (the first pass a minute after start, so a start is never slowed by it).
fn spawn_pruner(store: Arc<dyn Store>, retention: std::time::Duration, cancel: CancellationToken) {
    tokio::spawn(async move {
        let mut wait = std::time::Duration::from_secs(60);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = PRUNE_EVERY;
            let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
            let before = Timestamp::now().plus_millis(-retention_ms);
            match store.prune(before).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "pruned records past retention"),
                Err(e) => tracing::warn!(error = %e, "retention pruning failed"),
            }
        }
    });
}

/// A running sendout: HTTP server and (optionally) workers.
#[derive(Debug)]
pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    pub first_start: FirstStart,
    cancel: CancellationToken,
    http: JoinHandle<std::io::Result<()>>,
    /// The delivery workers and the notice task.
    workers: Option<(JoinHandle<()>, JoinHandle<()>)>,
}

impl Server {
    /// The token that stops everything when cancelled (wired to Ctrl-C by `serve`).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Stops accepting requests and claiming work, and waits for in-flight work to finish or
    /// be released.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.wait().await;
    }

    /// Waits until the server has stopped (after the cancel token fired).
    pub async fn wait(self) {
        if let Some((workers, notices)) = self.workers {
            if let Err(e) = workers.await {
                tracing::error!(error = %e, "delivery workers ended abnormally");
            }
            if let Err(e) = notices.await {
                tracing::error!(error = %e, "the notice task ended abnormally");
            }
        }
        match self.http.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the HTTP server failed"),
            Err(e) => tracing::error!(error = %e, "the HTTP server ended abnormally"),
        }
    }
}

/// The two front ends over one application state: the JSON API with its layers, and next to
/// it, outside them, the dashboard, which answers HTML with its own layers.
pub fn router(state: AppState) -> Router {
    crate::http::router(state.clone()).merge(crate::dashboard::router(state))
}

/// Starts sendout as `serve` runs it: API and dashboard, plus workers when configured.
pub async fn start(config: Config) -> Result<Server, StartError> {
    let store = open_store(&config).await?;
    start_with_store(config, store, true).await
}

/// Starts the HTTP server (and workers if `config.workers`) on an opened store. `serve_http`
/// false runs workers only (`sendout worker`).
pub async fn start_with_store(
    config: Config,
    store: Arc<dyn Store>,
    serve_http: bool,
) -> Result<Server, StartError> {
    let first_start = bootstrap(store.as_ref(), &config).await?;
    // Parsed on first use (about 20 ms): now, rather than inside the first ingest, which
    // every request behind it would wait for. A node that only delivers never needs it.
    if serve_http {
        sendout_core::catalog::catalog();
    }
    let config = Arc::new(config);
    let deliverer =
        Arc::new(Deliverer::new(&config).map_err(|e| StartError::Client(e.to_string()))?);
    let cancel = CancellationToken::new();

    let (workers, workers_alive) = if config.workers || !serve_http {
        let alive = Arc::new(AtomicBool::new(true));
        let handle = worker::spawn(
            store.clone(),
            deliverer.clone(),
            config.clone(),
            cancel.clone(),
            alive.clone(),
        );
        spawn_pruner(store.clone(), config.retention, cancel.clone());
        let notices = crate::notify::spawn(
            store.clone(),
            config.notices.clone(),
            config.operational.clone(),
            cancel.clone(),
        );
        (Some((handle, notices)), Some(alive))
    } else {
        (None, None)
    };

    let state = AppState {
        store,
        config: config.clone(),
        deliverer,
        workers_alive,
        throttle: Arc::new(AuthThrottle::new(
            config.auth_failure_limit,
            config.auth_failure_window,
        )),
        app_keys: Arc::new(AppKeys::new(config.app_key_cache)),
    };

    let (addr, http) = if serve_http {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Listen {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
        let router = router(state.clone());
        let shutdown = cancel.clone();
        let limits = crate::listener::Limits {
            header_timeout: config.http_header_timeout,
            max_connections: config.http_max_connections,
        };
        let http = tokio::spawn(crate::listener::serve(listener, router, limits, shutdown));
        (addr, http)
    } else {
        let shutdown = cancel.clone();
        let http = tokio::spawn(async move {
            shutdown.cancelled().await;
            Ok(())
        });
        (config.listen, http)
    };

    Ok(Server {
        addr,
        state,
        first_start,
        cancel,
        http,
        workers,
    })
}
