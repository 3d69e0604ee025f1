//! The scalar tokens of a template: quoted strings (with their escapes and placeholders),
//! numbers, and placeholders themselves.

use serde_json::{Number, Value};

use super::{Failure, Node, Parser, Piece, Result};
use crate::template::path::Path;

impl Parser<'_> {
    /// A quoted key: a string in which placeholders are refused, with the byte offsets (in
    /// the decoded key) of the dots written as such, not escaped.
    pub(super) fn key(&mut self) -> Result<(String, Vec<usize>)> {
        let mut dots = Vec::new();
        let mut pieces = self.quoted(Some(&mut dots))?;
        match pieces.pop() {
            Some(Piece::Text(text)) => Ok((text, dots)),
            _ => Ok((String::new(), dots)),
        }
    }

    /// A quoted value: a literal string, or text with placeholders.
    pub(super) fn string(&mut self) -> Result<Node> {
        let pieces = self.quoted(None)?;
        if pieces.iter().any(|piece| matches!(piece, Piece::Path(_))) {
            return Ok(Node::Text(pieces));
        }
        // Without placeholders there is at most one text piece.
        let text = match pieces.into_iter().next() {
            Some(Piece::Text(text)) => text,
            _ => String::new(),
        };
        Ok(Node::Literal(Value::String(text)))
    }

    /// Reads a quoted string from its opening `"` into pieces (no empty text pieces). A key
    /// (`dots` given) refuses placeholders and records where its unescaped dots are.
    fn quoted(&mut self, mut dots: Option<&mut Vec<usize>>) -> Result<Vec<Piece>> {
        let is_key = dots.is_some();
        let open = self.pos;
        self.pos += 1;
        let mut pieces = Vec::new();
        let mut text = String::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 || (b == b'{' && self.at_placeholder()) {
                    break;
                }
                self.pos += 1;
            }
            // Stops are ASCII, so `start..pos` lies on character boundaries.
            let run = &self.src[start..self.pos];
            if let Some(dots) = dots.as_deref_mut() {
                dots.extend(run.match_indices('.').map(|(at, _)| text.len() + at));
            }
            text.push_str(run);
            match self.peek() {
                None => {
                    return Err(self.fail_at(
                        open,
                        "unclosed string: expected `\"` before the end of the template",
                    ))
                }
                Some(b'"') => {
                    self.pos += 1;
                    if !text.is_empty() {
                        pieces.push(Piece::Text(text));
                    }
                    return Ok(pieces);
                }
                Some(b'\\') => self.escape(&mut text)?,
                Some(b'{') if is_key => {
                    return Err(self.fail(
                        "placeholders are not allowed in keys: keys are fixed text \
                         (write `\\u007b{` for a literal `{{`)",
                    ));
                }
                Some(b'{') => {
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    let index = self.placeholder(true)?;
                    pieces.push(Piece::Path(index));
                }
                Some(b'\n' | b'\r') => {
                    return Err(self.fail("a string cannot contain a line break; write `\\n`"))
                }
                Some(b'\t') => return Err(self.fail("a string cannot contain a tab; write `\\t`")),
                Some(b) => {
                    return Err(self.fail(format!(
                        "a string cannot contain the control character U+{b:04X}; \
                         write `\\u{b:04x}`"
                    )))
                }
            }
        }
    }

    /// Decodes one escape sequence starting at `\`.
    fn escape(&mut self, text: &mut String) -> Result<()> {
        let at = self.pos;
        self.pos += 1;
        let decoded = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                let first = self.hex4(at)?;
                let c = match first {
                    0xD800..=0xDBFF => {
                        if !self.bytes[self.pos..].starts_with(b"\\u") {
                            return Err(self.unpaired(at, first));
                        }
                        self.pos += 2;
                        let second = self.hex4(self.pos - 2)?;
                        if !(0xDC00..=0xDFFF).contains(&second) {
                            return Err(self.unpaired(at, first));
                        }
                        0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(self.unpaired(at, first)),
                    _ => first,
                };
                text.push(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
                return Ok(());
            }
            _ => {
                let found = self.found();
                return Err(self.fail_at(
                    at,
                    format!(
                        "unknown escape: `\\` followed by {found}; valid escapes are \
                         \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX"
                    ),
                ));
            }
        };
        self.pos += 1;
        text.push(decoded);
        Ok(())
    }

    /// Four hex digits of a `\u` escape that started at `at`.
    fn hex4(&mut self, at: usize) -> Result<u32> {
        let digits = self.bytes.get(self.pos..self.pos + 4);
        let value = digits
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok());
        match value {
            Some(value) => {
                self.pos += 4;
                Ok(value)
            }
            None => Err(self.fail_at(at, "expected four hex digits after `\\u`")),
        }
    }

    fn unpaired(&self, at: usize, unit: u32) -> Failure {
        self.fail_at(
            at,
            format!(
                "unpaired surrogate `\\u{unit:04X}`: a character above U+FFFF is written as a \
                 high surrogate `\\uD800`–`\\uDBFF` followed by a low one `\\uDC00`–`\\uDFFF`"
            ),
        )
    }

    pub(super) fn number(&mut self) -> Result<Node> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.fail_at(start, "a number cannot have leading zeros"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.fail("expected a digit after `-`")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.fail("expected a digit after the decimal point"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.fail("expected a digit in the exponent"));
            }
            self.digits();
        }
        let text = &self.src[start..self.pos];
        match serde_json::from_str::<Number>(text) {
            Ok(number) => Ok(Node::Literal(Value::Number(number))),
            Err(_) => Err(self.fail_at(start, format!("the number {text} is out of range"))),
        }
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    /// A placeholder from its `{{`: registers its path and returns the path's index.
    pub(super) fn placeholder(&mut self, in_string: bool) -> Result<usize> {
        let open = self.pos;
        let start = open + 2;
        let mut end = start;
        loop {
            match self.bytes.get(end) {
                Some(b'}') if self.bytes.get(end + 1) == Some(&b'}') => break,
                Some(b'"') => return Err(self.unclosed(open)),
                Some(&b) if in_string && b < 0x20 => return Err(self.unclosed(open)),
                Some(_) => end += 1,
                None => return Err(self.unclosed(open)),
            }
        }
        self.pos = end + 2;
        let inner = &self.src[start..end];
        let trimmed = inner.trim_start_matches([' ', '\t', '\n', '\r']);
        let lead = inner.len() - trimmed.len();
        let trimmed = trimmed.trim_end_matches([' ', '\t', '\n', '\r']);
        if trimmed.is_empty() {
            return Err(self.fail_at(
                open,
                "empty placeholder: write a path between `{{` and `}}`",
            ));
        }
        let path = Path::parse(trimmed).map_err(|e| Failure {
            offset: start + lead + e.offset,
            message: format!("in the placeholder `{{{{{trimmed}}}}}`: {}", e.message),
        })?;
        self.paths.push(path);
        Ok(self.paths.len() - 1)
    }

    fn unclosed(&self, open: usize) -> Failure {
        self.fail_at(open, "unclosed placeholder: `{{` needs a matching `}}`")
    }
}
