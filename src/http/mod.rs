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

use crate::config::{Secrets, Settings};
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;
use leadline_core::actors::lead::{Applied, LeadMsg};
use leadline_core::actors::supervisor::SupervisorMsg;
use leadline_core::model::Event;
use leadline_core::storage::Store;
use leadline_core::Phone;
use metrics_exporter_prometheus::PrometheusHandle;
use ractor::ActorRef;
use std::sync::Arc;
use std::time::Duration;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState(pub Arc<AppInner>);

pub struct AppInner {
    pub settings: Settings,
    pub secrets: Secrets,
    pub store: Store,
    pub supervisor: ActorRef<SupervisorMsg>,
    pub gateway: ActorRef<leadline_core::actors::gateway::GatewayMsg>,
    pub metrics: PrometheusHandle,
    /// The application clock (consent timestamps of web forms, idempotency expiry).
    pub clock: Arc<dyn leadline_core::clock::Clock>,
}

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl AppState {
    /// Routes an event to its lead and waits until it is durable (or times out: 503, so the
    /// sender retries; idempotency keys make that retry harmless).
    pub async fn submit(&self, phone: Phone, event: Event, dedupe_key: Option<String>) -> Result<Applied, ApiError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let msg = LeadMsg::Apply { event, dedupe_key, reply: Some(tx.into()) };
        self.supervisor
            .cast(SupervisorMsg::Route(phone, msg))
            .map_err(|_| ApiError::unavailable("the service is shutting down"))?;
        let wait = Duration::from_millis(self.settings.server.event_timeout_ms);
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(Ok(applied))) => Ok(applied),
            Ok(Ok(Err(e))) => Err(ApiError::unavailable(e.to_string())),
            Ok(Err(_)) => Err(ApiError::unavailable("the lead could not process the event; retry")),
            Err(_) => Err(ApiError::unavailable(
                "timed out waiting for the event to be stored; retry with the same idempotency key",
            )),
        }
    }
}

pub fn router(state: AppState) -> Router {
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
