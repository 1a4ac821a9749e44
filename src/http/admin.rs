//! The admin API (bearer `LEADLINE_ADMIN_TOKEN`): inspect a lead, read its timeline,
//! freeze and unfreeze its automation.

use super::body::{parse_json, read_limited};
use super::error::ApiError;
use super::{applied_json, App};
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use leadline_core::model::{Event, LeadState};
use leadline_core::Phone;
use serde::Deserialize;
use subtle::ConstantTimeEq;

pub fn router(state: App) -> Router<App> {
    Router::new()
        .route("/v1/admin/leads/{phone}", get(get_lead))
        .route("/v1/admin/leads/{phone}/timeline", get(get_timeline))
        .route("/v1/admin/leads/{phone}/freeze", post(freeze))
        .route("/v1/admin/leads/{phone}/unfreeze", post(unfreeze))
        .route("/v1/admin/leads/{phone}/opt-out", post(opt_out))
        .merge(super::dead_letters::router())
        .merge(super::admin_search::router())
        .route_layer(middleware::from_fn_with_state(state, require_admin))
}

pub(crate) async fn require_admin(State(app): State<App>, req: Request, next: Next) -> Response {
    let Some(expected) = app.secrets.admin_token.as_deref() else {
        return ApiError::unauthorized("the admin API is disabled until LEADLINE_ADMIN_TOKEN is set").into_response();
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if given.is_empty() || !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return ApiError::unauthorized("missing or wrong bearer token").into_response();
    }
    next.run(req).await
}

/// `{phone}` may be E.164 (URL-encoded or not) or plain digits.
pub(crate) fn known_lead(app: &App, raw: &str) -> Result<(Phone, LeadState), ApiError> {
    let phone = Phone::parse(raw)?;
    match app.store.lead(&phone)? {
        Some(lead) => Ok((phone, lead)),
        None => Err(ApiError::not_found(format!("no lead with phone {phone}"))),
    }
}

/// The lead as the admin API shows it.
pub fn lead_json(lead: &LeadState) -> serde_json::Value {
    serde_json::json!({
        "phone": lead.phone,
        "status": lead.status,
        "frozen": lead.frozen.is_some(),
        "frozen_reason": lead.frozen.as_ref().and_then(|f| f.reason.clone()),
        "frozen_at": lead.frozen.as_ref().map(|f| f.at),
        "consent": lead.current_consent(),
        "consent_history": lead.consent_history,
        "first_name": lead.profile.first_name,
        "last_name": lead.profile.last_name,
        "email": lead.profile.email,
        "source": lead.profile.source,
        "source_lead_id": lead.profile.source_lead_id,
        "last_property": lead.last_property,
        "last_listing_id": lead.last_listing_id,
        "last_contacted_at": lead.last_contacted_at,
        "last_inbound_at": lead.last_inbound_at,
        "crm_status": lead.crm_status,
        "interests": lead.interests,
        "scheduled": lead.pending.iter().map(|p| serde_json::json!({
            "message_id": p.text.id, "kind": p.text.kind, "not_before": p.not_before, "rule": p.rule,
        })).collect::<Vec<_>>(),
        "follow_up": lead.follow_up.as_ref().map(|f| serde_json::json!({
            "step": f.step + 1, "due": f.due, "started_at": f.started_at,
        })),
        "timeline_entries": lead.timeline_len,
        "created_at": lead.created_at,
        "updated_at": lead.updated_at,
    })
}

#[utoipa::path(
    get,
    path = "/v1/admin/leads/{phone}",
    tag = "admin",
    summary = "The lead's current state",
    params(("phone" = String, Path, description = "E.164 (URL-encoded `%2B...` or not) or plain digits", example = "+12125550142")),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "The lead", body = super::openapi::Lead),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = super::openapi::ErrorBody),
        (status = 404, description = "No lead with this phone (`not_found`)", body = super::openapi::ErrorBody),
        (status = 422, description = "Not a phone number (`invalid_phone`)", body = super::openapi::ErrorBody),
    )
)]
async fn get_lead(State(app): State<App>, Path(raw): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    let (_, lead) = known_lead(&app, &raw)?;
    Ok(Json(lead_json(&lead)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// Return entries after this sequence number (for paging).
    after: Option<u64>,
    /// At most this many entries (default 500, 1 to 1000).
    limit: Option<usize>,
}

#[utoipa::path(
    get,
    path = "/v1/admin/leads/{phone}/timeline",
    tag = "admin",
    summary = "The lead's audit timeline (hash-chained), oldest first",
    params(("phone" = String, Path, description = "E.164 (URL-encoded `%2B...` or not) or plain digits", example = "+12125550142"), TimelineQuery),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "A page of entries", body = super::openapi::Timeline),
        (status = 400, description = "A bad query parameter", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = super::openapi::ErrorBody),
        (status = 404, description = "No lead with this phone (`not_found`)", body = super::openapi::ErrorBody),
        (status = 422, description = "Not a phone number (`invalid_phone`)", body = super::openapi::ErrorBody),
    )
)]
async fn get_timeline(
    State(app): State<App>,
    Path(raw): Path<String>,
    Query(q): Query<TimelineQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (phone, lead) = known_lead(&app, &raw)?;
    let limit = q.limit.unwrap_or(500).clamp(1, 1000);
    let entries = app.store.timeline(&phone, q.after.unwrap_or(0), limit)?;
    let next = entries.last().map(|e| e.seq).filter(|s| *s < lead.timeline_len);
    Ok(Json(serde_json::json!({ "phone": phone, "entries": entries, "next_after": next })))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
struct FreezeBody {
    /// Shown on the timeline.
    reason: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/admin/leads/{phone}/freeze",
    tag = "admin",
    operation_id = "freeze_lead",
    summary = "Stop all automation for this lead",
    params(("phone" = String, Path, description = "E.164 (URL-encoded `%2B...` or not) or plain digits", example = "+12125550142")),
    request_body(content = Option<FreezeBody>, description = "Optional; an empty body is `{}`"),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "The lead after the change, and the decisions", body = super::openapi::LeadChanged),
        (status = 400, description = "Not JSON (`malformed_json`)", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = super::openapi::ErrorBody),
        (status = 404, description = "No lead with this phone (`not_found`)", body = super::openapi::ErrorBody),
        (status = 422, description = "Not a phone number (`invalid_phone`) or JSON of the wrong shape (`invalid_body`)", body = super::openapi::ErrorBody),
        (status = 503, description = "Not applied; retry (`unavailable`)", body = super::openapi::ErrorBody),
    )
)]
async fn freeze(
    State(app): State<App>,
    Path(raw): Path<String>,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let bytes = read_limited(body, app.settings.server.max_body_bytes).await?;
    let FreezeBody { reason } = parse_json(&bytes, true)?;
    admin_event(&app, &raw, Event::Freeze { reason }).await
}

#[utoipa::path(
    post,
    path = "/v1/admin/leads/{phone}/unfreeze",
    tag = "admin",
    operation_id = "unfreeze_lead",
    summary = "Resume automation for this lead",
    params(("phone" = String, Path, description = "E.164 (URL-encoded `%2B...` or not) or plain digits", example = "+12125550142")),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "The lead after the change, and the decisions", body = super::openapi::LeadChanged),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = super::openapi::ErrorBody),
        (status = 404, description = "No lead with this phone (`not_found`)", body = super::openapi::ErrorBody),
        (status = 422, description = "Not a phone number (`invalid_phone`)", body = super::openapi::ErrorBody),
        (status = 503, description = "Not applied; retry (`unavailable`)", body = super::openapi::ErrorBody),
    )
)]
async fn unfreeze(State(app): State<App>, Path(raw): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    admin_event(&app, &raw, Event::Unfreeze).await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct OptOutBody {
    /// How the lead asked (shown on the timeline and in the consent history).
    reason: Option<String>,
    /// Also send the one opt-out confirmation text (default false: the lead asked another way).
    #[serde(default)]
    send_confirmation: bool,
}

#[utoipa::path(
    post,
    path = "/v1/admin/leads/{phone}/opt-out",
    tag = "admin",
    operation_id = "force_opt_out",
    summary = "Record an opt-out the lead gave another way (call, email); nothing automated is sent afterwards",
    params(("phone" = String, Path, description = "E.164 (URL-encoded `%2B...` or not) or plain digits", example = "+12125550142")),
    request_body(content = OptOutBody, description = "Optional; an empty body is allowed", content_type = "application/json"),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "The lead after the change, and the decisions", body = super::openapi::LeadChanged),
        (status = 400, description = "Not JSON (`malformed_json`)", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = super::openapi::ErrorBody),
        (status = 404, description = "No lead with this phone (`not_found`)", body = super::openapi::ErrorBody),
        (status = 422, description = "Not a phone number (`invalid_phone`) or JSON of the wrong shape (`invalid_body`)", body = super::openapi::ErrorBody),
        (status = 503, description = "Not applied; retry (`unavailable`)", body = super::openapi::ErrorBody),
    )
)]
async fn opt_out(
    State(app): State<App>,
    Path(raw): Path<String>,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let bytes = read_limited(body, app.settings.server.max_body_bytes).await?;
    let OptOutBody { reason, send_confirmation } = parse_json(&bytes, true)?;
    admin_event(&app, &raw, Event::AdminOptOut { reason, send_confirmation }).await
}

async fn admin_event(app: &App, raw: &str, event: Event) -> Result<Json<serde_json::Value>, ApiError> {
    let (phone, _) = known_lead(app, raw)?;
    let applied = app.submit(phone.clone(), event, None).await?;
    let lead = app.store.lead(&phone)?.ok_or_else(|| ApiError::not_found("lead disappeared"))?;
    let mut out = lead_json(&lead);
    out["decisions"] = applied_json(&applied)["decisions"].take();
    Ok(Json(out))
}
