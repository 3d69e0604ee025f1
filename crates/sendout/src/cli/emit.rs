//! `sendout emit`: send one event (a catalog example, or given data) to a server's ingest API,
//! the way a platform would, and print the answer.

use anyhow::Context;
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
    let response = reqwest::Client::new()
        .post(&url)
        .header("x-app-id", &args.app_id)
        .header("x-app-token", &args.app_token)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body)?)
        .send()
        .await
        .with_context(|| format!("could not reach {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!("{} {}", status.as_u16(), text);
    if !status.is_success() {
        anyhow::bail!("the server refused the event");
    }
    Ok(())
}
