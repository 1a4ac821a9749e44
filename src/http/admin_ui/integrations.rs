//! The integrations page (`/admin/integrations`): what the outbound event webhooks and the
//! Follow Up Boss write-back could not deliver (dead) and how much waits, as the JSON admin
//! API lists them (`app::event_webhooks`). Replays go through the API
//! (`POST /v1/admin/webhooks/deliveries/{id}/replay`, `POST /v1/admin/fub/writes/{id}/replay`).

use super::error::UiResult;
use super::see_other;
use super::session::require_session;
use super::templates::{page, Base};
use crate::app::views::{FubWriteList, WebhookDeliveryList};
use crate::app::{event_webhooks, App};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;

/// `integrations.html`.
#[derive(Serialize)]
struct IntegrationsPage {
    webhooks: WebhookDeliveryList,
    fub: FubWriteList,
}

pub(super) async fn integrations_page(State(app): State<App>, headers: HeaderMap) -> UiResult {
    let s = match require_session(&app, &headers, "/admin/integrations") {
        Ok(s) => s,
        Err(login) => return Ok(see_other(&login)),
    };
    let fub_on =
        crate::integrations::followupboss::writeback::subscription(&app.settings, app.secrets.fub_api_key.is_some())
            .is_some();
    let ctx = IntegrationsPage { webhooks: event_webhooks::list(&app)?, fub: event_webhooks::list_fub(&app, fub_on)? };
    Ok(page(StatusCode::OK, "integrations.html", Base::new(Some(&s), "Integrations", "integrations"), ctx))
}
