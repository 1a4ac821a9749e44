//! Outbound event webhooks (admin): the subscriptions and their delivery queue, replaying a
//! dead delivery, and a test ping.

use crate::app::event_webhooks;
use crate::app::views::{FubWriteList, WebhookDeliveryList, WebhookReplayQueued, WebhookTestReport};
use crate::app::App;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::ApiJsonOrEmpty;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use std::time::Duration;

#[utoipa::path(
    get,
    path = "/v1/admin/webhooks/deliveries",
    tag = "event-webhooks",
    operation_id = "list_webhook_deliveries",
    summary = "The event webhook subscriptions, the deliveries waiting and the dead ones",
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "Subscriptions, queued deliveries (first 100) and dead deliveries", body = WebhookDeliveryList),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 503, description = "The store is unavailable (`unavailable`)", body = ErrorBody),
    )
)]
pub async fn list(State(app): State<App>) -> Result<Json<WebhookDeliveryList>, ApiError> {
    Ok(Json(event_webhooks::list(&app)?))
}

/// Puts a dead delivery (retries exhausted) back in the queue, at its own place in the lead's
/// order, with its attempts reset. The subscriber may see it after later events of the same
/// lead: `data.sequence` tells.
#[utoipa::path(
    post,
    path = "/v1/admin/webhooks/deliveries/{id}/replay",
    tag = "event-webhooks",
    operation_id = "replay_webhook_delivery",
    params(("id" = String, Path, description = "The dead delivery's id (`<subscription>.<event id>`)")),
    security(("admin_bearer" = [])),
    responses(
        (status = 202, description = "Queued again", body = WebhookReplayQueued),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "No such dead delivery (`not_found`)", body = ErrorBody),
        (status = 503, description = "The store is unavailable (`unavailable`)", body = ErrorBody),
    )
)]
pub async fn replay(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<WebhookReplayQueued>), ApiError> {
    event_webhooks::replay(&app, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(WebhookReplayQueued { id, status: "queued" })))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookTestBody {
    /// Only this subscription (its id); absent: every subscription.
    subscription: Option<String>,
}

/// Sends a signed `webhook.test` event to the subscribers now (not queued, not retried) and
/// reports what each answered.
#[utoipa::path(
    post,
    path = "/v1/admin/webhooks/test",
    tag = "event-webhooks",
    operation_id = "test_webhooks",
    request_body(content = Option<WebhookTestBody>, description = "Optional; an empty body is `{}`"),
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "Each subscriber's answer", body = WebhookTestReport),
        (status = 400, description = "Not JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "No subscription with this id, or none configured (`not_found`)", body = ErrorBody),
        (status = 415, description = "A body that is not `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "JSON of the wrong shape (`invalid_body`)", body = ErrorBody),
        (status = 503, description = "The HTTP client could not be built (`unavailable`)", body = ErrorBody),
    )
)]
pub async fn test(
    State(app): State<App>,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<WebhookTestBody>,
) -> Result<Json<WebhookTestReport>, ApiError> {
    let only = body.subscription.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let subs = &app.event_subscriptions;
    if subs.is_empty() {
        return Err(ApiError::not_found("no event webhook subscriptions are configured (webhooks.subscriptions)"));
    }
    if let Some(id) = only {
        if !subs.iter().any(|s| s.core.id == id) {
            return Err(ApiError::not_found(format!("no event webhook subscription {id}")));
        }
    }
    let timeout = Duration::from_millis(app.settings.webhooks.delivery.timeout_ms);
    crate::integrations::event_webhooks::test_ping(subs, only, timeout)
        .await
        .map(Json)
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e))
}

#[utoipa::path(
    get,
    path = "/v1/admin/fub/writes",
    tag = "event-webhooks",
    operation_id = "list_fub_writes",
    summary = "The Follow Up Boss write-back: writes waiting (being retried) and dead ones",
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "Queued writes (first 100) and dead writes", body = FubWriteList),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 503, description = "The store is unavailable (`unavailable`)", body = ErrorBody),
    )
)]
pub async fn list_fub(State(app): State<App>) -> Result<Json<FubWriteList>, ApiError> {
    let enabled =
        crate::integrations::followupboss::writeback::subscription(&app.settings, app.secrets.fub_api_key.is_some())
            .is_some();
    Ok(Json(event_webhooks::list_fub(&app, enabled)?))
}

/// Puts a dead write back in the queue (attempts reset). One that died in doubt is looked
/// up in Follow Up Boss before it is sent again, so a replay never logs a fact twice.
#[utoipa::path(
    post,
    path = "/v1/admin/fub/writes/{id}/replay",
    tag = "event-webhooks",
    operation_id = "replay_fub_write",
    params(("id" = String, Path, description = "The dead write's id (`fub.<event id>`)")),
    security(("admin_bearer" = [])),
    responses(
        (status = 202, description = "Queued again", body = WebhookReplayQueued),
        (status = 401, description = "Missing or wrong bearer token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "No such dead write (`not_found`)", body = ErrorBody),
        (status = 503, description = "The store is unavailable (`unavailable`)", body = ErrorBody),
    )
)]
pub async fn replay_fub(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<WebhookReplayQueued>), ApiError> {
    event_webhooks::replay_fub(&app, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(WebhookReplayQueued { id, status: "queued" })))
}
