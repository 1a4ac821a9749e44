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
    security((), ("leadline_signature" = [])),
    responses(
        (status = 202, description = "Stored; the decisions it produced", body = Applied),
        (status = 400, description = "Not JSON (`malformed_json`) or a bad `Idempotency-Key`", body = ErrorBody),
        (status = 403, description = "`X-Leadline-Signature` missing or invalid (`invalid_signature`)", body = ErrorBody),
        (status = 409, description = "The same `Idempotency-Key` is still being processed (`idempotency_key_in_use`)", body = ErrorBody),
        (status = 415, description = "Not `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "JSON of the wrong shape (`invalid_body`), bad field (`invalid_field`, `invalid_phone`), or an `Idempotency-Key` reused for another request", body = ErrorBody),
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
