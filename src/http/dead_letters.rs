//! Dead letters (admin): texts that were not sent automatically and wait for a person:
//! provider refusals, configuration errors, exhausted retries, in-doubt sends.

use super::error::ApiError;
use super::App;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use leadline_core::actors::gateway::GatewayMsg;

pub fn router() -> Router<App> {
    Router::new()
        .route("/v1/admin/dead-letters", get(list))
        .route("/v1/admin/dead-letters/{id}/retry", post(retry))
        .route("/v1/admin/dead-letters/{id}", delete(discard))
}

#[utoipa::path(
    get,
    path = "/v1/admin/dead-letters",
    tag = "dead-letters",
    operation_id = "list_dead_letters",
    summary = "Texts that were not sent automatically and wait for a person",
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "The dead letters", body = super::openapi::DeadLetterList),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable (`unavailable`)", body = super::openapi::ErrorBody),
    )
)]
async fn list(State(app): State<App>) -> Result<Json<serde_json::Value>, ApiError> {
    let items = app.store.dead_letters()?;
    let json: Vec<_> = items
        .iter()
        .map(|d| {
            serde_json::json!({
                "id": d.text.id, "phone": d.text.to, "kind": d.text.kind, "body": d.text.body,
                "reason": d.reason, "detail": d.detail, "at": d.at, "created_at": d.text.created_at,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "count": json.len(), "dead_letters": json })))
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
        (status = 202, description = "Queued again (it passes the compliance gate before it is sent)", body = super::openapi::RetryQueued),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = super::openapi::ErrorBody),
        (status = 404, description = "No such dead letter (`not_found`)", body = super::openapi::ErrorBody),
        (status = 503, description = "The gateway is unavailable (`unavailable`)", body = super::openapi::ErrorBody),
    )
)]
async fn retry(State(app): State<App>, Path(id): Path<String>) -> Result<impl IntoResponse, ApiError> {
    retry_dead_letter(&app, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({"id": id, "status": "queued"}))))
}

/// Hands a dead letter back to the gateway (shared by the JSON API and the admin page).
pub(crate) async fn retry_dead_letter(app: &App, id: &str) -> Result<(), ApiError> {
    let result = ractor::call_t!(app.gateway, GatewayMsg::RetryDeadLetter, 5000, id.to_string())
        .map_err(|e| ApiError::unavailable(format!("gateway unavailable: {e}")))?;
    match result {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApiError::not_found(format!("no dead letter {id}"))),
        Err(e) => Err(ApiError::unavailable(e)),
    }
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
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = super::openapi::ErrorBody),
        (status = 404, description = "No such dead letter (`not_found`)", body = super::openapi::ErrorBody),
        (status = 503, description = "The store is unavailable (`unavailable`)", body = super::openapi::ErrorBody),
    )
)]
async fn discard(State(app): State<App>, Path(id): Path<String>) -> Result<impl IntoResponse, ApiError> {
    discard_dead_letter(&app, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Drops a dead letter for good (shared by the JSON API and the admin page).
pub(crate) async fn discard_dead_letter(app: &App, id: &str) -> Result<(), ApiError> {
    match app.store.take_dead_letter(id).await? {
        Some(_) => {
            tracing::info!(id = %leadline_core::phone::mask_message_id(id), "dead letter discarded by an operator");
            Ok(())
        }
        None => Err(ApiError::not_found(format!("no dead letter {id}"))),
    }
}
