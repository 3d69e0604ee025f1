//! Idempotent ingest, the rules both backends share ([`crate::Queue::ingest_keyed`]).
//!
//! A key is claimed by writing its row (`idempotency_keys`, primary key `(project_id, scope,
//! key)`) in the ingest's own transaction, with the answer the ingest gets: one statement,
//! an upsert that writes a new key or replaces one past its time, and returns the row only
//! if it wrote it. When it returns nothing the key is held by an earlier ingest (or, on
//! PostgreSQL, by one that committed while this one waited on the row), and the stored row
//! decides: the same fingerprint is a replay of the stored answer, another is a reuse that is
//! refused. Either way the transaction makes nothing. So two ingests with one key, on one
//! node or several, make one event: the primary key, not a cache, decides.
//!
//! Event keys are claimed first (each event's part of the answer is known once fan-out has
//! been planned), then the request's key with the whole answer, which includes the parts an
//! event replays; a reuse of any key, or a replay of the request's, undoes the claims made
//! before it (PostgreSQL rolls the transaction back, the embedded store its savepoint).

use crate::model::{IngestKeys, IngestOutcome, KeyedOutcome, NewEvent};
use crate::rows::Columns;
use crate::StoreResult;

/// The scope of a request's key (`Idempotency-Key`).
pub(crate) const REQUEST: &str = "request";
/// The scope of one event's own key (`idempotency_key` in a batch).
pub(crate) const EVENT: &str = "event";
/// The status every stored answer has: only an ingest that committed is stored.
pub(crate) const ACCEPTED: i64 = 202;

/// What claims a key unless a live row holds it: a new row, or one past `expires_at`
/// replaced; the row is returned only when written. Appended to an `INSERT` whose
/// `created_at` is now.
pub(crate) const CLAIM: &str = "ON CONFLICT (project_id, scope, idempotency_key) DO UPDATE SET \
     fingerprint = excluded.fingerprint, status = excluded.status, \
     response = excluded.response, created_at = excluded.created_at, \
     expires_at = excluded.expires_at \
     WHERE idempotency_keys.expires_at <= excluded.created_at \
     RETURNING idempotency_key";

/// A key held by an earlier ingest, as its row has it.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub key: String,
    pub fingerprint: String,
    pub response: String,
}

/// The columns [`stored`] reads.
pub(crate) const STORED_COLUMNS: &str = "idempotency_key, fingerprint, response";

/// A row of [`STORED_COLUMNS`].
pub(crate) fn stored(row: &impl Columns) -> StoreResult<Stored> {
    Ok(Stored {
        key: row.get("idempotency_key")?,
        fingerprint: row.get("fingerprint")?,
        response: row.get("response")?,
    })
}

/// What the keys of one ingest decided.
#[derive(Debug)]
pub(crate) enum Decision {
    /// Write the events whose `keep` is true; `body` is the answer, stored with the keys.
    Write { keep: Vec<bool>, body: String },
    /// The request's key was seen with this body: answer `body` again, write nothing.
    Replay(String),
    /// A key was seen with another body (`None`: the request's): write nothing.
    Reused(Option<usize>),
}

impl Decision {
    /// Whether the ingest writes anything (the claims made for it are kept).
    pub(crate) fn writes(&self) -> bool {
        matches!(self, Self::Write { .. })
    }

    /// The outcome the caller hears, given every event's planned `outcomes`.
    pub(crate) fn outcome(self, outcomes: Vec<IngestOutcome>) -> KeyedOutcome {
        match self {
            Self::Write { keep, body } => KeyedOutcome::Answered {
                body,
                replayed: false,
                created: outcomes
                    .into_iter()
                    .zip(keep)
                    .filter_map(|(outcome, keep)| keep.then_some(outcome))
                    .collect(),
            },
            Self::Replay(body) => KeyedOutcome::Answered {
                body,
                replayed: true,
                created: Vec::new(),
            },
            Self::Reused(event) => KeyedOutcome::Reused { event },
        }
    }
}

/// Every event's part of the answer, as if each were new.
pub(crate) fn parts(
    keys: &IngestKeys,
    events: &[NewEvent],
    outcomes: &[IngestOutcome],
) -> Vec<String> {
    events
        .iter()
        .zip(outcomes)
        .map(|(event, outcome)| keys.answer.event(event, outcome))
        .collect()
}

/// The event keys to claim: `(position, key, fingerprint, part)`.
pub(crate) fn event_claims<'a>(
    keys: &'a IngestKeys,
    parts: &'a [String],
) -> Vec<(usize, &'a str, &'a str, &'a str)> {
    keys.event_keys
        .iter()
        .enumerate()
        .filter_map(|(i, key)| {
            key.as_ref()
                .map(|k| (i, k.key.as_str(), k.fingerprint.as_str(), parts[i].as_str()))
        })
        .collect()
}

/// After the event keys were claimed: `held` are those an earlier ingest holds. Each held
/// with the same fingerprint is not written and answers its stored part; one held with
/// another is a reuse. Returns which events to write and the answer's parts.
pub(crate) fn settle_events(
    keys: &IngestKeys,
    mut parts: Vec<String>,
    held: &[Stored],
) -> Result<(Vec<bool>, Vec<String>), Decision> {
    let mut keep = vec![true; parts.len()];
    for (i, key) in keys.event_keys.iter().enumerate() {
        let Some(key) = key else { continue };
        if let Some(stored) = held.iter().find(|s| s.key == key.key) {
            if stored.fingerprint != key.fingerprint {
                return Err(Decision::Reused(Some(i)));
            }
            keep[i] = false;
            parts[i].clone_from(&stored.response);
        }
    }
    Ok((keep, parts))
}

/// The whole answer from its parts.
pub(crate) fn body(keys: &IngestKeys, parts: &[String]) -> String {
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    keys.answer.request(&parts)
}

/// After the request's key was claimed with `body` (`held`: the earlier ingest's row, if it
/// holds the key).
pub(crate) fn settle_request(
    keys: &IngestKeys,
    keep: Vec<bool>,
    body: String,
    held: Option<Stored>,
) -> Decision {
    match (held, &keys.request_key) {
        (Some(stored), Some(key)) if stored.fingerprint == key.fingerprint => {
            Decision::Replay(stored.response)
        }
        (Some(_), _) => Decision::Reused(None),
        (None, _) => Decision::Write { keep, body },
    }
}
