//! Callout notices: written with the state change that causes them, addressed as the
//! project's settings say, listed and marked read per project, and mailed through an outbox
//! whose claims are leased (one sender per mail) and whose outcomes are kept.

use std::time::Duration;

use sendout_core::time::Timestamp;
use sendout_store::notices::{MailOutcome, MailState, NoticeKind};
use sendout_store::{
    CalloutNotification, CalloutNotifications, Next, Project, ProjectUpdate, Store, Webhook,
};

use crate::harness::{claim_all, complete, completion, fields, ingest, project, webhook};

const MAIL_LEASE: Duration = Duration::from_secs(60);

/// Mails for webhooks go to ops@, none for distributions; both shown in-app.
async fn told(store: &dyn Store, shop: &Project) {
    let settings = CalloutNotifications {
        webhooks: CalloutNotification {
            email: true,
            emails: vec!["ops@example.com".into(), "dev@example.com".into()],
            in_app: true,
        },
        distributions: CalloutNotification::default(),
    };
    store
        .update_project(
            &shop.id,
            ProjectUpdate {
                callout_notifications: Some(settings),
                ..ProjectUpdate::default()
            },
        )
        .await
        .expect("the settings are saved");
}

/// Gives up, in one batch, on `events` send outs of the webhook, which disables it.
async fn give_up(store: &dyn Store, shop: &Project, hook: &Webhook, events: usize) {
    for _ in 0..events {
        ingest(store, shop, "voucher.published").await;
    }
    let now = Timestamp::now();
    let claims = claim_all(store, now).await;
    let next = Next::Failed {
        reason: "no 2xx after 12 attempts".into(),
        disable_target: true,
    };
    let completions: Vec<_> = claims
        .iter()
        .filter(|c| c.send_out.source_id.as_str() == hook.id.as_str())
        .map(|claim| completion(claim, 503, next.clone(), now))
        .collect();
    assert_eq!(completions.len(), events);
    complete(store, completions).await;
}

pub async fn disabling_a_webhook_records_one_notice_addressed_as_the_project_says(
    store: &dyn Store,
) {
    let shop = project(store).await;
    told(store, &shop).await;
    let hook = webhook(store, &shop, &["*"]).await;
    assert_eq!(store.unread_notices(&shop.id).await.expect("counts"), 0);
    // Two send outs given up together disable it once, and are noticed once.
    give_up(store, &shop, &hook, 2).await;

    let notices = store.list_notices(&shop.id, 10).await.expect("lists");
    assert_eq!(notices.len(), 1, "{notices:?}");
    let notice = &notices[0];
    assert_eq!(notice.kind, NoticeKind::WebhookDisabled);
    assert_eq!(notice.target_id, hook.id.as_str());
    assert_eq!(notice.target_url.as_deref(), Some(hook.target_url.as_str()));
    assert_eq!(notice.reason.as_deref(), Some("no 2xx after 12 attempts"));
    assert_eq!(notice.last_status, Some(503));
    assert_eq!(notice.last_body.as_deref(), Some("answer 503"));
    assert_eq!(notice.mail_to, ["ops@example.com", "dev@example.com"]);
    assert_eq!(notice.mail_state, Some(MailState::Pending));
    assert!(notice.send_out_id.is_some());
    assert_eq!(store.unread_notices(&shop.id).await.expect("counts"), 1);

    // Another project sees none of it.
    let other = project(store).await;
    assert!(store
        .list_notices(&other.id, 10)
        .await
        .expect("lists")
        .is_empty());
}

pub async fn re_enabling_a_disabled_webhook_is_noticed_and_notices_are_marked_read(
    store: &dyn Store,
) {
    let shop = project(store).await;
    let hook = webhook(store, &shop, &["*"]).await;
    give_up(store, &shop, &hook, 1).await;
    let mut on = fields(&["*"], true);
    on.target_url = hook.target_url.clone();
    store
        .update_webhook(&shop.id, &hook.id, on.clone())
        .await
        .expect("enabled");
    // Saving it again while it is on is no recovery.
    store
        .update_webhook(&shop.id, &hook.id, on)
        .await
        .expect("saved");
    let notices = store.list_notices(&shop.id, 10).await.expect("lists");
    let kinds: Vec<NoticeKind> = notices.iter().map(|n| n.kind).collect();
    assert_eq!(
        kinds,
        [NoticeKind::WebhookEnabled, NoticeKind::WebhookDisabled],
        "newest first"
    );
    assert!(
        notices
            .iter()
            .all(|n| n.mail_to.is_empty() && n.mail_state.is_none()),
        "the default settings mail nobody"
    );
    assert_eq!(store.unread_notices(&shop.id).await.expect("counts"), 2);

    let now = Timestamp::now();
    let (newest, oldest) = (notices[0].id, notices[1].id);
    assert_eq!(
        store
            .mark_notices_read(&shop.id, newest, Some(oldest), now)
            .await
            .expect("marks"),
        1
    );
    assert_eq!(store.unread_notices(&shop.id).await.expect("counts"), 1);
    // Up to an older id leaves the newer one unread.
    assert_eq!(
        store
            .mark_notices_read(&shop.id, oldest, None, now)
            .await
            .expect("marks"),
        0
    );
    let other = project(store).await;
    assert_eq!(
        store
            .mark_notices_read(&other.id, newest, None, now)
            .await
            .expect("marks"),
        0,
        "another project's notices are not touched"
    );
    assert_eq!(
        store
            .mark_notices_read(&shop.id, newest, None, now)
            .await
            .expect("marks"),
        1
    );
    assert_eq!(store.unread_notices(&shop.id).await.expect("counts"), 0);
    let read = store.list_notices(&shop.id, 10).await.expect("lists");
    assert!(read.iter().all(|n| n.read_at == Some(now)));
}

pub async fn the_outbox_leases_each_mail_to_one_sender_and_keeps_its_outcome(store: &dyn Store) {
    let shop = project(store).await;
    told(store, &shop).await;
    let hook = webhook(store, &shop, &["*"]).await;
    give_up(store, &shop, &hook, 1).await;

    let now = Timestamp::now();
    let claims = store
        .claim_mails(now, 10, MAIL_LEASE)
        .await
        .expect("claims");
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].notice.mail_attempts, 1);
    assert!(
        store
            .claim_mails(now, 10, MAIL_LEASE)
            .await
            .expect("claims")
            .is_empty(),
        "a leased mail is not claimed again"
    );
    // It failed: due again at the time given, not before.
    let retry_at = now.plus_millis(5_000);
    store
        .finish_mail(
            &claims[0],
            MailOutcome::Retry {
                at: retry_at,
                error: "connection refused".into(),
            },
        )
        .await
        .expect("written");
    assert!(store
        .claim_mails(now, 10, MAIL_LEASE)
        .await
        .expect("claims")
        .is_empty());
    let again = store
        .claim_mails(retry_at, 10, MAIL_LEASE)
        .await
        .expect("claims");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].notice.mail_attempts, 2);
    assert_eq!(
        again[0].notice.mail_error.as_deref(),
        Some("connection refused")
    );
    // A stale claim's failure does not undo the newer one's lease.
    store
        .finish_mail(
            &claims[0],
            MailOutcome::Failed {
                error: "stale".into(),
            },
        )
        .await
        .expect("written");
    let sent_at = retry_at.plus_millis(1);
    store
        .finish_mail(&again[0], MailOutcome::Sent { at: sent_at })
        .await
        .expect("written");
    let far = retry_at.plus_millis(24 * 3600 * 1000);
    assert!(
        store
            .claim_mails(far, 10, MAIL_LEASE)
            .await
            .expect("claims")
            .is_empty(),
        "a sent mail is never claimed again"
    );
    let notice = &store.list_notices(&shop.id, 10).await.expect("lists")[0];
    assert_eq!(notice.mail_state, Some(MailState::Sent));
    assert_eq!(notice.mail_sent_at, Some(sent_at));
    assert_eq!(notice.mail_attempts, 2);
}

pub async fn a_failing_target_is_warned_about_once_per_incident(store: &dyn Store) {
    let shop = project(store).await;
    let hook = webhook(store, &shop, &["*"]).await;
    ingest(store, &shop, "voucher.published").await;
    ingest(store, &shop, "voucher.published").await;
    // Two failed attempts each: both send outs retrying.
    let mut now = Timestamp::now();
    for _ in 0..2 {
        let claims = claim_all(store, now).await;
        assert_eq!(claims.len(), 2);
        let retry = Next::RetryAt(now.plus_millis(1));
        complete(
            store,
            claims
                .iter()
                .map(|c| completion(c, 500, retry.clone(), now))
                .collect(),
        )
        .await;
        now = now.plus_millis(2);
    }
    assert_eq!(
        store.record_failing(3, now).await.expect("looks"),
        0,
        "not yet at the share"
    );
    assert_eq!(store.record_failing(2, now).await.expect("looks"), 1);
    assert_eq!(
        store.record_failing(2, now).await.expect("looks"),
        0,
        "once per incident"
    );
    let notices = store.list_notices(&shop.id, 10).await.expect("lists");
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].kind, NoticeKind::WebhookFailing);
    assert_eq!(notices[0].target_id, hook.id.as_str());
    assert_eq!(notices[0].last_status, Some(500));
}

pub async fn retention_keeps_notices_whose_mail_or_operational_event_is_pending(store: &dyn Store) {
    let shop = project(store).await;
    told(store, &shop).await;
    let hook = webhook(store, &shop, &["*"]).await;
    give_up(store, &shop, &hook, 1).await;
    let later = Timestamp::now().plus_millis(1000);
    store.prune(later).await.expect("prunes");
    assert_eq!(
        store.list_notices(&shop.id, 10).await.expect("lists").len(),
        1,
        "its mail still waits"
    );
    let claims = store
        .claim_mails(Timestamp::now(), 10, MAIL_LEASE)
        .await
        .expect("claims");
    store
        .finish_mail(
            &claims[0],
            MailOutcome::Sent {
                at: Timestamp::now(),
            },
        )
        .await
        .expect("written");
    store.prune(later).await.expect("prunes");
    assert_eq!(
        store.list_notices(&shop.id, 10).await.expect("lists").len(),
        1,
        "its operational event still waits"
    );
    let pending = store.pending_operational(10).await.expect("reads");
    let done = pending.iter().map(|p| (p.notice.id, Vec::new())).collect();
    store.emit_operational(done).await.expect("emits");
    store.prune(later).await.expect("prunes");
    assert!(store
        .list_notices(&shop.id, 10)
        .await
        .expect("lists")
        .is_empty());
}
