//! The application layer's errors. They say what went wrong in the caller's terms; the HTTP
//! shell maps them to status codes (`http::error`), the CLI prints them.

use leadline_core::limits::TooLong;
use leadline_core::phone::PhoneError;
use leadline_core::storage::StoreError;

/// Why an event was not acknowledged. Nothing was acknowledged in any case: the sender
/// retries (with the same idempotency or dedupe key, which makes the retry harmless).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("the service is shutting down")]
    ShuttingDown,
    #[error("{0}")]
    NotStored(String),
    #[error("the lead could not process the event; retry")]
    LeadFailed,
    #[error("timed out waiting for the event to be stored; retry with the same idempotency key")]
    TimedOut,
    /// Cluster mode: the replicated log has the event (acknowledged), this node has not
    /// applied it yet; its decisions follow.
    #[error("the event is stored in the cluster log; its decisions follow when it is applied")]
    Queued,
}

/// An operation of the application layer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// The input does not fit (a field named in `message`); `code` is the API's error code
    /// (`invalid_field`, `missing_field`, `invalid_phone`).
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// No such lead, suppression entry or dead letter.
    #[error("{0}")]
    NotFound(String),
    /// The request contradicts the current state (an operator that exists, a reply the
    /// rules refuse); `code` is the API's error code.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Not done now (storage, an actor, shutting down): retry.
    #[error("{0}")]
    Unavailable(String),
    /// Cluster mode: stored in the replicated log, not yet applied on this node (202).
    #[error("{0}")]
    Queued(String),
}

impl AppError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Invalid { code, message: message.into() }
    }
    /// `invalid_field`: a field's value is not acceptable.
    pub fn field(message: impl Into<String>) -> Self {
        Self::invalid("invalid_field", message)
    }
    /// `missing_field`: a field needed with the others is absent.
    pub fn missing(message: impl Into<String>) -> Self {
        Self::invalid("missing_field", message)
    }
}

impl From<SubmitError> for AppError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Queued => AppError::Queued(e.to_string()),
            e => AppError::Unavailable(e.to_string()),
        }
    }
}

impl From<PhoneError> for AppError {
    fn from(e: PhoneError) -> Self {
        AppError::invalid("invalid_phone", e.to_string())
    }
}

/// A field over its length limit (`leadline_core::limits`, docs/limits.md).
impl From<TooLong> for AppError {
    fn from(e: TooLong) -> Self {
        AppError::field(e.to_string())
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Unavailable(e.to_string())
    }
}
