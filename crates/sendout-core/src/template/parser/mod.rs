//! The template parser: JSON (RFC 8259) extended with `{{path}}` placeholders, read once into a
//! [`Node`] tree. Errors carry a byte offset that [`super::TemplateError`] turns into a line
//! and column.
//!
//! Placeholders are recognised in the template's *source* text: `{{` inside a quoted string
//! starts one even though `{` needs no escape in JSON, and `\u007b{` is the way to write a
//! literal `{{`. A placeholder runs to the first `}}`; whitespace around its path is ignored.

use serde_json::Value;

use super::path::Path;

mod scalars;

/// Templates larger than this are refused (a webhook payload design is a few hundred bytes).
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

/// Objects and arrays nested deeper than this are refused.
pub const MAX_DEPTH: usize = 64;

/// One value of a parsed template.
#[derive(Debug, Clone)]
pub(super) enum Node {
    /// `null`, `true`, `false`, a number, or a string without placeholders.
    Literal(Value),
    Array(Vec<Node>),
    /// Members in template order; keys are unique.
    Object(Vec<(String, Node)>),
    /// A quoted string with at least one placeholder: its pieces in order.
    Text(Vec<Piece>),
    /// An unquoted placeholder: the value at that path (an index into the template's paths).
    Value(usize),
}

/// A piece of a quoted string with placeholders.
#[derive(Debug, Clone)]
pub(super) enum Piece {
    Text(String),
    /// An index into the template's paths.
    Path(usize),
}

/// A parse failure at a byte offset of the source.
#[derive(Debug)]
pub(super) struct Failure {
    pub offset: usize,
    pub message: String,
}

type Result<T> = std::result::Result<T, Failure>;

/// Parses a whole template: exactly one value, with only whitespace around it.
pub(super) fn parse(source: &str) -> Result<(Node, Vec<Path>)> {
    if source.len() > MAX_TEMPLATE_BYTES {
        return Err(Failure {
            offset: 0,
            message: format!(
                "the template is {} bytes; the limit is {MAX_TEMPLATE_BYTES}",
                source.len()
            ),
        });
    }
    let mut parser = Parser {
        src: source,
        bytes: source.as_bytes(),
        pos: 0,
        depth: 0,
        paths: Vec::new(),
    };
    parser.skip_whitespace();
    if parser.pos == parser.bytes.len() {
        return Err(parser.fail("the template is empty: expected a JSON value"));
    }
    let root = parser.value()?;
    parser.skip_whitespace();
    if parser.pos < parser.bytes.len() {
        let found = parser.found();
        return Err(parser.fail(format!(
            "unexpected {found} after the template's value; a template is a single JSON value"
        )));
    }
    Ok((root, parser.paths))
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    paths: Vec<Path>,
}

impl Parser<'_> {
    fn fail(&self, message: impl Into<String>) -> Failure {
        self.fail_at(self.pos, message)
    }

    fn fail_at(&self, offset: usize, message: impl Into<String>) -> Failure {
        Failure {
            offset,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn at_placeholder(&self) -> bool {
        self.bytes[self.pos..].starts_with(b"{{")
    }

    /// What is at the current position, for "found …" in messages.
    fn found(&self) -> String {
        let rest = &self.src[self.pos..];
        let word: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'))
            .take(40)
            .collect();
        match rest.chars().next() {
            None => "the end of the template".to_owned(),
            Some(_) if word.chars().count() > 1 => format!("`{word}`"),
            Some(c) if c.is_control() => format!("the control character U+{:04X}", u32::from(c)),
            Some(c) => format!("`{c}`"),
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Result<Node> {
        match self.peek() {
            Some(b'{') if self.at_placeholder() => {
                let index = self.placeholder(false)?;
                Ok(Node::Value(index))
            }
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string(),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') if self.bytes[self.pos..].starts_with(b"true") => {
                self.pos += 4;
                Ok(Node::Literal(Value::Bool(true)))
            }
            Some(b'f') if self.bytes[self.pos..].starts_with(b"false") => {
                self.pos += 5;
                Ok(Node::Literal(Value::Bool(false)))
            }
            Some(b'n') if self.bytes[self.pos..].starts_with(b"null") => {
                self.pos += 4;
                Ok(Node::Literal(Value::Null))
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let found = self.found();
                Err(self.fail(format!(
                    "unexpected {found}: text needs quotes (`\"…\"`) and a value from the data \
                     needs braces (`{{{{path}}}}`)"
                )))
            }
            _ => {
                let found = self.found();
                Err(self.fail(format!(
                    "expected a value (an object, array, string, number, true, false, null or \
                     `{{{{path}}}}`), found {found}"
                )))
            }
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.fail(format!(
                "objects and arrays are nested more than {MAX_DEPTH} levels deep"
            )));
        }
        Ok(())
    }

    fn object(&mut self) -> Result<Node> {
        self.enter()?;
        self.pos += 1; // `{`
        let mut members: Vec<(String, Node)> = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Node::Object(members));
        }
        loop {
            let key_at = self.pos;
            match self.peek() {
                Some(b'"') => {}
                Some(b'{') if self.at_placeholder() => {
                    return Err(
                        self.fail("a placeholder cannot be a key: keys are fixed text in quotes")
                    );
                }
                Some(b'}') if !members.is_empty() => {
                    return Err(self.fail("a trailing `,` is not allowed before `}`"));
                }
                _ => {
                    let found = self.found();
                    let what = if members.is_empty() {
                        "a key (a quoted string) or `}`"
                    } else {
                        "a key (a quoted string) after `,`"
                    };
                    return Err(self.fail(format!("expected {what}, found {found}")));
                }
            }
            let key = self.key()?;
            if members.iter().any(|(existing, _)| *existing == key) {
                return Err(self.fail_at(key_at, format!("duplicate key `{key}` in an object")));
            }
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                let found = self.found();
                return Err(self.fail(format!("expected `:` after the key `{key}`, found {found}")));
            }
            self.pos += 1;
            self.skip_whitespace();
            let value = self.value()?;
            members.push((key, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_whitespace();
                }
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Node::Object(members));
                }
                _ => {
                    let found = self.found();
                    return Err(self.fail(format!(
                        "expected `,` or `}}` after an object member, found {found}"
                    )));
                }
            }
        }
    }

    fn array(&mut self) -> Result<Node> {
        self.enter()?;
        self.pos += 1; // `[`
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Node::Array(items));
        }
        loop {
            if self.peek() == Some(b']') {
                return Err(self.fail("a trailing `,` is not allowed before `]`"));
            }
            items.push(self.value()?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_whitespace();
                }
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Node::Array(items));
                }
                _ => {
                    let found = self.found();
                    return Err(self.fail(format!(
                        "expected `,` or `]` after an array element, found {found}"
                    )));
                }
            }
        }
    }
}
