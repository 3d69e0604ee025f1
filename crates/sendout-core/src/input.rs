//! Typed input values: what users give sendout becomes one of these once, at the edge, and
//! the rest of the code can rely on its rules (issue 2 §6; PRODUCT §4, §5.1).
//!
//! Every type has private fields and a `parse` that is the only way in (`Deserialize` goes
//! through it too), and every refusal is an [`InputError`] whose message says what is wrong
//! and what would be right. Messages never echo a header *value*, which may be a secret, and
//! shorten any echoed text to [`SHOWN_CHARS`] characters.
//!
//! Decisions:
//! - header names are accepted in any case and stored lowercase; values are trimmed (see
//!   [`headers`]);
//! - `["*"]` subscribes to all events, present and future; `"*"` mixed with named types is
//!   refused rather than silently widened;
//! - target URLs keep the text the user gave (Voucherify clients compare what they sent with
//!   what they read back); [`TargetUrl::url`] is the parsed form the client connects to.
//!
//! Whether a target's *address* may be used is decided at connect time with [`netclass`].

pub mod headers;
pub mod netclass;

use std::fmt;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use url::Url;

use crate::catalog::{catalog, Channel};

pub use headers::{
    CustomHeaders, HeaderName, HeaderValue, PublicHeaders, MAX_CUSTOM_HEADERS, MAX_HEADER_NAME_LEN,
    MAX_HEADER_VALUE_LEN, RESERVED_HEADERS, RESERVED_PREFIXES,
};
pub use netclass::{classify_ip, is_allowed_target, AllowList, AllowListError, IpClass};

/// The longest target URL accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;
/// The longest event type name.
pub const MAX_EVENT_TYPE_LEN: usize = 128;
/// How much of a user's text an error message repeats.
pub const SHOWN_CHARS: usize = 64;

/// Why an input value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The URL is longer than [`MAX_URL_LEN`].
    #[error("target_url is {len} bytes long; at most 2048 are allowed")]
    UrlTooLong { len: usize },
    /// The URL cannot be parsed, or has a shape sendout does not deliver to.
    #[error("target_url `{url}` is not a valid URL: {reason}")]
    UrlInvalid { url: String, reason: String },
    /// Not `http` or `https`.
    #[error("target_url must start with http:// or https://, not `{scheme}:`")]
    UrlScheme { scheme: String },
    /// `user:password@` in the URL would be stored and shown in clear.
    #[error("target_url must not contain credentials (user:password@); send them in a custom header instead")]
    UrlCredentials,
    /// A fragment is never sent to the server, so it is surely a mistake.
    #[error("target_url must not contain a fragment (`#…`): it is never sent to the server")]
    UrlFragment,
    /// The header name breaks the naming rules.
    #[error("header name `{name}` is invalid: {reason}")]
    HeaderName { name: String, reason: &'static str },
    /// sendout sets this header itself (or only the HTTP client may).
    #[error("header `{name}` is reserved: sendout sets it itself")]
    ReservedHeader { name: String },
    /// The header value breaks the rules; the value itself is not repeated.
    #[error("{} is invalid: {reason}", value_of(name))]
    HeaderValue { name: String, reason: &'static str },
    /// More than [`MAX_CUSTOM_HEADERS`](headers::MAX_CUSTOM_HEADERS).
    #[error("{count} custom headers given; at most 20 are allowed")]
    TooManyHeaders { count: usize },
    /// More `public_headers` than a target may have custom headers.
    #[error("{count} public headers given; at most 20 are allowed")]
    TooManyPublicHeaders { count: usize },
    /// A public header that is not one of the target's custom headers.
    #[error("`{name}` is not one of the custom headers; name only headers given in `headers`")]
    UnknownPublicHeader { name: String },
    /// The same name twice, perhaps in different cases.
    #[error("header `{name}` is given more than once (header names ignore case)")]
    DuplicateHeader { name: String },
    /// The event type name breaks the naming rules.
    #[error("event type `{name}` is invalid: {reason}")]
    EventTypeName { name: String, reason: &'static str },
    /// `events: []`.
    #[error("events must name at least one event type, or be [\"*\"] for all events")]
    EmptyEventFilter,
    /// `"*"` next to named types.
    #[error("\"*\" means all events and cannot be combined with other event types")]
    WildcardMixed,
    /// Distribution triggers, which project-settings webhooks cannot subscribe to.
    #[error("{} can only trigger distributions; webhooks cannot subscribe to them", .names.join(", "))]
    DistributionOnlyEventTypes { names: Vec<String> },
    /// Names that are not in the catalog.
    #[error("unknown event types: {}; GET /v1/event-types lists them all", .names.join(", "))]
    UnknownEventTypes { names: Vec<String> },
}

/// How an error names a header value: by its header's name when it is known.
fn value_of(name: &str) -> String {
    match name {
        "" => "the header value".to_owned(),
        name => format!("the value of header `{name}`"),
    }
}

/// `text`, shortened for an error message.
pub(crate) fn shown(text: &str) -> String {
    if text.chars().count() <= SHOWN_CHARS {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(SHOWN_CHARS).collect();
    short.push('…');
    short
}

/// Implements `Serialize` as the text and `Deserialize` through `parse`.
macro_rules! text_serde {
    ($name:ident) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::parse(&text).map_err(de::Error::custom)
            }
        }
    };
}
pub(crate) use text_serde;

/// Where a webhook or channel posts to: an absolute `http`/`https` URL with a host, without
/// credentials or a fragment, at most 2048 bytes. `Debug` shows only the origin, since paths
/// and queries often hold tokens (Slack's webhook URLs do).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TargetUrl {
    text: String,
    url: Url,
}

impl TargetUrl {
    /// Parses a target URL.
    pub fn parse(text: &str) -> Result<Self, InputError> {
        if text.len() > MAX_URL_LEN {
            return Err(InputError::UrlTooLong { len: text.len() });
        }
        let invalid = |reason: &str| InputError::UrlInvalid {
            url: shown(text),
            reason: reason.to_owned(),
        };
        if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid("it contains spaces or control characters"));
        }
        let url = Url::parse(text).map_err(|error| invalid(&error.to_string()))?;
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(InputError::UrlScheme {
                scheme: shown(scheme),
            });
        }
        // The URL parser forgives `https:/host` and `https:\\host`; receivers' tools do not.
        if !text
            .get(scheme.len()..)
            .is_some_and(|rest| rest.starts_with("://"))
        {
            return Err(invalid("it must start with http:// or https://"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InputError::UrlCredentials);
        }
        if url.fragment().is_some() {
            return Err(InputError::UrlFragment);
        }
        if url.port() == Some(0) {
            return Err(invalid("port 0 cannot be connected to"));
        }
        Ok(Self {
            text: text.to_owned(),
            url,
        })
    }

    /// The URL as the user gave it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed URL, for the HTTP client.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The host: a lowercase domain (punycode for international names), an IPv4 address,
    /// or an IPv6 address in brackets.
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(80)
    }

    /// `scheme://host[:port]`, safe to log: never the path or query, which may hold tokens.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }
}

impl fmt::Debug for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TargetUrl({}/…)", self.origin())
    }
}

impl fmt::Display for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

text_serde!(TargetUrl);

/// An event type's name: `.`-separated segments of lowercase letters, digits and `_`, at most
/// 128 characters (`voucher.published`, `manual_distribution_schedule`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventTypeName(String);

impl EventTypeName {
    /// Parses an event type name; it need not be in the catalog.
    pub fn parse(text: &str) -> Result<Self, InputError> {
        let refuse = |reason| InputError::EventTypeName {
            name: shown(text),
            reason,
        };
        if text.is_empty() {
            return Err(refuse("it is empty"));
        }
        if text.len() > MAX_EVENT_TYPE_LEN {
            return Err(refuse("it is longer than 128 characters"));
        }
        let segment_ok = |segment: &str| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if !text.split('.').all(segment_ok) {
            return Err(refuse(
                "it must be dot-separated words of lowercase letters, digits and `_`",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventTypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_serde!(EventTypeName);

/// The events a webhook is subscribed to: all of them (`["*"]`, present and future), or a
/// non-empty list of project-settings types from the catalog, canonical (`…aded` read as
/// `…added`) and without repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter(Selection);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Selection {
    All,
    Only(Vec<&'static str>),
}

/// Appends `item` unless it is already there; lists here are short (at most the catalog).
fn push_new<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// The one-element list that means every event.
const WILDCARD: &str = "*";

impl EventFilter {
    /// Every event, present and future.
    pub fn all() -> Self {
        Self(Selection::All)
    }

    /// Parses a webhook's `events`, naming every unknown type (or distribution-only trigger)
    /// in the error.
    pub fn parse<I, S>(events: I) -> Result<Self, InputError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let events: Vec<S> = events.into_iter().collect();
        if events.is_empty() {
            return Err(InputError::EmptyEventFilter);
        }
        let wildcards = events.iter().filter(|e| e.as_ref() == WILDCARD).count();
        if wildcards == events.len() {
            return Ok(Self::all());
        }
        if wildcards > 0 {
            return Err(InputError::WildcardMixed);
        }
        let mut known: Vec<&'static str> = Vec::new();
        let (mut unknown, mut distribution_only) = (Vec::new(), Vec::new());
        for event in &events {
            let Some(event_type) = catalog().get(event.as_ref()) else {
                push_new(&mut unknown, shown(event.as_ref()));
                continue;
            };
            if event_type.is_in(Channel::ProjectSettings) {
                push_new(&mut known, event_type.name());
            } else {
                push_new(&mut distribution_only, event_type.name().to_owned());
            }
        }
        if !unknown.is_empty() {
            return Err(InputError::UnknownEventTypes { names: unknown });
        }
        if !distribution_only.is_empty() {
            return Err(InputError::DistributionOnlyEventTypes {
                names: distribution_only,
            });
        }
        Ok(Self(Selection::Only(known)))
    }

    /// Whether events of this (canonical) type are delivered.
    pub fn matches(&self, event_type: &str) -> bool {
        match &self.0 {
            Selection::All => true,
            Selection::Only(types) => types.contains(&event_type),
        }
    }

    /// Whether this is the subscription to every event.
    pub fn is_all(&self) -> bool {
        self.0 == Selection::All
    }

    /// The subscribed types, in the order given; empty for [`EventFilter::all`].
    pub fn event_types(&self) -> &[&'static str] {
        match &self.0 {
            Selection::All => &[],
            Selection::Only(types) => types,
        }
    }
}

impl Serialize for EventFilter {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Selection::All => serializer.collect_seq([WILDCARD]),
            Selection::Only(types) => serializer.collect_seq(types),
        }
    }
}

impl<'de> Deserialize<'de> for EventFilter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let events = Vec::<String>::deserialize(deserializer)?;
        Self::parse(events).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_urls_keep_their_text_and_expose_host_and_port() {
        let url = TargetUrl::parse("https://Hooks.Example.com/in?x=1").expect("valid");
        assert_eq!(url.as_str(), "https://Hooks.Example.com/in?x=1");
        assert_eq!(url.host(), "hooks.example.com");
        assert_eq!(url.port(), 443);
        assert_eq!(
            TargetUrl::parse("http://127.0.0.1:8080/").map(|u| u.port()),
            Ok(8080)
        );
        assert_eq!(
            TargetUrl::parse("http://[::1]:9/").expect("valid").host(),
            "[::1]"
        );
        assert_eq!(
            TargetUrl::parse("https://żółw.example/")
                .expect("valid")
                .host(),
            "xn--w-uga1v8h.example"
        );
    }

    #[test]
    fn target_urls_that_cannot_be_delivered_to_are_refused() {
        let refused = |text: &str| TargetUrl::parse(text).expect_err(text);
        assert_eq!(
            refused("ftp://example.com/"),
            InputError::UrlScheme {
                scheme: "ftp".into()
            }
        );
        assert!(matches!(
            refused("javascript:alert(1)"),
            InputError::UrlScheme { .. }
        ));
        assert_eq!(
            refused("https://user:pw@example.com/"),
            InputError::UrlCredentials
        );
        assert_eq!(
            refused("https://user@example.com/"),
            InputError::UrlCredentials
        );
        assert_eq!(refused("https://example.com/#top"), InputError::UrlFragment);
        let long = format!("https://example.com/{}", "a".repeat(2030));
        assert_eq!(refused(&long), InputError::UrlTooLong { len: 2050 });
        for text in [
            "",
            "example.com/hook",
            "/relative",
            "https://",
            "https:/example.com",
            "https:\\\\example.com",
            "https://exa mple.com/",
            " https://example.com/",
            "https://example.com/\n",
            "https://example.com:0/",
            "https://example.com:99999/",
        ] {
            assert!(
                matches!(refused(text), InputError::UrlInvalid { .. }),
                "{text:?}: {}",
                refused(text)
            );
        }
    }

    #[test]
    fn target_urls_hide_paths_in_debug_and_round_trip_through_serde() {
        let url = TargetUrl::parse("https://hooks.slack.com/services/T0/B0/secret").expect("ok");
        assert_eq!(format!("{url:?}"), "TargetUrl(https://hooks.slack.com/…)");
        let json = serde_json::to_string(&url).expect("serializable");
        assert_eq!(json, r#""https://hooks.slack.com/services/T0/B0/secret""#);
        assert_eq!(serde_json::from_str::<TargetUrl>(&json).ok(), Some(url));
        assert!(serde_json::from_str::<TargetUrl>(r#""ftp://x""#).is_err());
    }

    #[test]
    fn event_type_names_are_dotted_lowercase_words() {
        for name in [
            "voucher.published",
            "manual_distribution_schedule",
            "customer.voucher.loyalty_card.points_added",
            "a1.b2",
        ] {
            assert_eq!(
                EventTypeName::parse(name).map(|n| n.to_string()),
                Ok(name.into())
            );
        }
        for name in [
            "",
            "Voucher.published",
            "voucher..published",
            ".voucher",
            "voucher.",
            "a-b",
            "a b",
        ] {
            assert!(
                matches!(
                    EventTypeName::parse(name),
                    Err(InputError::EventTypeName { .. })
                ),
                "{name:?}"
            );
        }
        assert!(EventTypeName::parse(&"a".repeat(129)).is_err());
        assert!(EventTypeName::parse(&"a".repeat(128)).is_ok());
    }

    #[test]
    fn an_event_filter_is_all_events_or_known_types() {
        let all = EventFilter::parse(["*"]).expect("valid");
        assert!(all.is_all() && all.matches("anything.at.all"));
        assert_eq!(
            serde_json::to_string(&all).ok().as_deref(),
            Some(r#"["*"]"#)
        );
        assert_eq!(EventFilter::parse(["*", "*"]), Ok(EventFilter::all()));

        let some = EventFilter::parse([
            "voucher.published",
            "voucher.loyalty_card.pending_points.aded",
            "voucher.published",
            "voucher.loyalty_card.pending_points.added",
        ])
        .expect("valid");
        assert_eq!(
            some.event_types(),
            [
                "voucher.published",
                "voucher.loyalty_card.pending_points.added"
            ]
        );
        assert!(some.matches("voucher.published"));
        assert!(!some.matches("redemption.succeeded"));
        let json = serde_json::to_string(&some).expect("serializable");
        assert_eq!(serde_json::from_str::<EventFilter>(&json).ok(), Some(some));
    }

    #[test]
    fn event_filters_name_every_unknown_type() {
        assert_eq!(
            EventFilter::parse(Vec::<String>::new()),
            Err(InputError::EmptyEventFilter)
        );
        assert_eq!(
            EventFilter::parse(["*", "voucher.published"]),
            Err(InputError::WildcardMixed)
        );
        let error = EventFilter::parse(["voucher.published", "nope", "also.nope", "nope"])
            .expect_err("unknown types");
        assert_eq!(
            error,
            InputError::UnknownEventTypes {
                names: vec!["nope".into(), "also.nope".into()]
            }
        );
        assert!(error.to_string().contains("nope, also.nope"));
        assert!(serde_json::from_str::<EventFilter>(r#"["nope"]"#).is_err());
        assert_eq!(
            EventFilter::parse(["voucher.published", "customer.segment.entered"]),
            Err(InputError::DistributionOnlyEventTypes {
                names: vec!["customer.segment.entered".into()]
            })
        );
    }

    #[test]
    fn every_project_settings_type_and_alias_can_be_subscribed_to() {
        let names: Vec<&str> = catalog()
            .by_channel(Channel::ProjectSettings)
            .map(|t| t.name())
            .collect();
        let filter = EventFilter::parse(&names).expect("every type is valid");
        assert_eq!(filter.event_types(), names.as_slice());
        for (alias, canonical) in catalog().aliases() {
            if let Ok(filter) = EventFilter::parse([alias]) {
                assert_eq!(filter.event_types(), [canonical]);
            }
        }
    }

    #[test]
    fn long_user_text_is_shortened_in_errors() {
        let long = "x".repeat(500);
        let message = EventTypeName::parse(&format!("{long}!"))
            .expect_err("invalid")
            .to_string();
        assert!(message.len() < 200 && message.contains('…'), "{message}");
    }
}
