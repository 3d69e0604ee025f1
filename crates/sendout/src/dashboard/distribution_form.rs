//! The distribution form's values as a person entered them, their checks, and the choices it
//! offers: the trigger grouped by related activity as the seed's table groups it (with the
//! actions each trigger supports and the conditions it takes), the actions, and per channel
//! the event name, URL, headers and the payload designer (full, attributes with mapping, or a
//! custom template; Raw payload).
//!
//! The checks are the core's (`sendout_core::distribution::input`), run on exactly what the
//! API would receive; the one error they name comes back with its field path, which
//! [`place_of`] turns into its place on the form (a channel's template, its URL, the
//! trigger, …) so the page shows it there.
//!
//! Field names: `name`, `trigger`, `action`, `cond.<key>`, and per channel `i`
//! `ch<i>.event_name`, `ch<i>.url`, `ch<i>.header_name` / `ch<i>.header_value` (rows),
//! `ch<i>.public_headers` (names, comma-separated),
//! `ch<i>.mode`, `ch<i>.raw`, `ch<i>.attr_path` / `ch<i>.attr_key` (rows), `ch<i>.template`.

use std::collections::BTreeMap;

use sendout_core::catalog::{catalog, Channel, Purpose};
use sendout_core::distribution::input::AttributeInput;
use sendout_core::distribution::{
    ChannelInput, DistributionInput, DistributionStatus, PayloadInput, TriggerInput, MAX_CHANNELS,
};
use sendout_core::field::{FieldError, FieldPath, Segment};
use sendout_core::input::CustomHeaders;
use sendout_core::template::PayloadDesign;
use sendout_store::Distribution;

use crate::dashboard::form::Form;
use crate::dashboard::webhook_form::{header_names, sentence, shown_names};

/// The condition keys a trigger may take, with their labels.
pub const CONDITIONS: [(&str, &str); 4] = [
    ("segment_id", "Segment id"),
    ("campaign_id", "Campaign id"),
    ("custom_event", "Custom event name"),
    ("loyalty_tier_id", "Loyalty tier id"),
];

/// The seed's label of a purpose.
pub fn purpose_label(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::NotifyAboutPromotion => "Notify customers about promotion",
        Purpose::SendAndPublishCodes => "Send and publish unique codes from campaign",
        Purpose::SendPlainMessage => "Send plain message to customers",
    }
}

/// One webhook channel as entered.
#[derive(Debug, Clone, Default)]
pub struct ChannelForm {
    pub index: usize,
    pub event_name: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// The names of headers the audit log may show, as typed.
    pub public_headers: String,
    /// `full`, `attributes` or `custom`.
    pub mode: String,
    pub raw: bool,
    pub attributes: Vec<(String, String)>,
    pub template: String,
    /// Errors by place: `event_name`, `url`, `headers`, `public_headers`, `payload`,
    /// `attributes`, `template`.
    pub errors: BTreeMap<String, String>,
}

impl ChannelForm {
    /// A new channel: the full data in the envelope.
    pub fn blank(index: usize) -> Self {
        Self {
            index,
            mode: "full".to_owned(),
            ..Self::default()
        }
    }

    /// The error at `place`, if any (for the template).
    pub fn error(&self, place: &str) -> Option<&str> {
        self.errors.get(place).map(String::as_str)
    }

    /// Whether the payload mode is `mode` (for the template).
    pub fn is_mode(&self, mode: &str) -> bool {
        self.mode == mode
    }

    /// The channel as the API takes it, or the header error (headers are parsed first).
    pub fn input(&self) -> Result<ChannelInput, String> {
        if let Some(i) = self.headers.iter().position(|(n, _)| n.is_empty()) {
            return Err(format!("Header row {} has a value but no name.", i + 1));
        }
        let headers = CustomHeaders::parse(self.headers.iter().map(|(n, v)| (n, v)))
            .map_err(|e| sentence(&e.to_string()))?;
        let attributes = (self.mode == "attributes").then(|| {
            self.attributes
                .iter()
                .map(|(path, key)| AttributeInput {
                    path: path.clone(),
                    key: (!key.is_empty()).then(|| key.clone()),
                })
                .collect()
        });
        Ok(ChannelInput {
            kind: None,
            event_name: self.event_name.clone(),
            url: self.url.clone(),
            headers: Some(headers),
            public_headers: Some(header_names(&self.public_headers)),
            payload: Some(PayloadInput {
                mode: self.mode.clone(),
                raw: self.raw,
                attributes,
                template: (self.mode == "custom").then(|| self.template.clone()),
            }),
        })
    }
}

/// The whole form as entered.
#[derive(Debug, Clone, Default)]
pub struct DistributionForm {
    pub name: String,
    pub trigger: String,
    /// Condition values by key.
    pub conditions: BTreeMap<String, String>,
    pub action: String,
    /// Set live when created (otherwise a draft).
    pub live: bool,
    pub channels: Vec<ChannelForm>,
    /// Errors outside channels, by place: `name`, `trigger`, `condition`, `action`, `channels`.
    pub errors: BTreeMap<String, String>,
}

fn rows(form: &Form, names: &str, values: &str) -> Vec<(String, String)> {
    let names = form.all(names);
    let values = form.all(values);
    names
        .iter()
        .zip(values.iter().chain(std::iter::repeat(&"")))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .filter(|(n, v)| !(n.is_empty() && v.is_empty()))
        .collect()
}

impl DistributionForm {
    /// A new distribution: the first trigger of the seed's table, one channel, set live.
    pub fn blank() -> Self {
        let trigger = catalog()
            .by_channel(Channel::Distribution)
            .next()
            .map(|t| t.name().to_owned())
            .unwrap_or_default();
        Self {
            trigger,
            action: Purpose::SendPlainMessage.as_str().to_owned(),
            live: true,
            channels: vec![ChannelForm::blank(0)],
            ..Self::default()
        }
    }

    /// The values of a submitted form.
    pub fn from_form(form: &Form) -> Self {
        let channels = (0..MAX_CHANNELS)
            .filter(|i| form.get(&format!("ch{i}.url")).is_some())
            .enumerate()
            .map(|(index, i)| {
                let field = |name: &str| form.text(&format!("ch{i}.{name}")).to_owned();
                ChannelForm {
                    index,
                    event_name: field("event_name"),
                    url: field("url"),
                    headers: rows(
                        form,
                        &format!("ch{i}.header_name"),
                        &format!("ch{i}.header_value"),
                    ),
                    public_headers: field("public_headers"),
                    mode: match field("mode").as_str() {
                        m @ ("attributes" | "custom") => m.to_owned(),
                        _ => "full".to_owned(),
                    },
                    raw: form.checked(&format!("ch{i}.raw")),
                    attributes: rows(
                        form,
                        &format!("ch{i}.attr_path"),
                        &format!("ch{i}.attr_key"),
                    ),
                    template: form
                        .get(&format!("ch{i}.template"))
                        .unwrap_or_default()
                        .to_owned(),
                    errors: BTreeMap::new(),
                }
            })
            .collect();
        Self {
            name: form.text("name").to_owned(),
            trigger: form.text("trigger").to_owned(),
            conditions: CONDITIONS
                .iter()
                .map(|(key, _)| {
                    (
                        key.to_string(),
                        form.text(&format!("cond.{key}")).to_owned(),
                    )
                })
                .filter(|(_, v)| !v.is_empty())
                .collect(),
            action: form.text("action").to_owned(),
            live: form.checked("live"),
            channels,
            errors: BTreeMap::new(),
        }
    }

    /// The form of a stored distribution.
    pub fn from_distribution(distribution: &Distribution) -> Self {
        let spec = &distribution.spec;
        let channels = spec
            .channels()
            .iter()
            .enumerate()
            .map(|(index, c)| {
                let (mode, attributes, template) = match &c.payload().design {
                    PayloadDesign::Full => ("full", Vec::new(), String::new()),
                    PayloadDesign::Attributes(selection) => (
                        "attributes",
                        selection
                            .attributes()
                            .iter()
                            .map(|a| {
                                (
                                    a.path.as_str().to_owned(),
                                    a.key.clone().unwrap_or_default(),
                                )
                            })
                            .collect(),
                        String::new(),
                    ),
                    PayloadDesign::Custom(template) => {
                        ("custom", Vec::new(), template.as_str().to_owned())
                    }
                };
                ChannelForm {
                    index,
                    event_name: c.event_name().as_str().to_owned(),
                    url: c.url().as_str().to_owned(),
                    headers: c
                        .headers()
                        .iter()
                        .map(|(n, v)| (n.as_str().to_owned(), v.as_str().to_owned()))
                        .collect(),
                    public_headers: shown_names(c.public_headers()),
                    mode: mode.to_owned(),
                    raw: c.payload().raw,
                    attributes,
                    template,
                    errors: BTreeMap::new(),
                }
            })
            .collect();
        Self {
            name: spec.name().to_owned(),
            trigger: spec.trigger().event().to_owned(),
            conditions: spec
                .trigger()
                .condition()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect(),
            action: spec.action().as_str().to_owned(),
            live: distribution.status == DistributionStatus::Live,
            channels,
            errors: BTreeMap::new(),
        }
    }

    /// The error at `place` outside the channels, if any (for the template).
    pub fn error(&self, place: &str) -> Option<&str> {
        self.errors.get(place).map(String::as_str)
    }

    /// The condition value of `key` (for the template).
    pub fn condition(&self, key: &str) -> &str {
        self.conditions
            .get(key)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The trigger as the API takes it.
    pub fn trigger_input(&self) -> TriggerInput {
        TriggerInput {
            event: self.trigger.clone(),
            condition: Some(self.conditions.clone()).filter(|c| !c.is_empty()),
        }
    }

    /// Checks everything as the API will; the input, or the form with its error in place.
    pub fn validate(&mut self) -> Option<DistributionInput> {
        let mut channels = Vec::new();
        for channel in &mut self.channels {
            match channel.input() {
                Ok(input) => channels.push(input),
                Err(e) => {
                    channel.errors.insert("headers".to_owned(), e);
                }
            }
        }
        if channels.len() < self.channels.len() {
            return None;
        }
        let input = DistributionInput {
            name: self.name.clone(),
            trigger: self.trigger_input(),
            action: self.action.clone(),
            channels,
        };
        match input.clone().parse() {
            Ok(_) => Some(input),
            Err(error) => {
                self.place(&error.field_error());
                None
            }
        }
    }

    /// Puts a refused field's error where it belongs on the form.
    pub fn place(&mut self, error: &FieldError) {
        let (channel, place) = place_of(&error.path);
        let message = sentence(&error.message);
        match channel.and_then(|i| self.channels.get_mut(i)) {
            Some(channel) => {
                channel.errors.insert(place, message);
            }
            None => {
                self.errors.insert(place, message);
            }
        }
    }
}

/// Where a refused field is on the form: the channel index (if in a channel) and the place
/// name (`trigger`, `condition`, `action`, `name`, or a channel's `url`, `event_name`,
/// `headers`, `payload`, `attributes`, `template`).
pub fn place_of(path: &FieldPath) -> (Option<usize>, String) {
    fn key(segment: Option<&Segment>) -> Option<&str> {
        match segment {
            Some(Segment::Key(name)) => Some(name.as_str()),
            _ => None,
        }
    }
    let channel_place = |rest: &[Segment]| {
        let rest = match key(rest.first()) {
            Some("payload") => &rest[1..],
            _ => rest,
        };
        match key(rest.first()) {
            None | Some("" | "payload" | "mode" | "raw") => "payload".to_owned(),
            Some(place) => place.to_owned(),
        }
    };
    let segments = path.segments();
    match (key(segments.first()), segments.get(1)) {
        (Some("channels"), Some(Segment::Index(index))) => {
            (Some(*index), channel_place(&segments[2..]))
        }
        // The preview names its one channel `channel`.
        (Some("channel"), _) => (Some(0), channel_place(&segments[1..])),
        (Some("trigger"), _) if key(segments.get(1)) == Some("condition") => {
            (None, "condition".to_owned())
        }
        (Some(top), _) => (None, top.to_owned()),
        (None, _) => (None, path.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str) -> DistributionForm {
        DistributionForm::from_form(&Form::parse(body.as_bytes()))
    }

    const VALID: &str =
        "name=Order+paid+to+CRM&trigger=customer.order.paid&action=SEND_PLAIN_MESSAGE\
        &live=on&ch0.event_name=Order-paid&ch0.url=https%3A%2F%2Fcrm.example%2Fhooks\
        &ch0.header_name=x-crm-key&ch0.header_value=abc&ch0.mode=custom\
        &ch0.template=%7B%22total%22%3A%7B%7Border.total_amount%7D%7D%7D";

    #[test]
    fn errors_are_placed_by_their_field() {
        let at = |field: &str| place_of(&FieldPath::parse(field));
        assert_eq!(at("channels[2].url"), (Some(2), "url".to_owned()));
        assert_eq!(
            at("channels[0].payload.attributes[1].key"),
            (Some(0), "attributes".to_owned())
        );
        assert_eq!(
            at("channels[0].payload.mode"),
            (Some(0), "payload".to_owned())
        );
        assert_eq!(
            at("channel.payload.template"),
            (Some(0), "template".to_owned())
        );
        assert_eq!(
            at("trigger.condition.segment_id"),
            (None, "condition".to_owned())
        );
        assert_eq!(at("name"), (None, "name".to_owned()));
    }

    #[test]
    fn a_complete_form_is_what_the_api_takes() {
        let mut form = form(VALID);
        let input = form.validate().expect("valid");
        assert_eq!(input.trigger.event, "customer.order.paid");
        assert_eq!(input.channels.len(), 1);
        let payload = input.channels[0].payload.as_ref().expect("payload");
        assert_eq!(payload.mode, "custom");
        assert_eq!(
            payload.template.as_deref(),
            Some("{\"total\":{{order.total_amount}}}")
        );
        assert!(form.live);
    }

    #[test]
    fn a_public_header_that_is_not_a_header_is_shown_at_the_channels_field() {
        let mut marked = form(&format!("{VALID}&ch0.public_headers=X-Crm-Key"));
        let input = marked.validate().expect("valid");
        assert_eq!(
            input.channels[0].public_headers.as_deref(),
            Some(["X-Crm-Key".to_owned()].as_slice())
        );
        let mut wrong = form(&format!("{VALID}&ch0.public_headers=x-tenant"));
        assert!(wrong.validate().is_none());
        let error = wrong.channels[0].error("public_headers").expect("placed");
        assert!(error.contains("not one of the custom headers"), "{error}");
    }

    #[test]
    fn an_unknown_template_key_is_shown_at_the_channels_template() {
        let mut form = form(&VALID.replace("total_amount", "nope"));
        assert!(form.validate().is_none());
        let error = form.channels[0].error("template").expect("at the template");
        assert!(error.contains("order.nope"), "{error}");
        assert!(form.errors.is_empty());
    }

    #[test]
    fn an_action_the_trigger_does_not_support_is_shown_at_the_action() {
        let mut form = form(
            &VALID
                .replace("customer.order.paid", "customer.rewarded")
                .replace("SEND_PLAIN_MESSAGE", "NOTIFY_ABOUT_PROMOTION"),
        );
        assert!(form.validate().is_none());
        assert!(form
            .error("action")
            .expect("at the action")
            .contains("supports"));
    }
}
