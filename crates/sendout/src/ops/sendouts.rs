//! The audit log: listing and reading send outs with their attempts, retrying one now, and
//! making a target's failed send outs due again.
//!
//! Rules (docs/API.md, "Webhook sendouts"):
//! - the list is newest first, `limit` 1–100 (default 10), with a cursor (the last id of the
//!   previous page); filters are checked and named when wrong;
//! - every custom header value is a secret, shown as `[redacted]`, unless the send out's
//!   target marks its header public (`public_headers` of the webhook or the channel) — read
//!   from the target as it is now, in one lookup per page ([`redact`]); a deleted target's
//!   send outs show every value redacted. `list`, `get` and `retry` answer send outs with
//!   their headers already so, for both front ends;
//! - a manual retry is one attempt now, recorded like any other; a send out a worker holds
//!   right now is a conflict (`send_out_busy`);
//! - bulk retry makes every `FAILED` send out of one target since a time due now.

use std::collections::BTreeMap;

use sendout_core::field::FieldError;
use sendout_core::ids::{DistributionId, IdError, SendOutId, WebhookId};
use sendout_core::input::PublicHeaders;
use sendout_core::time::Timestamp;
use sendout_store::{
    Attempt, Claim, Completion, Page, Project, SendOut, SendOutFilter, SendOutStatus, SourceId,
    SourceKind,
};

use crate::ops::{not_found_as, AppState, OpsError, Problems};

/// The default and largest page sizes.
const DEFAULT_LIMIT: u32 = 10;
const MAX_LIMIT: u32 = 100;

/// What the audit log shows of a value that is a secret.
pub const REDACTED: &str = "[redacted]";

/// Custom headers as the audit log shows them: each value `[redacted]` unless `public` (what
/// the send out's target marks now; `None` when the target is gone) names its header. The
/// rule is the target's word, not the header's name: `x-pwd` is as secret as
/// `authorization`.
pub fn redact(
    headers: &BTreeMap<String, String>,
    public: Option<&PublicHeaders>,
) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(name, value)| {
            let shown = if public.is_some_and(|p| p.contains(name)) {
                value.clone()
            } else {
                REDACTED.to_owned()
            };
            (name.clone(), shown)
        })
        .collect()
}

/// Redacts the headers of `send_outs` as [`redact`] does, looking up what their targets mark
/// in one call for all of them.
async fn shown(
    state: &AppState,
    project: &Project,
    send_outs: &mut [SendOut],
) -> Result<(), OpsError> {
    if send_outs.iter().all(|s| s.headers.is_empty()) {
        return Ok(());
    }
    let marks = state.store.public_headers(&project.id, send_outs).await?;
    for send_out in send_outs.iter_mut() {
        send_out.headers = redact(&send_out.headers, marks.of(send_out));
    }
    Ok(())
}

/// The filters and paging of the audit log as given, unchecked; each error names its
/// parameter. `status` is any case; `event_type` matches the envelope's or the causing
/// event's; the times are ISO 8601 (after inclusive, before exclusive); `is_test` is `true`
/// or `false`; `limit` 1–100 (default 10); the cursor is the last id of the previous page.
#[derive(Debug, Clone, Default)]
pub struct ListInput {
    pub status: Option<String>,
    pub source_id: Option<String>,
    pub event_type: Option<String>,
    pub target_url: Option<String>,
    pub created_after: Option<String>,
    pub created_before: Option<String>,
    pub is_test: Option<String>,
    pub limit: Option<String>,
    pub starting_after_id: Option<String>,
}

pub(crate) fn timestamp(
    parameter: &str,
    text: Option<&str>,
) -> Result<Option<Timestamp>, FieldError> {
    text.map(|t| Timestamp::parse(t).map_err(|e| FieldError::at(parameter, e)))
        .transpose()
}

fn status(text: Option<&str>) -> Result<Option<SendOutStatus>, FieldError> {
    text.map(|s| {
        SendOutStatus::parse(&s.to_ascii_uppercase()).ok_or_else(|| {
            FieldError::at("status", "must be PENDING, RETRYING, SUCCEEDED or FAILED")
        })
    })
    .transpose()
}

fn is_test(text: Option<&str>) -> Result<Option<bool>, FieldError> {
    text.map(|v| match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(FieldError::at("is_test", "must be true or false")),
    })
    .transpose()
}

fn limit(text: Option<&str>) -> Result<u32, FieldError> {
    match text {
        None => Ok(DEFAULT_LIMIT),
        Some(t) => t
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| FieldError::at("limit", "must be a whole number from 1 to 100")),
    }
}

/// The checked filter, page size and cursor of `input`.
fn listing(input: &ListInput) -> Result<(SendOutFilter, u32, Option<SendOutId>), OpsError> {
    let mut problems = Problems::default();
    let status = problems.field(status(input.status.as_deref()));
    let is_test = problems.field(is_test(input.is_test.as_deref()));
    let created_after = problems.field(timestamp("created_after", input.created_after.as_deref()));
    let created_before =
        problems.field(timestamp("created_before", input.created_before.as_deref()));
    let limit = problems.field(limit(input.limit.as_deref()));
    let starting_after = problems.field(
        input
            .starting_after_id
            .as_deref()
            .map(|id| {
                SendOutId::parse(id).map_err(|_| {
                    FieldError::at("starting_after_id", "is not a send out id (whs_…)")
                })
            })
            .transpose(),
    );
    let event_type = input.event_type.as_deref().map(|t| {
        sendout_core::catalog::catalog()
            .get(t)
            .map_or_else(|| t.to_owned(), |known| known.name().to_owned())
    });
    let checked = (|| {
        Some((
            SendOutFilter {
                status: status?,
                source_id: input.source_id.clone(),
                event_type,
                target_url: input.target_url.clone(),
                created_after: created_after?,
                created_before: created_before?,
                is_test: is_test?,
            },
            limit?,
            starting_after?,
        ))
    })();
    problems.finish_with(checked)
}

/// A page of the project's audit log, newest first, headers redacted ([`redact`]).
pub async fn list(
    state: &AppState,
    project: &Project,
    input: &ListInput,
) -> Result<Page<SendOut>, OpsError> {
    let (filter, limit, starting_after) = listing(input)?;
    let mut page = state
        .store
        .list_send_outs(&project.id, &filter, starting_after.as_ref(), limit)
        .await?;
    shown(state, project, &mut page.items).await?;
    Ok(page)
}

fn send_out_id(raw: &str) -> Result<SendOutId, OpsError> {
    SendOutId::parse(raw).map_err(|_| OpsError::not_found("webhook_sendout", raw))
}

/// One send out of the project with its attempts, oldest first, headers redacted
/// ([`redact`]).
pub async fn get(
    state: &AppState,
    project: &Project,
    raw_id: &str,
) -> Result<(SendOut, Vec<Attempt>), OpsError> {
    let id = send_out_id(raw_id)?;
    let (send_out, attempts) = state
        .store
        .get_send_out(&project.id, &id)
        .await
        .map_err(|e| not_found_as(e, "webhook_sendout", raw_id))?;
    let mut one = [send_out];
    shown(state, project, &mut one).await?;
    let [send_out] = one;
    Ok((send_out, attempts))
}

/// The status of the newest send out of each of the project's sources (by source id).
pub async fn last_status_by_source(
    state: &AppState,
    project: &Project,
) -> Result<Vec<(String, SendOutStatus)>, OpsError> {
    Ok(state.store.last_status_by_source(&project.id).await?)
}

/// Makes one attempt of a claimed send out now and records it. Returns what was recorded.
pub async fn attempt_now(state: &AppState, claim: &Claim) -> Result<Completion, OpsError> {
    let completion = state.deliverer.attempt_manual(claim).await;
    state.store.complete(vec![completion.clone()]).await?;
    Ok(completion)
}

/// What a manual retry did.
#[derive(Debug, Clone)]
pub struct Retried {
    /// The attempt just made (`None` if none was made, e.g. the target is inactive).
    pub attempt: Option<Attempt>,
    /// The send out after the attempt, headers redacted ([`redact`]).
    pub send_out: SendOut,
    /// Every attempt, oldest first.
    pub attempts: Vec<Attempt>,
}

/// Sends a send out again now (same body, same id) and records the attempt.
pub async fn retry(state: &AppState, project: &Project, raw_id: &str) -> Result<Retried, OpsError> {
    let id = send_out_id(raw_id)?;
    let claim = state
        .store
        .claim_one(&project.id, &id, Timestamp::now(), state.config.lease)
        .await
        .map_err(|e| not_found_as(e, "webhook_sendout", raw_id))?
        .ok_or_else(|| OpsError::Conflict {
            key: "send_out_busy",
            details: format!("{raw_id} is being attempted right now; try again in a moment"),
        })?;
    if !claim.send_out.is_sendable() {
        // Completed without a request, so the lease is given back and the reason kept.
        attempt_now(state, &claim).await?;
        return Err(OpsError::Conflict {
            key: "send_out_unsendable",
            details: format!(
                "{raw_id} has no body to send: its payload was longer than \
                 max_rendered_payload_bytes when it was made; later events are rendered anew"
            ),
        });
    }
    let completion = attempt_now(state, &claim).await?;
    tracing::info!(
        project.id = %project.id,
        sendout.id = %id,
        attempted = completion.attempt.is_some(),
        "manual retry"
    );
    let (send_out, attempts) = get(state, project, raw_id).await?;
    let attempt = completion
        .attempt
        .as_ref()
        .and_then(|_| attempts.last())
        .cloned();
    Ok(Retried {
        attempt,
        send_out,
        attempts,
    })
}

/// A bulk retry as asked for, unchecked.
#[derive(Debug, Clone, Default)]
pub struct BulkRetryInput {
    /// The webhook (or distribution) whose failed send outs to send again.
    pub source_id: String,
    /// Only send outs created at or after this time (ISO 8601); all when absent.
    pub since: Option<String>,
}

/// What a bulk retry did.
#[derive(Debug, Clone)]
pub struct Requeued {
    pub source_id: String,
    pub since: Option<Timestamp>,
    /// How many failed send outs are due again.
    pub requeued: u64,
}

/// Makes every failed send out of a target since a time due again now.
pub async fn bulk_retry(
    state: &AppState,
    project: &Project,
    input: BulkRetryInput,
) -> Result<Requeued, OpsError> {
    let source_id = input.source_id.trim();
    let refused = || {
        OpsError::invalid(
            "source_id",
            "must be a webhook id (wh_…) or a distribution id (distr_…)",
        )
    };
    // `Err(kind)`: an id of that kind's prefix that is malformed, so no send out has it.
    let named = match (
        WebhookId::parse(source_id),
        DistributionId::parse(source_id),
    ) {
        _ if source_id.len() > 64 => return Err(refused()),
        (Ok(id), _) => Ok(SourceId::Webhook(id)),
        (_, Ok(id)) => Ok(SourceId::Distribution(id)),
        (Err(IdError::Malformed { .. }), _) => Err(SourceKind::Webhook),
        (_, Err(IdError::Malformed { .. })) => Err(SourceKind::Distribution),
        _ => return Err(refused()),
    };
    let since =
        timestamp("since", input.since.as_deref()).map_err(|e| OpsError::Invalid(vec![e]))?;
    let requeued = match named {
        Ok(source) => {
            // Another project's id is as unknown here as one that never was.
            match &source {
                SourceId::Webhook(id) => {
                    state
                        .store
                        .get_webhook(&project.id, id)
                        .await
                        .map_err(|e| not_found_as(e, "webhook", source_id))?;
                }
                SourceId::Distribution(id) => {
                    state
                        .store
                        .get_distribution(&project.id, id)
                        .await
                        .map_err(|e| not_found_as(e, "distribution", source_id))?;
                }
                // Never named by an id of a target (no test webhook's send out is retried;
                // operational endpoints are not named by these ids either).
                SourceId::UnsavedWebhook | SourceId::Operational(_) => return Err(refused()),
            }
            let from = since.unwrap_or_else(|| Timestamp::from_millis(0));
            state
                .store
                .requeue_failed(&project.id, &source, from, Timestamp::now())
                .await?
        }
        Err(SourceKind::Webhook) => return Err(OpsError::not_found("webhook", source_id)),
        Err(SourceKind::Distribution | SourceKind::Operational) => {
            return Err(OpsError::not_found("distribution", source_id))
        }
    };
    tracing::info!(project.id = %project.id, source_id, requeued, "bulk retry");
    Ok(Requeued {
        source_id: source_id.to_owned(),
        since,
        requeued,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_one_to_a_hundred_are_refused() {
        assert_eq!(limit(None).ok(), Some(10));
        assert_eq!(limit(Some("100")).ok(), Some(100));
        assert!(limit(Some("0")).is_err());
        assert!(limit(Some("101")).is_err());
        assert!(limit(Some("ten")).is_err());
    }

    #[test]
    fn every_header_value_is_redacted_unless_its_target_marks_it_public() {
        let headers: BTreeMap<String, String> = [
            ("authorization", "Bearer x"),
            ("x-pwd", "hunter2"),
            ("x-tenant", "acme"),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
        let public = PublicHeaders::parse(["X-Tenant"]).expect("valid");
        let shown = redact(&headers, Some(&public));
        assert_eq!(shown["authorization"], REDACTED);
        assert_eq!(shown["x-pwd"], REDACTED);
        assert_eq!(shown["x-tenant"], "acme");
        let unmarked = redact(&headers, Some(&PublicHeaders::default()));
        assert!(unmarked.values().all(|v| v == REDACTED));
        let gone = redact(&headers, None);
        assert!(gone.values().all(|v| v == REDACTED), "a deleted target's");
    }
}
