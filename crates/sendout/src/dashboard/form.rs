//! A submitted HTML form: its fields in order, repeated names kept (a checkbox list such as
//! the event picker sends `events=a&events=b`, which serde's flat form decoding cannot hold).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};

use crate::dashboard::error::DashError;

/// The fields of an `application/x-www-form-urlencoded` body.
#[derive(Debug, Clone, Default)]
pub struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    /// Decodes a form body.
    pub fn parse(body: &[u8]) -> Self {
        Self {
            fields: url::form_urlencoded::parse(body).into_owned().collect(),
        }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, or `""`.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).map(str::trim).unwrap_or_default()
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a checkbox named `name` was ticked (sent at all).
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Whether the request's body is a form (`application/x-www-form-urlencoded`).
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = DashError;

    async fn from_request(request: Request, state: &S) -> Result<Self, DashError> {
        if !is_form(request.headers()) {
            return Err(DashError::BadRequest(
                "The dashboard takes forms (application/x-www-form-urlencoded).".into(),
            ));
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|_| DashError::BadRequest("The form is too large.".into()))?;
        Ok(Self::parse(&body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_fields_are_all_kept_in_order() {
        let form = Form::parse(b"events=a.b&x=%20y%20&events=c.d&active=on&empty=");
        assert_eq!(form.all("events"), ["a.b", "c.d"]);
        assert_eq!(form.text("x"), "y");
        assert_eq!(form.get("x"), Some(" y "));
        assert!(form.checked("active"));
        assert!(form.checked("empty"));
        assert!(!form.checked("missing"));
        assert_eq!(form.text("missing"), "");
    }
}
