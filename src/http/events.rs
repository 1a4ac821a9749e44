//! `POST /v1/events/leads`: a new inquiry from any lead source.

use super::body::{parse_json, read_limited};
use super::error::ApiError;
use super::{applied_json, App};
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use leadline_core::limits;
use leadline_core::model::{ConsentInput, Event, LeadCapture, ListingRef};
use leadline_core::{Phone, Ts};
use serde::Deserialize;
use std::net::IpAddr;

/// The generic lead body (PRODUCT.md). Only `source` and `phone` are required; unknown
/// fields are ignored so integrations can send what they have.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "source": "zillow", "source_lead_id": "Z-123", "phone": "(212) 555-0142",
    "first_name": "Ana", "last_name": "Ruiz", "email": "ana@example.com",
    "listing": {"id": "MLS-123", "address": "123 Main St", "price": 450000},
    "message": "Is this still available?",
    "consent": {"granted_at": "2026-11-27T14:03:00Z", "source_url": "https://agent.example.com/listing/123",
                "disclosure": "By checking this box I agree to receive automated texts from ...",
                "ip": "203.0.113.9", "user_agent": "Mozilla/5.0 ..."},
    "occurred_at": "2026-11-27T14:03:05Z"
}))]
pub struct LeadBody {
    pub source: String,
    pub phone: String,
    pub source_lead_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// Two-letter state of the lead's address, if known.
    pub state: Option<String>,
    pub listing: Option<ListingBody>,
    pub message: Option<String>,
    pub consent: Option<ConsentBody>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<Ts>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ListingBody {
    pub id: Option<String>,
    pub address: Option<String>,
    pub price: Option<u64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ConsentBody {
    #[schema(value_type = Option<String>, format = DateTime)]
    pub granted_at: Option<Ts>,
    pub source_url: Option<String>,
    pub disclosure: Option<String>,
    /// The consumer's IPv4 or IPv6 address when consent was given; anything else is a 422.
    #[schema(example = "203.0.113.9")]
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub seller: Option<String>,
}

/// Longest part of a rejected `consent.ip` repeated in the error message.
const SHOWN_IP_CHARS: usize = 64;

/// `consent.ip` must be an IPv4 or IPv6 address (`std::net::IpAddr` syntax; surrounding
/// spaces are removed, an empty value is no IP). Kept as sent otherwise: it is evidence.
fn consent_ip(ip: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(raw) = ip.as_deref().map(str::trim).filter(|ip| !ip.is_empty()) else {
        return Ok(None);
    };
    match raw.parse::<IpAddr>() {
        Ok(_) => Ok(Some(raw.to_string())),
        Err(_) => {
            let shown: String = raw.chars().take(SHOWN_IP_CHARS).collect();
            Err(ApiError::unprocessable(
                "invalid_field",
                format!("`consent.ip` must be an IPv4 or IPv6 address (got '{}')", shown.escape_debug()),
            ))
        }
    }
}

impl LeadBody {
    /// Validates and normalises into the event the lead actor applies. Over-long names,
    /// email or listing address are refused (422 `invalid_field`); a long message is kept,
    /// shortened and marked (docs/limits.md).
    pub fn into_event(self) -> Result<(Phone, LeadCapture), ApiError> {
        if self.source.trim().is_empty() {
            return Err(ApiError::unprocessable("invalid_field", "`source` must not be empty"));
        }
        limits::check_name("first_name", self.first_name.as_deref())?;
        limits::check_name("last_name", self.last_name.as_deref())?;
        limits::check_email("email", self.email.as_deref())?;
        limits::check_address("listing.address", self.listing.as_ref().and_then(|l| l.address.as_deref()))?;
        let phone = Phone::parse(&self.phone)?;
        let consent = match self.consent {
            Some(c) => Some(ConsentInput {
                granted_at: c.granted_at,
                source_url: c.source_url,
                disclosure: c.disclosure,
                ip: consent_ip(c.ip)?,
                user_agent: c.user_agent,
                seller: c.seller,
            }),
            None => None,
        };
        let capture = LeadCapture {
            source: self.source.trim().to_string(),
            source_lead_id: self.source_lead_id.filter(|s| !s.trim().is_empty()),
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email,
            address_state: self.state.map(|s| s.trim().to_uppercase()),
            listing: self.listing.map(|l| ListingRef { id: l.id, address: l.address, price: l.price }),
            message: self.message.map(limits::clip_message),
            consent,
            occurred_at: self.occurred_at,
        };
        Ok((phone, capture))
    }
}

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
    let (phone, capture) = lead.into_event()?;
    // The same inquiry delivered twice (same source and source id) is acknowledged once.
    let dedupe = capture.source_lead_id.as_ref().map(|id| format!("lead:{}:{id}", capture.source));
    let applied = app.submit(phone, Event::LeadCaptured(Box::new(capture)), dedupe).await?;
    Ok((StatusCode::ACCEPTED, Json(applied_json(&applied))))
}
