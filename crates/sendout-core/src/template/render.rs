//! Rendering a parsed template against an event's data.
//!
//! Two renderers that agree byte for byte (a property test checks it):
//! - [`to_value`] walks the [`Node`] tree and builds a [`Value`], cloning only the looked-up
//!   values;
//! - [`to_text`] replays [`Op`]s compiled once at parse time: every run of fixed text between
//!   two placeholders is already serialized, so a send out's body costs one pass over the ops,
//!   the looked-up values written straight into the output, nothing re-parsed and no tree built.
//!
//! Both write compact JSON exactly as `serde_json` does (same escapes, same number text), and
//! interpolated text is always escaped as string content, so data can neither end a string nor
//! add structure.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::parser::{Node, Piece};
use super::path::Path;
use super::TooLarge;

/// One step of text rendering.
#[derive(Debug, Clone)]
pub(super) enum Op {
    /// Fixed, already serialized JSON text.
    Static(String),
    /// An unquoted placeholder: the value as JSON, `null` when missing.
    Value(usize),
    /// A placeholder inside a string: the value's text, escaped as string content.
    Text(usize),
}

/// Compiles a tree into ops; also returns the length of the fixed text, as a capacity hint.
pub(super) fn compile(root: &Node) -> (Vec<Op>, usize) {
    let mut compiler = Compiler::default();
    compiler.node(root);
    compiler.flush();
    let fixed = compiler
        .ops
        .iter()
        .map(|op| match op {
            Op::Static(text) => text.len(),
            Op::Value(_) | Op::Text(_) => 0,
        })
        .sum();
    (compiler.ops, fixed)
}

#[derive(Default)]
struct Compiler {
    ops: Vec<Op>,
    text: String,
}

impl Compiler {
    fn flush(&mut self) {
        if !self.text.is_empty() {
            self.ops.push(Op::Static(std::mem::take(&mut self.text)));
        }
    }

    fn node(&mut self, node: &Node) {
        match node {
            Node::Literal(value) => write_json(value, &mut self.text),
            Node::Array(items) => {
                self.text.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.text.push(',');
                    }
                    self.node(item);
                }
                self.text.push(']');
            }
            Node::Object(members) => {
                self.text.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        self.text.push(',');
                    }
                    write_string(key, &mut self.text);
                    self.text.push(':');
                    self.node(value);
                }
                self.text.push('}');
            }
            Node::Text(pieces) => {
                self.text.push('"');
                for piece in pieces {
                    match piece {
                        Piece::Text(text) => write_escaped(text, &mut self.text),
                        Piece::Path(index) => {
                            self.flush();
                            self.ops.push(Op::Text(*index));
                        }
                    }
                }
                self.text.push('"');
            }
            Node::Value(index) => {
                self.flush();
                self.ops.push(Op::Value(*index));
            }
        }
    }
}

/// Renders compiled ops into `out`, stopping as soon as what it appended is longer than
/// `limit` bytes (false then: `out` holds a cut-off text to throw away). The check follows
/// each op, so at most one looked-up value is written past the bound, never the rest.
pub(super) fn to_text(
    ops: &[Op],
    paths: &[Path],
    data: &Value,
    out: &mut String,
    limit: usize,
) -> bool {
    let start = out.len();
    for op in ops {
        if out.len() - start > limit {
            return false;
        }
        match op {
            Op::Static(text) => out.push_str(text),
            Op::Value(index) => match paths[*index].lookup(data) {
                Some(value) => write_json(value, out),
                None => out.push_str("null"),
            },
            Op::Text(index) => match paths[*index].lookup(data) {
                Some(Value::String(text)) => write_escaped(text, out),
                Some(value @ (Value::Array(_) | Value::Object(_))) => {
                    let mut json = String::new();
                    write_json(value, &mut json);
                    write_escaped(&json, out);
                }
                // Numbers and booleans are ASCII with nothing to escape; null adds nothing.
                value => interpolate(value, out),
            },
        }
    }
    out.len() - start <= limit
}

/// Runs a bounded writer on `out` (one that answers false once what it appended is longer
/// than `limit`): `Ok` if it stayed within, otherwise `out` as it was before.
pub(super) fn within(
    out: &mut String,
    limit: usize,
    write: impl FnOnce(&mut String) -> bool,
) -> Result<(), TooLarge> {
    let start = out.len();
    if write(out) {
        Ok(())
    } else {
        out.truncate(start);
        Err(TooLarge { limit })
    }
}

/// Renders a tree into a value.
pub(super) fn to_value(node: &Node, paths: &[Path], data: &Value) -> Value {
    match node {
        Node::Literal(value) => value.clone(),
        Node::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| to_value(item, paths, data))
                .collect(),
        ),
        Node::Object(members) => {
            let mut map = Map::with_capacity(members.len());
            for (key, value) in members {
                map.insert(key.clone(), to_value(value, paths, data));
            }
            Value::Object(map)
        }
        Node::Text(pieces) => {
            let mut text = String::new();
            for piece in pieces {
                match piece {
                    Piece::Text(fixed) => text.push_str(fixed),
                    Piece::Path(index) => interpolate(paths[*index].lookup(data), &mut text),
                }
            }
            Value::String(text)
        }
        Node::Value(index) => paths[*index].lookup(data).cloned().unwrap_or(Value::Null),
    }
}

/// The text a value contributes to a string, unescaped: a string as is, a number or boolean
/// as its JSON text, an object or array as its compact JSON, nothing for null or missing.
pub(super) fn interpolate(value: Option<&Value>, out: &mut String) {
    match value {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => out.push_str(text),
        Some(Value::Bool(true)) => out.push_str("true"),
        Some(Value::Bool(false)) => out.push_str("false"),
        Some(Value::Number(number)) => {
            // Writing into a String cannot fail.
            let _ = write!(out, "{number}");
        }
        Some(value) => write_json(value, out),
    }
}

/// Writes a value as compact JSON, byte for byte as `serde_json::to_string` does.
pub(crate) fn write_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_json(item, out);
            }
            out.push('}');
        }
        scalar => interpolate(Some(scalar), out),
    }
}

/// Writes a JSON string literal, quotes included.
pub(crate) fn write_string(text: &str, out: &mut String) {
    out.push('"');
    write_escaped(text, out);
    out.push('"');
}

/// Writes text as the content of a JSON string: `"`, `\` and control characters escaped, the
/// way `serde_json` does (short escapes where JSON has them, `\u00XX` otherwise).
pub(crate) fn write_escaped(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let short = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // Escaped bytes are ASCII, so `start..i` lies on character boundaries.
        out.push_str(&text[start..i]);
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        } else {
            out.push_str(short);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_text_matches_serde_json() {
        let value = json!({
            "s": "q\"b\\n\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}żółć😀</",
            "n": [0, -1, 1.5, 1e300, u64::MAX, i64::MIN, -0.0],
            "b": [true, false, null],
            "o": {"": {}, "a": []}
        });
        let mut out = String::new();
        write_json(&value, &mut out);
        assert_eq!(out, serde_json::to_string(&value).expect("serializable"));
    }
}
