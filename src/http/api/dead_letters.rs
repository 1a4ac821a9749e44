//! Dead letters (admin): texts that were not sent automatically and wait for a person:
//! provider refusals, configuration errors, exhausted retries, in-doubt sends.

use crate::app::dead_letters;
use crate::app::operators::Principal;
use crate::app::views::{DeadLetterList, RetryQueued};
use crate::app::App;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::ApiQuery;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;

#[utoipa::path(
    get,
    path = "/v1/admin/dead-letters",
    tag = "dead-letters",
    operation_id = "list_dead_letters",
    summary = "Texts that were not sent automatically and wait for a person, a page at a time (id order)",
    params(PageQuery),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "A page of dead letters", body = DeadLetterList),
        (status = 400, description = "A bad parameter (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 503, description = "The store is unavailable (`unavailable`)", body = ErrorBody),
    )
)]
pub async fn list(State(app): State<App>, ApiQuery(q): ApiQuery<PageQuery>) -> Result<Json<DeadLetterList>, ApiError> {
    let limit = crate::http::api::compliance::list_limit(q.limit)?;
    let after = q.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty());
    Ok(Json(dead_letters::list(&app, after, limit)?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Page size: default 500, 1 to 1000.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Queues the text again; it passes the compliance gate before it is sent (an opt-out,
/// freeze, suppression or quiet hours since it failed still win).
#[utoipa::path(
    post,
    path = "/v1/admin/dead-letters/{id}/retry",
    tag = "dead-letters",
    operation_id = "retry_dead_letter",
    params(("id" = String, Path, description = "The dead letter's id (the text's id, `<phone>#<seq>`, URL-encoded)")),
    security(("admin_bearer" = [])),
    responses(
        (status = 202, description = "Queued again (it passes the compliance gate before it is sent)", body = RetryQueued),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "No such dead letter (`not_found`)", body = ErrorBody),
        (status = 503, description = "The gateway is unavailable (`unavailable`)", body = ErrorBody),
    )
)]
pub async fn retry(
    State(app): State<App>,
    Extension(by): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<RetryQueued>), ApiError> {
    tracing::info!(operator = %by.name, id = %leadline_core::phone::mask_message_id(&id), "dead letter retried");
    dead_letters::retry(&app, &id, &by.name).await?;
    Ok((StatusCode::ACCEPTED, Json(RetryQueued { id, status: "queued" })))
}

#[utoipa::path(
    delete,
    path = "/v1/admin/dead-letters/{id}",
    tag = "dead-letters",
    operation_id = "discard_dead_letter",
    summary = "Drop a dead letter for good",
    params(("id" = String, Path, description = "The dead letter's id (the text's id, `<phone>#<seq>`, URL-encoded)")),
    security(("admin_bearer" = [])),
    responses(
        (status = 204, description = "Discarded"),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "No such dead letter (`not_found`)", body = ErrorBody),
        (status = 503, description = "The store is unavailable (`unavailable`)", body = ErrorBody),
    )
)]
pub async fn discard(
    State(app): State<App>,
    Extension(by): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    tracing::info!(operator = %by.name, id = %leadline_core::phone::mask_message_id(&id), "dead letter discarded");
    dead_letters::discard(&app, &id, &by.name).await?;
    Ok(StatusCode::NO_CONTENT)
}
