//! Checks on JSON text that ingest keeps as received (a `RawValue`, never parsed into a
//! value). JSON's grammar lets through text that strict readers cannot turn into a value —
//! serde_json among them, which reads `data` when fanning out to distributions, and many
//! receivers' parsers: nesting deeper than their recursion limit, a string escaping half of a
//! UTF-16 surrogate pair (`"\ud800"`), a number beyond the range of a double (`1e400`).
//! [`check`] finds the first of these in one pass over the bytes, cheap next to the parse
//! ingest has already made (so the text is known to be valid JSON).

/// What makes valid JSON text unreadable for strict readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unreadable {
    /// Arrays and objects nest deeper than allowed.
    TooDeep,
    /// A string escapes half of a surrogate pair without the other half.
    LoneSurrogate,
    /// A number is too large for a double.
    NumberOutOfRange,
}

/// The first reason valid JSON text is unreadable, if any; at most `max_depth` levels of
/// arrays and objects are allowed.
pub(super) fn check(json: &str, max_depth: usize) -> Result<(), Unreadable> {
    let bytes = json.as_bytes();
    let (mut at, mut depth) = (0, 0usize);
    while let Some(&byte) = bytes.get(at) {
        at = match byte {
            b'"' => string_end(json, at + 1)?,
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Err(Unreadable::TooDeep);
                }
                at + 1
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                at + 1
            }
            b'-' | b'0'..=b'9' => number_end(json, at)?,
            _ => at + 1,
        };
    }
    Ok(())
}

/// Where the string whose content starts at `start` ends (after its closing quote), checking
/// that `\u` escapes pair their surrogates.
fn string_end(json: &str, start: usize) -> Result<usize, Unreadable> {
    let bytes = json.as_bytes();
    let (mut at, mut awaiting_low) = (start, false);
    while let Some(&byte) = bytes.get(at) {
        let unit = if byte == b'\\' && bytes.get(at + 1) == Some(&b'u') {
            json.get(at + 2..at + 6)
                .and_then(|hex| u16::from_str_radix(hex, 16).ok())
        } else {
            None
        };
        match unit {
            Some(0xD800..=0xDBFF) if !awaiting_low => awaiting_low = true,
            Some(0xDC00..=0xDFFF) if awaiting_low => awaiting_low = false,
            Some(0xD800..=0xDFFF) => return Err(Unreadable::LoneSurrogate),
            _ if awaiting_low => return Err(Unreadable::LoneSurrogate),
            _ => {}
        }
        at = match (unit, byte) {
            (Some(_), _) => at + 6,
            (None, b'\\') => at + 2,
            (None, b'"') => return Ok(at + 1),
            (None, _) => at + 1,
        };
    }
    Ok(at)
}

/// Where the number starting at `start` ends, checking it fits a double.
fn number_end(json: &str, start: usize) -> Result<usize, Unreadable> {
    let bytes = json.as_bytes();
    let len = bytes[start..]
        .iter()
        .position(|b| !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
        .unwrap_or(bytes.len() - start);
    let token = &json[start..start + len];
    // Only an exponent or a very long literal can leave a double's range.
    let may_overflow = len > 300 || token.contains(['e', 'E']);
    if may_overflow && token.parse::<f64>().map_or(true, f64::is_infinite) {
        return Err(Unreadable::NumberOutOfRange);
    }
    Ok(start + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_counts_arrays_and_objects_but_not_brackets_in_strings() {
        let text = r#"{"a":[1,{"b":[]}],"c":"[[[{{{\\\"[["}"#;
        assert_eq!(check(text, 4), Ok(()));
        assert_eq!(check(text, 3), Err(Unreadable::TooDeep));
        assert_eq!(check("1", 0), Ok(()));
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(check(&deep, 64), Err(Unreadable::TooDeep));
    }

    #[test]
    fn only_halves_of_surrogate_pairs_are_lone() {
        let whole = r#"{"a":"\ud83e\udd80 \u00e9 \\ud800 \n"}"#;
        assert_eq!(check(whole, 64), Ok(()));
        for lone in [
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\udc00\ud800"}"#,
            r#"{"a":"\ud800x"}"#,
            r#"{"a":"\ud800\ud800\udc00"}"#,
            r#"{"a":"\ud800\n"}"#,
            r#"{"\udfff":1}"#,
        ] {
            assert_eq!(check(lone, 64), Err(Unreadable::LoneSurrogate), "{lone}");
        }
    }

    #[test]
    fn numbers_beyond_a_double_are_out_of_range_and_tiny_ones_are_not() {
        let fine = r#"[1.7976931348623157e308,-1e308,1e-400,123456789012345678901234567890,0.5E+3,"1e999",true]"#;
        assert_eq!(check(fine, 64), Ok(()));
        let huge = format!("[{}]", "9".repeat(400));
        for number in [
            "1e309",
            "-2E+400",
            "66666666666666666666E66610",
            huge.as_str(),
        ] {
            let text = format!(r#"{{"a":[{number}]}}"#);
            assert_eq!(
                check(&text, 64),
                Err(Unreadable::NumberOutOfRange),
                "{number}"
            );
        }
    }
}
