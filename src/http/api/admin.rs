//! The admin API (bearer `LEADLINE_ADMIN_TOKEN`): inspect a lead, read its timeline,
//! freeze and unfreeze its automation, record an opt-out; back the database up.

use crate::app::views::{BackupView, LeadChanged, LeadView, TimelinePage};
use crate::app::App;
use crate::app::{backup, leads};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ApiJsonOrEmpty, ApiQuery};
use axum::extract::{Path, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use leadline_core::model::Event;
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// Lets a request through only with `Authorization: Bearer <LEADLINE_ADMIN_TOKEN>`;
/// 401 (with `WWW-Authenticate: Bearer`) otherwise.
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

#[utoipa::path(
    get,
    path = "/v1/admin/leads/{phone}",
    tag = "admin",
    summary = "The lead's current state",
    params(("phone" = String, Path, description = "E.164 (URL-encoded `%2B...` or not) or plain digits", example = "+12125550142")),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "The lead", body = LeadView),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "No lead with this phone (`not_found`)", body = ErrorBody),
        (status = 422, description = "Not a phone number (`invalid_phone`)", body = ErrorBody),
    )
)]
pub async fn get_lead(State(app): State<App>, Path(raw): Path<String>) -> Result<Json<LeadView>, ApiError> {
    let (_, lead) = leads::find(&app, &raw)?;
    Ok(Json((&lead).into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// Return entries after this sequence number (for paging).
    after: Option<u64>,
    /// At most this many entries (default 500, 1 to 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// Timeline page size when none is given, and the largest allowed.
pub const TIMELINE_DEFAULT_LIMIT: usize = 500;
pub const TIMELINE_MAX_LIMIT: usize = 1000;

#[utoipa::path(
    get,
    path = "/v1/admin/leads/{phone}/timeline",
    tag = "admin",
    summary = "The lead's audit timeline (hash-chained), oldest first",
    params(("phone" = String, Path, description = "E.164 (URL-encoded `%2B...` or not) or plain digits", example = "+12125550142"), TimelineQuery),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "A page of entries", body = TimelinePage),
        (status = 400, description = "A bad query parameter (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "No lead with this phone (`not_found`)", body = ErrorBody),
        (status = 422, description = "Not a phone number (`invalid_phone`)", body = ErrorBody),
    )
)]
pub async fn get_timeline(
    State(app): State<App>,
    Path(raw): Path<String>,
    ApiQuery(q): ApiQuery<TimelineQuery>,
) -> Result<Json<TimelinePage>, ApiError> {
    let limit = q.limit.unwrap_or(TIMELINE_DEFAULT_LIMIT);
    if !(1..=TIMELINE_MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be a number from 1 to {TIMELINE_MAX_LIMIT}"),
        ));
    }
    Ok(Json(leads::timeline(&app, &raw, q.after.unwrap_or(0), limit)?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct FreezeBody {
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
        (status = 200, description = "The lead after the change, and the decisions", body = LeadChanged),
        (status = 400, description = "Not JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "No lead with this phone (`not_found`)", body = ErrorBody),
        (status = 415, description = "A body that is not `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Not a phone number (`invalid_phone`) or JSON of the wrong shape (`invalid_body`)", body = ErrorBody),
        (status = 503, description = "Not applied; retry (`unavailable`)", body = ErrorBody),
    )
)]
pub async fn freeze(
    State(app): State<App>,
    Path(raw): Path<String>,
    ApiJsonOrEmpty(FreezeBody { reason }): ApiJsonOrEmpty<FreezeBody>,
) -> Result<Json<LeadChanged>, ApiError> {
    Ok(Json(leads::command(&app, &raw, Event::Freeze { reason }).await?))
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
        (status = 200, description = "The lead after the change, and the decisions", body = LeadChanged),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "No lead with this phone (`not_found`)", body = ErrorBody),
        (status = 422, description = "Not a phone number (`invalid_phone`)", body = ErrorBody),
        (status = 503, description = "Not applied; retry (`unavailable`)", body = ErrorBody),
    )
)]
pub async fn unfreeze(State(app): State<App>, Path(raw): Path<String>) -> Result<Json<LeadChanged>, ApiError> {
    Ok(Json(leads::command(&app, &raw, Event::Unfreeze).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptOutBody {
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
        (status = 200, description = "The lead after the change, and the decisions", body = LeadChanged),
        (status = 400, description = "Not JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "No lead with this phone (`not_found`)", body = ErrorBody),
        (status = 415, description = "A body that is not `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Not a phone number (`invalid_phone`) or JSON of the wrong shape (`invalid_body`)", body = ErrorBody),
        (status = 503, description = "Not applied; retry (`unavailable`)", body = ErrorBody),
    )
)]
pub async fn opt_out(
    State(app): State<App>,
    Path(raw): Path<String>,
    ApiJsonOrEmpty(OptOutBody { reason, send_confirmation }): ApiJsonOrEmpty<OptOutBody>,
) -> Result<Json<LeadChanged>, ApiError> {
    Ok(Json(leads::command(&app, &raw, Event::AdminOptOut { reason, send_confirmation }).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupBody {
    /// An absolute path on the service's machine: absent or an empty directory. Created `0700`.
    #[schema(example = "/var/backups/leadline/2026-05-01")]
    dir: String,
}

#[utoipa::path(
    post,
    path = "/v1/admin/backup",
    tag = "admin",
    operation_id = "backup",
    summary = "Write a consistent copy of the database into a new directory (events wait while the trees are copied)",
    request_body(content = BackupBody, content_type = "application/json"),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "The copy was written and flushed", body = BackupView),
        (status = 400, description = "Not JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 415, description = "A body that is not `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "`dir` is not absolute, exists and is not empty, or cannot be created (`invalid_field`); JSON of the wrong shape (`invalid_body`)", body = ErrorBody),
        (status = 503, description = "The copy failed (`unavailable`)", body = ErrorBody),
    )
)]
pub async fn post_backup(
    State(app): State<App>,
    ApiJson(BackupBody { dir }): ApiJson<BackupBody>,
) -> Result<Json<BackupView>, ApiError> {
    Ok(Json(backup::backup(&app.store, std::path::Path::new(&dir)).await?))
}
