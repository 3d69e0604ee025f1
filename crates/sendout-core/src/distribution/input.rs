//! A distribution as a client writes it, and the one way from there to a
//! [`DistributionSpec`]: [`DistributionInput::parse`], which applies every rule of the
//! [parent module](super) and names the first thing wrong.
//!
//! The input types keep what the catalog decides (trigger, action, condition keys, template
//! text, attribute paths) as plain text, so that a wrong value is a semantic error with a
//! helpful message ([`DistributionError::is_semantic`]: 422) instead of a shape error. URLs
//! and headers are read with their own types, so their errors are shape errors (400), as
//! for webhooks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    DistributionError, DistributionSpec, EventName, Limits, Payload, Trigger, WebhookChannel,
    MAX_CONDITION_VALUE_CHARS, MAX_NAME_CHARS,
};
use crate::catalog::{catalog, Channel, EventType, Purpose};
use crate::input::{CustomHeaders, PublicHeaders, TargetUrl};
use crate::template::{Attribute, AttributeSelection, Path, PayloadDesign, Template};

/// A distribution as a client writes it (without its status, which the API handles).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DistributionInput {
    pub name: String,
    pub trigger: TriggerInput,
    pub action: String,
    pub channels: Vec<ChannelInput>,
}

/// `{"event": "customer.order.paid", "condition": {"campaign_id": "camp_…"}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerInput {
    pub event: String,
    /// Absent, `null` and `{}` all mean no condition.
    #[serde(default)]
    pub condition: Option<BTreeMap<String, String>>,
}

/// A webhook channel as a client writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelInput {
    /// `webhook`, the only type; may be left out.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    pub event_name: String,
    pub url: String,
    #[serde(default)]
    pub headers: Option<CustomHeaders>,
    /// Names of `headers` whose values the audit log may show; absent: none (every value
    /// shows as `[redacted]`).
    #[serde(default)]
    pub public_headers: Option<Vec<String>>,
    /// Absent: the full data, inside the envelope.
    #[serde(default)]
    pub payload: Option<PayloadInput>,
}

/// `{"mode": "full" | "attributes" | "custom", "raw": bool, "attributes": […], "template": "…"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadInput {
    pub mode: String,
    #[serde(default)]
    pub raw: bool,
    #[serde(default)]
    pub attributes: Option<Vec<AttributeInput>>,
    #[serde(default)]
    pub template: Option<String>,
}

/// `{"path": "customer.source_id", "key": "user.id"}`; without `key` the path is the key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeInput {
    pub path: String,
    #[serde(default)]
    pub key: Option<String>,
}

fn names<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let shown: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    if shown.is_empty() {
        "none".to_owned()
    } else {
        shown.join(", ")
    }
}

impl DistributionInput {
    /// Checks everything within the default [`Limits`] and makes the spec, or names the
    /// first thing wrong.
    pub fn parse(self) -> Result<DistributionSpec, DistributionError> {
        self.parse_within(&Limits::default())
    }

    /// Checks everything within `limits` and makes the spec, or names the first thing wrong.
    pub fn parse_within(self, limits: &Limits) -> Result<DistributionSpec, DistributionError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(DistributionError::invalid(
                "name",
                "must be 1 to 200 characters",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(DistributionError::invalid(
                "name",
                "must not contain control characters",
            ));
        }
        let (trigger, event_type) = self.trigger.parse()?;
        let action = parse_action(&self.action, event_type)?;
        if self.channels.is_empty() || self.channels.len() > limits.channels {
            return Err(DistributionError::invalid(
                "channels",
                format!(
                    "a distribution has 1 to {} channels; {} given",
                    limits.channels,
                    self.channels.len()
                ),
            ));
        }
        let channels = self
            .channels
            .into_iter()
            .enumerate()
            .map(|(i, channel)| {
                let field = format!("channels[{i}]");
                let channel = channel.parse_within(&field, event_type, limits)?;
                check_action(&channel, &field, event_type, action)?;
                Ok(channel)
            })
            .collect::<Result<Vec<_>, DistributionError>>()?;
        Ok(DistributionSpec {
            name: name.to_owned(),
            trigger,
            action,
            channels,
        })
    }
}

impl TriggerInput {
    /// The trigger and its catalog entry, or why not.
    pub fn parse(self) -> Result<(Trigger, &'static EventType), DistributionError> {
        let event_type = trigger_type(&self.event)?;
        let mut condition = BTreeMap::new();
        for (key, value) in self.condition.unwrap_or_default() {
            let allowed = || names(event_type.condition_keys());
            let parsed = event_type
                .condition_keys()
                .find(|k| k.as_str() == key)
                .ok_or_else(|| DistributionError::UnsupportedCondition {
                    message: format!(
                        "`{key}` cannot narrow {}; it takes: {}",
                        event_type.name(),
                        allowed()
                    ),
                })?;
            let value = value.trim();
            if value.is_empty() || value.chars().count() > MAX_CONDITION_VALUE_CHARS {
                return Err(DistributionError::invalid(
                    format!("trigger.condition.{key}"),
                    "must be 1 to 200 characters",
                ));
            }
            condition.insert(parsed, value.to_owned());
        }
        let trigger = Trigger {
            event: event_type.name().to_owned(),
            condition,
        };
        Ok((trigger, event_type))
    }
}

/// The catalog entry of a trigger name (other spellings accepted), if it is a distribution
/// trigger.
pub fn trigger_type(name: &str) -> Result<&'static EventType, DistributionError> {
    let triggers = || {
        let names: Vec<&str> = catalog()
            .by_channel(Channel::Distribution)
            .map(EventType::name)
            .collect();
        names.join(", ")
    };
    match catalog().get(name) {
        Some(t) if t.is_in(Channel::Distribution) => Ok(t),
        Some(t) => Err(DistributionError::UnknownTrigger {
            message: format!(
                "{} is a project-settings event, not a distribution trigger; triggers are: {}",
                t.name(),
                triggers()
            ),
        }),
        None => Err(DistributionError::UnknownTrigger {
            message: format!("unknown event type `{name}`; triggers are: {}", triggers()),
        }),
    }
}

/// Checks that a distribution with `action` gets every value `channel`'s payload names
/// (seed 001's purpose-dependent objects; see [`EventType::provides`]); `field` names the
/// channel in errors (`channels[0]`).
pub fn check_action(
    channel: &WebhookChannel,
    field: &str,
    trigger: &EventType,
    action: Purpose,
) -> Result<(), DistributionError> {
    let design = &channel.payload().design;
    let paths = design.not_provided(trigger, action);
    if paths.is_empty() {
        return Ok(());
    }
    let part = match design {
        PayloadDesign::Attributes(_) => "attributes",
        _ => "template",
    };
    Err(DistributionError::KeyNotForAction {
        field: format!("{field}.payload.{part}"),
        trigger: trigger.name().to_owned(),
        action,
        paths,
    })
}

/// The action named `text`, if `trigger` supports it.
pub fn parse_action(text: &str, trigger: &EventType) -> Result<Purpose, DistributionError> {
    let allowed = || names(trigger.purposes());
    let purpose = Purpose::ALL.into_iter().find(|p| p.as_str() == text);
    match purpose {
        Some(p) if trigger.supports(p) => Ok(p),
        Some(p) => Err(DistributionError::UnsupportedAction {
            message: format!(
                "{} does not support {p}; it supports: {}",
                trigger.name(),
                allowed()
            ),
        }),
        None => Err(DistributionError::UnsupportedAction {
            message: format!(
                "unknown action `{text}`; {} supports: {}",
                trigger.name(),
                allowed()
            ),
        }),
    }
}

impl ChannelInput {
    /// Checks one channel for `trigger` within `limits`; `field` names it in errors
    /// (`channels[0]`).
    pub fn parse_within(
        self,
        field: &str,
        trigger: &EventType,
        limits: &Limits,
    ) -> Result<WebhookChannel, DistributionError> {
        if let Some(kind) = self.kind.as_deref() {
            if kind != "webhook" {
                return Err(DistributionError::invalid(
                    format!("{field}.type"),
                    format!("`{kind}` is not a channel type sendout delivers; use `webhook`"),
                ));
            }
        }
        let event_name = EventName::parse(&self.event_name)
            .map_err(|reason| DistributionError::invalid(format!("{field}.event_name"), reason))?;
        let url = TargetUrl::parse(self.url.trim())
            .map_err(|e| DistributionError::invalid(format!("{field}.url"), e.to_string()))?;
        let payload = match self.payload {
            Some(payload) => payload.parse_within(&format!("{field}.payload"), trigger, limits)?,
            None => Payload {
                design: PayloadDesign::Full,
                raw: false,
            },
        };
        let headers = self.headers.unwrap_or_default();
        let public_headers = PublicHeaders::parse(self.public_headers.unwrap_or_default())
            .and_then(|public| {
                public.check_among(headers.iter().map(|(name, _)| name.as_str()))?;
                Ok(public)
            })
            .map_err(|e| {
                DistributionError::invalid(format!("{field}.public_headers"), e.to_string())
            })?;
        Ok(WebhookChannel::new(
            event_name,
            url,
            (headers, public_headers),
            payload,
        ))
    }
}

impl PayloadInput {
    /// Checks a payload design for `trigger` within `limits`; `field` names it in errors.
    pub fn parse_within(
        self,
        field: &str,
        trigger: &EventType,
        limits: &Limits,
    ) -> Result<Payload, DistributionError> {
        let extra = |name: &str| {
            DistributionError::invalid(
                format!("{field}.{name}"),
                format!("is not used in `{}` mode; leave it out", self.mode),
            )
        };
        let design = match self.mode.as_str() {
            "full" => {
                if self.attributes.is_some() {
                    return Err(extra("attributes"));
                }
                if self.template.is_some() {
                    return Err(extra("template"));
                }
                PayloadDesign::Full
            }
            "attributes" => {
                if self.template.is_some() {
                    return Err(extra("template"));
                }
                let Some(attributes) = self.attributes else {
                    return Err(DistributionError::invalid(
                        format!("{field}.attributes"),
                        "is required in `attributes` mode",
                    ));
                };
                if attributes.len() > limits.placeholders {
                    return Err(DistributionError::TooLarge {
                        field: format!("{field}.attributes"),
                        message: format!(
                            "{} attributes selected; at most {} are allowed",
                            attributes.len(),
                            limits.placeholders
                        ),
                    });
                }
                PayloadDesign::Attributes(selection(field, attributes)?)
            }
            "custom" => {
                if self.attributes.is_some() {
                    return Err(extra("attributes"));
                }
                let Some(text) = self.template else {
                    return Err(DistributionError::invalid(
                        format!("{field}.template"),
                        "is required in `custom` mode",
                    ));
                };
                let too_large = |message: String| DistributionError::TooLarge {
                    field: format!("{field}.template"),
                    message,
                };
                if text.len() > limits.template_bytes {
                    return Err(too_large(format!(
                        "the template is {} bytes; at most {} are allowed",
                        text.len(),
                        limits.template_bytes
                    )));
                }
                let template =
                    Template::parse(&text).map_err(|error| DistributionError::TemplateSyntax {
                        field: format!("{field}.template"),
                        error,
                    })?;
                let placeholders = template.paths().count();
                if placeholders > limits.placeholders {
                    return Err(too_large(format!(
                        "the template has {placeholders} placeholders; at most {} are allowed",
                        limits.placeholders
                    )));
                }
                PayloadDesign::Custom(template)
            }
            other => {
                return Err(DistributionError::invalid(
                    format!("{field}.mode"),
                    format!("`{other}` is not a mode; use `full`, `attributes` or `custom`"),
                ))
            }
        };
        design.validate(trigger).map_err(|unknown| {
            let part = match &design {
                PayloadDesign::Attributes(_) => "attributes",
                _ => "template",
            };
            DistributionError::UnknownPaths {
                field: format!("{field}.{part}"),
                trigger: trigger.name().to_owned(),
                unknown,
            }
        })?;
        Ok(Payload {
            design,
            raw: self.raw,
        })
    }
}

fn selection(
    field: &str,
    attributes: Vec<AttributeInput>,
) -> Result<AttributeSelection, DistributionError> {
    let mut parsed = Vec::with_capacity(attributes.len());
    for (i, attribute) in attributes.into_iter().enumerate() {
        let path =
            Path::parse(&attribute.path).map_err(|e| DistributionError::InvalidAttributes {
                field: format!("{field}.attributes[{i}].path"),
                message: e.to_string(),
            })?;
        parsed.push(Attribute {
            path,
            key: attribute.key,
        });
    }
    AttributeSelection::new(parsed).map_err(|e| DistributionError::InvalidAttributes {
        field: field.to_owned(),
        message: e.to_string(),
    })
}
