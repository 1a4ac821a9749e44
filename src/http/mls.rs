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
use crate::app::fanout::FanoutReport;
use crate::app::listings::{self, MlsBody};
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use leadline_core::model::ListingChange;
use serde_json::json;

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
    let report = listings::apply(&app, &change, occurred_at, "push").await?;
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
