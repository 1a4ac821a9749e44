//! Dead letters (admin): texts that were not sent automatically and wait for a person:
//! provider refusals, configuration errors, exhausted retries, in-doubt sends.

use super::error::ApiError;
use super::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use leadline_actors::actors::gateway::GatewayMsg;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/dead-letters", get(list))
        .route("/v1/admin/dead-letters/{id}/retry", post(retry))
        .route("/v1/admin/dead-letters/{id}", delete(discard))
}

async fn list(State(app): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
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
async fn retry(State(app): State<AppState>, Path(id): Path<String>) -> Result<impl IntoResponse, ApiError> {
    retry_dead_letter(&app, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({"id": id, "status": "queued"}))))
}

/// Hands a dead letter back to the gateway (shared by the JSON API and the admin page).
pub(crate) async fn retry_dead_letter(app: &AppState, id: &str) -> Result<(), ApiError> {
    let result = ractor::call_t!(app.gateway, GatewayMsg::RetryDeadLetter, 5000, id.to_string())
        .map_err(|e| ApiError::unavailable(format!("gateway unavailable: {e}")))?;
    match result {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApiError::not_found(format!("no dead letter {id}"))),
        Err(e) => Err(ApiError::unavailable(e)),
    }
}

async fn discard(State(app): State<AppState>, Path(id): Path<String>) -> Result<impl IntoResponse, ApiError> {
    discard_dead_letter(&app, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Drops a dead letter for good (shared by the JSON API and the admin page).
pub(crate) async fn discard_dead_letter(app: &AppState, id: &str) -> Result<(), ApiError> {
    match app.store.take_dead_letter(id).await? {
        Some(_) => {
            tracing::info!(id = %leadline_actors::phone::mask(id), "dead letter discarded by an operator");
            Ok(())
        }
        None => Err(ApiError::not_found(format!("no dead letter {id}"))),
    }
}
