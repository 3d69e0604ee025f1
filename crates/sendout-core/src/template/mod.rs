//! The payload designer of distribution channels (PRODUCT §6): what a channel sends as `data`
//! (or as the whole body, with raw payload on).
//!
//! A channel's [`PayloadDesign`] is one of three modes:
//! - **full**: the event's data as is;
//! - **attributes** ([`AttributeSelection`]): chosen paths, each under its own key, where a
//!   dotted key builds nested objects;
//! - **custom** ([`Template`]): a JSON template with `{{path}}` placeholders.
//!
//! # The template language
//!
//! A template is JSON (RFC 8259: objects, arrays, strings with every escape, numbers, `true`,
//! `false`, `null`) in which `{{path}}` placeholders take values from the event's data:
//!
//! ```text
//! {
//!   "order": {
//!     "orderId": "{{order.id}}",
//!     "total": {{ order.total_amount }},
//!     "first_price": {{order.items[0].price}},
//!     "message": "Thank you for your order, {{customer.name}}!"
//!   }
//! }
//! ```
//!
//! - **Paths** ([`Path`]) are dotted keys with array indexes as a numeric segment or in
//!   brackets (`order.items.0.price`, `order.items[0].price`); whitespace inside the braces is
//!   ignored.
//! - **Unquoted**, in value position, a placeholder is replaced by the value with its own type
//!   (number, boolean, string, object, array, null); a missing value renders `null`.
//! - **Inside a quoted string**, mixed with text or alone, it is replaced by the value's text:
//!   a string as is; a number or boolean as its JSON text (`4198`, `true`); an object or array
//!   as its compact JSON (`{"a":1}`); null or missing as empty text. The result is always a
//!   string, and the inserted text is escaped, so data cannot end the string or add structure.
//! - **Keys** are fixed text: a placeholder as a key, quoted or not, is refused, so a
//!   template's shape (its keys, its arrays, which positions are strings) is known at save time
//!   and does not depend on the data. Duplicate keys are refused too.
//! - **A dotted key builds nested objects**, as in attributes mode (seeds/003: "Nested objects
//!   can be created with dots in the key name"): `{"order.status": "{{order.status}}",
//!   "order.id": "{{order.id}}"}` renders `{"order":{"status":…,"id":…}}`, merged with an
//!   `"order": {…}` object of the same template. Every `.` must stand between two names, and
//!   a value may not be set twice nor stand where another key needs an object. Write `\u002e`
//!   for a literal dot in a key.
//! - `{{` always opens a placeholder, even inside a string; write `\u007b{` for a literal `{{`.
//! - A template is at most [`MAX_TEMPLATE_BYTES`] long and nests at most [`MAX_DEPTH`] levels.
//!   A deployment may allow less, and fewer placeholders (see
//!   [`crate::distribution::Limits`]), since a few bytes of template can name a large value
//!   many times.
//!
//! Rendering can be bounded ([`Template::render_within`], [`PayloadDesign::render_raw_within`]):
//! it stops as soon as the output is longer than the bound, so a template that repeats a large
//! value never builds the whole text.
//!
//! A template is parsed once, when it is saved ([`Template::parse`]); parse errors give the
//! line and column (1-based, counted in characters). [`Template::validate`] checks every path
//! against the trigger's data keys in the catalog. Rendering cannot fail: it always yields
//! valid JSON, compact and with the template's key order.
//!
//! ```
//! use sendout_core::template::Template;
//! use serde_json::json;
//!
//! let template = Template::parse(
//!     r#"{"total": {{order.total_amount}}, "message": "Thanks, {{customer.name}}!"}"#,
//! )?;
//! let data = json!({"order": {"total_amount": 4198}, "customer": {"name": "Alex \"A\""}});
//! assert_eq!(
//!     template.render_to_string(&data),
//!     r#"{"total":4198,"message":"Thanks, Alex \"A\"!"}"#
//! );
//! # Ok::<(), sendout_core::template::TemplateError>(())
//! ```

mod attributes;
mod design;
mod parser;
mod path;
mod render;

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::catalog::EventType;

pub use attributes::{Attribute, AttributeError, AttributeSelection};
pub use design::PayloadDesign;
pub use parser::{MAX_DEPTH, MAX_TEMPLATE_BYTES};
pub use path::{Path, PathError, Segment};

use parser::{Keys, Node};
use render::Op;

/// A custom payload template, parsed and compiled; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    root: Node,
    paths: Vec<Path>,
    ops: Vec<Op>,
    fixed_len: usize,
}

/// Why a template's text is not a template, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct TemplateError {
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column of the problem, in characters.
    pub column: usize,
    /// What is wrong, for a person.
    pub message: String,
}

/// A path that the trigger's data does not carry, with the nearest ones it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnknownPath {
    /// The path as written.
    pub path: String,
    /// Up to three valid paths nearest to it (in the catalog's spelling: `items[]` for any
    /// element), nearest first; empty when nothing is close.
    pub suggestions: Vec<String>,
}

impl fmt::Display for UnknownPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not in the trigger's data", self.path)?;
        match self.suggestions.as_slice() {
            [] => Ok(()),
            [only] => write!(f, "; did you mean `{only}`?"),
            [first @ .., last] => {
                f.write_str("; did you mean ")?;
                for (i, suggestion) in first.iter().enumerate() {
                    let separator = if i > 0 { ", " } else { "" };
                    write!(f, "{separator}`{suggestion}`")?;
                }
                write!(f, " or `{last}`?")
            }
        }
    }
}

impl std::error::Error for UnknownPath {}

impl Template {
    /// Parses and compiles a template (see the [module docs](self) for the language).
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        Self::parse_with(source, Keys::Dotted)
    }

    fn parse_with(source: &str, keys: Keys) -> Result<Self, TemplateError> {
        let (root, paths) = parser::parse(source, keys).map_err(|failure| {
            let (line, column) = line_and_column(source, failure.offset);
            TemplateError {
                line,
                column,
                message: failure.message,
            }
        })?;
        let (ops, fixed_len) = render::compile(&root);
        Ok(Self {
            source: source.to_owned(),
            root,
            paths,
            ops,
            fixed_len,
        })
    }

    /// The template's text, as it was written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The path of every placeholder, in the order they appear (repeats included).
    pub fn paths(&self) -> impl Iterator<Item = &Path> + '_ {
        self.paths.iter()
    }

    /// Checks every path against the data keys of `event_type`; the error lists each unknown
    /// path once, in order of first appearance, with suggestions.
    pub fn validate(&self, event_type: &EventType) -> Result<(), Vec<UnknownPath>> {
        validate_paths(self.paths(), event_type)
    }

    /// Renders the template against `data` into a JSON value.
    pub fn render(&self, data: &Value) -> Value {
        render::to_value(&self.root, &self.paths, data)
    }

    /// Renders the template against `data` straight into compact JSON text: the same text as
    /// serializing [`Template::render`]'s value, without building it.
    pub fn render_to_string(&self, data: &Value) -> String {
        let mut out = String::with_capacity(self.fixed_len + 16 * self.paths.len());
        self.render_into(data, &mut out);
        out
    }

    /// Appends the rendered compact JSON text to `out`.
    pub fn render_into(&self, data: &Value, out: &mut String) {
        render::to_text(&self.ops, &self.paths, data, out, usize::MAX);
    }

    /// Appends the rendered text to `out` unless it would be longer than `limit` bytes:
    /// rendering stops as soon as it is (having written at most one value past the bound),
    /// and `out` is left as it was.
    pub fn render_within(
        &self,
        data: &Value,
        out: &mut String,
        limit: usize,
    ) -> Result<(), TooLarge> {
        render::within(out, limit, |out| {
            render::to_text(&self.ops, &self.paths, data, out, limit)
        })
    }
}

/// A rendered payload that would be longer than its bound; rendering stopped there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the rendered payload is larger than {limit} bytes")]
pub struct TooLarge {
    /// The bound, in bytes.
    pub limit: usize,
}

/// Two templates are equal when their texts are.
impl PartialEq for Template {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Template {}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for Template {
    type Err = TemplateError;

    fn from_str(source: &str) -> Result<Self, Self::Err> {
        Self::parse(source)
    }
}

/// A template serializes as its text (it is not JSON itself when it has unquoted placeholders).
impl Serialize for Template {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

/// Reading a template back (from the store) parses it as [`Template::parse`] does, with one
/// allowance: a template saved before dotted keys built nested objects, whose keys cannot be
/// split (an empty segment, as in `"a."`, or a clash, as in `"a"` beside `"a.b"`), keeps its
/// keys as written, so it renders as it did rather than becoming unreadable. Saving it again
/// applies the rule.
impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        Self::parse(&source)
            .or_else(|error| Self::parse_with(&source, Keys::Literal).map_err(|_| error))
            .map_err(serde::de::Error::custom)
    }
}

/// Checks paths against an event type's data keys; each unknown path is reported once.
fn validate_paths<'a>(
    paths: impl Iterator<Item = &'a Path>,
    event_type: &EventType,
) -> Result<(), Vec<UnknownPath>> {
    let mut seen = HashSet::new();
    let unknown: Vec<UnknownPath> = paths
        .filter(|path| seen.insert(path.as_str()))
        .filter(|path| !event_type.has_path(path.as_str()))
        .map(|path| UnknownPath {
            path: path.to_string(),
            suggestions: event_type.suggest(path.as_str()),
        })
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(unknown)
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_and_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}
