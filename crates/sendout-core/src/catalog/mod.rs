//! The event catalog: every event type sendout knows, with its group and title, the channels
//! it feeds, the keys its `data` carries, an example `data`, and for distribution triggers the
//! purposes they support and the conditions that narrow them (PRODUCT §2).
//!
//! The data is `catalog.json` in this folder, compiled in with `include_str!` and parsed once on
//! first use. It is *generated*, never edited by hand: `scripts/gen-catalog.py` derives it from
//! the Voucherify documents in the shared folder —
//!
//! - the seeds (`seeds/000_*`, `001_*`: the 63 project-settings types and their groups;
//!   `seeds/003_*`: the 27 distribution triggers, grouped by related activity, and the
//!   trigger × purpose support matrix), whose lists are copied into the generator and checked
//!   against the seed text on every run;
//! - `reference/voucherify/OpenAPIWebhooks.json`: each type's `data` schema, with `$ref`s,
//!   `allOf`/`anyOf`/`oneOf`, nested objects and arrays resolved into a key tree;
//! - `reference/voucherify/event_index.json` and `examples/`: which schema and example belong
//!   to which type, and key lists for the types without a public schema. A distribution
//!   trigger Voucherify documents only by its keys (`customer.referred`) gets an example the
//!   generator builds from those keys, marked [`ExampleSource::Built`], so that every trigger
//!   previews with data.
//!
//! To regenerate after a spec or seed update, run from the repository root:
//!
//! ```text
//! python3 scripts/gen-catalog.py            # rewrite catalog.json
//! python3 scripts/gen-catalog.py --check    # what CI runs: fails if catalog.json is stale
//! ```
//!
//! Invariants (tested): 63 project-settings and 27 distribution types (88 entries: two types
//! feed both channels, with a different group and title in each); every example is a JSON
//! object; every distribution trigger supports at least one purpose; [`Catalog::get`] accepts
//! the spellings the documents use besides the canonical name (the management spec's `…aded`,
//! `customer.entered.segment`), so input can be read as its canonical name once, at the edge.

mod event_type;
pub mod keys;

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use serde::Deserialize;

pub use event_type::{
    Channel, Condition, ConditionKey, EventType, ExampleSource, KeysSource, Listing, Purpose,
    SUGGESTIONS,
};
pub use keys::{KeyNode, PathTarget};

/// The generated catalog, as compiled into the crate.
pub const CATALOG_JSON: &str = include_str!("catalog.json");

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| {
    Catalog::from_json(CATALOG_JSON).expect("catalog.json is generated and tested; it must load")
});

/// The catalog compiled into sendout (parsed on first use).
pub fn catalog() -> &'static Catalog {
    &CATALOG
}

/// Every known event type, with lookups by name, channel and group.
#[derive(Debug)]
pub struct Catalog {
    spec_source: String,
    types: Vec<EventType>,
    /// Per channel ([`Channel::ALL`] order): group names with their members' indexes.
    groups: [Vec<(String, Vec<usize>)>; 2],
    aliases: BTreeMap<String, String>,
    /// Canonical names and aliases to indexes in `types`.
    index: HashMap<String, usize>,
}

/// A group of one channel: its name as the seed writes it, and its types in seed order.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    /// The group name, e.g. `Voucher`.
    pub name: &'a str,
    /// The group's types, in seed order.
    pub types: Vec<&'a EventType>,
}

/// Why `catalog.json` could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The text is not the generator's format.
    #[error("catalog.json does not parse: {0}")]
    Json(#[from] serde_json::Error),
    /// The text parses but contradicts itself.
    #[error("catalog.json is inconsistent: {0}")]
    Inconsistent(String),
}

#[derive(Deserialize)]
struct CatalogFile {
    spec_source: String,
    groups: GroupsFile,
    aliases: BTreeMap<String, String>,
    types: Vec<EventType>,
}

#[derive(Deserialize)]
struct GroupsFile {
    project_settings: Vec<GroupFile>,
    distribution: Vec<GroupFile>,
}

#[derive(Deserialize)]
struct GroupFile {
    name: String,
    types: Vec<String>,
}

impl Catalog {
    /// Loads a catalog in the generator's format, checking that its parts agree.
    pub fn from_json(text: &str) -> Result<Self, CatalogError> {
        let file: CatalogFile = serde_json::from_str(text)?;
        let inconsistent = |what: String| CatalogError::Inconsistent(what);

        let mut index = HashMap::new();
        for (i, event_type) in file.types.iter().enumerate() {
            if event_type.listings().is_empty() {
                return Err(inconsistent(format!(
                    "{} has no listing",
                    event_type.name()
                )));
            }
            if index.insert(event_type.name().to_owned(), i).is_some() {
                return Err(inconsistent(format!(
                    "{} is listed twice",
                    event_type.name()
                )));
            }
        }
        for (alias, target) in &file.aliases {
            let Some(&i) = index.get(target) else {
                return Err(inconsistent(format!("alias {alias} -> unknown {target}")));
            };
            if index.insert(alias.clone(), i).is_some() {
                return Err(inconsistent(format!("alias {alias} shadows a type")));
            }
        }

        let mut groups: [Vec<(String, Vec<usize>)>; 2] = [Vec::new(), Vec::new()];
        let per_channel = [file.groups.project_settings, file.groups.distribution];
        for ((channel, slot), channel_groups) in
            Channel::ALL.iter().zip(&mut groups).zip(per_channel)
        {
            for group in channel_groups {
                let mut members = Vec::with_capacity(group.types.len());
                for name in &group.types {
                    let i = file
                        .types
                        .iter()
                        .position(|t| t.name() == name)
                        .ok_or_else(|| inconsistent(format!("group member {name} is unknown")))?;
                    if file.types[i].group_in(*channel) != Some(group.name.as_str()) {
                        return Err(inconsistent(format!(
                            "{name} is in group {} of {channel} but not listed so",
                            group.name
                        )));
                    }
                    members.push(i);
                }
                slot.push((group.name, members));
            }
        }
        for event_type in &file.types {
            for channel in event_type.channels() {
                let grouped = groups[channel_slot(*channel)]
                    .iter()
                    .flat_map(|(_, members)| members)
                    .any(|&i| file.types[i].name() == event_type.name());
                if !grouped {
                    return Err(inconsistent(format!(
                        "{} feeds {channel} but is in none of its groups",
                        event_type.name()
                    )));
                }
            }
        }

        Ok(Self {
            spec_source: file.spec_source,
            types: file.types,
            groups,
            aliases: file.aliases,
            index,
        })
    }

    /// The type named `name`, accepting the other spellings Voucherify's documents use (the
    /// management spec's `…aded` for `…added`, `customer.entered.segment`, …).
    pub fn get(&self, name: &str) -> Option<&EventType> {
        self.index.get(name).map(|&i| &self.types[i])
    }

    /// Every type: project-settings types in seed order, then distribution-only triggers.
    pub fn all(&self) -> &[EventType] {
        &self.types
    }

    /// The types that feed `channel`, in the seed's group order.
    pub fn by_channel(&self, channel: Channel) -> impl Iterator<Item = &EventType> + '_ {
        self.groups[channel_slot(channel)]
            .iter()
            .flat_map(|(_, members)| members.iter().map(|&i| &self.types[i]))
    }

    /// The groups of `channel`, each with its types, in seed order.
    pub fn groups(&self, channel: Channel) -> Vec<Group<'_>> {
        self.groups[channel_slot(channel)]
            .iter()
            .map(|(name, members)| Group {
                name,
                types: members.iter().map(|&i| &self.types[i]).collect(),
            })
            .collect()
    }

    /// The accepted other spellings, each with the canonical name it stands for.
    pub fn aliases(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.aliases.iter().map(|(a, t)| (a.as_str(), t.as_str()))
    }

    /// Which spec version the catalog was generated from.
    pub fn spec_source(&self) -> &str {
        &self.spec_source
    }

    /// How many types there are (a type that feeds both channels counts once).
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// Whether there are no types (never, for the compiled-in catalog).
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
}

fn channel_slot(channel: Channel) -> usize {
    match channel {
        Channel::ProjectSettings => 0,
        Channel::Distribution => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_catalog_loads() {
        let catalog = Catalog::from_json(CATALOG_JSON).expect("catalog loads");
        assert_eq!(catalog.len(), 88);
        assert!(!catalog.spec_source().is_empty());
    }

    #[test]
    fn inconsistent_catalogs_are_refused() {
        let text = r#"{"spec_source":"x","groups":{"project_settings":[],"distribution":[]},
            "aliases":{"a.aded":"a.added"},"types":[]}"#;
        assert!(matches!(
            Catalog::from_json(text),
            Err(CatalogError::Inconsistent(_))
        ));
        assert!(matches!(
            Catalog::from_json("{}"),
            Err(CatalogError::Json(_))
        ));
    }

    #[test]
    fn by_channel_follows_the_seed_group_order() {
        let names: Vec<&str> = catalog()
            .by_channel(Channel::Distribution)
            .map(EventType::name)
            .collect();
        assert_eq!(names.first(), Some(&"customer.segment.entered"));
        assert_eq!(names.last(), Some(&"customer.referred"));
        let rewarded = names
            .iter()
            .position(|n| *n == "customer.rewarded.loyalty_points");
        let prolonged = names
            .iter()
            .position(|n| *n == "customer.loyalty.tier.prolonged");
        assert!(rewarded > prolonged);
    }
}
