//! A project's `webhooks_callout_notifications` (Voucherify's Management API shape): who is
//! told, and how, when sendout gives up on a webhook or a distribution.
//!
//! Rules (docs/API.md, "Management API"): each of `webhooks` and `distributions` and each of
//! their fields may be left out, keeping the stored value (the default for a new project: no
//! email, in-app notices on); `emails` holds at most [`MAX_EMAILS`] addresses, each of the
//! common `local@domain.tld` form, no two alike; `email: true` needs at least one address.

use sendout_core::field::FieldError;
use sendout_store::{CalloutNotification, CalloutNotifications};

/// The most addresses one kind of target may notify (Voucherify's own limit).
pub const MAX_EMAILS: usize = 10;
/// The longest address (RFC 5321's path limit).
const MAX_EMAIL_CHARS: usize = 254;

/// `webhooks_callout_notifications` as given.
#[derive(Debug, Clone, Default)]
pub struct NotificationsInput {
    pub webhooks: Option<NoticeInput>,
    pub distributions: Option<NoticeInput>,
}

/// One kind of target's part, as given.
#[derive(Debug, Clone, Default)]
pub struct NoticeInput {
    pub email: Option<bool>,
    pub emails: Option<Vec<String>>,
    pub in_app: Option<bool>,
}

/// `input` applied over `current`, checked; each error names its field.
pub fn apply(
    input: NotificationsInput,
    current: &CalloutNotifications,
) -> Result<CalloutNotifications, Vec<FieldError>> {
    let webhooks = notice("webhooks", input.webhooks, &current.webhooks);
    let distributions = notice("distributions", input.distributions, &current.distributions);
    match (webhooks, distributions) {
        (Ok(webhooks), Ok(distributions)) => Ok(CalloutNotifications {
            webhooks,
            distributions,
        }),
        (webhooks, distributions) => Err(webhooks
            .err()
            .into_iter()
            .chain(distributions.err())
            .flatten()
            .collect()),
    }
}

fn notice(
    part: &str,
    input: Option<NoticeInput>,
    current: &CalloutNotification,
) -> Result<CalloutNotification, Vec<FieldError>> {
    let Some(input) = input else {
        return Ok(current.clone());
    };
    let field = |name: &str| format!("webhooks_callout_notifications.{part}.{name}");
    let mut errors = Vec::new();
    let emails = match input.emails {
        None => current.emails.clone(),
        Some(given) => {
            let mut emails: Vec<String> = Vec::with_capacity(given.len());
            if given.len() > MAX_EMAILS {
                errors.push(FieldError::at(
                    &field("emails"),
                    format!(
                        "has {} addresses; at most {MAX_EMAILS} are allowed",
                        given.len()
                    ),
                ));
            }
            for (i, text) in given.iter().enumerate() {
                match email_address(text) {
                    Ok(address) if emails.iter().any(|e| e.eq_ignore_ascii_case(&address)) => {
                        errors.push(FieldError::at(
                            &format!("{}[{i}]", field("emails")),
                            format!("`{address}` is given twice"),
                        ));
                    }
                    Ok(address) => emails.push(address),
                    Err(why) => {
                        errors.push(FieldError::at(&format!("{}[{i}]", field("emails")), why))
                    }
                }
            }
            emails
        }
    };
    let email = input.email.unwrap_or(current.email);
    if email && emails.is_empty() && errors.is_empty() {
        errors.push(FieldError::at(
            &field("emails"),
            "needs at least one address while email is on",
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(CalloutNotification {
        email,
        emails,
        in_app: input.in_app.unwrap_or(current.in_app),
    })
}

/// An address of the common `local@domain.tld` form, trimmed; or why it is not one.
pub fn email_address(text: &str) -> Result<String, String> {
    let address = text.trim();
    let refuse = |why: &str| {
        Err(format!(
            "`{}` is not an email address: {why}",
            address.chars().take(80).collect::<String>()
        ))
    };
    if address.is_empty() {
        return Err("is empty; give an address such as ops@example.com".to_owned());
    }
    if address.chars().count() > MAX_EMAIL_CHARS {
        return refuse(&format!("longer than {MAX_EMAIL_CHARS} characters"));
    }
    let Some((local, domain)) = address.split_once('@') else {
        return refuse("it has no @");
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    if !local_ok {
        return refuse("the part before @ has characters addresses cannot have");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if !domain_ok {
        return refuse("the part after @ is not a domain such as example.com");
    }
    Ok(address.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_of_the_common_form_are_taken_and_others_named() {
        for good in [
            "ops@example.com",
            " a.b+tag@mail.example.co.uk ",
            "zespół@przykład.pl",
        ] {
            assert!(email_address(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "ops",
            "ops@",
            "@example.com",
            "ops@example",
            "a b@example.com",
            "ops@exa_mple.com",
            "a..b@example.com",
            "ops@-example.com",
            "ops@example.com\r\nBcc: x@y.z",
        ] {
            assert!(email_address(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parts_left_out_keep_their_values_and_bad_ones_are_named() {
        let current = CalloutNotifications::default();
        let input = NotificationsInput {
            webhooks: Some(NoticeInput {
                email: Some(true),
                emails: Some(vec!["ops@example.com".into()]),
                in_app: None,
            }),
            distributions: None,
        };
        let applied = apply(input, &current).expect("valid");
        assert!(applied.webhooks.email && applied.webhooks.in_app);
        assert_eq!(applied.webhooks.emails, ["ops@example.com"]);
        assert_eq!(applied.distributions, CalloutNotification::default());

        let eleven: Vec<String> = (0..11).map(|i| format!("o{i}@example.com")).collect();
        let too_many = NotificationsInput {
            distributions: Some(NoticeInput {
                emails: Some(eleven),
                ..NoticeInput::default()
            }),
            webhooks: Some(NoticeInput {
                email: Some(true),
                emails: Some(vec!["x@example.com".into(), "X@example.com".into()]),
                in_app: None,
            }),
        };
        let errors = apply(too_many, &current).expect_err("refused");
        let text = format!("{errors:?}");
        assert!(text.contains("distributions.emails"), "{text}");
        assert!(text.contains("at most 10"), "{text}");
        assert!(text.contains("webhooks.emails[1]"), "{text}");

        let no_address = NotificationsInput {
            webhooks: Some(NoticeInput {
                email: Some(true),
                ..NoticeInput::default()
            }),
            distributions: None,
        };
        let errors = apply(no_address, &current).expect_err("refused");
        assert!(format!("{errors:?}").contains("at least one address"));
    }
}
