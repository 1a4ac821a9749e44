//! The admin API (bearer `LEADLINE_ADMIN_TOKEN`): inspect a lead, read its timeline,
//! freeze and unfreeze its automation, record an opt-out; back the database up.

use crate::app::leads::ReplyBody;
use crate::app::operators::{self, Principal};
use crate::app::views::{BackupView, LeadChanged, LeadView, ReplyDecision, TimelinePage};
use crate::app::App;
use crate::app::{backup, leads};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ApiJsonOrEmpty, ApiQuery};
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use leadline_core::model::Event;
use leadline_core::operators::Role;
use serde::Deserialize;

/// Authenticates every admin API request and checks its role: `Authorization: Bearer`
/// with the shared `LEADLINE_ADMIN_TOKEN` (the bootstrap admin, `admin-token`) or an
/// operator's own token. 401 (with `WWW-Authenticate: Bearer`) without a valid token; 403
/// `forbidden`, naming the role needed, when the operator's role does not include the one
/// the route needs ([`required_role`]). The operator is handed to the handler as an
/// `Extension<Principal>`.
pub(crate) async fn require_operator(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .trim()
        .to_string();
    let principal = match operators::bearer(&app.store, app.secrets.admin_token.as_deref(), &given) {
        Ok(Some(p)) => p,
        Ok(None) if given.is_empty() => {
            return ApiError::unauthorized("missing bearer token (LEADLINE_ADMIN_TOKEN or an operator's token)")
                .into_response()
        }
        Ok(None) => return ApiError::unauthorized("missing or wrong bearer token").into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let path = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_default();
    let needed = required_role(req.method(), &path);
    if !principal.role.allows(needed) {
        tracing::info!(operator = %principal.name, needed = needed.as_str(), path = %path, "admin API: forbidden");
        metrics::counter!("leadline_admin_forbidden_total").increment(1);
        return ApiError::role(needed, &principal.name, principal.role).into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// The role an admin API route needs (by its path template): `viewer` reads; `agent` also
/// replies, freezes and unfreezes; `admin` also manages suppressions, dead letters, consent
/// exports, backups and operators (and reads consent exports and operators).
pub fn required_role(method: &Method, path: &str) -> Role {
    match (method, path) {
        (&Method::GET, "/v1/admin/leads/{phone}/consent") => Role::Admin,
        (&Method::GET, p) if p.starts_with("/v1/admin/operators") => Role::Admin,
        (&Method::GET, _) => Role::Viewer,
        (
            &Method::POST,
            "/v1/admin/leads/{phone}/freeze" | "/v1/admin/leads/{phone}/unfreeze" | "/v1/admin/leads/{phone}/messages",
        ) => Role::Agent,
        _ => Role::Admin,
    }
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
    Extension(by): Extension<Principal>,
    Path(raw): Path<String>,
    ApiJsonOrEmpty(FreezeBody { reason }): ApiJsonOrEmpty<FreezeBody>,
) -> Result<Json<LeadChanged>, ApiError> {
    Ok(Json(leads::command(&app, &raw, &by.name, Event::Freeze { reason }).await?))
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
pub async fn unfreeze(
    State(app): State<App>,
    Extension(by): Extension<Principal>,
    Path(raw): Path<String>,
) -> Result<Json<LeadChanged>, ApiError> {
    Ok(Json(leads::command(&app, &raw, &by.name, Event::Unfreeze).await?))
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
    Extension(by): Extension<Principal>,
    Path(raw): Path<String>,
    ApiJsonOrEmpty(OptOutBody { reason, send_confirmation }): ApiJsonOrEmpty<OptOutBody>,
) -> Result<Json<LeadChanged>, ApiError> {
    Ok(Json(leads::command(&app, &raw, &by.name, Event::AdminOptOut { reason, send_confirmation }).await?))
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
    Extension(by): Extension<Principal>,
    ApiJson(BackupBody { dir }): ApiJson<BackupBody>,
) -> Result<Json<BackupView>, ApiError> {
    tracing::info!(operator = %by.name, "backup requested");
    Ok(Json(backup::backup(&app.store, std::path::Path::new(&dir)).await?))
}

#[utoipa::path(
    post,
    path = "/v1/admin/leads/{phone}/messages",
    tag = "admin",
    operation_id = "reply_to_lead",
    summary = "A person's reply to the lead, sent by the gateway like any text (role agent)",
    description = "Never to an opted-out, suppressed or undeliverable number (409 `reply_blocked`, nothing sent). Needs a current consent or a message from the lead in the last 24 hours (else `blocked`, rule `manual.no_consent`). Allowed on a frozen lead. Deferred by quiet hours unless the lead wrote within the last hour. Over `delivery.max_segments` is a 422. Recorded on the timeline with the operator's name (docs/console.md).",
    params(("phone" = String, Path, description = "E.164 (URL-encoded `%2B...` or not) or plain digits", example = "+12125550142")),
    request_body(content = ReplyBody, content_type = "application/json"),
    security(("admin_bearer" = [])),
    responses(
        (status = 202, description = "Decided and recorded: `queued`, `deferred` or `blocked`, with the rule", body = ReplyDecision),
        (status = 400, description = "Not JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "The operator's role does not include `agent` (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No lead with this phone (`not_found`)", body = ErrorBody),
        (status = 409, description = "The number must not get texts: opted out, suppressed or undeliverable (`reply_blocked`, the rule in the message); nothing was sent", body = ErrorBody),
        (status = 415, description = "A body that is not `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Not a phone number (`invalid_phone`), neither or both of `body` and `template`, an unknown template or variable, a reply over the segment limit (`invalid_field`, `missing_field`)", body = ErrorBody),
        (status = 503, description = "Not applied; retry (`unavailable`)", body = ErrorBody),
    )
)]
pub async fn reply(
    State(app): State<App>,
    Extension(by): Extension<Principal>,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<ReplyBody>,
) -> Result<(StatusCode, Json<ReplyDecision>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(leads::reply(&app, &raw, &by.name, body).await?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_per_route() {
        assert_eq!(required_role(&Method::GET, "/v1/admin/leads/{phone}"), Role::Viewer);
        assert_eq!(required_role(&Method::GET, "/v1/admin/leads/{phone}/consent"), Role::Admin);
        assert_eq!(required_role(&Method::GET, "/v1/admin/operators"), Role::Admin);
        assert_eq!(required_role(&Method::POST, "/v1/admin/leads/{phone}/freeze"), Role::Agent);
        assert_eq!(required_role(&Method::POST, "/v1/admin/leads/{phone}/messages"), Role::Agent);
        assert_eq!(required_role(&Method::POST, "/v1/admin/leads/{phone}/opt-out"), Role::Admin);
        assert_eq!(required_role(&Method::PUT, "/v1/admin/suppressions/{phone}"), Role::Admin);
        assert_eq!(required_role(&Method::DELETE, "/v1/admin/dead-letters/{id}"), Role::Admin);
        assert_eq!(required_role(&Method::POST, "/v1/admin/dead-letters/{id}/retry"), Role::Admin);
    }
}
