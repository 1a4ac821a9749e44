//! Request extractors whose rejections are the API's JSON errors:
//!
//! - [`ApiJson`]: a JSON object body. 415 `unsupported_media_type` when the Content-Type is
//!   not JSON (or missing), 413 `body_too_large`, 400 `malformed_json` when the body is not
//!   JSON, 422 `invalid_body` when it is JSON of the wrong shape (not an object, a missing
//!   field, a wrong type), naming the field.
//! - [`ApiJsonOrEmpty`]: the same, but an empty body (with any or no Content-Type) is `{}`:
//!   for commands whose body is optional.
//! - [`ApiQuery`]: query parameters; 400 `invalid_query` naming the parameter.

use super::body::read_limited;
use super::error::ApiError;
use crate::app::App;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

/// A JSON object body, deserialised into `T`.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

/// A JSON object body, or `T::default()` when the body is empty.
#[derive(Debug, Clone)]
pub struct ApiJsonOrEmpty<T>(pub T);

/// Query parameters, deserialised into `T`.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequest<App> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &App) -> Result<Self, ApiError> {
        require_json(req.headers())?;
        let bytes = read_limited(req.into_body(), app.settings.server.max_body_bytes).await?;
        Ok(ApiJson(parse_object(&bytes)?))
    }
}

impl<T: DeserializeOwned + Default> FromRequest<App> for ApiJsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &App) -> Result<Self, ApiError> {
        let headers = req.headers().clone();
        let bytes = read_limited(req.into_body(), app.settings.server.max_body_bytes).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(ApiJsonOrEmpty(T::default()));
        }
        require_json(&headers)?;
        Ok(ApiJsonOrEmpty(parse_object(&bytes)?))
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

/// Whether the Content-Type is JSON: `application/json` or `application/<anything>+json`,
/// any case, with any parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let media = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    if is_json(headers) {
        return Ok(());
    }
    let given = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(|v| v.chars().take(80).collect());
    let message = match given {
        Some(given) => {
            let given: String = given;
            format!("this endpoint takes JSON: send `Content-Type: application/json` (got `{}`)", given.escape_debug())
        }
        None => "this endpoint takes JSON: send `Content-Type: application/json` (no Content-Type was given)".into(),
    };
    Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message))
}

/// Parses a JSON object into `T`. A body that is JSON but not an object is a 422 (serde
/// would otherwise read a JSON array into a struct, field by field, in order).
pub fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().copied().find(|b| !b.is_ascii_whitespace());
    if first != Some(b'{') {
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => ApiError::unprocessable("invalid_body", "the body must be a JSON object"),
            Err(e) => malformed(e),
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // A shape error found before the end of a body that is not JSON at all (`{} x`):
        // the body is malformed first.
        if let Err(syntax) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            return malformed(syntax);
        }
        match inner.classify() {
            serde_json::error::Category::Data if path != "." => {
                ApiError::unprocessable("invalid_body", format!("`{path}`: {inner}"))
            }
            serde_json::error::Category::Data => ApiError::unprocessable("invalid_body", inner.to_string()),
            _ => malformed(inner),
        }
    })?;
    de.end().map_err(malformed)?;
    Ok(value)
}

fn malformed(e: serde_json::Error) -> ApiError {
    ApiError::bad_request("malformed_json", format!("body is not valid JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        price: u64,
    }

    #[test]
    fn content_types() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(is_json(&h("application/json")));
        assert!(is_json(&h("Application/JSON; charset=utf-8")));
        assert!(is_json(&h("application/vnd.api+json")));
        assert!(!is_json(&h("text/plain")));
        assert!(!is_json(&h("application/x-www-form-urlencoded")));
        assert!(!is_json(&HeaderMap::new()));
        assert_eq!(require_json(&HeaderMap::new()).unwrap_err().status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn errors_name_the_field_and_refuse_arrays() {
        let e = parse_object::<Body>(br#"{"name": "a", "inner": {"price": "x"}}"#).unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));
        assert!(e.message.starts_with("`inner.price`: invalid type"), "{}", e.message);
        let e = parse_object::<Body>(br#"{"inner": null}"#).unwrap_err();
        assert!(e.message.contains("missing field `name`"), "{}", e.message);
        let e = parse_object::<Body>(br#"["a", null]"#).unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "the body must be a JSON object")
        );
        for bad in [&b"{"[..], b"[1,", b"", b"{} x", b"nope"] {
            let e = parse_object::<Body>(bad).unwrap_err();
            assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, "malformed_json"), "{bad:?}");
        }
        assert!(parse_object::<Body>(br#" {"name": "a"} "#).is_ok());
    }
}
