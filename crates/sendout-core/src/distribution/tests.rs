//! Unit tests of the small types; the rules against the catalog are in `tests/it/distribution.rs`.

use super::*;

#[test]
fn statuses_have_their_wire_names() {
    for status in DistributionStatus::ALL {
        assert_eq!(DistributionStatus::parse(status.as_str()), Some(status));
        assert_eq!(
            serde_json::to_value(status).expect("serializable"),
            Value::String(status.as_str().to_owned())
        );
    }
    assert_eq!(DistributionStatus::parse("live"), None);
}

#[test]
fn a_stored_event_name_is_read_through_its_rules() {
    assert!(serde_json::from_str::<EventName>("\"Order-paid\"").is_ok());
    assert!(serde_json::from_str::<EventName>("\"Zamówienie opłacone\"").is_ok());
    assert!(serde_json::from_str::<EventName>("\"\"").is_err());
    assert!(serde_json::from_str::<EventName>("\"a\\u0007b\"").is_err());
}

#[test]
fn only_distribution_types_are_triggers() {
    assert!(is_trigger("customer.segment.entered"));
    assert!(is_trigger("customer.rewarded"));
    assert!(!is_trigger("voucher.published"));
    assert!(!is_trigger("no.such.type"));
}
