//! Why a distribution, or one channel of it, was refused: [`DistributionError`], whose
//! variants say whether the input was malformed (400) or asks for what the catalog does not
//! allow (422), and name the field at fault as a JSON path.

use crate::catalog::{catalog, Purpose};
use crate::field::{FieldError, FieldPath};
use crate::template::{TemplateError, UnknownPath};

/// Why a distribution (or one channel, for preview) was refused. Each names the field at
/// fault as a JSON path (`channels[1].payload.template`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DistributionError {
    /// A value has the wrong form (400).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The trigger is not in the catalog, or not a distribution trigger (422).
    #[error("trigger.event: {message}")]
    UnknownTrigger { message: String },
    /// The action is not one the trigger supports (422).
    #[error("action: {message}")]
    UnsupportedAction { message: String },
    /// A condition key the trigger does not carry (422).
    #[error("trigger.condition: {message}")]
    UnsupportedCondition { message: String },
    /// A template that is not a template, with line and column (422).
    #[error("{field}: {error}")]
    TemplateSyntax { field: String, error: TemplateError },
    /// Paths the trigger's data does not carry (422).
    #[error("{field}: {}; the trigger {trigger} offers {}", list_unknown(.unknown), offers(.trigger))]
    UnknownPaths {
        field: String,
        trigger: String,
        unknown: Vec<UnknownPath>,
    },
    /// Paths the trigger's data carries, but not for the chosen action: their first key
    /// belongs to other purposes (422).
    #[error("{field}: {}", not_for_action(.trigger, *.action, .paths))]
    KeyNotForAction {
        field: String,
        trigger: String,
        action: Purpose,
        paths: Vec<String>,
    },
    /// An attribute selection whose keys clash or whose paths do not parse (422).
    #[error("{field}: {message}")]
    InvalidAttributes { field: String, message: String },
    /// A template longer, or with more placeholders (a selection with more attributes), than
    /// the deployment allows (422).
    #[error("{field}: {message}")]
    TooLarge { field: String, message: String },
}

impl DistributionError {
    /// Whether the input was well formed but asks for something the catalog does not allow
    /// (422), rather than malformed (400).
    pub fn is_semantic(&self) -> bool {
        !matches!(self, Self::Invalid { .. })
    }

    /// A stable key for API clients to branch on.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid_payload",
            Self::UnknownTrigger { .. } => "unknown_trigger",
            Self::UnsupportedAction { .. } => "unsupported_action",
            Self::UnsupportedCondition { .. } => "unsupported_condition",
            Self::TemplateSyntax { .. } => "invalid_template",
            Self::UnknownPaths { .. } => "unknown_template_path",
            Self::KeyNotForAction { .. } => "key_not_for_action",
            Self::InvalidAttributes { .. } => "invalid_attributes",
            Self::TooLarge { .. } => "template_too_large",
        }
    }

    /// The field at fault, as a path.
    pub fn field(&self) -> FieldPath {
        match self {
            Self::Invalid { field, .. }
            | Self::TemplateSyntax { field, .. }
            | Self::UnknownPaths { field, .. }
            | Self::KeyNotForAction { field, .. }
            | Self::InvalidAttributes { field, .. }
            | Self::TooLarge { field, .. } => FieldPath::parse(field),
            Self::UnknownTrigger { .. } => FieldPath::field("trigger").key("event"),
            Self::UnsupportedAction { .. } => FieldPath::field("action"),
            Self::UnsupportedCondition { .. } => FieldPath::field("trigger").key("condition"),
        }
    }

    /// What is wrong, without the field.
    pub fn message(&self) -> String {
        match self {
            Self::Invalid { message, .. }
            | Self::UnknownTrigger { message }
            | Self::UnsupportedAction { message }
            | Self::UnsupportedCondition { message }
            | Self::InvalidAttributes { message, .. }
            | Self::TooLarge { message, .. } => message.clone(),
            Self::TemplateSyntax { error, .. } => error.to_string(),
            Self::UnknownPaths {
                trigger, unknown, ..
            } => format!(
                "{}; the trigger {trigger} offers {}",
                list_unknown(unknown),
                offers(trigger)
            ),
            Self::KeyNotForAction {
                trigger,
                action,
                paths,
                ..
            } => not_for_action(trigger, *action, paths),
        }
    }

    /// The error as data: the field's path and the message.
    pub fn field_error(&self) -> FieldError {
        FieldError::new(self.field(), self.message())
    }

    pub(super) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

fn list_unknown(unknown: &[UnknownPath]) -> String {
    let shown: Vec<String> = unknown.iter().map(ToString::to_string).collect();
    shown.join("; ")
}

/// Which paths the action does not get, and which actions their keys come with.
fn not_for_action(trigger: &str, action: Purpose, paths: &[String]) -> String {
    let event_type = catalog().get(trigger);
    let shown: Vec<String> = paths
        .iter()
        .map(|path| {
            let key = path.split(['.', '[']).next().unwrap_or(path);
            let with = event_type
                .and_then(|t| t.key_purposes(key))
                .map(|purposes| {
                    let names: Vec<&str> = purposes.iter().map(|p| p.as_str()).collect();
                    if names.is_empty() {
                        "no action".to_owned()
                    } else {
                        names.join(" or ")
                    }
                })
                .unwrap_or_else(|| "other actions".to_owned());
            format!("`{path}` (`{key}` comes only with {with})")
        })
        .collect();
    format!(
        "{} not in the data of a {trigger} distribution with the action {action}",
        if shown.len() == 1 {
            format!("{} is", shown[0])
        } else {
            format!("{} are", shown.join(", "))
        }
    )
}

/// What a trigger's data offers, briefly: its top-level keys and where to find every path.
fn offers(trigger: &str) -> String {
    let keys: Vec<String> = catalog()
        .get(trigger)
        .map(|t| {
            t.data_keys()
                .keys()
                .map(|(k, _)| format!("`{k}`"))
                .collect()
        })
        .unwrap_or_default();
    let listed = if keys.is_empty() {
        "no known keys".to_owned()
    } else {
        keys.join(", ")
    };
    format!("{listed} (GET /v1/event-types/{trigger} lists every path)")
}

#[cfg(test)]
mod field_tests {
    use super::*;

    #[test]
    fn the_field_error_reads_as_the_error_does() {
        let errors = [
            DistributionError::invalid("channels[2].url", "must be absolute"),
            DistributionError::UnknownTrigger {
                message: "no such trigger".into(),
            },
            DistributionError::UnsupportedAction {
                message: "not for this trigger".into(),
            },
            DistributionError::UnsupportedCondition {
                message: "no such key".into(),
            },
            DistributionError::UnknownPaths {
                field: "channels[0].payload.template".into(),
                trigger: "customer.order.paid".into(),
                unknown: Vec::new(),
            },
            DistributionError::InvalidAttributes {
                field: "channels[1].payload.attributes[0].key".into(),
                message: "clashes".into(),
            },
            DistributionError::KeyNotForAction {
                field: "channels[0].payload.template".into(),
                trigger: "customer.order.paid".into(),
                action: Purpose::SendPlainMessage,
                paths: vec!["voucher.code".into()],
            },
        ];
        for error in errors {
            assert_eq!(error.field_error().to_string(), error.to_string());
        }
    }
}
