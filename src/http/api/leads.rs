//! `POST /v1/events/leads`: a new inquiry from any lead source.

use crate::app::leads::{self, LeadBody};
use crate::app::views::Applied;
use crate::app::App;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::ApiJson;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

/// A new inquiry from any lead source
///
/// Only `source` and `phone` are required. The same `source` + `source_lead_id` twice is
/// acknowledged once (`duplicate: true`).
#[utoipa::path(
    post,
    path = "/v1/events/leads",
    tag = "events",
    request_body = LeadBody,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, description = "Replays the first response to the same request; 1 to 255 printable ASCII characters")),
    security((), ("webhook_id" = [], "webhook_timestamp" = [], "webhook_signature" = []), ("leadline_signature" = [])),
    responses(
        (status = 202, description = "Stored; the decisions it produced", body = Applied),
        (status = 400, description = "Not JSON (`malformed_json`), a bad `Idempotency-Key` or a bad `webhook-id` (`invalid_webhook_id`)", body = ErrorBody),
        (status = 401, description = "Standard Webhooks headers present but not valid (`invalid_signature`), or `webhook-timestamp` more than `webhooks.inbound_tolerance_secs` from the server's time (`webhook_timestamp_out_of_tolerance`)", body = ErrorBody),
        (status = 403, description = "Unsigned, or the legacy `X-Leadline-Signature` is not valid (`invalid_signature`), when a webhook secret is set", body = ErrorBody),
        (status = 409, description = "The same `Idempotency-Key` or `webhook-id` is still being processed (`idempotency_key_in_use`)", body = ErrorBody),
        (status = 415, description = "Not `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "JSON of the wrong shape (`invalid_body`), bad field (`invalid_field`, `invalid_phone`), or an `Idempotency-Key` or `webhook-id` reused for another request (`idempotency_key_reused`)", body = ErrorBody),
        (status = 503, description = "Not stored; retry (with the same `Idempotency-Key`)", body = ErrorBody),
    )
)]
pub async fn post_lead(
    State(app): State<App>,
    ApiJson(lead): ApiJson<LeadBody>,
) -> Result<(StatusCode, Json<Applied>), ApiError> {
    let applied = leads::capture(&app, lead).await?;
    Ok((StatusCode::ACCEPTED, Json((&applied).into())))
}
