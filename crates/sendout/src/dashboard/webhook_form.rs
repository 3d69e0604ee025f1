//! The webhook form's values as a person entered them, their checks, and the event picker.
//!
//! The checks are the operations' ([`webhooks::fields`], with `sendout_core`'s
//! [`CustomHeaders`] for the header rows); each error comes back as data with its field path
//! and is shown next to that field, with everything entered kept as it was.
//!
//! The picker groups project-settings events exactly as the seeds do
//! (`catalog().groups(Channel::ProjectSettings)`), in seed order, titled as the seeds title
//! them; "Send me all events" stores `["*"]` (all events, present and future).

use sendout_core::catalog::{catalog, Channel};
use sendout_core::input::{CustomHeaders, PublicHeaders, TargetUrl};
use sendout_store::{Webhook, WebhookFields};
use serde_json::value::RawValue;

use crate::dashboard::form::Form;
use crate::ops::test_send::DEFAULT_TEST_TYPE;
use crate::ops::webhooks::{self, WebhookInput};
use crate::ops::OpsError;

/// The form's values, as entered.
#[derive(Debug, Clone, Default)]
pub struct WebhookForm {
    pub target_url: String,
    pub description: String,
    pub active: bool,
    pub all_events: bool,
    /// Canonical names of the ticked events.
    pub events: Vec<String>,
    /// Header rows, blank ones dropped.
    pub headers: Vec<(String, String)>,
    /// The names of headers the audit log may show, as typed (comma- or space-separated).
    pub public_headers: String,
    /// The type Send test webhook sends; empty: the first ticked event.
    pub test_type: String,
    /// The data Send test webhook sends instead of the type's example, as pasted.
    pub test_data: String,
}

/// The error of each field, if any.
#[derive(Debug, Clone, Default)]
pub struct FieldErrors {
    pub target_url: Option<String>,
    pub description: Option<String>,
    pub events: Option<String>,
    pub headers: Option<String>,
    pub public_headers: Option<String>,
}

impl FieldErrors {
    /// Whether every field passed.
    pub fn is_empty(&self) -> bool {
        self.target_url.is_none()
            && self.description.is_none()
            && self.events.is_none()
            && self.headers.is_none()
            && self.public_headers.is_none()
    }
}

impl WebhookForm {
    /// A new webhook's form: active, nothing chosen yet.
    pub fn blank() -> Self {
        Self {
            active: true,
            ..Self::default()
        }
    }

    /// The form of an existing webhook.
    pub fn from_webhook(webhook: &Webhook) -> Self {
        Self {
            target_url: webhook.target_url.to_string(),
            description: webhook.description.clone().unwrap_or_default(),
            active: webhook.active,
            all_events: webhook.events.is_all(),
            events: webhook
                .events
                .event_types()
                .iter()
                .map(|e| (*e).to_owned())
                .collect(),
            headers: webhook
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect(),
            public_headers: shown_names(&webhook.public_headers),
            ..Self::default()
        }
    }

    /// The values of a submitted form.
    pub fn from_form(form: &Form) -> Self {
        let names = form.all("header_name");
        let values = form.all("header_value");
        let headers = names
            .iter()
            .zip(values.iter().chain(std::iter::repeat(&"")))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .filter(|(n, v)| !(n.is_empty() && v.is_empty()))
            .collect();
        Self {
            target_url: form.text("target_url").to_owned(),
            description: form.text("description").to_owned(),
            active: form.checked("active"),
            all_events: form.checked("all_events"),
            events: form
                .all("events")
                .into_iter()
                .map(|e| e.trim().to_owned())
                .collect(),
            headers,
            public_headers: form.text("public_headers").to_owned(),
            test_type: form.text("test_type").trim().to_owned(),
            test_data: form.text("test_data").to_owned(),
        }
    }

    /// The pasted test data as JSON text: `None` when nothing was pasted; an error when it is
    /// not JSON (that it is an object is the operation's check).
    pub fn pasted_test_data(&self) -> Result<Option<Box<RawValue>>, String> {
        if self.test_data.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str::<Box<RawValue>>(&self.test_data)
            .map(Some)
            .map_err(|e| format!("The test data is not valid JSON: {e}."))
    }

    /// The target URL, or its error.
    pub fn target(&self) -> Result<TargetUrl, String> {
        if self.target_url.is_empty() {
            return Err("Enter the target URL (http:// or https://).".into());
        }
        TargetUrl::parse(&self.target_url).map_err(|e| sentence(&e.to_string()))
    }

    /// The custom headers, or their error.
    pub fn custom_headers(&self) -> Result<CustomHeaders, String> {
        if let Some(i) = self.headers.iter().position(|(n, _)| n.is_empty()) {
            return Err(format!("Header row {} has a value but no name.", i + 1));
        }
        CustomHeaders::parse(self.headers.iter().map(|(n, v)| (n, v)))
            .map_err(|e| sentence(&e.to_string()))
    }

    /// The webhook the form stands for, as the operations take it: every field given, so an
    /// update replaces them all. Header rows that do not parse are left out (and their error
    /// is [`WebhookForm::custom_headers`]'s).
    pub fn input(&self) -> WebhookInput {
        WebhookInput {
            target_url: self.target_url.clone(),
            events: if self.all_events {
                vec!["*".to_owned()]
            } else {
                self.events.clone()
            },
            active: Some(self.active),
            headers: self.custom_headers().ok(),
            public_headers: Some(header_names(&self.public_headers)),
            description: Some(Some(self.description.clone()).filter(|d| !d.is_empty())),
            spec_list_is_every_event: false,
        }
    }

    /// Each field's error from what an operation refused (the first error of each field), in
    /// the form's words; `None` when the refusal is not about the form's fields.
    pub fn errors(&self, error: &OpsError) -> Option<FieldErrors> {
        let mut errors = FieldErrors::default();
        for field_error in error.field_errors() {
            let message = sentence(&field_error.message);
            let slot = match field_error.path.top() {
                Some("target_url") if self.target_url.is_empty() => {
                    errors.target_url.get_or_insert_with(|| {
                        "Enter the target URL (http:// or https://).".to_owned()
                    });
                    continue;
                }
                Some("target_url") => &mut errors.target_url,
                Some("events") if !self.all_events && self.events.is_empty() => {
                    errors.events.get_or_insert_with(|| {
                        "Select at least one event, or Send me all events.".to_owned()
                    });
                    continue;
                }
                Some("events") => &mut errors.events,
                Some("description") => &mut errors.description,
                Some("headers") => &mut errors.headers,
                Some("public_headers") => &mut errors.public_headers,
                _ => return None,
            };
            slot.get_or_insert(message);
        }
        if let Err(headers) = self.custom_headers() {
            errors.headers.get_or_insert(headers);
        }
        (!errors.is_empty()).then_some(errors)
    }

    /// Checks every field with the operations' rules; the webhook's fields, or every field's
    /// error.
    pub fn validate(&self) -> Result<WebhookFields, FieldErrors> {
        let checked = webhooks::fields(self.input(), None);
        let errors = match &checked {
            Ok(_) => self.errors(&OpsError::Invalid(Vec::new())),
            Err(e) => self.errors(e),
        };
        match (checked, errors) {
            (Ok(fields), None) => Ok(fields),
            (_, errors) => Err(errors.unwrap_or_default()),
        }
    }

    /// The event a test sends: the first ticked one, or the API's default.
    pub fn test_event(&self) -> String {
        if !self.test_type.is_empty() {
            return self.test_type.clone();
        }
        self.events
            .first()
            .filter(|_| !self.all_events)
            .cloned()
            .unwrap_or_else(|| DEFAULT_TEST_TYPE.to_owned())
    }
}

/// Header names as typed in a form's "shown in the audit log" field: separated by commas or
/// spaces, blanks dropped (the operations check each).
pub fn header_names(text: &str) -> Vec<String> {
    text.split([',', ' ', '\t', '\n', '\r'])
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Public header names as a form shows them: `x-shop, x-tenant`.
pub fn shown_names(public: &PublicHeaders) -> String {
    let names: Vec<&str> = public.iter().map(|name| name.as_str()).collect();
    names.join(", ")
}

/// A message starting with a capital letter and ending with a full stop.
pub fn sentence(text: &str) -> String {
    let mut chars = text.trim().chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// What an operation refused, as a sentence: the first field error's message (without its
/// path when it is about `field`), or the refusal itself.
pub fn refusal(error: &OpsError, field: &str) -> String {
    match error.field_errors().first() {
        Some(first) if first.path.to_string() == field => sentence(&first.message),
        Some(first) => sentence(&first.to_string()),
        None => sentence(&error.to_string()),
    }
}

/// A type Send test webhook may send, as its select offers it.
#[derive(Debug, Clone)]
pub struct TestType {
    pub name: String,
    pub selected: bool,
}

/// The test select's two groups: the types with a real example (sent as is, unless data is
/// pasted) and those without one (Voucherify publishes no schema or example), whose data
/// must be pasted.
pub fn test_types(selected: &str) -> (Vec<TestType>, Vec<TestType>) {
    catalog()
        .by_channel(Channel::ProjectSettings)
        .map(|t| {
            let option = TestType {
                name: t.name().to_owned(),
                selected: t.name() == selected,
            };
            (option, t.example_data().is_some())
        })
        .fold(
            (Vec::new(), Vec::new()),
            |(mut with, mut without), (option, has)| {
                if has {
                    with.push(option)
                } else {
                    without.push(option)
                }
                (with, without)
            },
        )
}

/// A group of the event picker.
#[derive(Debug, Clone)]
pub struct PickerGroup {
    pub name: String,
    /// For element ids.
    pub slug: String,
    pub events: Vec<PickerEvent>,
    /// How many of its events are ticked.
    pub checked: usize,
}

/// An event of the picker.
#[derive(Debug, Clone)]
pub struct PickerEvent {
    pub name: String,
    pub title: String,
    pub checked: bool,
}

/// The picker's groups, with `selected` ticked.
pub fn picker(selected: &[String]) -> Vec<PickerGroup> {
    catalog()
        .groups(Channel::ProjectSettings)
        .into_iter()
        .map(|group| {
            let events: Vec<PickerEvent> = group
                .types
                .iter()
                .map(|t| PickerEvent {
                    name: t.name().to_owned(),
                    title: t
                        .title_in(Channel::ProjectSettings)
                        .unwrap_or(t.title())
                        .to_owned(),
                    checked: selected.iter().any(|s| s == t.name()),
                })
                .collect();
            PickerGroup {
                slug: group.name.to_ascii_lowercase().replace(' ', "-"),
                name: group.name.to_owned(),
                checked: events.iter().filter(|e| e.checked).count(),
                events,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str) -> WebhookForm {
        WebhookForm::from_form(&Form::parse(body.as_bytes()))
    }

    #[test]
    fn a_complete_form_gives_the_webhook_fields() {
        let fields = form(
            "target_url=https%3A%2F%2Fexample.com%2Fhook&active=on&events=voucher.published\
             &events=redemption.succeeded&header_name=X-Tenant&header_value=acme\
             &header_name=&header_value=",
        )
        .validate()
        .expect("valid");
        assert_eq!(fields.target_url.as_str(), "https://example.com/hook");
        assert_eq!(
            fields.events.event_types(),
            ["voucher.published", "redemption.succeeded"]
        );
        assert!(fields.active);
        assert_eq!(
            fields.headers.get("x-tenant").map(String::as_str),
            Some("acme")
        );
        assert_eq!(fields.description, None);
    }

    #[test]
    fn every_bad_field_gets_its_own_error() {
        let errors = form("target_url=ftp%3A%2F%2Fx&header_name=host&header_value=x")
            .validate()
            .expect_err("invalid");
        assert!(errors.target_url.expect("url").contains("http://"));
        assert!(errors
            .events
            .expect("events")
            .contains("Send me all events"));
        assert!(errors.headers.expect("headers").contains("reserved"));
        assert!(errors.description.is_none());
    }

    #[test]
    fn headers_shown_in_the_audit_log_are_named_among_the_headers() {
        let fields = form(
            "target_url=https%3A%2F%2Fexample.com&all_events=on&header_name=X-Tenant\
             &header_value=acme&header_name=x-key&header_value=k&public_headers=X-Tenant%2C+",
        )
        .validate()
        .expect("valid");
        assert!(fields.public_headers.contains("x-tenant"));
        assert!(!fields.public_headers.contains("x-key"));
        let errors = form(
            "target_url=https%3A%2F%2Fexample.com&all_events=on&header_name=x-key\
             &header_value=k&public_headers=x-tenant",
        )
        .validate()
        .expect_err("x-tenant is not a header");
        let error = errors.public_headers.expect("at the field");
        assert!(error.contains("not one of the custom headers"), "{error}");
        assert!(errors.headers.is_none());
    }

    #[test]
    fn send_me_all_events_is_the_wildcard() {
        let fields =
            form("target_url=https%3A%2F%2Fexample.com&all_events=on&events=voucher.published")
                .validate()
                .expect("valid");
        assert!(fields.events.is_all());
        assert!(!fields.active, "an unticked Is active? is inactive");
    }

    #[test]
    fn the_picker_groups_events_as_the_seeds_do() {
        let groups = picker(&["voucher.published".to_owned()]);
        let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names.first(), Some(&"Redemption"));
        assert_eq!(names.last(), Some(&"Voucher generation"));
        assert_eq!(names.len(), 13);
        let voucher = groups.iter().find(|g| g.name == "Voucher").expect("group");
        assert_eq!(voucher.checked, 1);
        assert_eq!(groups.iter().map(|g| g.events.len()).sum::<usize>(), 63);
    }

    /// Group by group and event by event, in order: the seed's `project_settings` groups as
    /// `catalog.json` lists them, with the catalog's project-settings titles.
    #[test]
    fn the_picker_is_the_catalogs_project_settings_groups_in_order() {
        let seed: serde_json::Value =
            serde_json::from_str(sendout_core::catalog::CATALOG_JSON).expect("catalog.json");
        let seed_groups: Vec<(String, Vec<String>)> = seed["groups"]["project_settings"]
            .as_array()
            .expect("project_settings groups")
            .iter()
            .map(|g| {
                let name = g["name"].as_str().expect("name").to_owned();
                let types = g["types"].as_array().expect("types").iter();
                (
                    name,
                    types
                        .map(|t| t.as_str().expect("type").to_owned())
                        .collect(),
                )
            })
            .collect();
        let ticked = [
            "voucher.published".to_owned(),
            "customer.created".to_owned(),
        ];
        let groups = picker(&ticked);
        let shown: Vec<(String, Vec<String>)> = groups
            .iter()
            .map(|g| {
                (
                    g.name.clone(),
                    g.events.iter().map(|e| e.name.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(shown, seed_groups);

        let catalog_groups = catalog().groups(Channel::ProjectSettings);
        assert_eq!(groups.len(), catalog_groups.len());
        for (group, expected) in groups.iter().zip(&catalog_groups) {
            assert_eq!(group.name, expected.name);
            for (event, expected) in group.events.iter().zip(&expected.types) {
                assert_eq!(event.name, expected.name());
                let title = expected.title_in(Channel::ProjectSettings);
                assert_eq!(event.title, title.unwrap_or(expected.title()));
                assert_eq!(event.checked, ticked.iter().any(|t| t == expected.name()));
            }
            let checked = group.events.iter().filter(|e| e.checked).count();
            assert_eq!(group.checked, checked, "{}", group.name);
        }
        let slugs: std::collections::BTreeSet<&str> =
            groups.iter().map(|g| g.slug.as_str()).collect();
        assert_eq!(
            slugs.len(),
            groups.len(),
            "each group has its own element id"
        );
    }
}
