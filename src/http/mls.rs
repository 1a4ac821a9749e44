//! `POST /v1/events/mls`: a listing change pushed by an MLS feed or an integrator, fanned
//! out to every lead watching that listing.
//!
//! The reply comes only after every interested lead acknowledged the change (durably
//! applied): 202 `{listing_id, change, leads, applied, duplicates}`. If any lead did not,
//! 503 with the same counts plus `failed`: the sender retries, and the per-lead dedupe keys
//! make the retry reach only the leads that missed it.

use super::body::{parse_json, read_limited};
use super::error::ApiError;
use super::App;
use crate::app::fanout::{fan_out, FanoutReport};
use crate::reso::normalize_status;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use leadline_core::model::{ListingChange, ListingChangeKind};
use leadline_core::Ts;
use serde::Deserialize;
use serde_json::json;

/// The values `change` accepts (PRODUCT.md).
pub const CHANGE_KINDS: [&str; 5] = ["price_drop", "price_increase", "status_change", "back_on_market", "new_listing"];

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"listing_id": "MLS-123", "change": "price_drop", "address": "123 Main St", "old_price": 450000, "new_price": 429000}))]
pub struct MlsBody {
    pub listing_id: String,
    #[schema(value_type = super::openapi::ChangeKind)]
    pub change: String,
    pub address: Option<String>,
    pub old_price: Option<u64>,
    /// Required for `price_drop` and `price_increase`.
    pub new_price: Option<u64>,
    /// RESO `StandardStatus` names (`Active`, `Pending`, `Closed`, ...); normalised.
    pub old_status: Option<String>,
    /// Required for `status_change`; `Active` by default for `back_on_market`.
    pub new_status: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<Ts>,
}

pub fn parse_change_kind(raw: &str) -> Result<ListingChangeKind, ApiError> {
    Ok(match raw.trim() {
        "price_drop" => ListingChangeKind::PriceDrop,
        "price_increase" => ListingChangeKind::PriceIncrease,
        "status_change" => ListingChangeKind::StatusChange,
        "back_on_market" => ListingChangeKind::BackOnMarket,
        "new_listing" => ListingChangeKind::NewListing,
        other => {
            let shown: String = other.chars().take(40).collect();
            return Err(ApiError::unprocessable(
                "invalid_field",
                format!("`change` must be one of {}; got '{shown}'", CHANGE_KINDS.join(", ")),
            ));
        }
    })
}

impl MlsBody {
    /// Validates and normalises (statuses to RESO `StandardStatus` names).
    pub fn into_change(self) -> Result<(ListingChange, Option<Ts>), ApiError> {
        let listing_id = self.listing_id.trim().to_string();
        if listing_id.is_empty() {
            return Err(ApiError::unprocessable("invalid_field", "`listing_id` must not be empty"));
        }
        let kind = parse_change_kind(&self.change)?;
        let clean = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let address = clean(self.address);
        leadline_core::limits::check_address("address", address.as_deref())?;
        let old_status = clean(self.old_status).map(|s| normalize_status(&s));
        let mut new_status = clean(self.new_status).map(|s| normalize_status(&s));
        match kind {
            ListingChangeKind::PriceDrop | ListingChangeKind::PriceIncrease => {
                let Some(new) = self.new_price else {
                    return Err(ApiError::unprocessable(
                        "missing_field",
                        format!("`new_price` is required for change = {}", kind.as_str()),
                    ));
                };
                if let Some(old) = self.old_price {
                    let consistent = match kind {
                        ListingChangeKind::PriceDrop => new < old,
                        _ => new > old,
                    };
                    if !consistent {
                        return Err(ApiError::unprocessable(
                            "invalid_field",
                            format!(
                                "{} from {old} to {new} is not a {}",
                                kind.as_str(),
                                kind.as_str().replace('_', " ")
                            ),
                        ));
                    }
                }
            }
            ListingChangeKind::StatusChange if new_status.is_none() => {
                return Err(ApiError::unprocessable(
                    "missing_field",
                    "`new_status` is required for change = status_change",
                ));
            }
            ListingChangeKind::BackOnMarket if new_status.is_none() => new_status = Some("Active".into()),
            _ => {}
        }
        let change = ListingChange {
            listing_id,
            change: kind,
            address,
            old_price: self.old_price,
            new_price: self.new_price,
            old_status,
            new_status,
        };
        Ok((change, self.occurred_at))
    }
}

fn report_json(change: &ListingChange, r: &FanoutReport) -> serde_json::Value {
    json!({
        "listing_id": change.listing_id,
        "change": change.change.as_str(),
        "leads": r.leads,
        "applied": r.applied,
        "duplicates": r.duplicates,
    })
}

/// A listing change, fanned out to every lead watching the listing
///
/// Answers once every interested lead acknowledged the change.
#[utoipa::path(
    post,
    path = "/v1/events/mls",
    tag = "events",
    request_body = MlsBody,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, description = "Replays the first response to the same request; 1 to 255 printable ASCII characters")),
    security((), ("leadline_signature" = [])),
    responses(
        (status = 202, description = "Every interested lead acknowledged the change", body = super::openapi::MlsReport),
        (status = 400, description = "Not JSON (`malformed_json`) or a bad `Idempotency-Key`", body = super::openapi::ErrorBody),
        (status = 403, description = "`X-Leadline-Signature` missing or invalid (`invalid_signature`)", body = super::openapi::ErrorBody),
        (status = 409, description = "The same `Idempotency-Key` is still being processed (`idempotency_key_in_use`)", body = super::openapi::ErrorBody),
        (status = 422, description = "JSON of the wrong shape (`invalid_body`), bad or missing field (`invalid_field`, `missing_field`), or an `Idempotency-Key` reused for another request", body = super::openapi::ErrorBody),
        (status = 503, description = "Some leads did not acknowledge (`failed`, `error.code` = `fanout_incomplete`; retry: leads that applied it are skipped), or the service is unavailable (`ErrorBody`)", body = super::openapi::MlsReport),
    )
)]
pub async fn post_mls(State(app): State<App>, body: Body) -> Result<Response, ApiError> {
    let bytes = read_limited(body, app.settings.server.max_body_bytes).await?;
    let body: MlsBody = parse_json(&bytes, false)?;
    let (change, occurred_at) = body.into_change()?;
    metrics::counter!("leadline_mls_changes_total", "change" => change.change.as_str(), "source" => "push")
        .increment(1);
    let occurrence = occurred_at.map(|t| t.rfc3339());
    let report = fan_out(&app, &change, occurrence.as_deref()).await?;
    let mut out = report_json(&change, &report);
    if report.complete() {
        return Ok((StatusCode::ACCEPTED, Json(out)).into_response());
    }
    let done = report.applied + report.duplicates;
    let message = format!(
        "{done} of {} leads acknowledged the change, {} did not ({}); retry: leads that already applied it are skipped",
        report.leads,
        report.failed,
        report.first_error.as_deref().unwrap_or("unknown error")
    );
    tracing::error!(listing = %change.listing_id, failed = report.failed, "MLS fan-out incomplete");
    out["failed"] = json!(report.failed);
    out["error"] = json!({"code": "fanout_incomplete", "message": message});
    Ok((StatusCode::SERVICE_UNAVAILABLE, Json(out)).into_response())
}
