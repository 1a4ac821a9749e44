//! Reading request bodies with the configured size limit, so an oversized body is a 413
//! with our JSON error shape (not a bare text response).

use super::error::ApiError;
use axum::body::{Body, Bytes};
use axum::http::StatusCode;

pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_big =
            std::error::Error::source(&e).map(|s| s.is::<http_body_util::LengthLimitError>()).unwrap_or(false)
                || e.to_string().contains("length limit");
        if too_big {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request body is larger than {limit} bytes"),
            )
        } else {
            ApiError::bad_request("unreadable_body", format!("could not read the request body: {e}"))
        }
    })
}

/// Parses a JSON body; an empty body is read as `{}` when `allow_empty`.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], allow_empty: bool) -> Result<T, ApiError> {
    let bytes: &[u8] = if allow_empty && bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    serde_json::from_slice(bytes).map_err(super::error::json_error)
}
