//! Every error a client can cause becomes a 4xx with `{"error": {"code", "message"}}`
//! ([`ErrorBody`]); a 503 means nothing was acknowledged (retry).

use crate::app::views::ErrorDetail;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// Every error reply: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"error": {"code": "invalid_phone", "message": "not a valid phone number"}}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The challenge on a 401 of the admin API (RFC 6750 section 3).
const BEARER_CHALLENGE: &str = "Bearer realm=\"leadline admin\"";

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// 403 `forbidden`: the operator's role does not include the one this needs.
    pub fn role(needed: leadline_core::operators::Role, who: &str, has: leadline_core::operators::Role) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this needs the {} role; operator '{who}' is {} {}",
                needed.as_str(),
                if has == leadline_core::operators::Role::Admin { "an" } else { "a" },
                has.as_str()
            ),
        )
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "invalid_signature", message)
    }
    /// Our side is not able to take the event now; the client should retry (nothing was acknowledged).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::ACCEPTED {
            // Cluster mode: the event is in the replicated log (acknowledged), not yet
            // applied on this node; no decisions to report yet.
            return (self.status, Json(serde_json::json!({"queued": true, "message": self.message}))).into_response();
        }
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        // The bearer challenge belongs to the admin API's 401 (`unauthorized`), not to a
        // webhook's refused signature (also a 401, with its own code).
        let unauthorized = self.status == StatusCode::UNAUTHORIZED && self.code == "unauthorized";
        let body = ErrorBody { error: ErrorDetail { code: self.code.to_string(), message: self.message } };
        let mut res = (self.status, Json(body)).into_response();
        if unauthorized {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(BEARER_CHALLENGE));
        }
        res
    }
}

impl From<leadline_core::phone::PhoneError> for ApiError {
    fn from(e: leadline_core::phone::PhoneError) -> Self {
        ApiError::unprocessable("invalid_phone", e.to_string())
    }
}

/// A field over its length limit (`leadline_core::limits`, docs/limits.md).
impl From<leadline_core::limits::TooLong> for ApiError {
    fn from(e: leadline_core::limits::TooLong) -> Self {
        ApiError::unprocessable("invalid_field", e.to_string())
    }
}

impl From<leadline_core::storage::StoreError> for ApiError {
    fn from(e: leadline_core::storage::StoreError) -> Self {
        ApiError::unavailable(e.to_string())
    }
}

/// Turns a serde_json error into 400 (not JSON at all) or 422 (JSON of the wrong shape).
pub fn json_error(e: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request("malformed_json", format!("body is not valid JSON: {e}"))
        }
        Category::Data => ApiError::unprocessable("invalid_body", e.to_string()),
    }
}

/// Nothing was acknowledged: 503, the sender retries.
impl From<crate::app::SubmitError> for ApiError {
    fn from(e: crate::app::SubmitError) -> Self {
        ApiError::from(crate::app::AppError::from(e))
    }
}

impl From<crate::app::AppError> for ApiError {
    fn from(e: crate::app::AppError) -> Self {
        use crate::app::AppError;
        match e {
            AppError::Invalid { code, message } => ApiError::unprocessable(code, message),
            AppError::NotFound(message) => ApiError::not_found(message),
            AppError::Conflict { code, message } => ApiError::new(StatusCode::CONFLICT, code, message),
            AppError::Unavailable(message) => ApiError::unavailable(message),
            AppError::Queued(message) => ApiError::new(StatusCode::ACCEPTED, "queued", message),
        }
    }
}
