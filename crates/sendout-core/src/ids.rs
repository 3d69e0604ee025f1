//! Typed identifiers, one per object, each with its fixed prefix (PRODUCT §1).
//!
//! Every id is a prefix followed by a lowercase ULID: 26 Crockford base-32 characters whose
//! first ten encode the creation time in milliseconds. Ids of one kind therefore sort by
//! creation time as plain strings, which is what cursor pagination (`starting_after_id`) and
//! "since" queries rely on. Event ids carry a per-type prefix (`evred_`, `evvou_`, …); compare
//! them with [`EventId::ulid`] when ordering across types.
//!
//! Parsing is strict: an id of another kind, an unknown prefix or a malformed body is refused,
//! so a webhook id can never be used where a send-out id is expected.

use std::fmt;
use std::sync::{LazyLock, Mutex};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

/// Why a string is not a valid id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string does not start with the expected prefix.
    #[error("`{value}` is not a {kind} id: it must start with `{prefix}`")]
    WrongPrefix {
        kind: &'static str,
        prefix: &'static str,
        value: String,
    },
    /// The part after the prefix is not a lowercase ULID.
    #[error("`{value}` is not a valid {kind} id")]
    Malformed { kind: &'static str, value: String },
}

/// Makes ULIDs that increase strictly, even within one millisecond of one process.
static GENERATOR: LazyLock<Mutex<ulid::Generator>> =
    LazyLock::new(|| Mutex::new(ulid::Generator::new()));

fn new_ulid() -> Ulid {
    let mut generator = GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // The generator only fails when 2^80 ids were made in one millisecond.
    generator.generate().unwrap_or_else(|_| Ulid::new())
}

fn parse_body(body: &str) -> Option<Ulid> {
    let valid = body.len() == 26
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
    if !valid {
        return None;
    }
    Ulid::from_string(&body.to_ascii_uppercase()).ok()
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The fixed prefix of this kind of id.
            pub const PREFIX: &'static str = $prefix;

            /// A new id, later than every id this process made before.
            pub fn new() -> Self {
                Self(format!("{}{}", $prefix, new_ulid().to_string().to_ascii_lowercase()))
            }

            /// Parses an id, refusing other kinds and malformed bodies.
            pub fn parse(value: &str) -> Result<Self, IdError> {
                let Some(body) = value.strip_prefix($prefix) else {
                    return Err(IdError::WrongPrefix {
                        kind: $kind,
                        prefix: $prefix,
                        value: value.to_owned(),
                    });
                };
                match parse_body(body) {
                    Some(_) => Ok(Self(value.to_owned())),
                    None => Err(IdError::Malformed { kind: $kind, value: value.to_owned() }),
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Milliseconds since the Unix epoch at which the id was made.
            pub fn timestamp_ms(&self) -> u64 {
                parse_body(&self.0[$prefix.len()..]).map_or(0, |u| u.timestamp_ms())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(value: &str) -> Result<Self, IdError> {
                Self::parse(value)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                Self::parse(&value).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A project (tenant): `proj_…`.
    ProjectId, "proj_", "project"
);
id_type!(
    /// A project-settings webhook: `wh_…`.
    WebhookId, "wh_", "webhook"
);
id_type!(
    /// A distribution: `distr_…`.
    DistributionId, "distr_", "distribution"
);
id_type!(
    /// A send out, one delivery of one event to one target: `whs_…`.
    SendOutId, "whs_", "send out"
);

/// A request group, shared by the events one API request caused: `v-…`. Ids sendout makes are
/// `v-` + ULID; ids a platform sends keep their own form (Voucherify's are `v-` + 18 or more
/// lowercase letters and digits), so any `v-` followed by 1–64 ASCII letters, digits, `_` or
/// `-` is accepted.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(String);

impl GroupId {
    /// The fixed prefix of request group ids.
    pub const PREFIX: &'static str = "v-";

    /// A new group id, later than every one this process made before.
    pub fn new() -> Self {
        Self(format!("v-{}", new_ulid().to_string().to_ascii_lowercase()))
    }

    /// Parses a group id made by sendout or by the platform.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        let Some(body) = value.strip_prefix(Self::PREFIX) else {
            return Err(IdError::WrongPrefix {
                kind: "group",
                prefix: Self::PREFIX,
                value: value.to_owned(),
            });
        };
        let valid = (1..=64).contains(&body.len())
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(IdError::Malformed {
                kind: "group",
                value: value.to_owned(),
            })
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for GroupId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for GroupId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for GroupId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Self::parse(&value).map_err(serde::de::Error::custom)
    }
}

/// An event: `ev` + three letters naming the type's first segment + `_` + ULID, for example
/// `evred_…` for `redemption.succeeded` and `evbvr_…` for `business_validation_rule.created`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(String);

impl EventId {
    /// A new id for an event of the given type.
    pub fn new(event_type: &str) -> Self {
        Self(format!(
            "ev{}_{}",
            Self::letters_for(event_type),
            new_ulid().to_string().to_ascii_lowercase()
        ))
    }

    /// The three letters that follow `ev` for an event type: the first three letters of its
    /// first segment, with fixed abbreviations where those would be unclear.
    pub fn letters_for(event_type: &str) -> String {
        let first = event_type.split('.').next().unwrap_or_default();
        match first {
            "business_validation_rule" => "bvr".to_owned(),
            "manual_distribution_schedule" | "distribution" => "dis".to_owned(),
            other => {
                let mut letters: String = other
                    .chars()
                    .filter(char::is_ascii_lowercase)
                    .take(3)
                    .collect();
                while letters.len() < 3 {
                    letters.push('x');
                }
                letters
            }
        }
    }

    /// Parses an event id, refusing other kinds and malformed bodies.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        let malformed = || IdError::Malformed {
            kind: "event",
            value: value.to_owned(),
        };
        let bytes = value.as_bytes();
        if bytes.len() < 6 || !value.starts_with("ev") || bytes[5] != b'_' {
            return Err(IdError::WrongPrefix {
                kind: "event",
                prefix: "ev???_",
                value: value.to_owned(),
            });
        }
        if !bytes[2..5].iter().all(u8::is_ascii_lowercase) {
            return Err(malformed());
        }
        parse_body(&value[6..]).ok_or_else(malformed)?;
        Ok(Self(value.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The time-ordered part of the id (without the per-type prefix).
    pub fn ulid(&self) -> &str {
        &self.0[6..]
    }

    /// Milliseconds since the Unix epoch at which the id was made.
    pub fn timestamp_ms(&self) -> u64 {
        parse_body(self.ulid()).map_or(0, |u| u.timestamp_ms())
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for EventId {
    type Err = IdError;
    fn from_str(value: &str) -> Result<Self, IdError> {
        Self::parse(value)
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Self::parse(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_parse_back() {
        let id = SendOutId::new();
        assert!(id.as_str().starts_with("whs_"));
        assert_eq!(SendOutId::parse(id.as_str()), Ok(id.clone()));
        assert!(ProjectId::new().as_str().starts_with("proj_"));
        assert!(WebhookId::new().as_str().starts_with("wh_"));
        assert!(DistributionId::new().as_str().starts_with("distr_"));
        assert!(GroupId::new().as_str().starts_with("v-"));
    }

    #[test]
    fn an_id_of_another_kind_is_refused() {
        let webhook = WebhookId::new();
        assert!(matches!(
            SendOutId::parse(webhook.as_str()),
            Err(IdError::WrongPrefix { .. })
        ));
        assert!(matches!(
            ProjectId::parse("proj_NOT-A-ULID"),
            Err(IdError::Malformed { .. })
        ));
        // Upper case bodies are not ids we make.
        let upper = format!("whs_{}", Ulid::new());
        assert!(SendOutId::parse(&upper).is_err());
        assert!(EventId::parse(SendOutId::new().as_str()).is_err());
    }

    #[test]
    fn group_ids_from_the_platform_keep_their_form() {
        assert!(GroupId::parse("v-1f36113948e50fc4ge").is_ok());
        assert!(GroupId::parse(GroupId::new().as_str()).is_ok());
        assert!(GroupId::parse("v-").is_err());
        assert!(GroupId::parse("v-has space").is_err());
        assert!(GroupId::parse("x-123").is_err());
        assert!(GroupId::parse(&format!("v-{}", "a".repeat(65))).is_err());
    }

    #[test]
    fn ids_made_later_sort_later() {
        let ids: Vec<SendOutId> = (0..1000).map(|_| SendOutId::new()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        let a = EventId::new("voucher.published");
        let b = EventId::new("redemption.succeeded");
        assert!(a.ulid() < b.ulid());
    }

    #[test]
    fn event_ids_name_their_type_family() {
        for (event_type, prefix) in [
            ("redemption.succeeded", "evred_"),
            ("voucher.published", "evvou_"),
            ("customer.segment.entered", "evcus_"),
            ("campaign.created", "evcam_"),
            ("publication.succeeded", "evpub_"),
            ("business_validation_rule.created", "evbvr_"),
            ("manual_distribution_schedule", "evdis_"),
        ] {
            let id = EventId::new(event_type);
            assert!(id.as_str().starts_with(prefix), "{id} for {event_type}");
            assert_eq!(EventId::parse(id.as_str()), Ok(id));
        }
    }

    #[test]
    fn ids_round_trip_through_serde() {
        let id = EventId::new("voucher.published");
        let json = serde_json::to_string(&id).unwrap_or_default();
        let back: EventId = serde_json::from_str(&json).unwrap_or_else(|_| EventId::new("x"));
        assert_eq!(back, id);
        assert!(serde_json::from_str::<WebhookId>("\"whs_x\"").is_err());
    }
}
