//! `POST /v1/events/mls`: a listing change pushed by an MLS feed or an integrator, fanned
//! out to every lead watching that listing.
//!
//! The reply comes only after every interested lead acknowledged the change (durably
//! applied): 202 [`MlsReport`]. If any lead did not, 503 [`FanoutIncomplete`] (the same counts
//! plus `failed`): the sender retries, and the per-lead dedupe keys make the retry reach only
//! the leads that missed it.

use crate::app::listings::{self, MlsBody};
use crate::app::views::{ErrorDetail, FanoutIncomplete, MlsReport};
use crate::app::App;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::ApiJson;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// A listing change, fanned out to every lead watching the listing
///
/// Answers once every interested lead acknowledged the change.
#[utoipa::path(
    post,
    path = "/v1/events/mls",
    tag = "events",
    request_body = MlsBody,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, description = "Replays the first response to the same request; 1 to 255 printable ASCII characters")),
    security((), ("webhook_id" = [], "webhook_timestamp" = [], "webhook_signature" = []), ("leadline_signature" = [])),
    responses(
        (status = 202, description = "Every interested lead acknowledged the change", body = MlsReport),
        (status = 400, description = "Not JSON (`malformed_json`), a bad `Idempotency-Key` or a bad `webhook-id` (`invalid_webhook_id`)", body = ErrorBody),
        (status = 401, description = "Standard Webhooks headers present but not valid (`invalid_signature`), or `webhook-timestamp` more than `webhooks.inbound_tolerance_secs` from the server's time (`webhook_timestamp_out_of_tolerance`)", body = ErrorBody),
        (status = 403, description = "Unsigned, or the legacy `X-Leadline-Signature` is not valid (`invalid_signature`), when a webhook secret is set", body = ErrorBody),
        (status = 409, description = "The same `Idempotency-Key` or `webhook-id` is still being processed (`idempotency_key_in_use`)", body = ErrorBody),
        (status = 415, description = "Not `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "JSON of the wrong shape (`invalid_body`), bad or missing field (`invalid_field`, `missing_field`), or an `Idempotency-Key` or `webhook-id` reused for another request (`idempotency_key_reused`)", body = ErrorBody),
        (status = 503, description = "Some leads did not acknowledge (`failed`, `error.code` = `fanout_incomplete`; retry: leads that applied it are skipped), or the service is unavailable (`ErrorBody`)", body = FanoutIncomplete),
    )
)]
pub async fn post_mls(State(app): State<App>, ApiJson(body): ApiJson<MlsBody>) -> Result<Response, ApiError> {
    let (change, occurred_at) = body.into_change()?;
    let r = listings::apply(&app, &change, occurred_at, "push").await?;
    let report = MlsReport {
        listing_id: change.listing_id.clone(),
        change: change.change,
        leads: r.leads,
        applied: r.applied,
        duplicates: r.duplicates,
    };
    if r.complete() {
        return Ok((StatusCode::ACCEPTED, Json(report)).into_response());
    }
    let message = format!(
        "{} of {} leads acknowledged the change, {} did not ({}); retry: leads that already applied it are skipped",
        r.applied + r.duplicates,
        r.leads,
        r.failed,
        r.first_error.as_deref().unwrap_or("unknown error")
    );
    tracing::error!(listing = %change.listing_id, failed = r.failed, "MLS fan-out incomplete");
    let error = ErrorDetail { code: "fanout_incomplete".into(), message };
    let body = FanoutIncomplete { report, failed: r.failed, error };
    Ok((StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response())
}
