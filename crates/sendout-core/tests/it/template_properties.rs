//! Properties of the template language, for any data and any valid template:
//! - rendering yields valid JSON, and the text renderer agrees byte for byte with serializing
//!   the value renderer's output;
//! - the output has exactly the template's shape: the same keys in the same order, the same
//!   array lengths, a string at every quoted position (holding exactly the expected text), the
//!   looked-up value (or `null`) at every unquoted placeholder — so data cannot inject
//!   structure;
//! - plain JSON parses as a template that renders to itself, whatever its escapes;
//! - no input makes the parsers panic, and errors point inside the text;
//! - an attribute selection is refused exactly when two keys clash, and otherwise puts each
//!   looked-up value (or `null`) under its key.

use proptest::prelude::*;
use sendout_core::template::{Attribute, AttributeSelection, Path, Template};
use serde_json::{Map, Value};

/// Keys used both in data and in paths, so lookups hit as often as they miss.
const VOCABULARY: &[&str] = &["a", "b", "c", "0", "1", "sign-up", "é"];

/// Strings that try hard to break out: quotes, backslashes, braces, control characters, any
/// Unicode scalar.
fn tricky_string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("{{".to_owned()),
        Just("}}".to_owned()),
        Just("\",\"x\":[".to_owned()),
        (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap_or('?').to_string()),
        any::<char>().prop_map(String::from),
        "[a-z ]{0,5}",
    ];
    prop::collection::vec(piece, 0..6).prop_map(|pieces| pieces.concat())
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(VOCABULARY).prop_map(str::to_owned),
        1 => tricky_string(),
    ]
}

/// Numbers that survive a text round trip exactly (serde_json's default float parsing may be
/// off by one unit in the last place for arbitrary floats).
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1_000_000i64..1_000_000).prop_map(|n| Value::from(n as f64 / 64.0)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        tricky_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn data() -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), json_value()), 0..6)
        .prop_map(|members| Value::Object(members.into_iter().collect()))
}

/// A path as generated: segments, whether each is written in brackets, and padding inside
/// the braces.
#[derive(Debug, Clone)]
struct PathSpec {
    segments: Vec<(String, bool)>,
    pad: String,
}

impl PathSpec {
    fn text(&self) -> String {
        let mut text = String::new();
        for (i, (segment, bracketed)) in self.segments.iter().enumerate() {
            if *bracketed {
                text.push_str(&format!("[{segment}]"));
            } else {
                if i > 0 {
                    text.push('.');
                }
                text.push_str(segment);
            }
        }
        text
    }

    /// An independent walk of the path, by the documented rules.
    fn lookup<'v>(&self, data: &'v Value) -> Option<&'v Value> {
        let mut value = data;
        for (segment, bracketed) in &self.segments {
            value = match value {
                Value::Object(map) if !bracketed => map.get(segment)?,
                Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(value)
    }
}

fn path_spec(in_string: bool) -> impl Strategy<Value = PathSpec> {
    let first = prop::sample::select(VOCABULARY).prop_map(|k| (k.to_owned(), false));
    let rest = prop_oneof![
        prop::sample::select(VOCABULARY).prop_map(|k| (k.to_owned(), false)),
        (0usize..3, any::<bool>()).prop_map(|(i, bracketed)| (i.to_string(), bracketed)),
    ];
    let pads: &'static [&'static str] = if in_string {
        &["", " ", "  "]
    } else {
        &["", " ", "\n\t", "\r\n "]
    };
    (
        first,
        prop::collection::vec(rest, 0..3),
        prop::sample::select(pads),
    )
        .prop_map(|(first, rest, pad)| {
            let mut segments = vec![first];
            segments.extend(rest);
            PathSpec {
                segments,
                pad: pad.to_owned(),
            }
        })
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Hole(PathSpec),
}

/// A valid template, as a tree that knows its own shape.
#[derive(Debug, Clone)]
enum Model {
    /// null, a boolean, a number or a string without placeholders.
    Literal(Value),
    Text(Vec<Part>),
    Hole(PathSpec),
    Array(Vec<Model>),
    Object(Vec<(String, Model)>),
}

fn model() -> impl Strategy<Value = Model> {
    let part = prop_oneof![
        tricky_string().prop_map(Part::Text),
        path_spec(true).prop_map(Part::Hole),
    ];
    let leaf = prop_oneof![
        Just(Model::Literal(Value::Null)),
        any::<bool>().prop_map(|b| Model::Literal(Value::Bool(b))),
        number().prop_map(Model::Literal),
        tricky_string().prop_map(|s| Model::Literal(Value::String(s))),
        prop::collection::vec(part, 0..5).prop_map(Model::Text),
        path_spec(false).prop_map(Model::Hole),
    ];
    leaf.prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Model::Array),
            prop::collection::vec((key(), inner), 0..5).prop_map(|members| {
                let mut unique: Vec<(String, Model)> = Vec::new();
                for (key, value) in members {
                    if !unique.iter().any(|(k, _)| *k == key) {
                        unique.push((key, value));
                    }
                }
                Model::Object(unique)
            }),
        ]
    })
}

/// How to print a template: whitespace between tokens, and whether to write every non-ASCII
/// character (and `/`) as an escape.
#[derive(Debug, Clone, Copy)]
struct Style {
    spaced: bool,
    ascii: bool,
}

/// Writes text as string content. `{` is always escaped, since `{{` opens a placeholder.
fn escape(text: &str, style: Style, out: &mut String) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '{' => out.push_str("\\u007b"),
            // A `.` written as such in a key builds nested objects.
            '.' => out.push_str("\\u002e"),
            '\n' => out.push_str("\\n"),
            '/' if style.ascii => out.push_str("\\/"),
            c if c.is_control() || (style.ascii && !c.is_ascii()) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
            c => out.push(c),
        }
    }
}

fn print(model: &Model, style: Style, out: &mut String) {
    let gap = if style.spaced { "\n  " } else { "" };
    match model {
        Model::Literal(Value::String(text)) => {
            out.push('"');
            escape(text, style, out);
            out.push('"');
        }
        Model::Literal(value) => out.push_str(&value.to_string()),
        Model::Text(parts) => {
            out.push('"');
            for part in parts {
                match part {
                    Part::Text(text) => escape(text, style, out),
                    Part::Hole(path) => hole(path, out),
                }
            }
            out.push('"');
        }
        Model::Hole(path) => hole(path, out),
        Model::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(gap);
                print(item, style, out);
            }
            out.push_str(gap);
            out.push(']');
        }
        Model::Object(members) => {
            out.push('{');
            for (i, (key, value)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(gap);
                out.push('"');
                escape(key, style, out);
                out.push_str(if style.spaced { "\" : " } else { "\":" });
                print(value, style, out);
            }
            out.push_str(gap);
            out.push('}');
        }
    }
}

fn hole(path: &PathSpec, out: &mut String) {
    out.push_str(&format!(
        "{{{{{pad}{}{pad}}}}}",
        path.text(),
        pad = path.pad
    ));
}

/// The text a value contributes inside a string, by the documented rule.
fn interpolation(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => serde_json::to_string(other).expect("serializable"),
    }
}

/// Asserts that `rendered` has exactly the model's shape and values.
fn check(model: &Model, rendered: &Value, data: &Value) -> Result<(), TestCaseError> {
    match model {
        Model::Literal(value) => prop_assert_eq!(rendered, value),
        Model::Text(parts) => {
            let expected: String = parts
                .iter()
                .map(|part| match part {
                    Part::Text(text) => text.clone(),
                    Part::Hole(path) => interpolation(path.lookup(data)),
                })
                .collect();
            prop_assert_eq!(rendered, &Value::String(expected));
        }
        Model::Hole(path) => prop_assert_eq!(rendered, path.lookup(data).unwrap_or(&Value::Null)),
        Model::Array(items) => {
            let rendered = rendered.as_array();
            prop_assert!(rendered.is_some_and(|r| r.len() == items.len()));
            for (item, value) in items.iter().zip(rendered.into_iter().flatten()) {
                check(item, value, data)?;
            }
        }
        Model::Object(members) => {
            let rendered = rendered.as_object();
            prop_assert!(rendered.is_some());
            let rendered = rendered.into_iter().flatten().collect::<Vec<_>>();
            let keys: Vec<&String> = rendered.iter().map(|(k, _)| *k).collect();
            let expected: Vec<&String> = members.iter().map(|(k, _)| k).collect();
            prop_assert_eq!(keys, expected);
            for ((_, model), (_, value)) in members.iter().zip(rendered) {
                check(model, value, data)?;
            }
        }
    }
    Ok(())
}

fn style() -> impl Strategy<Value = Style> {
    (any::<bool>(), any::<bool>()).prop_map(|(spaced, ascii)| Style { spaced, ascii })
}

proptest! {
    #[test]
    fn rendering_any_data_keeps_the_templates_shape(
        model in model(),
        style in style(),
        data in data(),
    ) {
        let mut text = String::new();
        print(&model, style, &mut text);
        let template = Template::parse(&text)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;

        let value = template.render(&data);
        check(&model, &value, &data)?;

        let rendered = template.render_to_string(&data);
        let reparsed: Value = serde_json::from_str(&rendered)
            .map_err(|e| TestCaseError::fail(format!("invalid JSON ({e}): {rendered}")))?;
        prop_assert_eq!(&reparsed, &value);
        prop_assert_eq!(&rendered, &serde_json::to_string(&value).expect("serializable"));
        prop_assert!(!rendered.contains('\n'));
    }

    #[test]
    fn plain_json_renders_to_itself(value in json_value(), style in style()) {
        let mut text = String::new();
        print(&literal_model(&value), style, &mut text);
        let template = Template::parse(&text)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(template.paths().count(), 0);
        prop_assert_eq!(template.render(&Value::Null), value.clone());
        prop_assert_eq!(template.render_to_string(&Value::Null), value.to_string());
    }

    #[test]
    fn any_text_parses_or_fails_inside_the_text(text in any::<String>()) {
        check_error_position(&text)?;
    }

    #[test]
    fn damaged_templates_fail_inside_the_text(
        model in model(),
        cut in any::<prop::sample::Index>(),
        insert in prop::sample::select(&["{", "}", "[", "]", "\"", ",", ":", "{{", "}}", "\\", "x", "\n"][..]),
    ) {
        let mut text = String::new();
        print(&model, Style { spaced: true, ascii: false }, &mut text);
        let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
        let at = boundaries[cut.index(boundaries.len())];
        let mut damaged = text.clone();
        damaged.insert_str(at, insert);
        check_error_position(&damaged)?;
        check_error_position(&text[..at])?;
    }

    #[test]
    fn any_path_text_parses_or_fails_without_panicking(text in "[a-z0-9.\\[\\] é{}]{0,12}") {
        if let Ok(path) = Path::parse(&text) {
            prop_assert_eq!(path.to_string(), text);
        }
    }
}

/// Plain JSON as a model with no placeholders.
fn literal_model(value: &Value) -> Model {
    match value {
        Value::Array(items) => Model::Array(items.iter().map(literal_model).collect()),
        Value::Object(map) => Model::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), literal_model(v)))
                .collect(),
        ),
        scalar => Model::Literal(scalar.clone()),
    }
}

fn check_error_position(text: &str) -> Result<(), TestCaseError> {
    if let Err(error) = Template::parse(text) {
        let lines: Vec<&str> = text.split('\n').collect();
        prop_assert!(error.line >= 1 && error.line <= lines.len(), "{error}");
        let line = lines[error.line - 1];
        prop_assert!(
            error.column >= 1 && error.column <= line.chars().count() + 1,
            "{error}"
        );
        prop_assert!(!error.message.is_empty());
    }
    Ok(())
}

fn attribute_key() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCABULARY), 1..3).prop_map(|parts| parts.join("."))
}

/// Whether one key equals another or is a prefix of it, segment-wise.
fn keys_clash(keys: &[Vec<String>]) -> bool {
    keys.iter().enumerate().any(|(i, a)| {
        keys[..i].iter().any(|b| {
            let shorter = a.len().min(b.len());
            a[..shorter] == b[..shorter]
        })
    })
}

proptest! {
    #[test]
    fn attribute_selections_put_each_value_under_its_key(
        specs in prop::collection::vec((path_spec(true), prop::option::of(attribute_key())), 1..6),
        data in data(),
    ) {
        let attributes: Vec<Attribute> = specs
            .iter()
            .map(|(spec, key)| Attribute {
                path: Path::parse(&spec.text()).expect("generated paths are valid"),
                key: key.clone(),
            })
            .collect();
        let keys: Vec<Vec<String>> = attributes.iter().map(Attribute::key_segments).collect();
        match AttributeSelection::new(attributes) {
            Err(error) => prop_assert!(keys_clash(&keys), "refused without a clash: {}", error),
            Ok(selection) => {
                prop_assert!(!keys_clash(&keys));
                let value = selection.render(&data);
                let text = selection.render_to_string(&data);
                prop_assert_eq!(&text, &serde_json::to_string(&value).expect("serializable"));
                for ((spec, _), key) in specs.iter().zip(&keys) {
                    let found = key
                        .iter()
                        .try_fold(&value, |at, segment| at.get(segment.as_str()));
                    prop_assert_eq!(found, Some(spec.lookup(&data).unwrap_or(&Value::Null)));
                }
            }
        }
    }
}
