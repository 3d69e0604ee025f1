//! Scenarios about handing fresh send outs to this process's worker at ingest
//! (`Store::hand_off`).

use std::collections::BTreeMap;

use sendout_core::time::Timestamp;
use sendout_store::{Claim, Handoff, Next, SendOutStatus, Store, StoreError};
use tokio::sync::mpsc;

use crate::harness::*;

/// An inbox of `room` claims, handed to `store`'s ingest with the suite's lease.
fn inbox(store: &dyn Store, room: usize) -> (Handoff, mpsc::Receiver<Claim>) {
    let (sender, inbox) = mpsc::channel(room);
    let handoff = Handoff {
        inbox: sender,
        lease: LEASE,
    };
    assert!(store.hand_off(handoff.clone()), "the store hands over");
    (handoff, inbox)
}

/// Two webhooks for every event: one plain, one with a header of its own (the embedded
/// store keeps the request of the second, and makes the first's again from the event).
async fn plain_and_with_headers(store: &dyn Store, project: &sendout_store::Project) {
    webhook(store, project, &["*"]).await;
    let mut with_headers = fields(&["*"], true);
    with_headers.headers = BTreeMap::from([("x-shop".to_owned(), "1".to_owned())]);
    store
        .create_webhook(&project.id, with_headers)
        .await
        .expect("the webhook is created");
}

/// Ingest leases as many fresh send outs as the inbox has room for and hands over their
/// claims: each the send out as the store keeps it (as a claim shows it, before the lease),
/// with the project's secrets. The rest stay due for a claim; a handed claim completes under
/// its lease like any other.
pub async fn fresh_send_outs_are_handed_to_the_inbox_as_far_as_it_has_room(store: &dyn Store) {
    let shop = project(store).await;
    plain_and_with_headers(store, &shop).await;
    // Mid-rotation, so that the claims must carry both secrets.
    let shop = store
        .rotate_webhook_token(
            &shop.id,
            "the-new-signing-secret",
            Timestamp::now().plus_millis(3_600_000),
        )
        .await
        .expect("rotated");
    let (handoff, mut inbox) = inbox(store, 3);
    let before = Timestamp::now();
    let outcomes = store
        .ingest(
            &shop.id,
            vec![event("voucher.published"), event("customer.rewarded")],
        )
        .await
        .expect("ingested");
    assert_eq!(outcomes.iter().map(|o| o.send_outs).sum::<u32>(), 4);

    assert_eq!(
        handoff.inbox.capacity(),
        0,
        "the room is taken until the worker reads"
    );
    let mut handed = Vec::new();
    assert_eq!(inbox.recv_many(&mut handed, 10).await, 3);
    assert!(inbox.is_empty(), "only as many as there was room for");
    for claim in &handed {
        let (mut stored, attempts) = store
            .get_send_out(&shop.id, &claim.send_out.id)
            .await
            .expect("stored");
        assert!(attempts.is_empty());
        assert!(claim.lease_until >= before.plus_millis(lease_ms()));
        assert_eq!(
            stored.next_attempt_at,
            Some(claim.lease_until),
            "not due while leased"
        );
        stored.next_attempt_at = claim.send_out.next_attempt_at;
        assert_eq!(claim.send_out, stored);
        assert!(claim
            .send_out
            .next_attempt_at
            .is_some_and(|at| at <= Timestamp::now()));
        assert!(claim.target_active);
        assert_eq!(claim.secrets.current, "the-new-signing-secret");
        assert!(claim.secrets.previous.is_some());
        assert!(claim.secrets == shop.signing_secrets(Timestamp::now()));
    }

    let claimed = claim_all(store, Timestamp::now()).await;
    assert_eq!(
        claimed.len(),
        1,
        "the one left over is due; the handed ones are leased"
    );
    assert!(handed
        .iter()
        .all(|h| h.send_out.id != claimed[0].send_out.id));

    let done = &handed[0];
    complete(
        store,
        vec![completion(done, 200, Next::Succeeded, Timestamp::now())],
    )
    .await;
    assert_eq!(
        status_of(store, &shop, &done.send_out.id).await,
        SendOutStatus::Succeeded
    );
}

/// A call that fails hands nothing over and gives the room back; a closed inbox ends the
/// handover, and ingest goes on leaving everything due.
pub async fn a_failed_ingest_or_a_closed_inbox_hands_nothing_over(store: &dyn Store) {
    let shop = project(store).await;
    plain_and_with_headers(store, &shop).await;
    let first = event("voucher.published");
    store
        .ingest(&shop.id, vec![first.clone()])
        .await
        .expect("ingested before any inbox");

    let (handoff, mut inbox) = inbox(store, 8);
    let repeated = store.ingest(&shop.id, vec![first]).await;
    assert!(
        matches!(repeated, Err(StoreError::Conflict(_))),
        "{repeated:?}"
    );
    assert!(inbox.try_recv().is_err(), "nothing handed over");
    assert_eq!(handoff.inbox.capacity(), 8, "the room is given back");

    drop(inbox);
    ingest(store, &shop, "voucher.published").await;
    let claimed = claim_all(store, Timestamp::now()).await;
    assert_eq!(claimed.len(), 4, "every send out is due: none was leased");
}
