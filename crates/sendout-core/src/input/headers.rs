//! Custom headers of webhooks and distribution channels: names, values, and the set of them
//! (PRODUCT §3 "custom headers of the webhook or channel").
//!
//! Names are case-insensitive on the wire, so `X-Api-Key` is accepted and stored as
//! `x-api-key`; names sendout sets itself, or that would break the HTTP exchange, are refused.
//! Values are trimmed of surrounding spaces and tabs (HTTP drops them anyway, so what is stored
//! is what receivers see), must not be empty, and never appear in `Debug` or error messages:
//! they are often API keys.
//!
//! Every value is a secret to the audit log unless its webhook or channel names the header in
//! [`PublicHeaders`] (issue 16 item 7): the rule follows what the target says, not a list of
//! names that look like credentials.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::{shown, InputError};

/// The longest custom header name, in characters.
pub const MAX_HEADER_NAME_LEN: usize = 64;
/// The longest custom header value, in bytes.
pub const MAX_HEADER_VALUE_LEN: usize = 1024;
/// The most custom headers a webhook or channel may have.
pub const MAX_CUSTOM_HEADERS: usize = 20;

/// Header names sendout sets itself, or that only the HTTP client may set.
pub const RESERVED_HEADERS: &[&str] = &[
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "expect",
    "host",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
];
/// Prefixes of reserved header names (Standard Webhooks' headers, our signature, proxies').
pub const RESERVED_PREFIXES: &[&str] = &["webhook-", "x-voucherify-signature", "proxy-"];

/// A custom header's name: lowercase ASCII letters, digits and inner dashes, 1–64
/// characters, not reserved. Upper-case input is lowercased.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HeaderName(String);

impl HeaderName {
    /// Parses a header name, lowercasing it.
    pub fn parse(text: &str) -> Result<Self, InputError> {
        let name = text.trim().to_ascii_lowercase();
        let refuse = |reason| InputError::HeaderName {
            name: shown(text.trim()),
            reason,
        };
        if name.is_empty() {
            return Err(refuse("it is empty"));
        }
        if name.len() > MAX_HEADER_NAME_LEN {
            return Err(refuse("it is longer than 64 characters"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(refuse("only letters, digits and dashes are allowed"));
        }
        if name.starts_with('-') || name.ends_with('-') {
            return Err(refuse("it must not start or end with a dash"));
        }
        let reserved = RESERVED_HEADERS.contains(&name.as_str())
            || RESERVED_PREFIXES.iter().any(|p| name.starts_with(p));
        if reserved {
            return Err(InputError::ReservedHeader { name });
        }
        Ok(Self(name))
    }

    /// The lowercase name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

super::text_serde!(HeaderName);

/// A custom header's value: visible ASCII, spaces and tabs, trimmed, 1–1024 bytes. Its
/// `Debug` is redacted: values are often API keys.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HeaderValue(String);

impl HeaderValue {
    /// Parses a header value, trimming surrounding spaces and tabs.
    pub fn parse(text: &str) -> Result<Self, InputError> {
        Self::parse_for("", text)
    }

    fn parse_for(name: &str, text: &str) -> Result<Self, InputError> {
        let refuse = |reason| InputError::HeaderValue {
            name: shown(name),
            reason,
        };
        let value = text.trim_matches([' ', '\t']);
        if value.is_empty() {
            return Err(refuse("it is empty"));
        }
        // Counted as given, surrounding blanks included, as the API's document states it.
        if text.len() > MAX_HEADER_VALUE_LEN {
            return Err(refuse("it is longer than 1024 bytes"));
        }
        if !value
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
        {
            return Err(refuse(
                "only visible ASCII characters, spaces and tabs are allowed (no line breaks)",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The value as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HeaderValue(<redacted>)")
    }
}

super::text_serde!(HeaderValue);

/// The custom headers of a webhook or channel: at most 20, unique names, in name order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomHeaders(BTreeMap<HeaderName, HeaderValue>);

impl CustomHeaders {
    /// Parses name/value pairs, refusing invalid ones and names given twice in any case.
    pub fn parse<I, N, V>(pairs: I) -> Result<Self, InputError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let pairs: Vec<(N, V)> = pairs.into_iter().collect();
        if pairs.len() > MAX_CUSTOM_HEADERS {
            return Err(InputError::TooManyHeaders { count: pairs.len() });
        }
        let mut headers = BTreeMap::new();
        for (name, value) in &pairs {
            let name = HeaderName::parse(name.as_ref())?;
            let value = HeaderValue::parse_for(name.as_str(), value.as_ref())?;
            if headers.contains_key(&name) {
                return Err(InputError::DuplicateHeader { name: name.0 });
            }
            headers.insert(name, value);
        }
        Ok(Self(headers))
    }

    /// The headers in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.0.iter()
    }

    /// The value of a header, by its name in any case.
    pub fn get(&self, name: &str) -> Option<&HeaderValue> {
        self.0.get(&HeaderName(name.to_ascii_lowercase()))
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for CustomHeaders {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter())
    }
}

impl<'de> Deserialize<'de> for CustomHeaders {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Collects every pair, so a key given twice is refused rather than overwritten.
        struct Pairs;

        impl<'de> Visitor<'de> for Pairs {
            type Value = Vec<(String, String)>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of header names to string values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(pairs)
            }
        }

        let pairs = deserializer.deserialize_map(Pairs)?;
        Self::parse(pairs).map_err(de::Error::custom)
    }
}

/// The custom headers of a webhook or channel whose values are not secret, so the audit log
/// may show them (`public_headers: ["x-tenant"]`); every other value shows as `[redacted]`.
/// Names are read in any case and kept lowercase, once each, at most [`MAX_CUSTOM_HEADERS`];
/// each must name one of the target's custom headers ([`PublicHeaders::check_among`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicHeaders(BTreeSet<HeaderName>);

impl PublicHeaders {
    /// Parses header names; a name given twice (in any case) counts once.
    pub fn parse<I, S>(names: I) -> Result<Self, InputError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names: Vec<S> = names.into_iter().collect();
        if names.len() > MAX_CUSTOM_HEADERS {
            return Err(InputError::TooManyPublicHeaders { count: names.len() });
        }
        names
            .iter()
            .map(|name| HeaderName::parse(name.as_ref()))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Refuses a name that is not among `headers` (the target's custom header names,
    /// lowercase): marking a header that is not sent is surely a mistake.
    pub fn check_among<'a>(
        &self,
        headers: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), InputError> {
        let headers: BTreeSet<&str> = headers.into_iter().collect();
        match self.0.iter().find(|name| !headers.contains(name.as_str())) {
            Some(name) => Err(InputError::UnknownPublicHeader {
                name: name.as_str().to_owned(),
            }),
            None => Ok(()),
        }
    }

    /// These names less those not among `headers` (for an update that changes the headers
    /// and leaves the marking as it was: a header removed stops being public).
    #[must_use]
    pub fn retained_among<'a>(mut self, headers: impl IntoIterator<Item = &'a str>) -> Self {
        let headers: BTreeSet<&str> = headers.into_iter().collect();
        self.0.retain(|name| headers.contains(name.as_str()));
        self
    }

    /// Whether the header of this name (any case) is public.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(&HeaderName(name.to_ascii_lowercase()))
    }

    /// The names, in order.
    pub fn iter(&self) -> impl Iterator<Item = &HeaderName> {
        self.0.iter()
    }

    /// Whether no header is public.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for PublicHeaders {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

impl<'de> Deserialize<'de> for PublicHeaders {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        Self::parse(names).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_lowercased_and_checked() {
        assert_eq!(
            HeaderName::parse("X-Api-Key").map(|n| n.to_string()),
            Ok("x-api-key".into())
        );
        assert_eq!(
            HeaderName::parse("authorization").map(|n| n.to_string()),
            Ok("authorization".into())
        );
        assert!(HeaderName::parse(&"a".repeat(64)).is_ok());
        for name in [
            "",
            "-x",
            "x-",
            "x_api_key",
            "x api",
            "x:y",
            "ä",
            &"a".repeat(65),
        ] {
            assert!(
                matches!(HeaderName::parse(name), Err(InputError::HeaderName { .. })),
                "{name:?}"
            );
        }
    }

    #[test]
    fn reserved_header_names_are_refused_in_any_case() {
        for name in [
            "Content-Type",
            "content-length",
            "HOST",
            "user-agent",
            "x-voucherify-signature",
            "X-Voucherify-Signature-2",
            "webhook-id",
            "Webhook-Signature",
            "webhook-anything",
            "transfer-encoding",
            "connection",
            "te",
            "upgrade",
            "keep-alive",
            "proxy-authorization",
            "trailer",
            "expect",
        ] {
            assert_eq!(
                HeaderName::parse(name),
                Err(InputError::ReservedHeader {
                    name: name.to_ascii_lowercase()
                }),
                "{name}"
            );
        }
        assert!(HeaderName::parse("x-webhook-id").is_ok());
        assert!(HeaderName::parse("tea").is_ok());
    }

    #[test]
    fn header_values_are_trimmed_visible_ascii() {
        assert_eq!(
            HeaderValue::parse("  Bearer abc\t").map(|v| v.as_str().to_owned()),
            Ok("Bearer abc".into())
        );
        assert!(HeaderValue::parse("a\tb ~!").is_ok());
        assert!(HeaderValue::parse(&"v".repeat(1024)).is_ok());
        let error = HeaderValue::parse("a\nb").expect_err("invalid").to_string();
        assert!(
            error.starts_with("the header value is invalid: only visible ASCII"),
            "{error}"
        );
        for value in [
            "",
            "   ",
            "a\r\nx-evil: 1",
            "a\nb",
            "a\0b",
            "caf\u{e9}",
            "\u{7f}",
            &"v".repeat(1025),
        ] {
            assert!(
                matches!(
                    HeaderValue::parse(value),
                    Err(InputError::HeaderValue { .. })
                ),
                "{value:?}"
            );
        }
    }

    #[test]
    fn header_values_never_show_in_debug_or_errors() {
        let value = HeaderValue::parse("sk_live_secret").expect("valid");
        assert_eq!(format!("{value:?}"), "HeaderValue(<redacted>)");
        let error = CustomHeaders::parse([("X-Key", "sk_live_secret\n")]).expect_err("invalid");
        assert!(error.to_string().contains("x-key") && !error.to_string().contains("sk_live"));
        let headers = CustomHeaders::parse([("x-key", "sk_live_secret")]).expect("valid");
        assert!(!format!("{headers:?}").contains("sk_live"));
    }

    #[test]
    fn custom_headers_refuse_duplicates_and_too_many() {
        let headers = CustomHeaders::parse([("X-B", "2"), ("x-a", "1")]).expect("valid");
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x-a", "x-b"]);
        assert_eq!(headers.get("X-A").map(HeaderValue::as_str), Some("1"));
        assert_eq!(
            CustomHeaders::parse([("X-Key", "1"), ("x-key", "2")]),
            Err(InputError::DuplicateHeader {
                name: "x-key".into()
            })
        );
        let many: Vec<(String, String)> =
            (0..21).map(|i| (format!("x-h{i}"), "v".into())).collect();
        assert_eq!(
            CustomHeaders::parse(many.clone()),
            Err(InputError::TooManyHeaders { count: 21 })
        );
        assert_eq!(
            CustomHeaders::parse(many.into_iter().take(20)).map(|h| h.len()),
            Ok(20)
        );
    }

    #[test]
    fn custom_headers_are_a_json_object() {
        let headers: CustomHeaders =
            serde_json::from_str(r#"{"X-Crm-Key":"abc","x-b":" 1 "}"#).expect("valid");
        assert_eq!(
            serde_json::to_string(&headers).ok().as_deref(),
            Some(r#"{"x-b":"1","x-crm-key":"abc"}"#)
        );
        for json in [
            r#"{"a":"1","a":"2"}"#,
            r#"{"host":"x"}"#,
            r#"{"a":1}"#,
            r#"["a"]"#,
        ] {
            assert!(
                serde_json::from_str::<CustomHeaders>(json).is_err(),
                "{json}"
            );
        }
        assert_eq!(
            serde_json::from_str::<CustomHeaders>("{}")
                .map(|h| h.is_empty())
                .ok(),
            Some(true)
        );
    }

    #[test]
    fn public_headers_are_names_in_any_case_once_each_among_the_headers() {
        let public = PublicHeaders::parse(["X-Tenant", "x-tenant", "x-shop"]).expect("valid");
        let names: Vec<&str> = public.iter().map(HeaderName::as_str).collect();
        assert_eq!(names, ["x-shop", "x-tenant"]);
        assert!(public.contains("X-TENANT") && !public.contains("x-key"));
        assert_eq!(public.check_among(["x-shop", "x-tenant", "x-key"]), Ok(()));
        assert_eq!(
            public.check_among(["x-tenant"]),
            Err(InputError::UnknownPublicHeader {
                name: "x-shop".into()
            })
        );
        assert_eq!(
            public.clone().retained_among(["x-tenant", "x-key"]),
            PublicHeaders::parse(["x-tenant"]).expect("valid")
        );
        assert!(matches!(
            PublicHeaders::parse(["x_bad"]),
            Err(InputError::HeaderName { .. })
        ));
        let many: Vec<String> = (0..21).map(|i| format!("x-h{i}")).collect();
        assert_eq!(
            PublicHeaders::parse(&many),
            Err(InputError::TooManyPublicHeaders { count: 21 })
        );
        let json = serde_json::to_string(&public).expect("serializable");
        assert_eq!(json, r#"["x-shop","x-tenant"]"#);
        assert_eq!(
            serde_json::from_str::<PublicHeaders>(&json).ok(),
            Some(public)
        );
        assert!(serde_json::from_str::<PublicHeaders>(r#"["host"]"#).is_err());
    }
}
