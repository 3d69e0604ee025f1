//! Logging. One subscriber for the process, filtered by `RUST_LOG` (default `info`), written
//! as human lines or JSON. Nothing here ever formats a request header or a secret: handlers and
//! workers log ids, hosts and durations only.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The header that carries the request id (`v-…`) on every answer of the API and the
/// dashboard, and in their request logs.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,reqwest=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
