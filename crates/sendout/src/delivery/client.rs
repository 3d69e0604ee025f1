//! One attempt of one send out: a signed HTTP POST (PRODUCT §3) and what it came to (§4).
//!
//! [`Deliverer`] holds one pooled HTTP client for the whole process: redirects are never
//! followed (a 3xx is a failure), the total timeout is the configured delivery timeout, proxies
//! from the environment are ignored (a proxy would resolve the target itself, past our checks)
//! and names are resolved by [`GuardedResolver`], which refuses forbidden addresses at connect
//! time. At most [`MAX_RESPONSE_BODY_BYTES`] of a response are read; the rest is never
//! downloaded. The timeout covers the whole attempt, reading that body included: a `2xx`
//! whose body does not arrive in time, or whose connection closes before the body's end, is
//! a failed attempt (see [`super::outcome::response_verdict`]).
//!
//! Making the request ([`Deliverer::send`]) and deciding what happens next
//! ([`super::outcome`]) are separate, so the decisions are plain functions tested without a
//! network.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::redirect;
use sendout_core::retry::RetryPolicy;
use sendout_core::signature::{signature_header, voucherify_signature};
use sendout_core::time::Timestamp;
use sendout_store::{
    Attempt, Claim, Completion, Next, OperationalDestination, SigningSecrets, SourceId, SourceKind,
};
use tracing::Instrument;
use url::Url;

use super::hosts::{host_key, ResolvedNames};
use super::outcome::{
    inactive_reason, next_manual, next_scheduled, response_verdict, BodyEnd, Verdict,
};
use super::ssrf::{GuardedResolver, Refused, TargetPolicy};
use crate::config::{Config, Secret};

/// How much of a response body is read and kept.
pub const MAX_RESPONSE_BODY_BYTES: usize = 4096;

/// The `user-agent` of every delivery.
pub const USER_AGENT: &str = concat!("sendout/", env!("CARGO_PKG_VERSION"));

/// Why the delivery client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the HTTP client could not be built: {0}")]
    Client(#[from] reqwest::Error),
}

/// Why a send out without a body (see [`sendout_store::SendOut::unsendable`]) ends `FAILED`
/// whenever it is claimed again (a bulk retry requeues every failed send out).
pub const UNSENDABLE_REASON: &str = "not sent: its payload was longer than \
    max_rendered_payload_bytes when it was made, so it has no body to send";

/// An operational send out is never disabled (nor does its end make an operational event):
/// giving it up is logged at error level, with why, and counted.
fn operational_next(send_out: &sendout_store::SendOut, next: Next) -> Next {
    match next {
        Next::Failed { reason, .. } => {
            tracing::error!(
                sendout.id = %send_out.id.as_str(),
                destination = send_out.source_id.as_str(),
                event_type = %send_out.event_type,
                reason = %reason,
                "an operational webhook delivery was given up; its URL stays configured"
            );
            crate::metrics::global().operational_given_up();
            Next::Failed {
                reason,
                disable_target: false,
            }
        }
        other => other,
    }
}

/// A claim completed `FAILED` with `reason`, without a request (no host slot, no attempt).
fn unsent(claim: &Claim, reason: String) -> Completion {
    Completion {
        send_out_id: claim.send_out.id.clone(),
        attempt: None,
        next: Next::Failed {
            reason,
            disable_target: false,
        },
        at: Timestamp::now(),
        lease: Some(claim.lease_until),
        exhausted_window: None,
    }
}

/// Makes attempts. One per process, shared by the workers and the HTTP handlers (manual
/// retry, test webhook).
#[derive(Debug)]
pub struct Deliverer {
    client: reqwest::Client,
    targets: TargetPolicy,
    retry: RetryPolicy,
    timeout: Duration,
    /// What the client's resolver learned, for [`Deliverer::host_key`].
    names: Arc<ResolvedNames>,
    /// Operational send outs' own schedule.
    operational_retry: RetryPolicy,
    /// What the operator's operational deliveries are signed with.
    operator_secret: Option<Secret>,
    /// See [`Completion::exhausted_window`].
    exhausted_window: Duration,
}

impl Deliverer {
    /// Builds the pooled client from the configuration.
    pub fn new(config: &Config) -> Result<Self, DeliveryError> {
        let targets = TargetPolicy::new(&config.allowed_target_ranges);
        let names = Arc::new(ResolvedNames::default());
        Ok(Self {
            client: http_client(config, names.clone())?,
            targets,
            retry: config.retry.clone(),
            timeout: config.delivery_timeout,
            names,
            operational_retry: config.operational.retry.clone(),
            operator_secret: config
                .operational
                .operator
                .as_ref()
                .map(|operator| operator.secret.clone()),
            exhausted_window: config.operational.exhausted_window,
        })
    }

    /// The machine `target_url` names, as the worker's per-host fairness counts it: a name
    /// this client has connected to is keyed by its address (see [`super::hosts`]).
    pub fn host_key(&self, target_url: &str) -> String {
        host_key(target_url, &self.names)
    }

    /// The scheduled attempt of a claimed send out. An inactive target gets no request: the
    /// send out ends `FAILED` with that reason (and can be retried once the target is back).
    /// Otherwise the outcome follows the retry policy: a failure is retried on schedule, and
    /// after the last retry the send out fails and its target is disabled; a `410` disables
    /// it at once.
    pub async fn attempt(&self, claim: &Claim) -> Completion {
        let send_out = &claim.send_out;
        if !send_out.is_sendable() {
            return unsent(claim, UNSENDABLE_REASON.to_owned());
        }
        if !claim.target_active {
            return unsent(claim, inactive_reason(send_out.source_id.kind()));
        }
        let (attempt, verdict) = self.send(claim).await;
        let now = Timestamp::now();
        let operational = send_out.source_id.kind() == SourceKind::Operational;
        let policy = if operational {
            &self.operational_retry
        } else {
            &self.retry
        };
        let mut next = next_scheduled(policy, send_out, &verdict, now, &mut rand::thread_rng());
        if operational {
            next = operational_next(send_out, next);
        }
        Completion {
            send_out_id: send_out.id.clone(),
            attempt: Some(attempt),
            next,
            at: now,
            lease: Some(claim.lease_until),
            exhausted_window: (!operational).then_some(self.exhausted_window),
        }
    }

    /// A manual retry or a test webhook: the same request, made now, whether or not the
    /// target is active.
    ///
    /// Sending to an inactive target is deliberate: a person asked for exactly this one
    /// request, typically to check that a disabled endpoint works again before re-enabling
    /// it (one request, so no flood). The attempt never re-enables or disables the target,
    /// and never adds a retry of its own: a failed manual attempt of a send out still in its
    /// retry schedule keeps that schedule; any other send out ends `FAILED`.
    pub async fn attempt_manual(&self, claim: &Claim) -> Completion {
        if !claim.send_out.is_sendable() {
            return unsent(claim, UNSENDABLE_REASON.to_owned());
        }
        let (attempt, verdict) = self.send(claim).await;
        let now = Timestamp::now();
        let next = next_manual(
            &self.retry,
            &claim.send_out,
            &verdict,
            now,
            &mut rand::thread_rng(),
        );
        Completion {
            send_out_id: claim.send_out.id.clone(),
            attempt: Some(attempt),
            next,
            at: now,
            lease: Some(claim.lease_until),
            exhausted_window: None,
        }
    }

    /// Makes the signed POST and records it as an attempt.
    pub async fn send(&self, claim: &Claim) -> (Attempt, Verdict) {
        let send_out = &claim.send_out;
        let url = Url::parse(&send_out.target_url).ok();
        let host = url
            .as_ref()
            .and_then(|u| u.host_str())
            .unwrap_or("invalid-url")
            .to_owned();
        let event_id = send_out.event_id.as_ref().map(|id| id.as_str().to_owned());
        let span = tracing::info_span!(
            "attempt",
            sendout.id = %send_out.id.as_str(),
            event.id = event_id.as_deref().unwrap_or("none"),
            target = %host,
            duration_ms = tracing::field::Empty,
        );
        self.send_to(claim, url).instrument(span).await
    }

    async fn send_to(&self, claim: &Claim, url: Option<Url>) -> (Attempt, Verdict) {
        let send_out = &claim.send_out;
        let started_at = Timestamp::now();
        let clock = Instant::now();
        let result = match url {
            None => Err("the target URL is not a valid URL".to_owned()),
            Some(url) => match self.targets.check_url(&url) {
                Err(refused) => Err(refused.to_string()),
                Ok(()) => self.post(claim, url, started_at).await,
            },
        };
        let duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::Span::current().record("duration_ms", duration_ms);
        let (response_status, response_body, verdict) = match result {
            Ok(response) => {
                let verdict = response.verdict(Timestamp::now(), self.timeout);
                (Some(response.status), Some(response.body), verdict)
            }
            Err(error) => {
                let verdict = Verdict::Failed {
                    error,
                    retry_after: None,
                };
                (None, None, verdict)
            }
        };
        let error = match &verdict {
            Verdict::Failed { error, .. } => Some(error.clone()),
            Verdict::Delivered | Verdict::Gone => None,
        };
        match &error {
            None => tracing::info!(status = response_status, "delivered"),
            Some(error) => tracing::warn!(status = response_status, %error, "attempt failed"),
        }
        let attempt = Attempt {
            send_out_id: send_out.id.clone(),
            number: send_out.attempts + 1,
            started_at,
            duration_ms,
            response_status,
            response_body,
            error,
            succeeded: verdict == Verdict::Delivered,
        };
        (attempt, verdict)
    }

    /// The secrets a claim is signed with: the operator's for the operator's operational
    /// endpoint, the project's (as the claim carries them) for everything else.
    fn secrets<'a>(&'a self, claim: &'a Claim) -> std::borrow::Cow<'a, Claim> {
        match (&claim.send_out.source_id, &self.operator_secret) {
            (SourceId::Operational(OperationalDestination::Operator), Some(secret)) => {
                std::borrow::Cow::Owned(Claim {
                    secrets: SigningSecrets {
                        current: secret.expose().to_owned(),
                        previous: None,
                    },
                    ..claim.clone()
                })
            }
            _ => std::borrow::Cow::Borrowed(claim),
        }
    }

    async fn post(&self, claim: &Claim, url: Url, at: Timestamp) -> Result<Received, String> {
        let headers = request_headers(&self.secrets(claim), at.as_secs());
        let sent = self
            .client
            .post(url)
            .headers(headers)
            .body(claim.send_out.body.clone())
            .send()
            .await;
        let mut response = sent.map_err(|e| describe_error(&e, self.timeout))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        // Read to the end, or to the bound, within the attempt's one timeout (the client's
        // total timeout covers the body too); how it ended decides a 2xx (see `outcome`).
        let end = loop {
            if body.len() >= MAX_RESPONSE_BODY_BYTES {
                break BodyEnd::Bounded;
            }
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_RESPONSE_BODY_BYTES - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(None) => break BodyEnd::Complete,
                Err(e) if e.is_timeout() => break BodyEnd::TimedOut,
                Err(e) => break BodyEnd::CutShort(cause_chain(&e)),
            }
        };
        Ok(Received {
            status,
            retry_after,
            body: String::from_utf8_lossy(&body).into_owned(),
            end,
        })
    }
}

/// The HTTP client every attempt goes through, as configured; `sendout bench --bare` uses
/// it too, so its baseline is this very client without the engine around it.
/// What its resolver resolves is remembered in `names`.
pub fn http_client(
    config: &Config,
    names: Arc<ResolvedNames>,
) -> Result<reqwest::Client, DeliveryError> {
    let targets = TargetPolicy::new(&config.allowed_target_ranges);
    Ok(reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(redirect::Policy::none())
        .timeout(config.delivery_timeout)
        .connect_timeout(config.delivery_timeout)
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver::new(targets, names)))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()?)
}

/// A response, as much as is kept of it.
struct Received {
    status: u16,
    retry_after: Option<String>,
    body: String,
    end: BodyEnd,
}

impl Received {
    fn verdict(&self, now: Timestamp, timeout: Duration) -> Verdict {
        response_verdict(
            self.status,
            self.retry_after.as_deref(),
            &self.end,
            now,
            timeout,
        )
    }
}

/// The headers of PRODUCT §3. During a secret rotation `webhook-signature` carries both
/// signatures (current first) and `x-voucherify-signature-previous` the Voucherify signature
/// with the previous secret; `x-voucherify-signature` always uses the current one. Custom
/// headers come last and never replace sendout's own.
pub fn request_headers(claim: &Claim, timestamp: i64) -> HeaderMap {
    let send_out = &claim.send_out;
    let secrets = &claim.secrets;
    let body = send_out.body.as_bytes();
    let id = send_out.id.as_str();
    let mut keys: Vec<&[u8]> = vec![secrets.current.as_bytes()];
    keys.extend(secrets.previous.as_deref().map(str::as_bytes));

    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    put("content-type", "application/json".to_owned());
    put(
        "x-voucherify-signature",
        voucherify_signature(&secrets.current, body),
    );
    if let Some(previous) = &secrets.previous {
        put(
            "x-voucherify-signature-previous",
            voucherify_signature(previous, body),
        );
    }
    put("webhook-id", id.to_owned());
    put("webhook-timestamp", timestamp.to_string());
    put(
        "webhook-signature",
        signature_header(&keys, id, timestamp, body),
    );
    for (name, value) in &send_out.headers {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(name), Ok(value)) if !headers.contains_key(&name) => {
                headers.insert(name, value);
            }
            // Names and values were checked when the webhook was saved; never log a value.
            _ => tracing::warn!(header = %name, "custom header skipped"),
        }
    }
    headers
}

/// A transport error as the audit log shows it: the refusal, the timeout, or the cause chain,
/// without the URL (its path or query may hold a token).
fn describe_error(error: &reqwest::Error, timeout: Duration) -> String {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return refused.to_string();
        }
        source = cause.source();
    }
    if error.is_timeout() {
        return format!("timed out after {} ms", timeout.as_millis());
    }
    let detail = cause_chain(error);
    if error.is_connect() {
        format!("could not connect: {detail}")
    } else {
        format!("request failed: {detail}")
    }
}

/// The causes of an error, outermost first, without reqwest's own message (which names the
/// URL).
fn cause_chain(error: &reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    causes.dedup();
    if causes.is_empty() {
        "unknown error".to_owned()
    } else {
        causes.join(": ")
    }
}
