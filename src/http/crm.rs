//! `POST /v1/events/crm` (a CRM stage/status change) and `POST /v1/events/interest` (a lead
//! saved or viewed a listing on the website or in the CRM).
//!
//! An unknown phone creates the lead: the CRM (or the website) knows it, and the decision
//! core handles a fresh lead (without a consent record it is never texted automatically).

use super::body::{parse_json, read_limited};
use super::error::ApiError;
use super::{applied_json, App};
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use leadline_core::limits;
use leadline_core::model::Event;
use leadline_core::{Phone, Ts};
use serde::Deserialize;
use serde_json::json;

/// Values of `listing_action` that add the listing to the lead's interests.
pub const LISTING_ACTIONS: [&str; 2] = ["saved", "viewed"];
const MAX_TOKEN: usize = 100;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"phone": "+12125550142", "status": "Active Client", "source": "followupboss", "agent": "Dana"}))]
pub struct CrmBody {
    pub phone: String,
    pub status: String,
    /// Which CRM sent it (logged; the timeline records the status change itself).
    pub source: Option<String>,
    pub agent: Option<String>,
    /// Makes a re-delivery of the same change harmless (de-duplicated by phone, status and this).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<Ts>,
    pub listing_id: Option<String>,
    /// `saved` or `viewed` (with `listing_id`): adds the listing to the lead's interests.
    pub listing_action: Option<String>,
    /// Address of `listing_id`, if known (shown on the timeline).
    pub address: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"phone": "+12125550142", "listing_id": "MLS-123", "address": "123 Main St", "how": "saved"}))]
pub struct InterestBody {
    pub phone: String,
    pub listing_id: String,
    pub address: Option<String>,
    /// How the interest was expressed: `saved`, `viewed`, ...
    pub how: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<Ts>,
}

fn non_empty(field: &str, value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ApiError::unprocessable("invalid_field", format!("`{field}` must not be empty")));
    }
    if v.chars().count() > MAX_TOKEN {
        return Err(ApiError::unprocessable(
            "invalid_field",
            format!("`{field}` is longer than {MAX_TOKEN} characters"),
        ));
    }
    Ok(v.to_string())
}

fn clean(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The interest event for a listing, validated.
fn interest_event(listing_id: &str, address: Option<String>, how: &str) -> Result<Event, ApiError> {
    let address = clean(address);
    limits::check_address("address", address.as_deref())?;
    Ok(Event::InterestAdded {
        listing_id: non_empty("listing_id", listing_id)?,
        address,
        how: non_empty("how", how)?.to_lowercase(),
    })
}

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
    security((), ("leadline_signature" = [])),
    responses(
        (status = 202, description = "Stored; the decisions it produced", body = super::openapi::CrmApplied),
        (status = 400, description = "Not JSON (`malformed_json`) or a bad `Idempotency-Key`", body = super::openapi::ErrorBody),
        (status = 403, description = "`X-Leadline-Signature` missing or invalid (`invalid_signature`)", body = super::openapi::ErrorBody),
        (status = 409, description = "The same `Idempotency-Key` is still being processed (`idempotency_key_in_use`)", body = super::openapi::ErrorBody),
        (status = 422, description = "JSON of the wrong shape (`invalid_body`), bad or missing field (`invalid_field`, `missing_field`, `invalid_phone`), or an `Idempotency-Key` reused for another request", body = super::openapi::ErrorBody),
        (status = 503, description = "Not stored; retry (with the same `Idempotency-Key`)", body = super::openapi::ErrorBody),
    )
)]
pub async fn post_crm(State(app): State<App>, body: Body) -> Result<impl IntoResponse, ApiError> {
    let bytes = read_limited(body, app.settings.server.max_body_bytes).await?;
    let body: CrmBody = parse_json(&bytes, false)?;
    let phone = Phone::parse(&body.phone)?;
    let status = non_empty("status", &body.status)?;
    // Refused even without a listing (where it is unused), so the rule reads the same everywhere.
    limits::check_address("address", body.address.as_deref().map(str::trim))?;
    // Validate everything before anything is applied, so a 4xx changes nothing.
    let interest = match (clean(body.listing_id), clean(body.listing_action)) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(ApiError::unprocessable("missing_field", "`listing_action` needs a `listing_id`"));
        }
        (Some(_), None) => {
            return Err(ApiError::unprocessable(
                "missing_field",
                format!("`listing_id` needs a `listing_action` ({})", LISTING_ACTIONS.join(" or ")),
            ));
        }
        (Some(listing), Some(action)) => {
            let action = action.to_lowercase();
            if !LISTING_ACTIONS.contains(&action.as_str()) {
                return Err(ApiError::unprocessable(
                    "invalid_field",
                    format!("`listing_action` must be one of {}", LISTING_ACTIONS.join(", ")),
                ));
            }
            Some((interest_event(&listing, body.address, &action)?, listing))
        }
    };
    let at = body.occurred_at.map(|t| t.rfc3339());
    tracing::info!(
        phone = %phone.masked(),
        status = %status,
        source = body.source.as_deref().unwrap_or("-"),
        "CRM status change"
    );
    // A re-delivery of the same change (same phone, status and occurred_at) is applied once.
    let dedupe = at.as_ref().map(|at| format!("crm:{phone}:{}:{at}", status.to_lowercase()));
    let event = Event::CrmChanged { status, agent: clean(body.agent), source: clean(body.source) };
    let applied = app.submit(phone.clone(), event, dedupe).await?;
    let mut out = applied_json(&applied);
    out["interest"] = serde_json::Value::Null;
    if let Some((event, listing)) = interest {
        let key = at.map(|at| format!("interest:{phone}:{listing}:{at}"));
        let applied = app.submit(phone, event, key).await?;
        out["interest"] = applied_json(&applied);
    }
    Ok((StatusCode::ACCEPTED, Json(out)))
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
    security((), ("leadline_signature" = [])),
    responses(
        (status = 202, description = "Stored; the decisions it produced", body = super::openapi::InterestApplied),
        (status = 400, description = "Not JSON (`malformed_json`) or a bad `Idempotency-Key`", body = super::openapi::ErrorBody),
        (status = 403, description = "`X-Leadline-Signature` missing or invalid (`invalid_signature`)", body = super::openapi::ErrorBody),
        (status = 409, description = "The same `Idempotency-Key` is still being processed (`idempotency_key_in_use`)", body = super::openapi::ErrorBody),
        (status = 422, description = "JSON of the wrong shape (`invalid_body`), bad or missing field (`invalid_field`, `missing_field`, `invalid_phone`), or an `Idempotency-Key` reused for another request", body = super::openapi::ErrorBody),
        (status = 503, description = "Not stored; retry (with the same `Idempotency-Key`)", body = super::openapi::ErrorBody),
    )
)]
pub async fn post_interest(State(app): State<App>, body: Body) -> Result<impl IntoResponse, ApiError> {
    let bytes = read_limited(body, app.settings.server.max_body_bytes).await?;
    let body: InterestBody = parse_json(&bytes, false)?;
    let phone = Phone::parse(&body.phone)?;
    let event = interest_event(&body.listing_id, body.address, &body.how)?;
    let dedupe = body.occurred_at.map(|at| format!("interest:{phone}:{}:{at}", body.listing_id.trim()));
    let applied = app.submit(phone, event, dedupe).await?;
    let mut out = applied_json(&applied);
    out["listing_id"] = json!(body.listing_id.trim());
    Ok((StatusCode::ACCEPTED, Json(out)))
}
