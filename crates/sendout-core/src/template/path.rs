//! Paths into an event's `data`: `customer.name`, `order.items.0.price`, `order.items[0].price`.
//!
//! A path is parsed once into segments and then only walked. A dotted segment is a key; when it
//! is all digits it also selects an array element, so `items.0` and `items[0]` find the same
//! value in an array while `metadata.2024` still finds the key `"2024"` of an object. A
//! bracketed segment (`[0]`) only selects an array element. The "any element" spelling of the
//! catalog (`items[]`) names no single value, so a template cannot render it and it is refused.
//!
//! Keys may hold any character except whitespace, control characters and `. [ ] { } " \`;
//! metadata keys such as `sign-up` or `région` work as written.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// One step of a [`Path`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// `.name`: a key of an object; an all-digit name also selects an element of an array.
    Key(String),
    /// `[n]`: an element of an array.
    Index(usize),
}

/// A parsed path into a JSON value; displays as the text it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path {
    text: String,
    segments: Vec<Segment>,
}

/// Why a path's text is not a path; `offset` is the byte offset of the problem in that text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path `{text}`: {message}")]
pub struct PathError {
    /// The text that was refused.
    pub text: String,
    /// Byte offset of the problem inside `text`.
    pub offset: usize,
    /// What is wrong, for a person.
    pub message: String,
}

impl Path {
    /// Parses a path such as `order.items[0].price`.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        let fail = |offset: usize, message: String| PathError {
            text: text.to_owned(),
            offset,
            message,
        };
        if text.is_empty() {
            return Err(fail(0, "the path is empty".to_owned()));
        }
        let bytes = text.as_bytes();
        let mut segments = Vec::new();
        let mut pos = 0;
        loop {
            // A key: up to the next `.`, `[` or the end.
            let start = pos;
            while pos < bytes.len() && bytes[pos] != b'.' && bytes[pos] != b'[' {
                let c = text[pos..].chars().next().unwrap_or_default();
                if !is_key_char(c) {
                    return Err(fail(pos, forbidden(c)));
                }
                pos += c.len_utf8();
            }
            if pos == start {
                let message = if start == 0 && bytes[0] == b'[' {
                    "a path starts with a key, such as `order` in `order.items[0]`"
                } else {
                    "empty segment: every `.` must be followed by a key"
                };
                return Err(fail(pos, message.to_owned()));
            }
            segments.push(Segment::Key(text[start..pos].to_owned()));
            // Any number of `[n]` after the key.
            while pos < bytes.len() && bytes[pos] == b'[' {
                let open = pos;
                pos += 1;
                let digits = pos;
                while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                    pos += 1;
                }
                match bytes.get(pos) {
                    Some(b']') if pos == digits => {
                        return Err(fail(
                            open,
                            "`[]` stands for any element and names no single value; \
                             write an index such as `[0]`"
                                .to_owned(),
                        ))
                    }
                    Some(b']') => {}
                    None => return Err(fail(open, "unclosed `[`: expected `]`".to_owned())),
                    Some(_) => {
                        return Err(fail(
                            pos,
                            "expected an array index (digits) and `]` inside `[…]`".to_owned(),
                        ))
                    }
                }
                let index = text[digits..pos]
                    .parse::<usize>()
                    .map_err(|_| fail(digits, "the array index is too large".to_owned()))?;
                segments.push(Segment::Index(index));
                pos += 1;
            }
            match bytes.get(pos) {
                None => break,
                Some(b'.') => pos += 1,
                Some(_) => {
                    return Err(fail(pos, "expected `.` or `[` after `]`".to_owned()));
                }
            }
            if pos == bytes.len() {
                return Err(fail(
                    pos - 1,
                    "empty segment: a path cannot end with `.`".to_owned(),
                ));
            }
        }
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    /// The text the path was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The path's segments, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The value the path names inside `data`, if there is one.
    pub fn lookup<'v>(&self, data: &'v Value) -> Option<&'v Value> {
        self.segments
            .iter()
            .try_fold(data, |value, segment| match (segment, value) {
                (Segment::Key(name), Value::Object(map)) => map.get(name),
                (Segment::Key(name), Value::Array(items))
                    if name.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    name.parse::<usize>().ok().and_then(|i| items.get(i))
                }
                (Segment::Index(index), Value::Array(items)) => items.get(*index),
                _ => None,
            })
    }
}

fn is_key_char(c: char) -> bool {
    !(c.is_whitespace() || c.is_control() || matches!(c, '.' | '[' | ']' | '{' | '}' | '"' | '\\'))
}

fn forbidden(c: char) -> String {
    if c.is_whitespace() {
        "a path cannot contain whitespace".to_owned()
    } else if c.is_control() {
        format!(
            "a path cannot contain the control character U+{:04X}",
            u32::from(c)
        )
    } else {
        format!("`{c}` is not allowed in a path")
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Path {
    type Err = PathError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl Serialize for Path {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Path {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(text: &str) -> (usize, String) {
        let e = Path::parse(text).expect_err(text);
        (e.offset, e.message)
    }

    #[test]
    fn both_index_spellings_find_the_same_element() {
        let data = json!({"order": {"items": [{"price": 1}, {"price": 2}]}});
        for text in ["order.items.1.price", "order.items[1].price"] {
            let path = Path::parse(text).expect(text);
            assert_eq!(path.lookup(&data), Some(&json!(2)), "{text}");
            assert_eq!(path.to_string(), text);
        }
        let path = Path::parse("m[0][1]").expect("nested indexes");
        assert_eq!(path.lookup(&json!({"m": [[1, 2]]})), Some(&json!(2)));
    }

    #[test]
    fn a_numeric_dotted_segment_is_also_an_object_key() {
        let data = json!({"metadata": {"2024": "yes"}});
        let path = Path::parse("metadata.2024").expect("valid");
        assert_eq!(path.lookup(&data), Some(&json!("yes")));
        let bracketed = Path::parse("metadata[2024]").expect("valid");
        assert_eq!(bracketed.lookup(&data), None);
    }

    #[test]
    fn missing_and_mistyped_steps_find_nothing() {
        let data = json!({"a": {"b": 1}, "list": [1]});
        for text in [
            "x", "a.c", "a.b.c", "list.1", "list[5]", "a[0]", "list.x", "list.+0",
        ] {
            assert_eq!(Path::parse(text).expect(text).lookup(&data), None, "{text}");
        }
    }

    #[test]
    fn malformed_paths_say_where_and_why() {
        assert_eq!(err("").0, 0);
        assert_eq!(err("a..b").0, 2);
        assert_eq!(err(".a").0, 0);
        assert_eq!(err("a.").0, 1);
        assert_eq!(err("[0].a").0, 0);
        assert_eq!(err("a[").0, 1);
        assert_eq!(err("a[x]").0, 2);
        assert_eq!(err("a[1").0, 1);
        assert!(err("a[]").1.contains("`[0]`"));
        assert_eq!(err("a[0]b").0, 4);
        assert_eq!(err("a b").0, 1);
        assert_eq!(err("a.{b}").0, 2);
        assert!(err("a[99999999999999999999999]").1.contains("too large"));
    }

    #[test]
    fn unicode_and_dashed_keys_are_keys() {
        let path = Path::parse("customer.metadata.sign-up.région").expect("valid");
        assert_eq!(path.segments().len(), 4);
    }
}
