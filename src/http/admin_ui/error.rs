//! [`UiError`]: every error of the admin page, shown as a readable page with a 4xx (or 503
//! when the service is busy), never a 500; the application layer's and the API's errors
//! convert into it with the same status and message the JSON API gives.

use super::templates::{page, Base};
use crate::http::error::ApiError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error shown as a page.
#[derive(Debug)]
pub struct UiError {
    status: StatusCode,
    title: &'static str,
    message: String,
    signed_in: bool,
}

/// `error.html`'s own fields.
#[derive(Serialize)]
struct ErrorPage {
    status: u16,
    message: String,
}

impl UiError {
    pub(super) fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        UiError { status, title, message: message.into(), signed_in: true }
    }

    /// Whether the page offers the signed-in navigation (default) or the sign-in link.
    pub(super) fn signed_in(mut self, signed_in: bool) -> Self {
        self.signed_in = signed_in;
        self
    }
}

impl From<crate::app::SubmitError> for UiError {
    fn from(e: crate::app::SubmitError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<crate::app::AppError> for UiError {
    fn from(e: crate::app::AppError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        let title = match e.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::PAYLOAD_TOO_LARGE => "Too much data",
            s if s.is_server_error() => "The service is busy",
            _ => "That did not work",
        };
        UiError::new(e.status, title, e.message)
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, message = %self.message, "admin page error");
        }
        // No CSRF token on an error page: its only form would be "sign out", a link here.
        let mut base = Base::new(None, self.title.to_string(), "");
        base.signed_in = self.signed_in;
        page(self.status, "error.html", base, ErrorPage { status: self.status.as_u16(), message: self.message })
    }
}

pub(super) type UiResult = Result<Response, UiError>;
