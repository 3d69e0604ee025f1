//! The bounds of the payload designer: rendering stops once past its bound (a few bytes of
//! template naming a large value many times never build the whole text), and saving refuses
//! templates, selections and channel lists beyond the deployment's limits, naming the field.

use crate::helpers;

use helpers::*;
use sendout_core::distribution::{DistributionError, DistributionInput, Limits};
use sendout_core::template::{Attribute, AttributeSelection, Path, Template, TooLarge};
use serde_json::{json, Value};

const MIB: usize = 1024 * 1024;

/// A template naming `order.id` `times` times, each inside a string.
fn repeating(times: usize) -> String {
    format!("[{}]", vec!["\"{{order.id}}\""; times].join(","))
}

/// Order data whose id is `bytes` long.
fn big_order(bytes: usize) -> Value {
    json!({"order": {"id": "x".repeat(bytes), "total_amount": 1}})
}

fn parse_within(input: Value, limits: &Limits) -> Result<(), DistributionError> {
    serde_json::from_value::<DistributionInput>(input)
        .expect("the input has the right shape")
        .parse_within(limits)
        .map(|_| ())
}

#[test]
fn a_bounded_render_stops_once_past_the_bound_without_building_the_rest() {
    // The case: 500 placeholders of a 200 KB value would render 100 MB.
    let template = Template::parse(&repeating(500)).expect("a template");
    let data = big_order(200 * 1024);
    let mut out = String::new();
    assert_eq!(
        template.render_within(&data, &mut out, MIB),
        Err(TooLarge { limit: MIB })
    );
    assert!(out.is_empty(), "a refused render leaves nothing behind");
    assert!(
        out.capacity() < 4 * MIB,
        "rendering stopped near the bound: {} bytes were allocated",
        out.capacity()
    );

    let small = big_order(10);
    let mut bounded = String::new();
    template
        .render_within(&small, &mut bounded, MIB)
        .expect("within the bound");
    assert_eq!(bounded, template.render_to_string(&small));
    let exact = bounded.len();
    let mut at_the_bound = String::new();
    assert!(template
        .render_within(&small, &mut at_the_bound, exact)
        .is_ok());
    assert!(template
        .render_within(&small, &mut String::new(), exact - 1)
        .is_err());
}

#[test]
fn a_bounded_selection_stops_once_past_the_bound_too() {
    let attributes = (0..200)
        .map(|i| Attribute {
            path: Path::parse("order.id").expect("a path"),
            key: Some(format!("k{i}")),
        })
        .collect();
    let selection = AttributeSelection::new(attributes).expect("a selection");
    let data = big_order(100 * 1024);
    let mut out = String::new();
    assert_eq!(
        selection.render_within(&data, &mut out, MIB),
        Err(TooLarge { limit: MIB })
    );
    assert!(out.is_empty());
    assert!(out.capacity() < 4 * MIB, "{} bytes", out.capacity());
    let small = big_order(3);
    let mut bounded = String::new();
    selection
        .render_within(&small, &mut bounded, MIB)
        .expect("within the bound");
    assert_eq!(bounded, selection.render_to_string(&small));
}

#[test]
fn a_channel_body_is_refused_when_its_payload_passes_the_bound_in_every_mode() {
    let data = big_order(2_000);
    for payload in [
        custom(&repeating(3)),
        json!({"mode": "attributes", "attributes": [{"path": "order.id"}]}),
        full(),
        json!({"mode": "full", "raw": true}),
    ] {
        let made = spec(distribution(
            "customer.order.paid",
            "SEND_PLAIN_MESSAGE",
            payload.clone(),
        ));
        let channel = &made.channels()[0];
        let (refused, _) = body_within(channel, "customer.order.paid", &data, 1_000);
        assert_eq!(refused, Err(TooLarge { limit: 1_000 }), "{payload}");
        let (within, _) = body_within(channel, "customer.order.paid", &data, MIB);
        assert!(within.is_ok(), "{payload}");
    }
}

#[test]
fn a_template_with_more_placeholders_than_allowed_is_refused_naming_it() {
    let input = |times| {
        distribution(
            "customer.order.paid",
            "SEND_PLAIN_MESSAGE",
            custom(&repeating(times)),
        )
    };
    spec(input(500));
    let error = refusal(input(501));
    assert_eq!(error.key(), "template_too_large");
    assert!(error.is_semantic());
    assert_eq!(
        error.field_error().path.to_string(),
        "channels[0].payload.template"
    );
    assert!(error.to_string().contains("501 placeholders"), "{error}");
    assert!(error.to_string().contains("at most 500"), "{error}");
}

#[test]
fn a_deployment_may_allow_smaller_templates_fewer_attributes_and_fewer_channels() {
    let limits = Limits {
        channels: 2,
        template_bytes: 100,
        placeholders: 3,
    };
    let template = format!(
        "{{\"id\": \"{{{{order.id}}}}\", \"note\": \"{}\"}}",
        "n".repeat(80)
    );
    let long = distribution(
        "customer.order.paid",
        "SEND_PLAIN_MESSAGE",
        custom(&template),
    );
    assert!(parse_within(long.clone(), &Limits::default()).is_ok());
    let error = parse_within(long, &limits).expect_err("longer than 100 bytes");
    assert_eq!(error.key(), "template_too_large");
    assert!(error.to_string().contains("at most 100"), "{error}");

    let four: Vec<Value> = (0..4)
        .map(|i| json!({"path": "order.id", "key": format!("k{i}")}))
        .collect();
    let selection = distribution(
        "customer.order.paid",
        "SEND_PLAIN_MESSAGE",
        json!({"mode": "attributes", "attributes": four}),
    );
    let error = parse_within(selection, &limits).expect_err("more than 3 attributes");
    assert_eq!(error.key(), "template_too_large");
    assert_eq!(
        error.field_error().path.to_string(),
        "channels[0].payload.attributes"
    );

    let mut three = distribution("customer.order.paid", "SEND_PLAIN_MESSAGE", full());
    let channel = three["channels"][0].clone();
    three["channels"] = json!([channel.clone(), channel.clone(), channel]);
    let error = parse_within(three, &limits).expect_err("more than 2 channels");
    assert!(error.to_string().contains("1 to 2 channels"), "{error}");
}
