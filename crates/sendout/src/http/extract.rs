//! Extractors that reject in the error shape: [`Json`], [`Query`] and [`Path`] wrap axum's
//! and turn every rejection into an [`ApiError`] that names what was wrong (axum's own
//! rejections are plain text).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode, Uri};
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;
use crate::http::media::is_json_content_type;

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => Self::InvalidPayload(strip_prefix(&e.body_text())),
            JsonRejection::JsonSyntaxError(e) => Self::InvalidJson(strip_prefix(&e.body_text())),
            JsonRejection::MissingJsonContentType(_) => Self::UnsupportedMediaType,
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::PayloadTooLarge
            }
            other => Self::InvalidJson(other.body_text()),
        }
    }
}

/// axum's rejection texts start with a fixed sentence, then `: ` and the useful part.
fn strip_prefix(text: &str) -> String {
    match text.split_once(": ") {
        Some((_, rest)) if !rest.is_empty() => rest.to_owned(),
        _ => text.to_owned(),
    }
}

/// A JSON request body, rejected in the error shape: 415 without a JSON content type, 400
/// when it is not JSON or does not fit the type (naming the field), 413 when too large.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(request.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let axum::Json(value) = axum::Json::<T>::from_request(request, state).await?;
        Ok(Self(value))
    }
}

/// A JSON object request body, rejected as [`Json`] is, and with 400 when the body is JSON
/// but not an object: serde would otherwise read a struct from an array of its fields'
/// values (`[null, null]`), which no client means.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonObject<T>(pub T);

impl<T, S> FromRequest<S> for JsonObject<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(raw) =
            Json::<Box<serde_json::value::RawValue>>::from_request(request, state).await?;
        if !raw.get().starts_with('{') {
            return Err(ApiError::InvalidPayload(
                "the body must be a JSON object".to_owned(),
            ));
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(raw.get().as_bytes())?;
        Ok(Self(value))
    }
}

/// Query parameters, rejected in the error shape (400 naming the parameter). A parameter
/// given empty (`?channel=`) is as if it were not given: no filter, or the default (docs/API.md).
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let given = without_empty_values(parts.uri.query().unwrap_or_default());
        let uri: Uri = format!("/?{given}")
            .parse()
            .map_err(|_| ApiError::InvalidQuery("the query string is not valid".to_owned()))?;
        axum::extract::Query::<T>::try_from_uri(&uri)
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|rejection: QueryRejection| {
                ApiError::InvalidQuery(strip_prefix(&rejection.body_text()))
            })
    }
}

/// The query string less its parameters whose value is empty.
fn without_empty_values(query: &str) -> String {
    let kept = url::form_urlencoded::parse(query.as_bytes()).filter(|(_, value)| !value.is_empty());
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(kept)
        .finish()
}

/// Path parameters, rejected in the error shape. Ids are taken as text and parsed by the
/// handler, so that a malformed id is a 404 like any unknown one.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|rejection: PathRejection| {
                ApiError::RouteNotFound(strip_prefix(&rejection.body_text()))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_query_values_are_dropped_and_the_rest_kept() {
        assert_eq!(
            without_empty_values("status=&type=voucher.published&limit="),
            "type=voucher.published"
        );
        assert_eq!(without_empty_values("q=a%20b&x"), "q=a+b");
        assert_eq!(without_empty_values(""), "");
    }
}
