//! `sendout listen`: a local receiver for developers. It answers every POST with a chosen
//! status, prints the event and says whether both signatures verify with the given secret.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use sendout_core::signature::{verify_standard, verify_voucherify, StandardSecret};
use sendout_core::time::Timestamp;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    addr: SocketAddr,
    /// The project's signing secret (webhook_token), to check both signatures.
    #[arg(long, env = "SENDOUT_LISTEN_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// The HTTP status to answer with.
    #[arg(long, default_value_t = 200)]
    status: u16,
    /// Print the body compact on one line instead of indented.
    #[arg(long)]
    compact: bool,
}

struct Listener {
    secret: Option<String>,
    status: StatusCode,
    compact: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let status = StatusCode::from_u16(args.status)
        .map_err(|_| anyhow::anyhow!("--status {} is not an HTTP status", args.status))?;
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let state = Arc::new(Listener {
        secret: args.secret,
        status,
        compact: args.compact,
    });
    let app = axum::Router::new()
        .fallback(receive)
        .with_state(state.clone());
    println!(
        "listening on http://{} (answering {}; {})",
        listener.local_addr()?,
        status.as_u16(),
        if state.secret.is_some() {
            "checking signatures"
        } else {
            "pass --secret to check signatures"
        }
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// Describes one request: the line printed for it.
pub fn describe(headers: &HeaderMap, body: &[u8], secret: Option<&str>) -> String {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|j| j.get(name))
            .and_then(|v| v.as_str())
            .unwrap_or("-")
            .to_owned()
    };
    let mut line = format!("{} {}", field("type"), header("webhook-id"));
    if let Some(secret) = secret {
        let voucherify = verify_voucherify(secret, body, &header("x-voucherify-signature"));
        let standard = verify_standard(
            &StandardSecret::from_webhook_token(secret),
            &header("webhook-id"),
            &header("webhook-timestamp"),
            &header("webhook-signature"),
            body,
            Timestamp::now().as_secs(),
        );
        line.push_str(&format!(
            "  x-voucherify-signature: {}  webhook-signature: {}",
            if voucherify { "valid" } else { "INVALID" },
            match standard {
                Ok(()) => "valid".to_owned(),
                Err(e) => format!("INVALID ({e})"),
            }
        ));
    }
    line
}

async fn receive(
    State(state): State<Arc<Listener>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    println!(
        "POST {uri}  {}",
        describe(&headers, &body, state.secret.as_deref())
    );
    let text = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(json) if state.compact => json.to_string(),
        Ok(json) => serde_json::to_string_pretty(&json).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(&body).into_owned(),
    };
    println!("{text}\n");
    state.status
}
