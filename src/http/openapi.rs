//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of the HTTP surface, generated from the
//! code with `utoipa` (served without authentication: it holds no secrets).
//!
//! - The operations come from the router itself: every route is registered with its
//!   `#[utoipa::path(...)]` operation in `http::routes` (`utoipa-axum`), and the request and
//!   reply types are the ones the handlers use (`app::views`, the request bodies), so the
//!   document cannot list a route that does not exist or a reply shape nobody builds.
//! - This file holds the document's metadata: title, description, tags and security
//!   schemes. The server-rendered HTML pages under `/admin` are listed briefly by
//!   [`AdminPages`], next to the router they describe (`http::admin_ui`).
//!
//! `tests/api/openapi.rs` checks that the document parses as OpenAPI 3.1, that a request to
//! every documented path and method reaches a route (never the router's `no such route`
//! fallback or the 405 fallback), and `tests/api/schemas.rs` that real replies match their
//! schemas.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::admin_ui::AdminPages;
use super::error::ErrorBody;

/// The document's description (Markdown).
pub const DESCRIPTION: &str = "\
Compliant, event-driven text conversations with real-estate leads.

**Errors.** Every error a client can cause is a 4xx (a 503 means: nothing was acknowledged, retry) \
with the body `{\"error\": {\"code\", \"message\"}}` (`ErrorBody`). Any route may also answer 413 \
`body_too_large`, 429 `rate_limited` (with `Retry-After`; not on `/healthz`, `/readyz`, `/metrics`) \
and 503 `request_timeout`. An unknown path is 404 `not_found` (\"no such route\"), a known path with \
another method 405 `method_not_allowed`.

**Authentication.** The admin JSON API (`/v1/admin/*`) needs `Authorization: Bearer <token>` \
(`admin_bearer`): an operator's own token (`/v1/admin/operators`) or the shared \
`LEADLINE_ADMIN_TOKEN` (a bootstrap admin named `admin-token`). Roles: `viewer` reads; `agent` also \
replies, freezes and unfreezes; `admin` also manages suppressions, dead letters, consent exports, \
backups and operators. A role that does not include the route's is a 403 `forbidden` naming the role needed. Twilio webhooks are verified with `X-Twilio-Signature`. \
`/v1/events/*` and the lead-source adapters are signed when a webhook secret is set: with Standard \
Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`; secrets \
`LEADLINE_WEBHOOK_SECRETS`; a repeated `webhook-id` gets the first response back) or the legacy \
`X-Leadline-Signature` (`LEADLINE_WEBHOOK_SECRET`; adapters: or `?key=`). Follow Up Boss webhooks \
need `FUB-Signature`.

**Admin pages.** The server-rendered HTML pages under `/admin` (tag `admin-ui`) are listed briefly, \
without schemas: they are for people with a browser (session cookie `leadline_admin`, CSRF token in \
every form), not for integrations. Paths under `/admin` that match no page render the admin \
page's own 404 (`/admin/{*rest}`, not listed).";

#[derive(OpenApi)]
#[openapi(
    info(title = "leadline"),
    components(schemas(ErrorBody, crate::app::views::EventWebhookPayload)),
    modifiers(&SecuritySchemes, &AdminPages, &Describe),
    tags(
        (name = "health", description = "Liveness, readiness and Prometheus metrics"),
        (name = "meta", description = "This document"),
        (name = "twilio", description = "Twilio webhooks (form-encoded, `X-Twilio-Signature`)"),
        (name = "events", description = "Generic event sources (JSON; Standard Webhooks or the legacy `X-Leadline-Signature` when a secret is set)"),
        (name = "webhooks", description = "Lead-source adapters: Realtor.com-style, Zillow-style, web form, Follow Up Boss"),
        (name = "admin", description = "Admin JSON API (bearer token)"),
        (name = "compliance", description = "Consent export and the do-not-contact list (bearer token)"),
        (name = "dead-letters", description = "Texts that were not sent automatically (bearer token)"),
        (name = "event-webhooks", description = "Outbound event webhooks: the delivery queue, replays and a test ping (bearer token); the events themselves are in `webhooks`"),
        (name = "operators", description = "Named operators, their roles and API tokens (bearer token, role admin)"),
        (name = "admin-ui", description = "Server-rendered HTML admin pages (listed briefly, no schemas)"),
    )
)]
pub struct ApiDoc;

/// The serialised document, published once by [`crate::http::router`] from the routes it
/// registers (the same document for every router this process builds).
static DOCUMENT: OnceLock<String> = OnceLock::new();

/// Keeps the document the router was built with, for [`openapi_json`].
pub fn publish(document: utoipa::openapi::OpenApi) {
    DOCUMENT.get_or_init(|| {
        with_webhooks(&document).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the OpenAPI document could not be serialised");
            let error = crate::app::views::ErrorDetail { code: "openapi_unavailable".into(), message: e.to_string() };
            serde_json::to_string(&ErrorBody { error }).unwrap_or_default()
        })
    });
}

/// The document with its `webhooks` section (OpenAPI 3.1): one entry per outbound event
/// type (`leadline_core::lead_events::EVENT_TYPES`), each a POST that leadline makes to a
/// subscriber with an `EventWebhookPayload` body and the three Standard Webhooks headers.
/// utoipa 5.5's `OpenApi` has no `webhooks` field, so it is added to the serialised document.
fn with_webhooks(document: &utoipa::openapi::OpenApi) -> Result<String, serde_json::Error> {
    let mut value = serde_json::to_value(document)?;
    let header = |name: &str, description: &str| {
        serde_json::json!({"name": name, "in": "header", "required": true, "description": description,
            "schema": {"type": "string"}})
    };
    let parameters = serde_json::json!([
        header("webhook-id", "The event's id (`data.id`); the same on every retry: de-duplicate on it"),
        header("webhook-timestamp", "Unix seconds when this attempt was signed; refuse stale ones (5 minutes)"),
        header(
            "webhook-signature",
            "`v1,<base64 HMAC-SHA256 of \"{webhook-id}.{webhook-timestamp}.{body}\">`, one per secret, space-separated"
        ),
    ]);
    let mut webhooks = serde_json::Map::new();
    for event in leadline_core::lead_events::EVENT_TYPES {
        let operation = serde_json::json!({
            "post": {
                "operationId": format!("event_{}", event.replace('.', "_")),
                "summary": format!("`{event}`"),
                "description": event_description(event),
                "tags": ["event-webhooks"],
                "parameters": parameters,
                "requestBody": {"required": true, "content": {"application/json": {"schema":
                    {"$ref": "#/components/schemas/EventWebhookPayload"}}}},
                "responses": {
                    "2XX": {"description": "Delivered: the next event of this lead follows"},
                    "default": {"description": "Not delivered: retried with backoff (at least `Retry-After`), \
                        then a dead delivery (`GET /v1/admin/webhooks/deliveries`)"}
                }
            }
        });
        webhooks.insert(event.to_string(), operation);
    }
    if let Some(doc) = value.as_object_mut() {
        doc.insert("webhooks".into(), serde_json::Value::Object(webhooks));
    }
    serde_json::to_string_pretty(&value)
}

fn event_description(event: &str) -> &'static str {
    use leadline_core::lead_events as e;
    match event {
        e::TEXT_QUEUED => "A text was decided and queued for sending (`data.message_id`).",
        e::TEXT_SENT => "The SMS provider accepted a text.",
        e::TEXT_DELIVERED => "The carrier reported a text delivered.",
        e::TEXT_FAILED => "A text failed: the provider refused it, the carrier could not deliver it, or it was cancelled before sending (`data.rule` says which).",
        e::TEXT_BLOCKED => "A text was not sent and never will be (`data.rule`: `consent.missing`, `opt_out`, `frozen`, ...).",
        e::TEXT_DEFERRED => "A text waits for an allowed moment (quiet hours, caps).",
        e::LEAD_REPLIED => "The lead sent a text (`data.detail` quotes it).",
        e::LEAD_OPTED_OUT => "The lead opted out (a STOP keyword, a revocation, carrier error 21610, an admin action).",
        e::LEAD_OPTED_IN => "The lead opted back in (START, UNSTOP, YES).",
        e::LEAD_HANDED_OFF => "A person should act: the lead replied, or an opt-out needs review (`data.rule`: `handoff.reply`, `opt_out.ambiguous`, ...). The same facts as the hand-off webhook.",
        e::LEAD_FROZEN => "An operator froze the lead's automation.",
        e::DEAD_LETTER_CREATED => "A text was dead-lettered for a person to review (`data.message_id` is the dead letter's id).",
        e::WEBHOOK_TEST => "A test event from `POST /v1/admin/webhooks/test` (`data.sequence` is 0).",
        _ => "",
    }
}

/// The OpenAPI 3.1 document of this service
///
/// Generated from the code; no authentication (it contains no secrets).
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "meta",
    operation_id = "openapi_document",
    responses((status = 200, description = "This OpenAPI 3.1 document", body = Object, content_type = "application/json"))
)]
pub async fn openapi_json() -> Response {
    let body = DOCUMENT.get().map(String::as_str).unwrap_or("{}");
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

// ---------------------------------------------------------------------------------------
// Modifiers: security schemes, the description (the admin pages: `admin_ui::AdminPages`)
// ---------------------------------------------------------------------------------------

/// Security scheme names used by the `security(...)` of the operations.
pub const ADMIN_BEARER: &str = "admin_bearer";
pub const TWILIO_SIGNATURE: &str = "twilio_signature";
pub const LEADLINE_SIGNATURE: &str = "leadline_signature";
/// The three Standard Webhooks headers: one security requirement that needs all of them.
pub const WEBHOOK_ID: &str = "webhook_id";
pub const WEBHOOK_TIMESTAMP: &str = "webhook_timestamp";
pub const WEBHOOK_SIGNATURE: &str = "webhook_signature";
pub const WEBHOOK_URL_KEY: &str = "webhook_url_key";
pub const FUB_SIGNATURE: &str = "fub_signature";
pub const ADMIN_SESSION: &str = "admin_session";

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            ADMIN_BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("`Authorization: Bearer <LEADLINE_ADMIN_TOKEN>`; 401 `unauthorized` otherwise"))
                    .build(),
            ),
        );
        let header_key = |name: &str, description: &str| {
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(name, description)))
        };
        c.add_security_scheme(
            TWILIO_SIGNATURE,
            header_key(
                "X-Twilio-Signature",
                "base64 HMAC-SHA1 (key: TWILIO_AUTH_TOKEN) of `server.public_url` + path and query + the \
                 sorted form parameters (names and values concatenated); 403 `invalid_signature` otherwise",
            ),
        );
        c.add_security_scheme(
            WEBHOOK_ID,
            header_key(
                "webhook-id",
                "Standard Webhooks message id (the same on every retry of a message; 1 to 255 printable \
                 ASCII characters). Signed; a repeat gets the first response back (`Idempotent-Replayed: \
                 true`), a repeat with another body 422 `idempotency_key_reused`",
            ),
        );
        c.add_security_scheme(
            WEBHOOK_TIMESTAMP,
            header_key(
                "webhook-timestamp",
                "Standard Webhooks timestamp, unix seconds; more than `webhooks.inbound_tolerance_secs` \
                 (300) before or after the server's time: 401 `webhook_timestamp_out_of_tolerance`",
            ),
        );
        c.add_security_scheme(
            WEBHOOK_SIGNATURE,
            header_key(
                "webhook-signature",
                "Standard Webhooks signatures, space-separated `v1,<base64 HMAC-SHA256(key, \
                 \"{webhook-id}.{webhook-timestamp}.{raw body}\")>`, the key being the base64-decoded part \
                 of one of the `whsec_...` secrets in LEADLINE_WEBHOOK_SECRETS; one match is enough; 401 \
                 `invalid_signature` otherwise",
            ),
        );
        c.add_security_scheme(
            LEADLINE_SIGNATURE,
            header_key(
                "X-Leadline-Signature",
                "Legacy: `sha256=<hex HMAC-SHA256(LEADLINE_WEBHOOK_SECRET, raw body)>`; checked only when \
                 LEADLINE_WEBHOOK_SECRET is set and no Standard Webhooks header is sent; 403 \
                 `invalid_signature` otherwise",
            ),
        );
        c.add_security_scheme(
            WEBHOOK_URL_KEY,
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "key",
                "Lead-source adapters only, for senders that cannot sign: `?key=<hex HMAC-SHA256(\
                 LEADLINE_WEBHOOK_SECRET, \"webhook:<source>\")>` with source `realtor`, `zillow` or `webform`",
            ))),
        );
        c.add_security_scheme(
            FUB_SIGNATURE,
            header_key(
                "FUB-Signature",
                "hex HMAC-SHA256 (key: FUB_SYSTEM_KEY) of base64(raw body); 403 `invalid_signature` otherwise",
            ),
        );
        c.add_security_scheme(
            ADMIN_SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "leadline_admin",
                "The admin page's session cookie, set by `POST /admin/login`",
            ))),
        );
    }
}

struct Describe;

impl Modify for Describe {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.info.description = Some(DESCRIPTION.into());
    }
}
