//! Where in an input a value was refused, as data: a [`FieldPath`] such as `channels[2].url`
//! and a [`FieldError`] that pairs it with what was wrong. Front ends show these as they
//! need (the API as `path: message` text, the dashboard next to the form field), and never
//! parse the text back.

use std::fmt;

/// One step of a [`FieldPath`]: an object key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// The location of a value inside an input, written as a JSON path (`channels[2].url`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// The path of a top-level field.
    pub fn field(name: impl Into<String>) -> Self {
        Self(vec![Segment::Key(name.into())])
    }

    /// This path, one key deeper.
    #[must_use]
    pub fn key(mut self, name: impl Into<String>) -> Self {
        self.0.push(Segment::Key(name.into()));
        self
    }

    /// This path, one list index deeper.
    #[must_use]
    pub fn index(mut self, index: usize) -> Self {
        self.0.push(Segment::Index(index));
        self
    }

    /// Reads a path written as `a.b[2].c`. Text that is not such a path is one key.
    pub fn parse(text: &str) -> Self {
        let mut segments = Vec::new();
        for part in text.split('.') {
            let (name, mut rest) = match part.find('[') {
                Some(at) => part.split_at(at),
                None => (part, ""),
            };
            segments.push(Segment::Key(name.to_owned()));
            while let Some(inner) = rest.strip_prefix('[') {
                let Some((number, after)) = inner.split_once(']') else {
                    return Self(vec![Segment::Key(text.to_owned())]);
                };
                let Ok(index) = number.parse() else {
                    return Self(vec![Segment::Key(text.to_owned())]);
                };
                segments.push(Segment::Index(index));
                rest = after;
            }
            if !rest.is_empty() {
                return Self(vec![Segment::Key(text.to_owned())]);
            }
        }
        Self(segments)
    }

    /// The steps of the path, outermost first.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// The first key of the path (`channels` for `channels[2].url`).
    pub fn top(&self) -> Option<&str> {
        match self.0.first() {
            Some(Segment::Key(name)) => Some(name),
            _ => None,
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(name) if i == 0 => f.write_str(name)?,
                Segment::Key(name) => write!(f, ".{name}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A refused value: where it is and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: FieldPath,
    pub message: String,
}

impl FieldError {
    /// An error about the value at `path`.
    pub fn new(path: FieldPath, message: impl fmt::Display) -> Self {
        Self {
            path,
            message: message.to_string(),
        }
    }

    /// An error about the top-level field `name`.
    pub fn at(name: &str, message: impl fmt::Display) -> Self {
        Self::new(FieldPath::field(name), message)
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_as_json_paths_and_back() {
        let path = FieldPath::field("channels").index(2).key("url");
        assert_eq!(path.to_string(), "channels[2].url");
        assert_eq!(FieldPath::parse("channels[2].url"), path);
        assert_eq!(path.top(), Some("channels"));
        assert_eq!(
            FieldPath::parse("trigger.event").to_string(),
            "trigger.event"
        );
        assert_eq!(
            FieldError::new(path, "must be absolute").to_string(),
            "channels[2].url: must be absolute"
        );
    }
}
