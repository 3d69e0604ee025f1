//! The event catalog against the documents it comes from: the seeds' lists and support matrix,
//! the spec's spellings, the examples, and the generator that keeps `catalog.json` current.

use std::path::{Path, PathBuf};
use std::process::Command;

use sendout_core::catalog::{
    catalog, Channel, ConditionKey, EventType, ExampleSource, KeysSource, PathTarget, Purpose,
};

use Channel::{Distribution, ProjectSettings};
use Purpose::{NotifyAboutPromotion, SendAndPublishCodes, SendPlainMessage};

/// The project-settings groups and types of seeds 000 and 001 (plus `customer.updated`, which
/// PRODUCT §2 adds from the current spec), in seed order.
const PROJECT_SETTINGS: &[(&str, &[&str])] = &[
    (
        "Redemption",
        &[
            "redemption.succeeded",
            "redemption.failed",
            "redemption.rollback.succeeded",
            "redemption.rollback.failed",
        ],
    ),
    ("Publication", &["publication.succeeded"]),
    (
        "Customer",
        &[
            "customer.created",
            "customer.deleted",
            "customer.rewarded",
            "customer.rewarded.loyalty_points",
            "customer.confirmed",
            "customer.consents.given",
            "customer.consents.revoked",
            "customer.updated",
        ],
    ),
    (
        "Voucher",
        &[
            "voucher.created",
            "voucher.disabled",
            "voucher.enabled",
            "voucher.updated",
            "voucher.published",
            "voucher.loyalty_card.pending_points.activated",
            "voucher.loyalty_card.pending_points.added",
            "voucher.loyalty_card.pending_points.canceled",
            "voucher.loyalty_card.pending_points.updated",
            "voucher.loyalty_card.points_added",
            "voucher.loyalty_card.points_expired",
            "voucher.loyalty_card.transaction.created",
            "voucher.gift.transaction.created",
            "voucher.gift.balance_added",
            "voucher.deleted",
        ],
    ),
    (
        "Campaign",
        &[
            "campaign.created",
            "campaign.vouchers.generation.completed",
            "campaign.disabled",
            "campaign.enabled",
            "campaign.updated",
            "campaign.deleted",
            "campaign.vouchers.added",
        ],
    ),
    (
        "Promotion tier",
        &[
            "campaign.promotion_tier.created",
            "campaign.promotion_tier.disabled",
            "campaign.promotion_tier.enabled",
            "campaign.promotion_tier.updated",
            "campaign.promotion_tier.deleted",
        ],
    ),
    (
        "Business validation rule",
        &[
            "business_validation_rule.created",
            "business_validation_rule.updated",
            "business_validation_rule.assignment.created",
            "business_validation_rule.assignment.deleted",
            "business_validation_rule.deleted",
        ],
    ),
    (
        "Earning rule",
        &[
            "campaign.earning_rule.assigned",
            "campaign.earning_rule.deleted",
            "campaign.earning_rule.disabled",
            "campaign.earning_rule.enabled",
            "campaign.earning_rule.updated",
        ],
    ),
    (
        "Loyalty tier",
        &[
            "campaign.loyalty_tier.created",
            "campaign.loyalty_tier.deleted",
            "campaign.loyalty_tier.updated",
        ],
    ),
    (
        "Promotion stack",
        &[
            "campaign.promotion_stack.created",
            "campaign.promotion_stack.updated",
        ],
    ),
    (
        "Referral tier",
        &[
            "campaign.referral_tier.created",
            "campaign.referral_tier.deleted",
            "campaign.referral_tier.updated",
        ],
    ),
    (
        "Reward assignment",
        &[
            "campaign.reward.assignment.created",
            "campaign.reward.assignment.deleted",
            "campaign.reward.assignment.updated",
        ],
    ),
    (
        "Voucher generation",
        &[
            "campaign.vouchers.generation.failed",
            "campaign.vouchers.generation.started",
        ],
    ),
];

/// The distribution triggers of seed 003, grouped by related activity as in its table.
const DISTRIBUTION: &[(&str, &[&str])] = &[
    (
        "Segment",
        &["customer.segment.entered", "customer.segment.left"],
    ),
    (
        "Cart",
        &[
            "customer.order.updated",
            "customer.order.paid",
            "customer.order.created",
            "customer.order.canceled",
        ],
    ),
    (
        "Voucher",
        &[
            "customer.voucher.gift.balance_added",
            "customer.voucher.loyalty_card.points_added",
            "customer.voucher.loyalty_card.points_expired",
            "customer.voucher.loyalty_card.pending_points.added",
            "customer.voucher.loyalty_card.pending_points.updated",
            "customer.voucher.loyalty_card.pending_points.activated",
            "customer.voucher.loyalty_card.pending_points.canceled",
            "customer.redemption.succeeded",
            "customer.redemption.rollback.succeeded",
        ],
    ),
    (
        "Customer rewards",
        &["customer.rewarded", "customer.reward_redemptions.completed"],
    ),
    ("Manual messages", &["manual_distribution_schedule"]),
    ("Publishing codes", &["customer.publication.succeeded"]),
    ("Custom events", &["customer.custom_event"]),
    (
        "Loyalty tier related activity",
        &[
            "customer.loyalty.tier.joined",
            "customer.loyalty.tier.left",
            "customer.loyalty.tier.upgraded",
            "customer.loyalty.tier.downgraded",
            "customer.loyalty.tier.prolonged",
            "customer.rewarded.loyalty_points",
        ],
    ),
    ("Referral related activity", &["customer.referred"]),
];

fn event(name: &str) -> &'static EventType {
    catalog()
        .get(name)
        .unwrap_or_else(|| panic!("{name} is not in the catalog"))
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SENDOUT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared"));
    dir.join("seeds").is_dir().then_some(dir)
}

fn check_listing(expected: &[(&str, &[&str])], channel: Channel) {
    let groups = catalog().groups(channel);
    let actual: Vec<(&str, Vec<&str>)> = groups
        .iter()
        .map(|g| (g.name, g.types.iter().map(|t| t.name()).collect()))
        .collect();
    let expected: Vec<(&str, Vec<&str>)> = expected.iter().map(|(g, t)| (*g, t.to_vec())).collect();
    assert_eq!(actual, expected, "groups of {channel}");
    for (group, names) in &expected {
        for name in names {
            let event_type = event(name);
            assert!(event_type.is_in(channel), "{name} feeds {channel}");
            assert_eq!(event_type.group_in(channel), Some(*group), "{name}");
        }
    }
}

#[test]
fn every_project_settings_type_of_the_seeds_is_listed_in_its_group() {
    check_listing(PROJECT_SETTINGS, ProjectSettings);
    assert_eq!(catalog().by_channel(ProjectSettings).count(), 63);
    assert_eq!(event("customer.confirmed").title(), "Customer confirmed");
    assert_eq!(
        event("customer.consents.given").title(),
        "Customer consent given"
    );
    assert_eq!(
        event("campaign.earning_rule.assigned").group(),
        "Earning rule"
    );
}

#[test]
fn every_distribution_trigger_of_the_seed_is_listed_in_its_group() {
    check_listing(DISTRIBUTION, Distribution);
    assert_eq!(catalog().by_channel(Distribution).count(), 27);
    assert_eq!(
        event("customer.redemption.succeeded").title(),
        "Voucher redeemed"
    );
}

#[test]
fn two_types_feed_both_channels_with_a_title_in_each() {
    let both: Vec<&str> = catalog()
        .all()
        .iter()
        .filter(|t| t.is_in(ProjectSettings) && t.is_in(Distribution))
        .map(EventType::name)
        .collect();
    assert_eq!(
        both,
        ["customer.rewarded", "customer.rewarded.loyalty_points"]
    );
    assert_eq!(catalog().len(), 63 + 27 - 2);
    let rewarded = event("customer.rewarded");
    assert_eq!(rewarded.group(), "Customer");
    assert_eq!(rewarded.title_in(Distribution), Some("Reward redemption"));
    assert_eq!(rewarded.channels(), [ProjectSettings, Distribution]);
    assert_eq!(event("voucher.published").channels(), [ProjectSettings]);
    assert_eq!(event("voucher.published").title_in(Distribution), None);
}

#[test]
fn every_event_name_the_seeds_mention_is_in_the_catalog() {
    let shared = shared_dir().expect("../shared/seeds not found (set SENDOUT_SHARED)");
    // Paths of example payloads the seed text uses, not event names.
    let not_events = ["customer.name", "segment.name", "redemption.date"];
    let mut checked = 0;
    for entry in std::fs::read_dir(shared.join("seeds")).expect("seeds dir") {
        let path = entry.expect("seed entry").path();
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !["000_", "001_", "003_"].iter().any(|p| file.starts_with(p)) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("seed text");
        for token in quoted_tokens(&text) {
            let is_name = token.contains('.')
                && token
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_');
            if is_name && !not_events.contains(&token) {
                assert!(catalog().get(token).is_some(), "{file} names {token}");
                checked += 1;
            }
        }
    }
    assert!(checked > 90, "only {checked} names found in the seeds");
}

/// The texts between backticks and inside `<code>` elements.
fn quoted_tokens(text: &str) -> Vec<&str> {
    let mut out: Vec<&str> = text.split('`').skip(1).step_by(2).collect();
    for piece in text.split("<code>").skip(1) {
        if let Some(end) = piece.find("</code>") {
            out.push(&piece[..end]);
        }
    }
    out
}

#[test]
fn every_example_is_a_json_object_and_most_types_have_one() {
    let mut with_example = 0;
    for event_type in catalog().all() {
        if let Some(example) = event_type.example_data() {
            assert!(example.is_object(), "{}", event_type.name());
            match event_type.example_source() {
                Some(ExampleSource::Voucherify) => {
                    assert!(event_type.example_file().is_some(), "{}", event_type.name());
                }
                Some(ExampleSource::Built) => {
                    assert!(event_type.example_file().is_none(), "{}", event_type.name());
                }
                None => panic!("{}: an example of no known source", event_type.name()),
            }
            with_example += 1;
        } else {
            assert_eq!(event_type.example_source(), None, "{}", event_type.name());
        }
    }
    assert!(with_example >= 70, "{with_example} examples");
    for name in [
        "voucher.published",
        "customer.consents.given",
        "customer.segment.entered",
    ] {
        assert!(event(name).example_data().is_some(), "{name}");
    }
}

#[test]
fn every_path_of_every_example_is_valid_for_its_type() {
    for event_type in catalog().all() {
        let Some(example) = event_type.example_data() else {
            continue;
        };
        let mut paths = Vec::new();
        value_paths(example, "", &mut paths);
        for path in paths {
            assert!(event_type.has_path(&path), "{}: {path}", event_type.name());
        }
    }
}

/// The path of every value inside `value`, array elements as `.N` and `[N]` alternately.
fn value_paths(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                out.push(path.clone());
                value_paths(child, &path, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let path = if i % 2 == 0 {
                    format!("{prefix}.{i}")
                } else {
                    format!("{prefix}[{i}]")
                };
                out.push(path.clone());
                value_paths(child, &path, out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_distribution_trigger_has_an_example_and_customer_referred_says_sendout_built_its_own() {
    for event_type in catalog().by_channel(Channel::Distribution) {
        assert!(event_type.example_data().is_some(), "{}", event_type.name());
    }
    let referred = event("customer.referred");
    assert_eq!(referred.example_source(), Some(ExampleSource::Built));
    assert!(!referred.has_public_schema());
    let note = referred.note().expect("a note on where it comes from");
    assert!(
        note.contains("built by sendout from its documented keys"),
        "{note}"
    );
    assert!(note.contains("`referrer` from "), "{note}");
    let example = referred.example_data().expect("an example");
    for key in ["customer", "referrer", "campaign", "voucher"] {
        assert!(example[key]["id"].is_string(), "{key} in {example}");
    }
    assert_ne!(
        example["customer"]["id"], example["referrer"]["id"],
        "the referrer is someone else"
    );
    assert_eq!(
        event("voucher.published").example_source(),
        Some(ExampleSource::Voucherify)
    );
}

#[test]
fn types_without_a_public_schema_are_present_and_say_so() {
    let consents = event("customer.consents.revoked");
    assert!(!consents.has_public_schema());
    assert_eq!(consents.keys_source(), KeysSource::ProxySchema);
    assert!(consents.has_path("consents[0].name"));

    let assigned = event("campaign.earning_rule.assigned");
    assert!(!assigned.has_public_schema());
    assert_eq!(assigned.keys_source(), KeysSource::Unknown);
    assert!(assigned.example_data().is_none());
    assert!(assigned.has_path("anything.at.all"));

    assert!(event("customer.referred").has_path("referrer.email"));
    assert!(event("voucher.published").has_public_schema());
    assert_eq!(
        event("voucher.published").schema_name(),
        Some("EventVoucherPublishedData")
    );
}

#[test]
fn the_specs_misspellings_resolve_to_the_canonical_names() {
    for (alias, canonical) in [
        ("voucher.gift.balance_aded", "voucher.gift.balance_added"),
        (
            "voucher.loyalty_card.points_aded",
            "voucher.loyalty_card.points_added",
        ),
        (
            "voucher.loyalty_card.pending_points.aded",
            "voucher.loyalty_card.pending_points.added",
        ),
        ("campaign.vouchers.aded", "campaign.vouchers.added"),
        (
            "customer.voucher.gift.balance_aded",
            "customer.voucher.gift.balance_added",
        ),
        ("customer.entered.segment", "customer.segment.entered"),
    ] {
        assert_eq!(event(alias).name(), canonical, "{alias}");
    }
    assert!(catalog().get("voucher.gift.balance").is_none());
    assert!(catalog().get("VOUCHER.PUBLISHED").is_none());
    assert!(catalog()
        .aliases()
        .all(|(a, t)| catalog().get(a).map(EventType::name) == Some(t)));
}

#[test]
fn has_path_follows_keys_arrays_and_open_objects() {
    let paid = event("customer.order.paid");
    for path in [
        "customer.name",
        "order.items",
        "order.items[]",
        "order.items.0.price",
        "order.items[0].price",
        "order.items[12].product_id",
        "order.metadata",
        "order.metadata.any.key.below",
        "customer.metadata.acquisition_channel",
        "order.total_amount",
    ] {
        assert!(paid.has_path(path), "{path}");
    }
    for path in [
        "",
        "order.items.price",
        "order.items[x].price",
        "order..items",
        "customer.nmae",
        "segment.id",
        "customer.name.first",
    ] {
        assert!(!paid.has_path(path), "{path}");
    }
    assert_eq!(
        paid.resolve_path("order.metadata.x"),
        Some(PathTarget::BelowOpen)
    );
    match paid.resolve_path("order.items") {
        Some(PathTarget::Node(node)) => assert_eq!(node.kind(), Some("array")),
        other => panic!("order.items resolved to {other:?}"),
    }

    // The seed's own example: `customer.name` and `segment.name` exist for "Customer entered
    // segment", `redemption.date` does not.
    let entered = event("customer.segment.entered");
    assert!(entered.has_path("customer.name"));
    assert!(entered.has_path("segment.name"));
    assert!(!entered.has_path("redemption.date"));
}

#[test]
fn every_listed_path_is_valid_and_unique() {
    for event_type in catalog().all() {
        let paths = event_type.paths();
        assert!(!paths.is_empty(), "{}", event_type.name());
        let mut sorted = paths.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            paths.len(),
            "{} lists a path twice",
            event_type.name()
        );
        for path in &paths {
            assert!(event_type.has_path(path), "{}: {path}", event_type.name());
        }
    }
    let paths = event("customer.order.paid").paths();
    for path in [
        "order.items[]",
        "order.items[].price",
        "customer.metadata.*",
    ] {
        assert!(paths.iter().any(|p| p == path), "{path}");
    }
    assert_eq!(event("campaign.vouchers.added").paths(), ["*"]);
}

#[test]
fn suggestions_name_the_nearest_valid_paths() {
    let paid = event("customer.order.paid");
    let suggestions = paid.suggest("customer.nmae");
    assert_eq!(
        suggestions.first().map(String::as_str),
        Some("customer.name")
    );
    assert!(suggestions.len() <= 3);
    assert_eq!(
        paid.suggest("order.items[0].prise")
            .first()
            .map(String::as_str),
        Some("order.items[].price")
    );
    assert!(paid.suggest("qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq").is_empty());
}

#[test]
fn the_support_matrix_matches_the_seed() {
    let all = [NotifyAboutPromotion, SendAndPublishCodes, SendPlainMessage];
    for (name, purposes) in [
        ("customer.segment.entered", &all[..]),
        ("customer.order.canceled", &all[..]),
        ("customer.custom_event", &all[..]),
        (
            "manual_distribution_schedule",
            &[NotifyAboutPromotion, SendAndPublishCodes][..],
        ),
        (
            "customer.voucher.gift.balance_added",
            &[SendPlainMessage][..],
        ),
        ("customer.redemption.succeeded", &[SendPlainMessage][..]),
        ("customer.loyalty.tier.upgraded", &[SendPlainMessage][..]),
        ("customer.publication.succeeded", &[SendPlainMessage][..]),
        ("customer.referred", &[SendPlainMessage][..]),
    ] {
        assert_eq!(event(name).purposes(), purposes, "{name}");
    }
    for event_type in catalog().by_channel(Distribution) {
        assert!(!event_type.purposes().is_empty(), "{}", event_type.name());
    }
    for event_type in catalog().all().iter().filter(|t| !t.is_in(Distribution)) {
        assert!(event_type.purposes().is_empty(), "{}", event_type.name());
        assert_eq!(
            event_type.condition_keys().count(),
            0,
            "{}",
            event_type.name()
        );
    }
    assert!(!event("manual_distribution_schedule").supports(SendPlainMessage));
    assert_eq!(
        Purpose::SendAndPublishCodes.as_str(),
        "SEND_AND_PUBLISH_CODES"
    );
    assert_eq!(
        serde_json::to_string(&NotifyAboutPromotion).expect("serialize"),
        r#""NOTIFY_ABOUT_PROMOTION""#
    );
}

#[test]
fn narrowing_conditions_follow_what_the_trigger_data_carries() {
    use ConditionKey::{CampaignId, CustomEvent, LoyaltyTierId, SegmentId};
    let keys = |name: &str| event(name).condition_keys().collect::<Vec<_>>();
    assert_eq!(keys("customer.segment.entered"), [SegmentId]);
    assert_eq!(keys("customer.custom_event"), [CustomEvent]);
    assert_eq!(
        keys("customer.loyalty.tier.joined"),
        [CampaignId, LoyaltyTierId]
    );
    assert_eq!(
        keys("customer.voucher.loyalty_card.points_added"),
        [CampaignId]
    );
    for order in [
        "customer.order.created",
        "customer.order.updated",
        "customer.order.paid",
        "customer.order.canceled",
    ] {
        assert_eq!(keys(order), [CampaignId], "{order}");
        assert_eq!(event(order).condition_path(CampaignId), Some("campaign.id"));
    }
    assert!(keys("customer.segment.left")
        .iter()
        .all(|k| *k != CampaignId));
    assert_eq!(
        event("customer.loyalty.tier.upgraded").condition_path(LoyaltyTierId),
        Some("loyalty_tier_to.id")
    );
    assert_eq!(
        event("customer.segment.entered").condition_path(SegmentId),
        Some("segment.id")
    );
    for event_type in catalog().by_channel(Distribution) {
        for condition in event_type.conditions() {
            assert!(
                event_type.has_path(&condition.path),
                "{}",
                event_type.name()
            );
        }
    }
    assert_eq!(
        serde_json::to_string(&LoyaltyTierId).expect("serialize"),
        r#""loyalty_tier_id""#
    );
}

#[test]
fn an_event_type_serializes_to_what_it_was_read_from() {
    let original = event("voucher.published");
    let json = serde_json::to_value(original).expect("serialize");
    let back: EventType = serde_json::from_value(json).expect("deserialize");
    assert_eq!(&back, original);
}

#[test]
fn the_committed_catalog_is_what_the_generator_makes() {
    assert!(
        shared_dir().is_some(),
        "../shared not found (set SENDOUT_SHARED)"
    );
    let mut command = Command::new("python3");
    command
        .current_dir(repo_root())
        .args(["scripts/gen-catalog.py", "--check"]);
    if let Some(shared) = std::env::var_os("SENDOUT_SHARED") {
        command.arg("--shared").arg(shared);
    }
    let output = command.output().expect("python3 runs the generator");
    assert!(
        output.status.success(),
        "gen-catalog --check failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
