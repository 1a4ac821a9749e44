//! The HTTP surface: webhooks for integrations, the admin API, health and metrics.

pub mod adapters;
pub mod admin;
pub mod admin_search;
pub mod admin_ui;
pub mod body;
pub mod compliance;
pub mod crm;
pub mod dead_letters;
pub mod error;
pub mod events;
pub mod followupboss;
pub mod health;
pub mod http_metrics;
pub mod idempotency;
pub mod integrations;
pub mod mls;
pub mod openapi;
pub mod security;
pub mod signed;
pub mod twilio;

pub use crate::app::App;
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;
use leadline_core::actors::lead::Applied;

pub fn router(state: App) -> Router {
    let admin = admin::router(state.clone());
    let app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/v1/openapi.json", get(openapi::openapi_json))
        .route("/v1/twilio/inbound", post(twilio::inbound))
        .route("/v1/twilio/status", post(twilio::status))
        .merge(admin)
        .merge(admin_ui::router())
        .merge(compliance::router(state.clone()))
        .merge(integrations::router(state.clone()))
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
        })
        .layer(axum::middleware::from_fn(http_metrics::record))
        .with_state(state.clone());
    // Request spans (masked), per-IP rate limit, body ceiling, request deadline.
    security::guard(app, &state.settings.server)
}

/// The JSON shape of the decisions an event produced.
pub fn applied_json(a: &Applied) -> serde_json::Value {
    serde_json::json!({
        "phone": a.phone,
        "status": a.status,
        "duplicate": a.duplicate,
        "decisions": a.entries.iter().map(|e| serde_json::json!({
            "kind": e.kind, "rule": e.rule, "detail": e.detail, "message_id": e.message_id,
        })).collect::<Vec<_>>(),
    })
}
