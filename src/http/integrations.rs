//! The routes of the event sources, with their guards:
//!
//! | route | guard |
//! |---|---|
//! | `POST /v1/events/{leads,crm,interest,mls}` | `X-Leadline-Signature` (when `LEADLINE_WEBHOOK_SECRET` is set), then `Idempotency-Key` |
//! | `POST /v1/webhooks/{realtor,zillow,webform}` | the signature or the per-source `?key=` (when the secret is set), then `Idempotency-Key` |
//! | `POST /v1/webhooks/followupboss` | `FUB-Signature` (system key `FUB_SYSTEM_KEY`), de-duplicated by `eventId` |

use super::idempotency::{self, Idempotency};
use super::{adapters, crm, events, followupboss, mls, signed, App};
use axum::middleware;
use axum::routing::post;
use axum::Router;

pub fn router(state: App) -> Router<App> {
    let idem = Idempotency::new(state.clone());
    Router::new()
        .route("/v1/events/leads", post(events::post_lead))
        .route("/v1/events/crm", post(crm::post_crm))
        .route("/v1/events/interest", post(crm::post_interest))
        .route("/v1/events/mls", post(mls::post_mls))
        .route("/v1/webhooks/realtor", post(adapters::post_realtor))
        .route("/v1/webhooks/zillow", post(adapters::post_zillow))
        .route("/v1/webhooks/webform", post(adapters::post_webform))
        // Layers run outermost-last-added: the signature is checked before the idempotency
        // record is looked up, so a forged request can neither replay nor poison a key.
        .route_layer(middleware::from_fn_with_state(idem, idempotency::middleware))
        .route_layer(middleware::from_fn_with_state(state, signed::require_signature))
        .route("/v1/webhooks/followupboss", post(followupboss::webhook))
}
