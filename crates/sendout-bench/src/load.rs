//! Loading the engine through its real ingest API: closed loop (as fast as the engine takes
//! it, with a fixed number of connections) or open loop (a fixed offered rate, whatever the
//! answers' pace), with the catalog's `voucher.published` and `customer.redemption.succeeded`
//! examples as payloads, alternately. The latter is a distribution event, which a webhook
//! for all events does not get, so its data travels as a `redemption.succeeded` event (the
//! project-settings counterpart): the payload has the size the benchmark promises.
//!
//! Request bodies are built once and shared, so the load generator spends its time sending,
//! not serializing. Every answer must be 202; anything else stops the run with its text.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use indicatif::ProgressBar;
use sendout_core::catalog::catalog;
use serde_json::value::RawValue;

use crate::engine::ProjectKey;
use crate::measure::now_us;

/// The two payloads, alternated: the event type sent, and the catalog example its data is.
pub const PAYLOADS: [(&str, &str); 2] = [
    ("voucher.published", "voucher.published"),
    ("redemption.succeeded", "customer.redemption.succeeded"),
];

/// Prebuilt request bodies.
#[derive(Debug, Clone)]
pub struct Payloads {
    /// One event per type.
    singles: [Bytes; 2],
    /// `{"events": [...]}` of `batch` events, types alternating.
    batch: Bytes,
    batch_len: usize,
}

impl Payloads {
    /// The catalog examples, and a batch body of `batch` events.
    pub fn examples(batch: usize) -> anyhow::Result<Self> {
        let mut events = Vec::new();
        for (name, example) in PAYLOADS {
            let data = catalog()
                .get(example)
                .and_then(|t| t.example_data())
                .with_context(|| format!("the catalog has no example of {example}"))?;
            let data = serde_json::to_string(data)?;
            events.push(format!(r#"{{"type":"{name}","data":{data}}}"#));
        }
        let batch = batch.max(1);
        let items: Vec<&str> = (0..batch).map(|i| events[i % 2].as_str()).collect();
        let batch_body = format!(r#"{{"events":[{}]}}"#, items.join(","));
        RawValue::from_string(batch_body.clone()).context("the batch body is JSON")?;
        Ok(Self {
            singles: [
                Bytes::from(events[0].clone()),
                Bytes::from(events[1].clone()),
            ],
            batch: Bytes::from(batch_body),
            batch_len: batch,
        })
    }

    /// Events per batch request.
    pub fn batch_len(&self) -> usize {
        self.batch_len
    }
}

/// What a load run did.
#[derive(Debug, Clone, Default)]
pub struct IngestRun {
    /// When the first request was sent and the last answer came (µs since the epoch).
    pub started_us: u64,
    pub ended_us: u64,
    pub events: u64,
    /// Each request's response time, in µs.
    pub latencies_us: Vec<u64>,
    /// For an open-loop run: each event's id and when its request was sent.
    pub sent: Vec<(String, u64)>,
}

impl IngestRun {
    pub fn seconds(&self) -> f64 {
        self.ended_us.saturating_sub(self.started_us) as f64 / 1e6
    }
}

/// Sends events to one project's ingest API.
#[derive(Debug, Clone)]
pub struct Ingester {
    client: reqwest::Client,
    url: String,
    key: ProjectKey,
}

impl Ingester {
    pub fn new(base_url: &str, key: ProjectKey) -> Self {
        Self {
            client: reqwest::Client::new(),
            url: format!("{base_url}/v1/events"),
            key,
        }
    }

    /// Sends one body; returns the answer's text and how long it took.
    async fn send(&self, body: Bytes) -> anyhow::Result<(String, u64)> {
        let started = Instant::now();
        let response = self
            .client
            .post(&self.url)
            .header("X-App-Id", &self.key.app_id)
            .header("X-App-Token", &self.key.app_token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .context("POST /v1/events")?;
        let status = response.status();
        let text = response.text().await?;
        let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        if status.as_u16() != 202 {
            bail!("POST /v1/events answered {status}: {text}");
        }
        Ok((text, took))
    }

    /// Ingests `events` events as fast as the engine takes them over `connections`
    /// connections, one event per request (`batch` 1) or `batch` per request.
    pub async fn closed_loop(
        &self,
        payloads: &Payloads,
        events: u64,
        batch: bool,
        connections: usize,
        progress: &ProgressBar,
    ) -> anyhow::Result<IngestRun> {
        let per_request = if batch {
            payloads.batch_len() as u64
        } else {
            1
        };
        let requests = events.div_ceil(per_request);
        let next = Arc::new(AtomicU64::new(0));
        let started_us = now_us();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..connections.max(1) {
            let (this, next, payloads, progress) = (
                self.clone(),
                next.clone(),
                payloads.clone(),
                progress.clone(),
            );
            tasks.spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        return Ok::<_, anyhow::Error>(latencies);
                    }
                    let body = if batch {
                        payloads.batch.clone()
                    } else {
                        payloads.singles[(i % 2) as usize].clone()
                    };
                    let (_, took) = this.send(body).await?;
                    latencies.push(took);
                    progress.inc(per_request);
                }
            });
        }
        let mut latencies_us = Vec::with_capacity(requests as usize);
        while let Some(joined) = tasks.join_next().await {
            latencies_us.extend(joined??);
        }
        Ok(IngestRun {
            started_us,
            ended_us: now_us(),
            events: requests * per_request,
            latencies_us,
            sent: Vec::new(),
        })
    }

    /// Offers `events` single-event requests at `rate` per second, each sent on time
    /// whatever the answers' pace; keeps every event's id and send time.
    pub async fn open_loop(
        &self,
        payloads: &Payloads,
        rate: f64,
        events: u64,
        progress: &ProgressBar,
    ) -> anyhow::Result<IngestRun> {
        let started = tokio::time::Instant::now();
        let started_us = now_us();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..events {
            let due = started + Duration::from_secs_f64(i as f64 / rate.max(0.001));
            tokio::time::sleep_until(due).await;
            let (this, body, progress) = (
                self.clone(),
                payloads.singles[(i % 2) as usize].clone(),
                progress.clone(),
            );
            tasks.spawn(async move {
                let sent_us = now_us();
                let (text, took) = this.send(body).await?;
                progress.inc(1);
                let answer: serde_json::Value = serde_json::from_str(&text)?;
                let id = answer["id"].as_str().context("the event id")?.to_owned();
                Ok::<_, anyhow::Error>((id, sent_us, took))
            });
        }
        let mut run = IngestRun {
            started_us,
            events,
            ..IngestRun::default()
        };
        while let Some(joined) = tasks.join_next().await {
            let (id, sent_us, took) = joined??;
            run.latencies_us.push(took);
            run.sent.push((id, sent_us));
        }
        run.ended_us = now_us();
        Ok(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_body_holds_the_asked_number_of_events_of_both_types() {
        let payloads = Payloads::examples(3).expect("payloads");
        let body: serde_json::Value = serde_json::from_slice(&payloads.batch).expect("JSON");
        let types: Vec<&str> = body["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|e| e["type"].as_str())
            .collect();
        assert_eq!(types, [PAYLOADS[0].0, PAYLOADS[1].0, PAYLOADS[0].0]);
        assert!(
            payloads.batch.len() > 3 * 1700,
            "the examples' data is in the batch"
        );
    }
}
