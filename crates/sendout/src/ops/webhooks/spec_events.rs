//! How a webhook's `events` read in the management API. Voucherify's management spec makes the
//! items of `events` a closed enum, and clients generated from it (the official Python SDK
//! among them) refuse an answer holding any other name; so the management API speaks that
//! enum wherever it can.
//!
//! Invariants (docs/API.md, "Webhooks"):
//! - a type the spec enumerates reads in the spec's spelling (`campaign.vouchers.aded`),
//!   whichever spelling it was given in; sendout stores and delivers the correct `…added`;
//! - catalog types newer than the spec (`customer.updated`, `customer.consents.*`) read as
//!   they are: the spec has no name for them, as Voucherify's own answers do not;
//! - a webhook for every event (stored `["*"]`) reads as the spec's whole list, which every
//!   such client accepts, with `all_events: true` to tell it from a list;
//! - a `PUT` of exactly that list to a webhook for every event keeps it for every event, so a
//!   client that puts back what it read changes nothing.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use sendout_core::catalog::catalog;
use sendout_core::input::EventFilter;

/// The webhook events of Voucherify's management spec
/// (`ManagementProjectsWebhookBase.events`), in its spelling and order.
pub const SPEC_EVENTS: [&str; 60] = [
    "business_validation_rule.assignment.created",
    "business_validation_rule.assignment.deleted",
    "business_validation_rule.created",
    "business_validation_rule.deleted",
    "business_validation_rule.updated",
    "campaign.created",
    "campaign.deleted",
    "campaign.disabled",
    "campaign.enabled",
    "campaign.earning_rule.assigned",
    "campaign.earning_rule.deleted",
    "campaign.earning_rule.disabled",
    "campaign.earning_rule.enabled",
    "campaign.earning_rule.updated",
    "campaign.loyalty_tier.created",
    "campaign.loyalty_tier.deleted",
    "campaign.loyalty_tier.updated",
    "campaign.promotion_stack.created",
    "campaign.promotion_stack.updated",
    "campaign.promotion_tier.created",
    "campaign.promotion_tier.deleted",
    "campaign.promotion_tier.disabled",
    "campaign.promotion_tier.enabled",
    "campaign.promotion_tier.updated",
    "campaign.referral_tier.created",
    "campaign.referral_tier.deleted",
    "campaign.referral_tier.updated",
    "campaign.reward.assignment.created",
    "campaign.reward.assignment.deleted",
    "campaign.reward.assignment.updated",
    "campaign.updated",
    "campaign.vouchers.aded",
    "campaign.vouchers.generation.completed",
    "campaign.vouchers.generation.failed",
    "campaign.vouchers.generation.started",
    "customer.confirmed",
    "customer.created",
    "customer.deleted",
    "customer.rewarded",
    "customer.rewarded.loyalty_points",
    "publication.succeeded",
    "redemption.failed",
    "redemption.rollback.failed",
    "redemption.rollback.succeeded",
    "redemption.succeeded",
    "voucher.created",
    "voucher.deleted",
    "voucher.disabled",
    "voucher.enabled",
    "voucher.gift.balance_aded",
    "voucher.gift.transaction.created",
    "voucher.loyalty_card.pending_points.activated",
    "voucher.loyalty_card.pending_points.aded",
    "voucher.loyalty_card.pending_points.canceled",
    "voucher.loyalty_card.pending_points.updated",
    "voucher.loyalty_card.points_aded",
    "voucher.loyalty_card.points_expired",
    "voucher.loyalty_card.transaction.created",
    "voucher.published",
    "voucher.updated",
];

/// Canonical catalog name to the spec's spelling, for the spec's events.
static SPEC_SPELLING: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    SPEC_EVENTS
        .iter()
        .filter_map(|spec| catalog().get(spec).map(|t| (t.name(), *spec)))
        .collect()
});

/// The canonical names of the spec's events.
static SPEC_CANONICAL: LazyLock<BTreeSet<&'static str>> =
    LazyLock::new(|| SPEC_SPELLING.keys().copied().collect());

/// A webhook's `events` as the management API shows them: every event as the spec's list.
pub fn shown(events: &EventFilter) -> Vec<String> {
    if events.is_all() {
        return SPEC_EVENTS.iter().map(|e| (*e).to_owned()).collect();
    }
    events
        .event_types()
        .iter()
        .map(|name| (*SPEC_SPELLING.get(name).unwrap_or(name)).to_owned())
        .collect()
}

/// Whether `events` name exactly the spec's events: what a webhook for every event reads as.
pub fn is_spec_list(events: &EventFilter) -> bool {
    let given: BTreeSet<&str> = events.event_types().iter().copied().collect();
    given == *SPEC_CANONICAL
}

#[cfg(test)]
mod tests {
    use super::*;
    use sendout_core::catalog::Channel;

    #[test]
    fn every_spec_event_is_a_distinct_project_settings_type_of_the_catalog() {
        let canonical: BTreeSet<&str> = SPEC_EVENTS
            .iter()
            .map(|spec| {
                let found = catalog()
                    .get(spec)
                    .unwrap_or_else(|| panic!("{spec} unknown"));
                assert!(found.is_in(Channel::ProjectSettings), "{spec}");
                found.name()
            })
            .collect();
        assert_eq!(canonical.len(), SPEC_EVENTS.len());
        assert_eq!(SPEC_SPELLING.len(), SPEC_EVENTS.len());
    }

    #[test]
    fn correct_names_read_in_the_spec_spelling_and_newer_names_as_they_are() {
        let stored = [
            "voucher.gift.balance_added",
            "customer.updated",
            "voucher.published",
        ];
        let stored = EventFilter::parse(stored).expect("catalog names");
        assert_eq!(
            shown(&stored),
            [
                "voucher.gift.balance_aded",
                "customer.updated",
                "voucher.published"
            ]
        );
    }

    #[test]
    fn every_event_reads_as_the_spec_list_which_is_recognised_back() {
        let every = shown(&EventFilter::all());
        assert_eq!(every, SPEC_EVENTS);
        let canonical: Vec<String> = every
            .iter()
            .filter_map(|e| catalog().get(e).map(|t| t.name().to_owned()))
            .collect();
        let filter = |names: &[String]| EventFilter::parse(names).expect("catalog names");
        assert!(is_spec_list(&filter(&canonical)));
        assert!(!is_spec_list(&filter(&canonical[1..])));
        let mut more = canonical.clone();
        more.push("customer.updated".to_owned());
        assert!(!is_spec_list(&filter(&more)));
    }
}
