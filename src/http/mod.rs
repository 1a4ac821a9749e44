//! The HTTP shell: webhooks for integrations, the admin API and pages, health and metrics.
//! Thin by design: handlers extract and validate the request ([`extract`]), call the
//! application layer (`crate::app`) and return its views; errors are [`error::ApiError`].
//!
//! Routes and their OpenAPI operations are registered together ([`routes`], with
//! `utoipa-axum`), so the route list exists once and `GET /v1/openapi.json` is generated
//! from it.

pub mod admin_ui;
pub mod api;
pub mod body;
pub mod error;
pub mod extract;
pub mod http_metrics;
pub mod idempotency;
pub mod openapi;
pub mod security;
pub mod webhooks;

use crate::app::App;
use api::{admin, compliance, crm, dead_letters, event_webhooks, health, leads, mls, operators, search};
use axum::middleware::from_fn_with_state;
use axum::Router;
use error::ApiError;
use idempotency::Idempotency;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use webhooks::{followupboss, lead_sources, signed, twilio};

/// The documented routes with their guards:
///
/// | routes | guard |
/// |---|---|
/// | `/v1/admin/*` | bearer `LEADLINE_ADMIN_TOKEN` (bootstrap admin) or an operator's token; the route's role (`api::admin::required_role`) |
/// | `POST /v1/events/{leads,crm,interest,mls}` | Standard Webhooks `webhook-*` headers (`LEADLINE_WEBHOOK_SECRETS`) or the legacy `X-Leadline-Signature` (`LEADLINE_WEBHOOK_SECRET`), when either is set; then `Idempotency-Key` and the verified `webhook-id` |
/// | `POST /v1/webhooks/{realtor,zillow,webform}` | the same, or the per-source `?key=` (legacy secret); then `Idempotency-Key` and `webhook-id` |
/// | `POST /v1/webhooks/followupboss` | `FUB-Signature` (system key `FUB_SYSTEM_KEY`), de-duplicated by `eventId` |
/// | `POST /v1/twilio/*` | `X-Twilio-Signature` |
/// | `/healthz`, `/readyz`, `/metrics`, `/v1/openapi.json` | none |
pub fn routes(state: &App) -> OpenApiRouter<App> {
    let admin = OpenApiRouter::new()
        .routes(routes!(search::list_leads))
        .routes(routes!(admin::get_lead))
        .routes(routes!(admin::get_timeline))
        .routes(routes!(admin::freeze))
        .routes(routes!(admin::unfreeze))
        .routes(routes!(admin::opt_out))
        .routes(routes!(admin::reply))
        .routes(routes!(operators::list, operators::create))
        .routes(routes!(operators::get, operators::update, operators::revoke))
        .routes(routes!(operators::issue_token))
        .routes(routes!(operators::revoke_token))
        .routes(routes!(admin::post_backup))
        .routes(routes!(compliance::consent_export))
        .routes(routes!(compliance::list_suppressions))
        .routes(routes!(compliance::import_suppressions))
        .routes(routes!(compliance::get_suppression, compliance::put_suppression, compliance::delete_suppression))
        .routes(routes!(search::stats))
        .routes(routes!(dead_letters::list))
        .routes(routes!(dead_letters::retry))
        .routes(routes!(dead_letters::discard))
        .routes(routes!(event_webhooks::list))
        .routes(routes!(event_webhooks::replay))
        .routes(routes!(event_webhooks::test))
        .routes(routes!(event_webhooks::list_fub))
        .routes(routes!(event_webhooks::replay_fub))
        .route_layer(from_fn_with_state(state.clone(), admin::require_operator));
    // Layers run outermost-last-added: the signature is checked before the idempotency
    // record is looked up, so a forged request can neither replay nor poison a key (and
    // only a verified, fresh webhook-id reaches the idempotency layer).
    let events = OpenApiRouter::new()
        .routes(routes!(leads::post_lead))
        .routes(routes!(crm::post_crm))
        .routes(routes!(crm::post_interest))
        .routes(routes!(mls::post_mls))
        .routes(routes!(lead_sources::post_realtor))
        .routes(routes!(lead_sources::post_zillow))
        .routes(routes!(lead_sources::post_webform))
        .route_layer(from_fn_with_state(Idempotency::new(state.clone()), idempotency::middleware))
        .route_layer(from_fn_with_state(signed::Signed::new(state.clone()), signed::require_signature));
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(twilio::inbound))
        .routes(routes!(twilio::status))
        .routes(routes!(followupboss::webhook))
        .merge(admin)
        .merge(events)
}

pub fn router(state: App) -> Router {
    let (api, document) = routes(&state).split_for_parts();
    openapi::publish(document);
    let app = api
        .merge(admin_ui::router(state.settings.admin.upload_max_bytes))
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
