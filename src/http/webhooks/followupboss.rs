//! Follow Up Boss adapter: `POST /v1/webhooks/followupboss`.
//!
//! HTTP plumbing only: reads the body, checks `FUB-Signature`
//! ([`crate::integrations::followupboss::signature`]), de-duplicates by `eventId`, hands the
//! notification to the durable worker ([`crate::integrations::followupboss::worker`]) and
//! acknowledges with 202 at once (FUB expects an answer within seconds); the worker then
//! fetches each person from the FUB API and applies it. What is applied, and how failures
//! after the acknowledgement are retried: [`crate::integrations::followupboss`].

use crate::app::App;
use crate::http::body::read_limited;
use crate::http::error::ApiError;
use crate::http::extract::parse_object;
use crate::integrations::followupboss::{self as fub, worker, Notification};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use leadline_core::storage::StoredResponse;
use leadline_core::Ts;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// `POST /v1/webhooks/followupboss`: 202 `accepted` (processed in the background), 200
/// `duplicate` (same `eventId` again) or 200 `ignored` (an event leadline does not act on).
/// Only the flags that apply are present.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FubAck {
    pub event_id: String,
    pub event: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<bool>,
    /// How many resource ids will be fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<bool>,
}

impl FubAck {
    fn new(event_id: String, event: String) -> Self {
        FubAck { event_id, event, accepted: None, resources: None, duplicate: None, ignored: None }
    }
    fn accepted(self, resources: usize) -> Self {
        FubAck { accepted: Some(true), resources: Some(resources), ..self }
    }
    fn duplicate(self) -> Self {
        FubAck { duplicate: Some(true), ..self }
    }
    fn ignored(self) -> Self {
        FubAck { ignored: Some(true), ..self }
    }
}

/// A Follow Up Boss webhook notification
///
/// Verified, de-duplicated by `eventId`, persisted and acknowledged at once; the people are
/// then fetched from the FUB API and applied in the background.
#[utoipa::path(
    post,
    path = "/v1/webhooks/followupboss",
    tag = "webhooks",
    operation_id = "followupboss_webhook",
    request_body = Notification,
    security(("fub_signature" = [])),
    responses(
        (status = 202, description = "Accepted (`accepted: true`); processed in the background", body = FubAck),
        (status = 200, description = "A repeated `eventId` (`duplicate: true`) or an event leadline does not act on (`ignored: true`)", body = FubAck),
        (status = 400, description = "Not JSON (`malformed_json`)", body = crate::http::error::ErrorBody),
        (status = 403, description = "`FUB-Signature` missing or invalid, or `FUB_SYSTEM_KEY` not set (`invalid_signature`)", body = crate::http::error::ErrorBody),
        (status = 422, description = "Wrong shape (`invalid_body`) or a bad `eventId` (`invalid_field`)", body = crate::http::error::ErrorBody),
        (status = 503, description = "`FUB_API_KEY` not set (`not_configured`) or the store is unavailable", body = crate::http::error::ErrorBody),
    )
)]
pub async fn webhook(State(app): State<App>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let bytes = read_limited(body, app.settings.server.max_body_bytes).await?;
    let Some(system_key) = app.secrets.fub_system_key.as_deref() else {
        return Err(ApiError::forbidden(
            "Follow Up Boss webhooks are refused: FUB_SYSTEM_KEY (your FUB system key) is not set",
        ));
    };
    let signature = headers.get(fub::SIGNATURE_HEADER).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !fub::signature::verify_fub(&bytes, system_key, signature) {
        metrics::counter!("leadline_webhook_signature_failures_total").increment(1);
        let what = if signature.is_empty() { "is missing" } else { "is not valid" };
        return Err(ApiError::forbidden(format!("FUB-Signature {what}")));
    }
    let n: Notification = parse_object(&bytes)?;
    let event_id = n.event_id.trim().to_string();
    if event_id.is_empty() || event_id.len() > 200 {
        return Err(ApiError::unprocessable("invalid_field", "`eventId` must be 1 to 200 characters"));
    }
    let dedupe_key = format!("fub:{event_id}");
    if app.store.idempotent_response(&dedupe_key)?.is_some() {
        metrics::counter!("leadline_duplicate_events_total", "kind" => "followupboss").increment(1);
        return Ok((StatusCode::OK, Json(FubAck::new(event_id, n.event).duplicate())).into_response());
    }
    if !fub::HANDLED_EVENTS.contains(&n.event.as_str()) {
        return Ok((StatusCode::OK, Json(FubAck::new(event_id, n.event).ignored())).into_response());
    }
    if app.secrets.fub_api_key.is_none() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_configured",
            "FUB_API_KEY is not set, so the people in this notification cannot be fetched",
        ));
    }
    let now = Ts::from(app.clock.now());
    let pending = worker::accept(&app.store, &event_id, &n, now)?;
    let out = FubAck::new(event_id, n.event.clone()).accepted(pending.resource_ids.len());
    let stored = StoredResponse {
        status: 202,
        body: serde_json::to_vec(&out).unwrap_or_default(),
        request_sha256: hex::encode(Sha256::digest(&bytes)),
        stored_at: now,
    };
    // Flushes the pending entry too: durable before the acknowledgement.
    app.store.put_idempotent_response(&dedupe_key, &stored).await?;
    tracing::info!(event_id = %pending.event_id, event = %pending.event, "Follow Up Boss notification accepted");
    worker::spawn(&app, pending);
    Ok((StatusCode::ACCEPTED, Json(out)).into_response())
}
