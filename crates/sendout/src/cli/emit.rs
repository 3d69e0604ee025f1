//! `sendout emit`: send one event (a catalog example, or given data) to a server's ingest API,
//! the way a platform would, and print the answer.
//!
//! The way a platform should: every request carries an `Idempotency-Key` (a fresh random one
//! unless `--idempotency-key` names it), and a request that got no answer (a timeout, a
//! refused or broken connection) is sent again with the same key and body, so a request the
//! server had committed before its answer was lost is answered again rather than ingested
//! twice (docs/API.md).

use std::time::Duration;

use anyhow::Context;
use rand::Rng;
use sendout_core::catalog::catalog;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The sendout server.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "SENDOUT_SERVER")]
    server: String,
    /// The project's app id (X-App-Id).
    #[arg(long, env = "SENDOUT_APP_ID")]
    app_id: String,
    /// The project's app token (X-App-Token).
    #[arg(long, env = "SENDOUT_APP_TOKEN", hide_env_values = true)]
    app_token: String,
    /// The event type.
    #[arg(long = "type", default_value = "voucher.published")]
    event_type: String,
    /// The event's data as JSON, or @FILE; default: the catalog's example for the type.
    #[arg(long)]
    data: Option<String>,
    /// How many copies to send (in one batch).
    #[arg(long, default_value_t = 1)]
    count: u32,
    /// The request's Idempotency-Key (1 to 255 printable ASCII characters); default: a new
    /// random key.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// How many times to send the request again, with the same key, when no answer came.
    #[arg(long, default_value_t = 5)]
    retries: u32,
    /// How long to wait for each answer.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

/// The first wait before a retry; each next one doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A fresh key: 128 random bits in hex.
fn random_key() -> String {
    format!("emit-{:032x}", rand::thread_rng().gen::<u128>())
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let data: serde_json::Value = match &args.data {
        Some(text) => {
            let text = match text.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("could not read {path}"))?,
                None => text.clone(),
            };
            serde_json::from_str(&text).context("--data is not valid JSON")?
        }
        None => catalog()
            .get(&args.event_type)
            .and_then(|t| t.example_data().cloned())
            .with_context(|| format!("no example data for `{}`: pass --data", args.event_type))?,
    };
    let event = serde_json::json!({ "type": args.event_type, "data": data });
    let body = if args.count == 1 {
        event
    } else {
        serde_json::json!({ "events": vec![event; args.count as usize] })
    };
    let url = format!("{}/v1/events", args.server.trim_end_matches('/'));
    let key = args.idempotency_key.clone().unwrap_or_else(random_key);
    let body = serde_json::to_vec(&body)?;
    let client = reqwest::Client::builder()
        .timeout(args.timeout)
        .build()
        .context("could not make an HTTP client")?;
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 0;
    let (status, text) = loop {
        let answer = async {
            let response = client
                .post(&url)
                .header("x-app-id", &args.app_id)
                .header("x-app-token", &args.app_token)
                .header("content-type", "application/json")
                .header("idempotency-key", &key)
                .body(body.clone())
                .send()
                .await?;
            let status = response.status();
            Ok::<_, reqwest::Error>((status, response.text().await?))
        }
        .await;
        match answer {
            Ok(answer) => break answer,
            Err(e) if attempt < args.retries => {
                attempt += 1;
                eprintln!(
                    "no answer from {url} ({e}); sending again with the same Idempotency-Key \
                     in {} ms (retry {attempt} of {})",
                    backoff.as_millis(),
                    args.retries
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(e) => return Err(e).with_context(|| format!("could not reach {url}")),
        }
    };
    println!("{} {}", status.as_u16(), text);
    if !status.is_success() {
        anyhow::bail!("the server refused the event");
    }
    Ok(())
}
