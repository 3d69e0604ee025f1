//! The template parser: JSON (RFC 8259) extended with `{{path}}` placeholders, read once into a
//! [`Node`] tree. Errors carry a byte offset that [`super::TemplateError`] turns into a line
//! and column.
//!
//! Placeholders are recognised in the template's *source* text: `{{` inside a quoted string
//! starts one even though `{` needs no escape in JSON, and `\u007b{` is the way to write a
//! literal `{{`. A placeholder runs to the first `}}`; whitespace around its path is ignored.
//!
//! A `.` written as such in a key splits it: `{"order.status": …}` is read as
//! `{"order": {"status": …}}`, merged with the object's other members (as attributes mode
//! builds its output), and `\u002e` is the way to write a literal dot in a key.

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

/// How a key's dots are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keys {
    /// A `.` in a key builds nested objects (the template language).
    Dotted,
    /// Keys are taken as written: only for templates stored before dotted keys built objects
    /// whose keys cannot be split (see [`super::Template`]'s `Deserialize`).
    Literal,
}

/// Parses a whole template: exactly one value, with only whitespace around it.
pub(super) fn parse(source: &str, keys: Keys) -> Result<(Node, Vec<Path>)> {
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
        keys,
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
    keys: Keys,
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
        // Keys as written, to refuse a repeated one; `members` holds them split.
        let mut written: Vec<String> = Vec::new();
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
                Some(b'}') if !written.is_empty() => {
                    return Err(self.fail("a trailing `,` is not allowed before `}`"));
                }
                _ => {
                    let found = self.found();
                    let what = if written.is_empty() {
                        "a key (a quoted string) or `}`"
                    } else {
                        "a key (a quoted string) after `,`"
                    };
                    return Err(self.fail(format!("expected {what}, found {found}")));
                }
            }
            let (key, dots) = self.key()?;
            if written.contains(&key) {
                return Err(self.fail_at(key_at, format!("duplicate key `{key}` in an object")));
            }
            let segments = match self.keys {
                Keys::Dotted => {
                    split_key(&key, &dots).map_err(|message| self.fail_at(key_at, message))?
                }
                Keys::Literal => vec![key.clone()],
            };
            let extra_depth = segments.len() - 1;
            if self.depth + extra_depth > MAX_DEPTH {
                return Err(self.fail_at(
                    key_at,
                    format!("the key `{key}` nests objects more than {MAX_DEPTH} levels deep"),
                ));
            }
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                let found = self.found();
                return Err(self.fail(format!("expected `:` after the key `{key}`, found {found}")));
            }
            self.pos += 1;
            self.skip_whitespace();
            self.depth += extra_depth;
            let value = self.value();
            self.depth -= extra_depth;
            insert(&mut members, &segments, value?).map_err(|()| {
                self.fail_at(
                    key_at,
                    format!(
                        "the key `{key}` clashes with an earlier key of this object: a dotted key \
                         builds nested objects, and a value may not be set twice nor stand where \
                         an object is needed (write `\\u002e` for a literal `.` in a key)"
                    ),
                )
            })?;
            written.push(key);
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

/// The segments of a key whose `.`s written as such are at the byte offsets `dots`.
fn split_key(key: &str, dots: &[usize]) -> std::result::Result<Vec<String>, String> {
    let mut segments = Vec::with_capacity(dots.len() + 1);
    let mut start = 0;
    for &dot in dots.iter().chain(std::iter::once(&key.len())) {
        let segment = &key[start..dot];
        if segment.is_empty() && !dots.is_empty() {
            return Err(format!(
                "the key `{key}` has an empty segment: a `.` in a key builds nested objects, so \
                 every `.` must stand between two names (write `\\u002e` for a literal `.`)"
            ));
        }
        segments.push(segment.to_owned());
        start = dot + 1;
    }
    Ok(segments)
}

/// Puts `value` at `segments` in `members`, merging objects; `Err` when a value would be set
/// twice or an object is needed where a value already is.
fn insert(
    members: &mut Vec<(String, Node)>,
    segments: &[String],
    value: Node,
) -> std::result::Result<(), ()> {
    let Some((first, rest)) = segments.split_first() else {
        return Err(());
    };
    let existing = members.iter_mut().find(|(key, _)| key == first);
    match (existing, rest.is_empty(), value) {
        (None, true, value) => members.push((first.clone(), value)),
        (None, false, value) => {
            let mut inner = Vec::new();
            insert(&mut inner, rest, value)?;
            members.push((first.clone(), Node::Object(inner)));
        }
        (Some((_, Node::Object(inner))), false, value) => insert(inner, rest, value)?,
        (Some((_, Node::Object(inner))), true, Node::Object(added)) => {
            for (key, value) in added {
                insert(inner, std::slice::from_ref(&key), value)?;
            }
        }
        (Some(_), _, _) => return Err(()),
    }
    Ok(())
}
