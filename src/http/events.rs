//! `POST /v1/events/leads`: a new inquiry from any lead source.

use super::body::{parse_json, read_limited};
use super::error::ApiError;
use super::{applied_json, App};
use crate::app::leads::{self, LeadBody};
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
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
        (status = 202, description = "Stored; the decisions it produced", body = super::openapi::Applied),
        (status = 400, description = "Not JSON (`malformed_json`) or a bad `Idempotency-Key`", body = super::openapi::ErrorBody),
        (status = 403, description = "`X-Leadline-Signature` missing or invalid (`invalid_signature`)", body = super::openapi::ErrorBody),
        (status = 409, description = "The same `Idempotency-Key` is still being processed (`idempotency_key_in_use`)", body = super::openapi::ErrorBody),
        (status = 422, description = "JSON of the wrong shape (`invalid_body`), bad field (`invalid_field`, `invalid_phone`), or an `Idempotency-Key` reused for another request", body = super::openapi::ErrorBody),
        (status = 503, description = "Not stored; retry (with the same `Idempotency-Key`)", body = super::openapi::ErrorBody),
    )
)]
pub async fn post_lead(State(app): State<App>, body: Body) -> Result<impl IntoResponse, ApiError> {
    let bytes = read_limited(body, app.settings.server.max_body_bytes).await?;
    let lead: LeadBody = parse_json(&bytes, false)?;
    let applied = leads::capture(&app, lead).await?;
    Ok((StatusCode::ACCEPTED, Json(applied_json(&applied))))
}
