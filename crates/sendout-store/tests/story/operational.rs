//! Operational webhooks in the store: every notice is the outbox of its operational event,
//! written pending with the state change it reports; exhausted send outs are recorded once
//! per target per window, never for operational send outs themselves; emitting stores the
//! event's send outs and marks the notice in one transaction, once.

use std::time::Duration;

use sendout_core::ids::{EventId, SendOutId};
use sendout_core::time::Timestamp;
use sendout_store::notices::{NoticeKind, PendingOperational};
use sendout_store::{
    Next, OperationalDestination, Project, ProjectUpdate, SendOut, SourceId, Store,
};

use crate::harness::{claim_all, complete, completion, fields, ingest, project, url, webhook};

const WINDOW: Duration = Duration::from_secs(3600);

fn given_up() -> Next {
    Next::Failed {
        reason: "gave up after 3 attempts: the target answered 503".into(),
        disable_target: true,
    }
}

/// The send outs a pending notice's event makes, to the project's URL.
fn events_of(pending: &[PendingOperational], shop: &Project) -> Vec<(i64, Vec<SendOut>)> {
    pending
        .iter()
        .map(|p| {
            let url = url(p.project_url.as_deref().expect("the project's URL"));
            let kind = p.notice.kind.operational();
            let event = EventId::new(kind.as_str());
            let send_out = SendOut::operational(
                SendOutId::new(),
                &shop.id,
                (OperationalDestination::Project, &url),
                (&event, kind.as_str()),
                format!(r#"{{"id":"{event}"}}"#),
                Timestamp::now(),
            );
            (p.notice.id, vec![send_out])
        })
        .collect()
}

pub async fn notices_make_their_operational_events_once_and_exhaustion_is_coalesced(
    store: &dyn Store,
) {
    let shop = project(store).await;
    let ops = "https://ops.example/sendout-events";
    store
        .update_project(
            &shop.id,
            ProjectUpdate {
                operational_webhook_url: Some(Some(url(ops))),
                ..ProjectUpdate::default()
            },
        )
        .await
        .expect("the URL is saved");
    let hook = webhook(store, &shop, &["*"]).await;
    for _ in 0..3 {
        ingest(store, &shop, "voucher.published").await;
    }
    // Three send outs given up at once: the webhook is disabled once, and reported
    // exhausted once for the window.
    let now = Timestamp::now();
    let completions: Vec<_> = claim_all(store, now)
        .await
        .iter()
        .map(|claim| sendout_store::Completion {
            exhausted_window: Some(WINDOW),
            ..completion(claim, 503, given_up(), now)
        })
        .collect();
    assert_eq!(completions.len(), 3);
    complete(store, completions).await;

    let pending = store.pending_operational(10).await.expect("reads");
    let kinds: Vec<NoticeKind> = pending.iter().map(|p| p.notice.kind).collect();
    assert_eq!(
        kinds,
        [NoticeKind::WebhookDisabled, NoticeKind::SendOutExhausted]
    );
    let exhausted = &pending[1].notice;
    assert_eq!(exhausted.target_id, hook.id.as_str());
    assert_eq!(exhausted.last_status, Some(503));
    assert_eq!(
        exhausted.reason.as_deref(),
        Some("gave up after 3 attempts: the target answered 503")
    );
    assert!(!exhausted.in_app && exhausted.mail_to.is_empty());
    assert!(pending
        .iter()
        .all(|p| p.project_url.as_deref() == Some(ops)));
    // Not listed in-app: the dashboard shows the disabling alone.
    let listed = store.list_notices(&shop.id, 10).await.expect("lists");
    assert_eq!(listed.len(), 1);

    // Emitting twice (two nodes with the same pending notices) makes each event once.
    let events = events_of(&pending, &shop);
    assert_eq!(
        store.emit_operational(events.clone()).await.expect("emits"),
        2
    );
    assert_eq!(store.emit_operational(events).await.expect("emits"), 0);
    assert!(store
        .pending_operational(10)
        .await
        .expect("reads")
        .is_empty());

    // Their send outs are due at once, always sendable, and giving them up records nothing:
    // no operational event is about an operational delivery.
    let claims = claim_all(store, Timestamp::now()).await;
    assert_eq!(claims.len(), 2);
    for claim in &claims {
        assert_eq!(
            claim.send_out.source_id,
            SourceId::Operational(OperationalDestination::Project)
        );
        assert_eq!(claim.send_out.target_url, ops);
        assert!(claim.target_active);
        assert!(claim.send_out.body.starts_with(r#"{"id":"evsen_"#));
    }
    let now = Timestamp::now();
    let completions = claims
        .iter()
        .map(|claim| sendout_store::Completion {
            exhausted_window: Some(WINDOW),
            ..completion(claim, 500, given_up(), now)
        })
        .collect();
    complete(store, completions).await;
    assert!(store
        .pending_operational(10)
        .await
        .expect("reads")
        .is_empty());

    // Turned on again: the recovery is pending too.
    let mut on = fields(&["*"], true);
    on.target_url = hook.target_url.clone();
    store
        .update_webhook(&shop.id, &hook.id, on)
        .await
        .expect("enabled");
    let pending = store.pending_operational(10).await.expect("reads");
    let kinds: Vec<NoticeKind> = pending.iter().map(|p| p.notice.kind).collect();
    assert_eq!(kinds, [NoticeKind::WebhookEnabled]);
    // Without a URL an event makes no send out, and its notice is done with.
    store
        .update_project(
            &shop.id,
            ProjectUpdate {
                operational_webhook_url: Some(None),
                ..ProjectUpdate::default()
            },
        )
        .await
        .expect("the URL is removed");
    let pending = store.pending_operational(10).await.expect("reads");
    assert_eq!(pending[0].project_url, None);
    let none = vec![(pending[0].notice.id, Vec::new())];
    assert_eq!(store.emit_operational(none).await.expect("emits"), 0);
    assert!(store
        .pending_operational(10)
        .await
        .expect("reads")
        .is_empty());
    let project = store.get_project(&shop.id).await.expect("reads");
    assert_eq!(project.operational_webhook_url, None);
}
