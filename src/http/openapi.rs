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
use serde_json::Value;
use std::sync::OnceLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

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

**Authentication.** The admin JSON API (`/v1/admin/*`) needs `Authorization: Bearer \
<LEADLINE_ADMIN_TOKEN>` (`admin_bearer`). Twilio webhooks are verified with `X-Twilio-Signature`. \
`/v1/events/*` and the lead-source adapters need `X-Leadline-Signature` (adapters: or `?key=`) only \
when `LEADLINE_WEBHOOK_SECRET` is set. Follow Up Boss webhooks need `FUB-Signature`.

**Admin pages.** The server-rendered HTML pages under `/admin` (tag `admin-ui`) are listed briefly, \
without schemas: they are for people with a browser (session cookie `leadline_admin`, CSRF token in \
every form), not for integrations. Paths under `/admin` that match no page render the admin \
page's own 404 (`/admin/{*rest}`, not listed).";

#[derive(OpenApi)]
#[openapi(
    info(title = "leadline"),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes, &AdminPages, &Describe),
    tags(
        (name = "health", description = "Liveness, readiness and Prometheus metrics"),
        (name = "meta", description = "This document"),
        (name = "twilio", description = "Twilio webhooks (form-encoded, `X-Twilio-Signature`)"),
        (name = "events", description = "Generic event sources (JSON; `X-Leadline-Signature` when a secret is set)"),
        (name = "webhooks", description = "Lead-source adapters: Realtor.com-style, Zillow-style, web form, Follow Up Boss"),
        (name = "admin", description = "Admin JSON API (bearer token)"),
        (name = "compliance", description = "Consent export and the do-not-contact list (bearer token)"),
        (name = "dead-letters", description = "Texts that were not sent automatically (bearer token)"),
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
        document.to_pretty_json().unwrap_or_else(|e| {
            tracing::error!(error = %e, "the OpenAPI document could not be serialised");
            serde_json::json!({"error": {"code": "openapi_unavailable", "message": e.to_string()}}).to_string()
        })
    });
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
            LEADLINE_SIGNATURE,
            header_key(
                "X-Leadline-Signature",
                "`sha256=<hex HMAC-SHA256(LEADLINE_WEBHOOK_SECRET, raw body)>`; required only when \
                 LEADLINE_WEBHOOK_SECRET is set; 403 `invalid_signature` otherwise",
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

// ---------------------------------------------------------------------------------------
// Documentation-only schemas (responses built with `serde_json::json!`, webhook payloads
// read as untyped JSON or forms)
// ---------------------------------------------------------------------------------------

/// `POST /v1/webhooks/followupboss`: 202 `accepted` (processed in the background), 200
/// `duplicate` (same `eventId` again) or 200 `ignored` (an event leadline does not act on).
#[derive(ToSchema)]
pub struct FubAck {
    pub event_id: String,
    pub event: String,
    pub accepted: Option<bool>,
    /// How many resource ids will be fetched.
    pub resources: Option<u64>,
    pub duplicate: Option<bool>,
    pub ignored: Option<bool>,
}

/// Twilio's incoming-message webhook (the fields leadline reads, and common others).
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct TwilioInbound {
    /// The lead's number (required).
    #[schema(example = "+12125550142")]
    pub from: String,
    /// The text; empty when absent.
    pub body: Option<String>,
    /// De-duplicates Twilio's retries (`SmsSid` is read when it is absent).
    pub message_sid: Option<String>,
    pub sms_sid: Option<String>,
    pub account_sid: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub to: Option<String>,
    pub num_media: Option<String>,
    pub num_segments: Option<String>,
}

/// Twilio's status callback (delivery receipt).
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct TwilioStatus {
    /// Required (or `SmsSid`).
    pub message_sid: Option<String>,
    pub sms_sid: Option<String>,
    /// Required (or `SmsStatus`): `queued`, `sent`, `delivered`, `undelivered`, `failed`, ...
    #[schema(example = "delivered")]
    pub message_status: Option<String>,
    pub sms_status: Option<String>,
    /// Twilio error code, e.g. `21610` (the number opted out at the carrier).
    pub error_code: Option<String>,
    pub account_sid: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// `POST /v1/webhooks/realtor`: a Realtor.com-style lead, flat or nested.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum RealtorLead {
    Flat(RealtorFlat),
    Nested(RealtorNested),
}

/// The flat shape (Lead Delivery / Connections Plus transcription). `lead_id` and
/// `contact.phone` are required.
#[derive(ToSchema)]
pub struct RealtorFlat {
    /// String or number.
    pub lead_id: Value,
    pub role: Option<String>,
    pub contact: RealtorContact,
    pub property: Option<RealtorProperty>,
    pub message: Option<String>,
    /// RFC 3339.
    pub timestamp: Option<String>,
}

#[derive(ToSchema)]
pub struct RealtorContact {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// Required. String or number.
    pub phone: Value,
}

#[derive(ToSchema)]
pub struct RealtorProperty {
    pub address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip_code: Option<String>,
    pub mls_id: Option<String>,
    pub listing_id: Option<String>,
    /// A number or a string like `$450,000`.
    pub list_price: Option<Value>,
    pub price: Option<Value>,
    pub listing_url: Option<String>,
}

/// The nested shape: `{"Lead": {...}}`. `Lead.lead_info.lead_consumer_info.phone` is required.
#[derive(ToSchema)]
pub struct RealtorNested {
    #[serde(rename = "Lead")]
    pub lead: RealtorNestedLead,
}

#[derive(ToSchema)]
pub struct RealtorNestedLead {
    pub lead_info: RealtorLeadInfo,
    pub lead_property_info: Option<RealtorPropertyInfo>,
    pub lead_id: Option<Value>,
    pub id: Option<Value>,
    pub message: Option<String>,
    pub timestamp: Option<String>,
}

#[derive(ToSchema)]
pub struct RealtorLeadInfo {
    pub lead_id: Option<Value>,
    pub comments: Option<String>,
    pub message: Option<String>,
    pub timestamp: Option<String>,
    pub lead_consumer_info: RealtorContact,
}

#[derive(ToSchema)]
pub struct RealtorPropertyInfo {
    pub property_street_address: Option<String>,
    pub property_city: Option<String>,
    pub property_state_code: Option<String>,
    pub property_zip: Option<String>,
    pub property_price: Option<Value>,
    pub property_mls_id: Option<String>,
    pub mls_id: Option<String>,
    pub listing_id: Option<String>,
}

/// `POST /v1/webhooks/zillow`: a Zillow-style lead post (rentals/Premier Agent shape, or the
/// lender contact shape with `sender`). A phone (`phone`, `phoneNumber` or
/// `sender.phoneNumber`) is required.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ZillowLead {
    pub phone: Option<String>,
    pub phone_number: Option<String>,
    pub sender: Option<ZillowSender>,
    /// Full name (split at the first space) when `firstName` is absent.
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub email_address: Option<String>,
    pub lead_id: Option<Value>,
    pub id: Option<Value>,
    pub contact_id: Option<Value>,
    pub listing_id: Option<String>,
    pub mls_number: Option<String>,
    pub mls_id: Option<String>,
    pub listing_street: Option<String>,
    pub listing_unit: Option<String>,
    pub listing_city: Option<String>,
    pub listing_state: Option<String>,
    pub listing_postal_code: Option<String>,
    /// A number or a string like `$450,000`.
    pub listing_price: Option<Value>,
    pub message: Option<String>,
    pub lead_type: Option<String>,
    /// RFC 3339 (`createdAt` and `timestamp` are read too).
    pub created: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ZillowSender {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email_address: Option<String>,
    pub phone_number: Option<String>,
}

/// `POST /v1/webhooks/webform`: a plain HTML form. The consent is recorded when the
/// `consent` checkbox is ticked (with the client's IP and user agent from the request).
#[derive(ToSchema)]
pub struct WebForm {
    /// Required.
    pub phone: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub message: Option<String>,
    pub listing_id: Option<String>,
    pub listing_address: Option<String>,
    /// Checkbox: `on`, `yes`, `true`, `1` or `checked` when ticked.
    pub consent: Option<String>,
    /// The disclosure text shown next to the checkbox.
    pub consent_text: Option<String>,
    /// Else the `Referer` header.
    pub page_url: Option<String>,
    /// RFC 3339; default: now.
    #[schema(format = DateTime)]
    pub consent_at: Option<String>,
    /// Default `webform`.
    pub source: Option<String>,
    /// De-duplicates re-submissions.
    pub submission_id: Option<String>,
    /// Two-letter state of the lead's address.
    pub state: Option<String>,
}
