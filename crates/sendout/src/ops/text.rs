//! The limits and checks of free text that people type (names, descriptions, time zones),
//! written once for every input that has them.

use sendout_core::field::FieldError;

/// The longest project or distribution name.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest description of a project or webhook.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// The longest time zone name.
pub const MAX_TIMEZONE_CHARS: usize = 64;
/// The only webhook format sendout speaks.
pub const WEBHOOK_VERSION: &str = "v2024-01-01";
/// The time zone of a project created without one.
pub const DEFAULT_TIMEZONE: &str = "Etc/UTC";

/// Trimmed, non-empty text of at most `max` characters without control characters.
pub fn text_field(field: &str, value: &str, max: usize) -> Result<String, FieldError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(FieldError::at(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(FieldError::at(
            field,
            format!("must be at most {max} characters long"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(FieldError::at(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

/// A description change: `None` keeps `current`, `Some(None)` or blank text clears it.
pub fn description(
    value: Option<Option<String>>,
    current: Option<String>,
) -> Result<Option<String>, FieldError> {
    match value {
        None => Ok(current),
        Some(None) => Ok(None),
        Some(Some(d)) if d.trim().is_empty() => Ok(None),
        Some(Some(d)) => text_field("description", &d, MAX_DESCRIPTION_CHARS).map(Some),
    }
}

/// A name of the IANA time zone database (as Voucherify takes it): `Europe/Warsaw`, `UTC`,
/// `Etc/GMT+1`, spelled as the database does.
pub fn timezone(value: &str) -> Result<String, FieldError> {
    let value = text_field("timezone", value, MAX_TIMEZONE_CHARS)?;
    if value.parse::<chrono_tz::Tz>().is_ok() {
        Ok(value)
    } else {
        Err(FieldError::at(
            "timezone",
            "must be a name of the IANA time zone database, such as Europe/Warsaw, UTC or \
             Etc/GMT+1 (case matters)",
        ))
    }
}

/// The webhook version, which must be [`WEBHOOK_VERSION`].
pub fn webhook_version(value: &str) -> Result<String, FieldError> {
    if value == WEBHOOK_VERSION {
        Ok(value.to_owned())
    } else {
        Err(FieldError::at(
            "webhook_version",
            format!("only {WEBHOOK_VERSION} is supported"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_are_names_of_the_iana_database() {
        for known in [
            "Europe/Warsaw",
            "UTC",
            "Etc/UTC",
            "Etc/GMT+1",
            "America/Argentina/Salta",
        ] {
            assert_eq!(timezone(known).ok().as_deref(), Some(known), "{known}");
        }
        for unknown in [
            "Mars/Olympus",
            "europe/warsaw",
            "GMT+25",
            "Europe/",
            "+01:00",
        ] {
            assert!(timezone(unknown).is_err(), "{unknown}");
        }
    }
}
