//! A channel's payload design: which of the three modes, with its settings.
//!
//! The rendered value is the channel's `data`. With **raw payload** on, the caller sends the
//! rendered value as the whole body instead of the envelope ([`crate::envelope::raw_body`]);
//! the flag lives with the channel, not here, since it changes the body and not the payload.
//!
//! As JSON (the `payload` object of a channel, minus `raw`), tagged by `mode`:
//! `{"mode":"full"}`, `{"mode":"attributes","attributes":[{"path":"customer.source_id",
//! "key":"user.id"}]}`, `{"mode":"custom","template":"{\"total\":{{order.total_amount}}}"}`.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use super::{AttributeSelection, Path, Template, TooLarge, UnknownPath};
use crate::catalog::{EventType, Purpose};

/// What a distribution channel sends as its data.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "Repr")]
pub enum PayloadDesign {
    /// The event's data, unchanged.
    Full,
    /// Chosen paths under their own keys.
    Attributes(AttributeSelection),
    /// A custom JSON template.
    Custom(Template),
}

impl PayloadDesign {
    /// Checks every path of the design against the data keys of the trigger `event_type`
    /// (full mode has none).
    pub fn validate(&self, event_type: &EventType) -> Result<(), Vec<UnknownPath>> {
        match self {
            Self::Full => Ok(()),
            Self::Attributes(selection) => selection.validate(event_type),
            Self::Custom(template) => template.validate(event_type),
        }
    }

    /// The paths of the design that a distribution with action `purpose` does not get (their
    /// first key belongs to other purposes; see [`EventType::provides`]), each once, in
    /// order.
    pub fn not_provided(&self, event_type: &EventType, purpose: Purpose) -> Vec<String> {
        let paths: Vec<&Path> = match self {
            Self::Full => Vec::new(),
            Self::Attributes(selection) => selection.paths().collect(),
            Self::Custom(template) => template.paths().collect(),
        };
        let mut out: Vec<String> = Vec::new();
        for path in paths {
            let text = path.as_str();
            if !event_type.provides(purpose, text) && !out.iter().any(|p| p == text) {
                out.push(text.to_owned());
            }
        }
        out
    }

    /// Renders the payload for `data` as a value (full mode clones `data`).
    pub fn render(&self, data: &Value) -> Value {
        match self {
            Self::Full => data.clone(),
            Self::Attributes(selection) => selection.render(data),
            Self::Custom(template) => template.render(data),
        }
    }

    /// Renders the payload for `data` as compact JSON text, without building a value.
    ///
    /// In full mode a caller that already holds the event's data as compact text (see
    /// [`crate::envelope::compact`]) should embed that instead.
    pub fn render_to_string(&self, data: &Value) -> String {
        let mut out = String::new();
        match self {
            Self::Full => super::render::write_json(data, &mut out),
            Self::Attributes(selection) => selection.render_into(data, &mut out),
            Self::Custom(template) => template.render_into(data, &mut out),
        }
        out
    }

    /// Renders the payload as a [`RawValue`], ready for [`crate::envelope::build`] or
    /// [`crate::envelope::raw_body`]. `RawValue` checks the text once more on the way in.
    pub fn render_raw(&self, data: &Value) -> Box<RawValue> {
        RawValue::from_string(self.render_to_string(data))
            .expect("rendering always yields valid JSON (property-tested)")
    }

    /// [`PayloadDesign::render_raw`], unless the text would be longer than `limit` bytes:
    /// a template or a selection stops rendering as soon as it is, so a design that repeats
    /// a large value never builds the whole text.
    pub fn render_raw_within(&self, data: &Value, limit: usize) -> Result<Box<RawValue>, TooLarge> {
        let mut out = String::new();
        match self {
            Self::Full => super::render::write_json(data, &mut out),
            Self::Attributes(selection) => selection.render_within(data, &mut out, limit)?,
            Self::Custom(template) => template.render_within(data, &mut out, limit)?,
        }
        if out.len() > limit {
            return Err(TooLarge { limit });
        }
        Ok(RawValue::from_string(out)
            .expect("rendering always yields valid JSON (property-tested)"))
    }
}

/// The wire shape of [`PayloadDesign`], read.
#[derive(Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
enum Repr {
    Full,
    Attributes { attributes: AttributeSelection },
    Custom { template: Template },
}

/// The wire shape of [`PayloadDesign`], written without cloning it.
#[derive(Serialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
enum ReprRef<'a> {
    Full,
    Attributes { attributes: &'a AttributeSelection },
    Custom { template: &'a Template },
}

impl From<Repr> for PayloadDesign {
    fn from(repr: Repr) -> Self {
        match repr {
            Repr::Full => Self::Full,
            Repr::Attributes { attributes } => Self::Attributes(attributes),
            Repr::Custom { template } => Self::Custom(template),
        }
    }
}

impl Serialize for PayloadDesign {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Full => ReprRef::Full,
            Self::Attributes(attributes) => ReprRef::Attributes { attributes },
            Self::Custom(template) => ReprRef::Custom { template },
        }
        .serialize(serializer)
    }
}
