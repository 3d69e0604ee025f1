//! `--bare`: the physical limit of this machine for this traffic. The delivery client itself
//! ([`sendout::delivery::http_client`], configured as the engine's) posts envelopes of the
//! engine's size, with headers of the engine's size, to the same receiver, with the
//! concurrency the engine's worker would use for that fan-out — and nothing else: no store,
//! no queue, no signing per request. Every engine figure is printed as a fraction of this.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use bytes::Bytes;
use indicatif::ProgressBar;
use reqwest::header::{HeaderMap, HeaderValue};
use sendout_core::catalog::catalog;
use sendout_core::envelope::{self, EventRef, SourceRef};
use sendout_core::ids::{EventId, GroupId, ProjectId, SendOutId, WebhookId};
use sendout_core::signature::{signature_header, voucherify_signature, StandardSecret};
use sendout_core::time::Timestamp;

use sendout::config::Config;

use crate::load::PAYLOADS;
use crate::measure::{now_us, CpuPerDelivery};
use crate::report::BareRun;

/// A body of the engine's size and the headers sendout would send with it (signatures made
/// once: the baseline measures the transport).
fn request((event_type, example): (&str, &str)) -> anyhow::Result<(Bytes, HeaderMap)> {
    const SECRET: &str = "bench-signing-secret-of-forty-characters";
    let data = catalog()
        .get(example)
        .and_then(|t| t.example_data())
        .with_context(|| format!("the catalog has no example of {example}"))?;
    let data = envelope::compact(data);
    let event_source = envelope::compact(&serde_json::json!({
        "channel": "API",
        "api_key": {"name": "Server-side key", "app_id": "00000000-0000-0000-0000-000000000000"},
    }));
    let (id, webhook, event_id, group) = (
        SendOutId::new(),
        WebhookId::new(),
        EventId::new(event_type),
        GroupId::new(),
    );
    let body = envelope::build(
        &id,
        &ProjectId::new(),
        Timestamp::now(),
        event_type,
        &data,
        &SourceRef::webhook(&webhook, "http://127.0.0.1:9000/hook/0"),
        &EventRef {
            id: &event_id,
            event_type,
            created_at: Timestamp::now(),
            entity_id: Some("v_bench"),
            group_id: &group,
            event_source: &event_source,
        },
    );
    let now = Timestamp::now().as_secs();
    let key = StandardSecret::from_webhook_token(SECRET);
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| -> anyhow::Result<()> {
        headers.insert(name, HeaderValue::try_from(value)?);
        Ok(())
    };
    put("content-type", "application/json".into())?;
    put(
        "x-voucherify-signature",
        voucherify_signature(SECRET, body.as_bytes()),
    )?;
    put("webhook-timestamp", now.to_string())?;
    put(
        "webhook-signature",
        signature_header(&[key.key()], id.as_str(), now, body.as_bytes()),
    )?;
    Ok((Bytes::from(body), headers))
}

/// Posts `requests` requests to `urls` (round robin) over `concurrency` connections, each
/// with a fresh `webhook-id`, and times the whole from the first request to the last answer.
pub async fn run(
    urls: &[String],
    requests: u64,
    concurrency: usize,
    progress: &ProgressBar,
) -> anyhow::Result<BareRun> {
    let config = Config::load(None)?;
    let client = sendout::delivery::http_client(
        &Config {
            allowed_target_ranges: vec!["127.0.0.0/8".parse()?],
            ..config
        },
        Default::default(),
    )?;
    let prepared = Arc::new([request(PAYLOADS[0])?, request(PAYLOADS[1])?]);
    let urls = Arc::new(urls.to_vec());
    let next = Arc::new(AtomicU64::new(0));
    let started_us = now_us();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (client, prepared, urls, next, progress) = (
            client.clone(),
            prepared.clone(),
            urls.clone(),
            next.clone(),
            progress.clone(),
        );
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    return Ok::<_, anyhow::Error>(());
                }
                let (body, headers) = &prepared[(i % 2) as usize];
                let url = &urls[(i % urls.len() as u64) as usize];
                let response = client
                    .post(url.as_str())
                    .headers(headers.clone())
                    .header("webhook-id", SendOutId::new().as_str())
                    .body(body.clone())
                    .send()
                    .await?;
                let status = response.status();
                // Read the (empty) body as the engine does, so the connection is reused.
                response.bytes().await?;
                if !status.is_success() {
                    bail!("the receiver answered {status}");
                }
                progress.inc(1);
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    let seconds = now_us().saturating_sub(started_us) as f64 / 1e6;
    Ok(BareRun {
        fanout: urls.len(),
        requests,
        concurrency,
        seconds,
        requests_per_s: requests as f64 / seconds.max(1e-9),
        cpu_per_request: CpuPerDelivery::default(),
    })
}
