//! Attributes mode: chosen paths of the data, each under its own key.
//!
//! Each [`Attribute`] is a path and an optional own key. A dotted key builds nested objects:
//! `{"path": "customer.source_id", "key": "user.id"}` renders `{"user":{"id":"…"}}`. Without
//! a key, the path itself is the key, so an unmapped attribute keeps its place in the data:
//! `customer.name` renders `{"customer":{"name":"…"}}` (an index segment becomes a key too:
//! `order.items[0].price` renders `{"order":{"items":{"0":{"price":…}}}}`).
//!
//! Keys are checked when the selection is made: two attributes may not have the same key, and
//! one may not need as an object what another sets as a value (`user` and `user.id`). So the
//! output's shape is fixed by the selection and rendering cannot fail; a value missing from
//! the data renders `null`. Members come in the order their keys first appear.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::path::{Path, Segment};
use super::render::{write_json, write_string};
use super::{TooLarge, UnknownPath};
use crate::catalog::EventType;

/// One selected path, optionally mapped to an own key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    /// Where the value is in the data.
    pub path: Path,
    /// The key it is sent under; dots build nested objects. `None`: the path's own segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl Attribute {
    /// The segments of the key the value is sent under.
    pub fn key_segments(&self) -> Vec<String> {
        match &self.key {
            Some(key) => key.split('.').map(str::to_owned).collect(),
            None => self
                .path
                .segments()
                .iter()
                .map(|segment| match segment {
                    Segment::Key(name) => name.clone(),
                    Segment::Index(index) => index.to_string(),
                })
                .collect(),
        }
    }
}

/// Why a list of attributes is not a valid selection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributeError {
    /// Nothing was selected.
    #[error("select at least one attribute")]
    Empty,
    /// The attribute at `index` (0-based) has a bad key or clashes with an earlier one.
    #[error("attributes[{index}]: {message}")]
    Invalid {
        /// Position of the attribute in the list.
        index: usize,
        /// What is wrong, for a person.
        message: String,
    },
}

/// A checked list of attributes, with the output's key tree built once.
#[derive(Debug, Clone)]
pub struct AttributeSelection {
    attributes: Vec<Attribute>,
    tree: Vec<(String, Slot)>,
}

/// A member of the output: a selected value (by attribute index), or a nested object.
#[derive(Debug, Clone)]
enum Slot {
    Leaf(usize),
    Branch(Vec<(String, Slot)>),
}

impl AttributeSelection {
    /// Checks the keys (see the module docs) and builds the output's key tree.
    pub fn new(attributes: Vec<Attribute>) -> Result<Self, AttributeError> {
        if attributes.is_empty() {
            return Err(AttributeError::Empty);
        }
        let mut tree = Vec::new();
        for (index, attribute) in attributes.iter().enumerate() {
            let invalid = |message: String| AttributeError::Invalid { index, message };
            let segments = attribute.key_segments();
            if attribute.key.as_deref() == Some("") {
                return Err(invalid(
                    "the key is empty: leave it out to send the value under its path".to_owned(),
                ));
            }
            if segments.iter().any(String::is_empty) {
                let key = attribute.key.as_deref().unwrap_or_default();
                return Err(invalid(format!(
                    "the key `{key}` has an empty segment: every `.` must stand between two names"
                )));
            }
            insert(&mut tree, &segments, index).map_err(|clash| {
                let other = &attributes[clash.other];
                let shown = |a: &Attribute| a.key_segments().join(".");
                invalid(match clash.kind {
                    ClashKind::Same => format!(
                        "the key `{}` is already used by attributes[{}] (`{}`)",
                        shown(attribute),
                        clash.other,
                        other.path
                    ),
                    ClashKind::Nested => format!(
                        "the keys `{}` and `{}` (attributes[{}]) clash: one needs as an object \
                         what the other sets as a value",
                        shown(attribute),
                        shown(other),
                        clash.other
                    ),
                })
            })?;
        }
        Ok(Self { attributes, tree })
    }

    /// The attributes, in the order given.
    pub fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }

    /// The path of every attribute, in order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> + '_ {
        self.attributes.iter().map(|attribute| &attribute.path)
    }

    /// Checks every path against the data keys of `event_type`, like [`super::Template::validate`].
    pub fn validate(&self, event_type: &EventType) -> Result<(), Vec<UnknownPath>> {
        super::validate_paths(self.paths(), event_type)
    }

    /// Renders the selection against `data` into a JSON object.
    pub fn render(&self, data: &Value) -> Value {
        self.object(&self.tree, data)
    }

    /// Renders the selection against `data` straight into compact JSON text.
    pub fn render_to_string(&self, data: &Value) -> String {
        let mut out = String::new();
        self.render_into(data, &mut out);
        out
    }

    /// Appends the rendered compact JSON text to `out`.
    pub fn render_into(&self, data: &Value, out: &mut String) {
        self.write(&self.tree, data, out, Bound::none());
    }

    /// Appends the rendered text to `out` unless it would be longer than `limit` bytes,
    /// stopping as soon as it is; `out` is then left as it was.
    pub fn render_within(
        &self,
        data: &Value,
        out: &mut String,
        limit: usize,
    ) -> Result<(), TooLarge> {
        super::render::within(out, limit, |out| {
            let bound = Bound {
                start: out.len(),
                limit,
            };
            self.write(&self.tree, data, out, bound)
        })
    }

    fn object(&self, members: &[(String, Slot)], data: &Value) -> Value {
        let mut map = Map::with_capacity(members.len());
        for (key, slot) in members {
            let value = match slot {
                Slot::Leaf(index) => self.attributes[*index]
                    .path
                    .lookup(data)
                    .cloned()
                    .unwrap_or(Value::Null),
                Slot::Branch(members) => self.object(members, data),
            };
            map.insert(key.clone(), value);
        }
        Value::Object(map)
    }

    /// Writes an object of `members`; false as soon as the text is past `bound` (checked
    /// after each value, so at most one value is written past it).
    fn write(
        &self,
        members: &[(String, Slot)],
        data: &Value,
        out: &mut String,
        bound: Bound,
    ) -> bool {
        out.push('{');
        for (i, (key, slot)) in members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_string(key, out);
            out.push(':');
            match slot {
                Slot::Leaf(index) => match self.attributes[*index].path.lookup(data) {
                    Some(value) => write_json(value, out),
                    None => out.push_str("null"),
                },
                Slot::Branch(members) => {
                    if !self.write(members, data, out, bound) {
                        return false;
                    }
                }
            }
            if bound.passed(out) {
                return false;
            }
        }
        out.push('}');
        !bound.passed(out)
    }
}

/// Where a bounded text began in its output, and how long it may grow.
#[derive(Debug, Clone, Copy)]
struct Bound {
    start: usize,
    limit: usize,
}

impl Bound {
    fn none() -> Self {
        Self {
            start: 0,
            limit: usize::MAX,
        }
    }

    fn passed(self, out: &str) -> bool {
        out.len() - self.start > self.limit
    }
}

struct Clash {
    kind: ClashKind,
    other: usize,
}

enum ClashKind {
    /// Another attribute has the same key.
    Same,
    /// One key is a prefix of the other.
    Nested,
}

fn insert(tree: &mut Vec<(String, Slot)>, segments: &[String], index: usize) -> Result<(), Clash> {
    let Some((first, rest)) = segments.split_first() else {
        return Ok(());
    };
    let position = tree.iter().position(|(key, _)| key == first);
    match (position.map(|at| &mut tree[at].1), rest.is_empty()) {
        (None, true) => tree.push((first.clone(), Slot::Leaf(index))),
        (None, false) => {
            let mut members = Vec::new();
            insert(&mut members, rest, index)?;
            tree.push((first.clone(), Slot::Branch(members)));
        }
        (Some(Slot::Branch(members)), false) => insert(members, rest, index)?,
        (Some(Slot::Leaf(other)), true) => {
            return Err(Clash {
                kind: ClashKind::Same,
                other: *other,
            })
        }
        (Some(Slot::Leaf(other)), false) => {
            return Err(Clash {
                kind: ClashKind::Nested,
                other: *other,
            })
        }
        (Some(branch @ Slot::Branch(_)), true) => {
            return Err(Clash {
                kind: ClashKind::Nested,
                other: first_leaf(branch),
            })
        }
    }
    Ok(())
}

/// The attribute that made a branch (its first leaf; a branch is never empty).
fn first_leaf(slot: &Slot) -> usize {
    match slot {
        Slot::Leaf(index) => *index,
        Slot::Branch(members) => members.first().map_or(0, |(_, slot)| first_leaf(slot)),
    }
}

/// Two selections are equal when their attributes are.
impl PartialEq for AttributeSelection {
    fn eq(&self, other: &Self) -> bool {
        self.attributes == other.attributes
    }
}

impl Eq for AttributeSelection {}

/// A selection serializes as its list of attributes.
impl Serialize for AttributeSelection {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.attributes.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for AttributeSelection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let attributes = Vec::<Attribute>::deserialize(deserializer)?;
        Self::new(attributes).map_err(serde::de::Error::custom)
    }
}
