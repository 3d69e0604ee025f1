//! The key tree of an event type's `data`, and the path language used to ask it questions.
//!
//! A path names a value inside `data`: keys joined by dots (`customer.name`), with array
//! elements written either as a numeric segment or in brackets (`order.items.0.price`,
//! `order.items[0].price`); `[]` stands for "any element" (`order.items[].price`). A path that
//! stops at an array (`order.items`) or at an object is valid too. Below an *open* node (a
//! free-form object such as `metadata`, a map, or a type whose shape is unknown) every path is
//! valid, since the schema does not say which keys the value has.
//!
//! [`KeyNode::paths`] lists the valid paths in that same language: an array contributes its own
//! path, then `path[]` for its element and `path[].key` for the element's keys; an open node
//! contributes `path.*`.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One node of a key tree: the keys an object has, the element of an array, or a scalar.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyNode {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(default, skip_serializing_if = "Keys::is_empty")]
    keys: Keys,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    items: Option<Box<KeyNode>>,
    #[serde(default, skip_serializing_if = "is_false")]
    open: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recursive: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    from_example: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// What a valid path leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathTarget<'a> {
    /// A node the schema describes.
    Node(&'a KeyNode),
    /// Somewhere below an open node: valid, but nothing more is known.
    BelowOpen,
}

impl KeyNode {
    /// The JSON type(s) of the value (`"object"`, `"string"`, `"object|null"`, `"any"`…), if
    /// the schema says.
    pub fn kind(&self) -> Option<&str> {
        self.kind.as_deref()
    }

    /// The known keys of an object, in schema order.
    pub fn keys(&self) -> impl Iterator<Item = (&str, &KeyNode)> {
        self.keys.0.iter().map(|(name, node)| (name.as_str(), node))
    }

    /// One known key of an object.
    pub fn key(&self, name: &str) -> Option<&KeyNode> {
        self.keys
            .0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, node)| node)
    }

    /// The element of an array.
    pub fn items(&self) -> Option<&KeyNode> {
        self.items.as_deref()
    }

    /// Whether any key below this node is valid (free-form object, map, recursion, unknown).
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Whether this key is only known from an example payload, not from the spec.
    pub fn is_from_example(&self) -> bool {
        self.from_example
    }

    /// This node without the keys `drop` names (at this level only).
    pub fn without_keys(&self, drop: impl Fn(&str) -> bool) -> KeyNode {
        let mut node = self.clone();
        node.keys.0.retain(|(name, _)| !drop(name));
        node
    }

    /// Resolves a path (see the module docs); `None` if it is malformed or not in the tree.
    pub fn resolve(&self, path: &str) -> Option<PathTarget<'_>> {
        let segments = parse(path)?;
        let mut node = self;
        for segment in segments {
            let next = match segment {
                Segment::Key(name) => node.key(name),
                Segment::Index => node.items(),
                Segment::Number(text) => node.key(text).or_else(|| node.items()),
            };
            node = match next {
                Some(next) => next,
                None if node.open => return Some(PathTarget::BelowOpen),
                None => return None,
            };
        }
        Some(PathTarget::Node(node))
    }

    /// Every valid path below this node, depth first in schema order (see the module docs).
    pub fn paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect("", &mut out);
        out
    }

    fn collect(&self, prefix: &str, out: &mut Vec<String>) {
        for (name, child) in self.keys() {
            let path = if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}.{name}")
            };
            out.push(path.clone());
            child.collect(&path, out);
        }
        if let Some(items) = self.items() {
            let path = format!("{prefix}[]");
            out.push(path.clone());
            items.collect(&path, out);
        }
        if self.open {
            out.push(if prefix.is_empty() {
                "*".to_owned()
            } else {
                format!("{prefix}.*")
            });
        }
    }

    /// Up to `limit` valid paths nearest to `path` by edit distance (array indexes count as
    /// `[]`), nearest first; paths too far away to be what was meant are left out.
    pub fn suggest(&self, path: &str, limit: usize) -> Vec<String> {
        let wanted = normalize(path);
        let max_distance = (wanted.chars().count() / 2).max(3);
        let mut scored: Vec<(usize, usize, String)> = self
            .paths()
            .into_iter()
            .filter(|candidate| !candidate.ends_with('*'))
            .enumerate()
            .map(|(order, candidate)| (levenshtein(&wanted, &candidate), order, candidate))
            .filter(|(distance, _, _)| *distance <= max_distance)
            .collect();
        scored.sort_unstable_by_key(|(distance, order, _)| (*distance, *order));
        scored
            .into_iter()
            .take(limit)
            .map(|(_, _, path)| path)
            .collect()
    }
}

/// One step of a parsed path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment<'a> {
    Key(&'a str),
    /// `[n]` or `[]`: an element of an array.
    Index,
    /// A numeric dotted segment: a key of that name if there is one, else an array element.
    Number(&'a str),
}

/// Splits a path into segments; `None` if it is malformed (empty segment, bad brackets).
fn parse(path: &str) -> Option<Vec<Segment<'_>>> {
    if path.is_empty() {
        return None;
    }
    let mut segments = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(at) => part.split_at(at),
            None => (part, ""),
        };
        if name.is_empty() {
            return None;
        }
        if name.bytes().all(|b| b.is_ascii_digit()) {
            segments.push(Segment::Number(name));
        } else {
            segments.push(Segment::Key(name));
        }
        while !rest.is_empty() {
            let close = rest.find(']')?;
            let index = rest.get(1..close)?;
            if !index.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            segments.push(Segment::Index);
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return None;
            }
        }
    }
    Some(segments)
}

/// The path in the spelling of [`KeyNode::paths`]: indexes become `[]`.
fn normalize(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, part) in path.split('.').enumerate() {
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str("[]");
            continue;
        }
        if i > 0 {
            out.push('.');
        }
        let mut chars = part.chars().peekable();
        while let Some(c) = chars.next() {
            out.push(c);
            if c == '[' {
                while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                    chars.next();
                }
            }
        }
    }
    out
}

/// Edit distance (insertions, deletions, substitutions) between two strings, by characters.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// The keys of an object node, in the order the generator wrote them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Keys(Vec<(String, KeyNode)>);

impl Keys {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Keys {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, node) in &self.0 {
            map.serialize_entry(name, node)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeysVisitor;

        impl<'de> Visitor<'de> for KeysVisitor {
            type Value = Keys;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of key names to key nodes")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry::<String, KeyNode>()? {
                    keys.push(entry);
                }
                Ok(Keys(keys))
            }
        }

        deserializer.deserialize_map(KeysVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> KeyNode {
        serde_json::from_value(serde_json::json!({
            "type": "object",
            "keys": {
                "customer": {"type": "object", "keys": {
                    "name": {"type": "string"},
                    "metadata": {"type": "object", "open": true}
                }},
                "order": {"type": "object", "keys": {
                    "items": {"type": "array", "items": {"type": "object", "keys": {
                        "price": {"type": "integer"}
                    }}},
                    "grid": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}}
                }},
                "7": {"type": "string"}
            }
        }))
        .expect("test tree")
    }

    #[test]
    fn parse_accepts_both_index_spellings_and_rejects_malformed_paths() {
        assert_eq!(
            parse("a.items[0][]"),
            Some(vec![
                Segment::Key("a"),
                Segment::Key("items"),
                Segment::Index,
                Segment::Index
            ])
        );
        assert_eq!(
            parse("a.0"),
            Some(vec![Segment::Key("a"), Segment::Number("0")])
        );
        for bad in [
            "", ".a", "a.", "a..b", "a[", "a[x]", "a[0]b", "[0]", "a.[0]",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn resolve_walks_keys_arrays_and_open_nodes() {
        let tree = tree();
        assert!(matches!(
            tree.resolve("customer.name"),
            Some(PathTarget::Node(_))
        ));
        assert!(matches!(
            tree.resolve("order.items"),
            Some(PathTarget::Node(_))
        ));
        assert!(matches!(
            tree.resolve("order.items.3.price"),
            Some(PathTarget::Node(_))
        ));
        assert!(matches!(
            tree.resolve("order.grid[1][2]"),
            Some(PathTarget::Node(_))
        ));
        assert!(matches!(
            tree.resolve("order.grid.1.2"),
            Some(PathTarget::Node(_))
        ));
        assert_eq!(
            tree.resolve("customer.metadata.a.b"),
            Some(PathTarget::BelowOpen)
        );
        assert!(matches!(tree.resolve("7"), Some(PathTarget::Node(_))));
        assert_eq!(tree.resolve("order.items.price"), None);
        assert_eq!(tree.resolve("customer.name.first"), None);
        assert_eq!(tree.resolve("customer[0]"), None);
    }

    #[test]
    fn every_listed_path_resolves() {
        let tree = tree();
        let paths = tree.paths();
        assert!(paths.contains(&"order.items[].price".to_owned()));
        assert!(paths.contains(&"order.grid[][]".to_owned()));
        assert!(paths.contains(&"customer.metadata.*".to_owned()));
        for path in &paths {
            assert!(tree.resolve(path).is_some(), "{path}");
        }
    }

    #[test]
    fn suggestions_are_the_nearest_paths() {
        let tree = tree();
        assert_eq!(tree.suggest("customer.nmae", 3)[0], "customer.name");
        assert_eq!(
            tree.suggest("order.items[4].prise", 3)[0],
            "order.items[].price"
        );
        assert_eq!(
            tree.suggest("order.items.0.pric", 1),
            vec!["order.items[].price"]
        );
        assert!(tree.suggest("zzzzzzzzzzzzzzzzzzzz", 3).is_empty());
    }

    #[test]
    fn levenshtein_counts_edits() {
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("same", "same"), 0);
    }
}
