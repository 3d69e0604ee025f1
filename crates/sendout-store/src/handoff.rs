//! Handing fresh send outs to this process's worker at ingest ([`crate::Queue::hand_off`]),
//! the same on both backends: room is reserved in the worker's inbox before the transaction
//! (so a commit never has claims it cannot hand over), as many send outs are written with the
//! worker's lease, and their claims are sent once the transaction has committed. A failed
//! transaction drops the reservation, which gives the room back; nothing was leased.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sendout_core::time::Timestamp;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::PermitIterator;

use crate::model::{Claim, Handoff, SendOut, SigningSecrets};

/// Where a store keeps the local worker's inbox, once it asked for fresh send outs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Slot(Arc<Mutex<Option<Handoff>>>);

impl Slot {
    /// From the next ingest on, hands over to `handoff`, replacing any earlier inbox.
    pub(crate) fn set(&self, handoff: Handoff) {
        *self.lock() = Some(handoff);
    }

    /// The inbox, if a worker gave one.
    pub(crate) fn current(&self) -> Option<Handoff> {
        self.lock().clone()
    }

    /// Reserves room in `handoff`'s inbox for up to `wanted` claims, leased from `now`;
    /// `None` if it has none. A closed inbox (its worker stopped) ends the handover.
    pub(crate) fn reserve<'a>(
        &self,
        handoff: &'a Handoff,
        wanted: usize,
        now: Timestamp,
    ) -> Option<Reserved<'a>> {
        let room = wanted.min(handoff.inbox.capacity());
        let permits = if room == 0 {
            Err(TrySendError::Full(()))
        } else {
            handoff.inbox.try_reserve_many(room)
        };
        match permits {
            Ok(permits) => Some(Reserved {
                permits,
                lease_until: now.plus(handoff.lease),
            }),
            Err(_) if handoff.inbox.is_closed() => {
                self.lock().take();
                None
            }
            Err(_) => None,
        }
    }

    /// The slot, whatever a panic elsewhere left in it (it holds a plain value).
    fn lock(&self) -> MutexGuard<'_, Option<Handoff>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Room reserved in a worker's inbox for the first [`Reserved::len`] send outs of a
/// transaction, which it writes leased until [`Reserved::lease_until`].
pub(crate) struct Reserved<'a> {
    permits: PermitIterator<'a, Claim>,
    pub(crate) lease_until: Timestamp,
}

impl Reserved<'_> {
    /// How many send outs have room.
    pub(crate) fn len(&self) -> usize {
        self.permits.len()
    }

    /// After the commit: sends the claims of the first [`Reserved::len`] of `send_outs`
    /// (the ones written leased), signed with `secrets`. Fan-out plans only for active
    /// webhooks and live distributions, so their targets are active.
    pub(crate) fn send(
        self,
        send_outs: impl IntoIterator<Item = SendOut>,
        secrets: impl Fn(&SendOut) -> SigningSecrets,
    ) {
        let lease_until = self.lease_until;
        for (send_out, permit) in send_outs.into_iter().zip(self.permits) {
            permit.send(Claim {
                secrets: secrets(&send_out),
                send_out,
                target_active: true,
                lease_until,
            });
        }
    }
}

/// Puts the send outs that can be sent first, keeping the order within each part, and
/// answers how many they are: only those are due, so only those may be handed over (one made
/// [`SendOut::unsendable`] at ingest is already `FAILED`).
pub(crate) fn sendable_first(send_outs: &mut [SendOut]) -> usize {
    let sendable = send_outs.iter().filter(|s| s.is_sendable()).count();
    if sendable < send_outs.len() {
        // A stable sort on one flag: sendable (false sorts first) before unsendable.
        send_outs.sort_by_key(|s| !s.is_sendable());
    }
    sendable
}
