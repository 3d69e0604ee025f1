//! Operational webhooks at run time: each pass of the notice task turns the notices whose
//! operational event is still to be made into send outs, one per configured URL (the
//! operator's, the project's own), which the delivery worker then sends like any other.
//!
//! The notice is the event's outbox: it is written `pending` in the transaction of the state
//! change it reports (see `sendout_store::notices`), and [`sendout_store::Notices::emit_operational`]
//! marks it emitted in the transaction that stores its send outs. So an event is made once,
//! whatever crashes, and a notice with no URL configured is marked and makes none.

use sendout_core::ids::{EventId, ProjectId, SendOutId};
use sendout_core::input::TargetUrl;
use sendout_core::operational::{self, Incident, LastResponse, Target};
use sendout_core::time::Timestamp;
use sendout_store::notices::PendingOperational;
use sendout_store::{OperationalDestination, SendOut, Store, StoreResult};

use crate::config::Operational;

/// Most notices turned into operational events in one transaction.
const EVENTS_PER_PASS: u32 = 100;

/// Makes the operational events of every pending notice, `EVENTS_PER_PASS` at a time.
/// Returns how many send outs were stored.
pub(super) async fn emit(
    store: &dyn Store,
    settings: &Operational,
    public_url: &str,
) -> StoreResult<u64> {
    let mut made = 0;
    loop {
        let pending = store.pending_operational(EVENTS_PER_PASS).await?;
        let full = pending.len() == EVENTS_PER_PASS as usize;
        let now = Timestamp::now();
        let events = pending
            .iter()
            .map(|p| (p.notice.id, send_outs(p, settings, public_url, now)))
            .collect();
        made += store.emit_operational(events).await?;
        if !full {
            return Ok(made);
        }
    }
}

/// The send outs of one notice's event: to the operator's URL and to the project's, each
/// that is set (a project URL that no longer parses, which the API never stores, is left out).
fn send_outs(
    pending: &PendingOperational,
    settings: &Operational,
    public_url: &str,
    now: Timestamp,
) -> Vec<SendOut> {
    let notice = &pending.notice;
    let Ok(project) = ProjectId::parse(&notice.project_id) else {
        return Vec::new();
    };
    let kind = notice.kind.operational();
    let event_id = EventId::new(kind.as_str());
    let last_response =
        (notice.last_status.is_some() || notice.last_error.is_some()).then_some(LastResponse {
            status: notice.last_status,
            error: notice.last_error.as_deref(),
            body: notice.last_body.as_deref(),
        });
    let incident = Incident {
        kind,
        project_id: &project,
        target: Target {
            object: notice.target_kind.as_str(),
            id: &notice.target_id,
            url: notice.target_url.as_deref(),
            channel: notice.channel,
        },
        send_out_id: notice.send_out_id.as_deref(),
        reason: notice.reason.as_deref(),
        since: notice.created_at,
        last_response,
    };
    let body = operational::body(&event_id, &incident, now, public_url);
    let project_url = pending
        .project_url
        .as_deref()
        .and_then(|url| TargetUrl::parse(url).ok());
    let operator = settings.operator.as_ref().map(|o| &o.url);
    [
        (OperationalDestination::Operator, operator),
        (OperationalDestination::Project, project_url.as_ref()),
    ]
    .into_iter()
    .filter_map(|(destination, url)| {
        url.map(|url| {
            SendOut::operational(
                SendOutId::new(),
                &project,
                (destination, url),
                (&event_id, kind.as_str()),
                body.clone(),
                now,
            )
        })
    })
    .collect()
}
