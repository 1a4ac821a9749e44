//! `POST /v1/events/crm` (a CRM stage/status change) and `POST /v1/events/interest` (a lead
//! saved or viewed a listing on the website or in the CRM).

use crate::app::crm::{self, CrmBody, InterestBody};
use crate::app::views::{CrmApplied, InterestApplied};
use crate::app::App;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::ApiJson;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

/// A CRM stage/status change
///
/// An unknown phone creates the lead. With `listing_id` and `listing_action` the listing is
/// also added to the lead's interests.
#[utoipa::path(
    post,
    path = "/v1/events/crm",
    tag = "events",
    request_body = CrmBody,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, description = "Replays the first response to the same request; 1 to 255 printable ASCII characters")),
    security((), ("webhook_id" = [], "webhook_timestamp" = [], "webhook_signature" = []), ("leadline_signature" = [])),
    responses(
        (status = 202, description = "Stored; the decisions it produced", body = CrmApplied),
        (status = 400, description = "Not JSON (`malformed_json`), a bad `Idempotency-Key` or a bad `webhook-id` (`invalid_webhook_id`)", body = ErrorBody),
        (status = 401, description = "Standard Webhooks headers present but not valid (`invalid_signature`), or `webhook-timestamp` more than `webhooks.inbound_tolerance_secs` from the server's time (`webhook_timestamp_out_of_tolerance`)", body = ErrorBody),
        (status = 403, description = "Unsigned, or the legacy `X-Leadline-Signature` is not valid (`invalid_signature`), when a webhook secret is set", body = ErrorBody),
        (status = 409, description = "The same `Idempotency-Key` or `webhook-id` is still being processed (`idempotency_key_in_use`)", body = ErrorBody),
        (status = 415, description = "Not `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "JSON of the wrong shape (`invalid_body`), bad or missing field (`invalid_field`, `missing_field`, `invalid_phone`), or an `Idempotency-Key` or `webhook-id` reused for another request (`idempotency_key_reused`)", body = ErrorBody),
        (status = 503, description = "Not stored; retry (with the same `Idempotency-Key`)", body = ErrorBody),
    )
)]
pub async fn post_crm(
    State(app): State<App>,
    ApiJson(body): ApiJson<CrmBody>,
) -> Result<(StatusCode, Json<CrmApplied>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(crm::status_changed(&app, body).await?)))
}

/// A lead saved or viewed a listing
///
/// The listing joins the lead's interests, so MLS changes to it reach the lead.
#[utoipa::path(
    post,
    path = "/v1/events/interest",
    tag = "events",
    request_body = InterestBody,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, description = "Replays the first response to the same request; 1 to 255 printable ASCII characters")),
    security((), ("webhook_id" = [], "webhook_timestamp" = [], "webhook_signature" = []), ("leadline_signature" = [])),
    responses(
        (status = 202, description = "Stored; the decisions it produced", body = InterestApplied),
        (status = 400, description = "Not JSON (`malformed_json`), a bad `Idempotency-Key` or a bad `webhook-id` (`invalid_webhook_id`)", body = ErrorBody),
        (status = 401, description = "Standard Webhooks headers present but not valid (`invalid_signature`), or `webhook-timestamp` more than `webhooks.inbound_tolerance_secs` from the server's time (`webhook_timestamp_out_of_tolerance`)", body = ErrorBody),
        (status = 403, description = "Unsigned, or the legacy `X-Leadline-Signature` is not valid (`invalid_signature`), when a webhook secret is set", body = ErrorBody),
        (status = 409, description = "The same `Idempotency-Key` or `webhook-id` is still being processed (`idempotency_key_in_use`)", body = ErrorBody),
        (status = 415, description = "Not `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "JSON of the wrong shape (`invalid_body`), bad or missing field (`invalid_field`, `missing_field`, `invalid_phone`), or an `Idempotency-Key` or `webhook-id` reused for another request (`idempotency_key_reused`)", body = ErrorBody),
        (status = 503, description = "Not stored; retry (with the same `Idempotency-Key`)", body = ErrorBody),
    )
)]
pub async fn post_interest(
    State(app): State<App>,
    ApiJson(body): ApiJson<InterestBody>,
) -> Result<(StatusCode, Json<InterestApplied>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(crm::interest(&app, body).await?)))
}
