//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of the HTTP surface, generated from the
//! code with `utoipa` (served without authentication: it holds no secrets).
//!
//! - Every JSON/webhook route carries `#[utoipa::path(...)]` on its handler, and its request
//!   types derive `ToSchema`/`IntoParams` where they are defined ([`ApiDoc`] lists the handlers).
//! - Responses that handlers build with `serde_json::json!` are described by the small
//!   `ToSchema` structs below, which exist for the document only (nothing constructs them).
//! - The server-rendered HTML pages under `/admin` are listed briefly by [`AdminPages`] (no
//!   request or response schemas); the catch-all `/admin/{*rest}` (the admin page's own "not
//!   found") is not listed.
//!
//! `tests/api/openapi.rs` checks that the document parses as OpenAPI 3.1, that it lists exactly
//! the routes the router declares (scanned from the `.route(...)` calls in `src/http`), and
//! that a request to every documented path and method reaches a route (never the router's
//! `no such route` fallback or the 405 fallback).

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::LazyLock;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Required, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi, ToSchema};

use super::{adapters, admin, admin_search, compliance, crm, dead_letters, events, followupboss, health, mls, twilio};

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
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        openapi_json,
        twilio::inbound,
        twilio::status,
        events::post_lead,
        crm::post_crm,
        crm::post_interest,
        mls::post_mls,
        adapters::post_realtor,
        adapters::post_zillow,
        adapters::post_webform,
        followupboss::webhook,
        admin::get_lead,
        admin::get_timeline,
        admin::freeze,
        admin::unfreeze,
        admin::opt_out,
        admin_search::list_leads,
        admin_search::stats,
        compliance::consent_export,
        compliance::list_suppressions,
        compliance::get_suppression,
        compliance::put_suppression,
        compliance::delete_suppression,
        dead_letters::list,
        dead_letters::retry,
        dead_letters::discard,
    ),
    components(schemas(ErrorBody, LeadStatus, ChangeKind)),
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

/// The serialised document, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the OpenAPI document could not be serialised");
        serde_json::json!({"error": {"code": "openapi_unavailable", "message": e.to_string()}}).to_string()
    })
});

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
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT.as_str()).into_response()
}

// ---------------------------------------------------------------------------------------
// Modifiers: security schemes, the admin pages, the description
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

/// The HTML admin pages: (method, path, summary, needs a session).
pub const ADMIN_PAGES: &[(&str, &str, &str, bool)] = &[
    ("GET", "/admin", "Lead search page", true),
    ("GET", "/admin/", "Lead search page", true),
    ("GET", "/admin/login", "Sign-in form", false),
    ("POST", "/admin/login", "Sign in with the admin token (form field `token`); sets the session cookie", false),
    ("GET", "/admin/logout", "Sign out (clears the session cookie)", false),
    ("POST", "/admin/logout", "Sign out (clears the session cookie)", false),
    ("GET", "/admin/leads", "Lead search page", true),
    ("GET", "/admin/leads/{phone}", "One lead: state, consent, timeline, conversation", true),
    ("GET", "/admin/leads/{phone}/freeze", "Redirects to the lead's page", false),
    ("POST", "/admin/leads/{phone}/freeze", "Freeze the lead (form: `reason`, `csrf`)", true),
    ("GET", "/admin/leads/{phone}/unfreeze", "Redirects to the lead's page", false),
    ("POST", "/admin/leads/{phone}/unfreeze", "Unfreeze the lead (form: `csrf`)", true),
    ("GET", "/admin/dead-letters", "Dead letters page", true),
    ("GET", "/admin/dead-letters/{id}/retry", "Redirects to the dead letters page", false),
    ("POST", "/admin/dead-letters/{id}/retry", "Retry a dead letter (form: `csrf`)", true),
    ("GET", "/admin/dead-letters/{id}/discard", "Redirects to the dead letters page", false),
    ("POST", "/admin/dead-letters/{id}/discard", "Discard a dead letter (form: `csrf`)", true),
];

struct AdminPages;

impl Modify for AdminPages {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (method, path, summary, session) in ADMIN_PAGES {
            let http_method = if *method == "POST" { HttpMethod::Post } else { HttpMethod::Get };
            let html =
                || ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String).build())).build();
            let mut op = OperationBuilder::new()
                .tag("admin-ui")
                .summary(Some(*summary))
                .operation_id(Some(format!("admin_page_{}_{}", method.to_lowercase(), page_id(path))))
                .response("200", ResponseBuilder::new().description("An HTML page").content("text/html", html()))
                .response("303", ResponseBuilder::new().description("Redirect (`Location`), e.g. to the sign-in form"))
                .response("4XX", ResponseBuilder::new().description("An HTML error page").content("text/html", html()));
            if *method == "POST" {
                op = op.request_body(Some(
                    utoipa::openapi::request_body::RequestBodyBuilder::new()
                        .description(Some("The page's form"))
                        .content(
                            "application/x-www-form-urlencoded",
                            ContentBuilder::new().schema(Some(ObjectBuilder::new().build())).build(),
                        )
                        .build(),
                ));
            }
            if *session {
                op = op.security(SecurityRequirement::new(ADMIN_SESSION, Vec::<String>::new()));
            }
            for name in path_params(path) {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String).build())),
                );
            }
            openapi.paths.add_path_operation(path, vec![http_method], op.build());
        }
    }
}

/// `{phone}` and `{id}` in a path, in order.
fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// `/admin/leads/{phone}/freeze` -> `leads_phone_freeze` (`/admin` -> `index`).
fn page_id(path: &str) -> String {
    let parts: Vec<String> = path
        .trim_start_matches("/admin")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_matches(|c| c == '{' || c == '}').replace('-', "_"))
        .collect();
    match (parts.is_empty(), path.ends_with('/')) {
        (true, false) => "index".into(),
        (true, true) => "index_slash".into(),
        _ => parts.join("_"),
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

/// Every error: `{"error": {"code", "message"}}`.
#[derive(ToSchema)]
#[schema(example = json!({"error": {"code": "invalid_phone", "message": "not a valid phone number"}}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: `malformed_json`, `invalid_body`, `invalid_field`, `missing_field`,
    /// `invalid_phone`, `invalid_signature`, `unauthorized`, `not_found`, `body_too_large`,
    /// `rate_limited`, `idempotency_key_reused`, `idempotency_key_in_use`, `unavailable`, ...
    pub code: String,
    /// For people.
    pub message: String,
}

/// Where a lead is in the conversation.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LeadStatus {
    New,
    ContactedSms,
    Engaged,
    OptOut,
    Undeliverable,
}

/// The kind of an MLS listing change (`mls::CHANGE_KINDS`).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ChangeKind {
    PriceDrop,
    PriceIncrease,
    StatusChange,
    BackOnMarket,
    NewListing,
}

/// `GET /healthz`.
#[derive(ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// `GET /readyz`.
#[derive(ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    #[schema(example = "ready")]
    pub status: String,
    /// `ok` or `unavailable`.
    #[schema(example = "ok")]
    pub store: String,
    /// `null` when the lead supervisor did not answer.
    pub live_lead_actors: Option<u64>,
}

/// One timeline entry an event appended (what leadline decided and why).
#[derive(ToSchema)]
pub struct Decision {
    /// `event`, `text_queued`, `text_blocked`, `text_deferred`, `text_sent`, `text_failed`,
    /// `status_changed`, `consent_changed`, `admin`, `delivery`.
    #[schema(example = "text_queued")]
    pub kind: String,
    /// The rule that caused it, e.g. `consent.missing`, `opt_out.keyword`.
    pub rule: Option<String>,
    pub detail: String,
    pub message_id: Option<String>,
}

/// The acknowledgement of an event: the lead's status after it and the decisions it produced.
#[derive(ToSchema)]
pub struct Applied {
    /// E.164.
    #[schema(example = "+12125550142")]
    pub phone: String,
    pub status: LeadStatus,
    /// A re-delivery (same dedupe key) that changed nothing.
    pub duplicate: bool,
    pub decisions: Vec<Decision>,
}

/// `POST /v1/events/crm`: the status change, plus the listing interest when one was given.
#[derive(ToSchema)]
pub struct CrmApplied {
    #[serde(flatten)]
    pub applied: Applied,
    /// `null` unless `listing_id` and `listing_action` were given.
    pub interest: Option<Applied>,
}

/// `POST /v1/events/interest`.
#[derive(ToSchema)]
pub struct InterestApplied {
    #[serde(flatten)]
    pub applied: Applied,
    pub listing_id: String,
}

/// `POST /v1/events/mls`: how many leads watching the listing acknowledged the change.
#[derive(ToSchema)]
pub struct MlsReport {
    pub listing_id: String,
    pub change: ChangeKind,
    /// Leads watching the listing.
    pub leads: u64,
    pub applied: u64,
    pub duplicates: u64,
    /// Only on 503: leads that did not acknowledge (retry; the others are skipped).
    pub failed: Option<u64>,
    /// Only on 503: `fanout_incomplete`.
    pub error: Option<ErrorDetail>,
}

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

/// Proof of prior express written consent, as captured.
#[derive(ToSchema)]
pub struct ConsentRecord {
    #[schema(format = DateTime)]
    pub granted_at: Option<String>,
    pub source_url: Option<String>,
    pub disclosure: Option<String>,
    pub disclosure_sha256: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub seller: Option<String>,
    pub captured_from: Option<String>,
    #[schema(format = DateTime)]
    pub recorded_at: String,
}

/// One entry of the consent history (externally tagged).
#[derive(ToSchema)]
pub enum ConsentChange {
    Granted(ConsentRecord),
    Revoked {
        #[schema(format = DateTime)]
        at: String,
        rule: String,
        evidence: String,
    },
    Reinstated {
        #[schema(format = DateTime)]
        at: String,
        rule: String,
        evidence: String,
    },
    /// Declared by the source's consent policy (`[compliance.sources.<source>]`).
    Declared(ConsentRecord),
}

/// A text waiting for an allowed moment.
#[derive(ToSchema)]
pub struct Scheduled {
    pub message_id: String,
    /// `first_contact`, `automated`, `listing_alert`, `follow_up`, `opt_out_confirmation`, ...
    pub kind: String,
    #[schema(format = DateTime)]
    pub not_before: String,
    pub rule: String,
}

/// The next step of the follow-up sequence.
#[derive(ToSchema)]
pub struct FollowUp {
    /// 1-based.
    pub step: u32,
    #[schema(format = DateTime)]
    pub due: String,
    #[schema(format = DateTime)]
    pub started_at: String,
}

/// A lead as the admin API shows it.
#[derive(ToSchema)]
#[schema(example = json!({"phone": "+12125550142", "status": "CONTACTED_SMS", "frozen": false,
    "last_property": "123 Main St", "last_contacted_at": "2026-11-27T14:03:06.000Z"}))]
pub struct Lead {
    #[schema(example = "+12125550142")]
    pub phone: String,
    pub status: LeadStatus,
    pub frozen: bool,
    pub frozen_reason: Option<String>,
    #[schema(format = DateTime)]
    pub frozen_at: Option<String>,
    /// The grant that applies now (`null` without one, or after an opt-out).
    pub consent: Option<ConsentRecord>,
    pub consent_history: Vec<ConsentChange>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub source: Option<String>,
    pub source_lead_id: Option<String>,
    pub last_property: Option<String>,
    pub last_listing_id: Option<String>,
    #[schema(format = DateTime)]
    pub last_contacted_at: Option<String>,
    #[schema(format = DateTime)]
    pub last_inbound_at: Option<String>,
    pub crm_status: Option<String>,
    /// Listing ids the lead cares about.
    pub interests: Vec<String>,
    pub scheduled: Vec<Scheduled>,
    pub follow_up: Option<FollowUp>,
    pub timeline_entries: u64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// `POST /v1/admin/leads/{phone}/freeze|unfreeze`: the lead after the change and the decisions.
#[derive(ToSchema)]
pub struct LeadChanged {
    #[serde(flatten)]
    pub lead: Lead,
    pub decisions: Vec<Decision>,
}

/// A persisted, hash-chained timeline entry.
#[derive(ToSchema)]
pub struct TimelineEntry {
    pub seq: u64,
    #[schema(format = DateTime)]
    pub at: String,
    /// As `Decision.kind`.
    pub kind: String,
    pub rule: Option<String>,
    pub detail: String,
    pub message_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// `GET /v1/admin/leads/{phone}/timeline`.
#[derive(ToSchema)]
pub struct Timeline {
    pub phone: String,
    pub entries: Vec<TimelineEntry>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next_after: Option<u64>,
}

/// `GET /v1/admin/leads`.
#[derive(ToSchema)]
pub struct LeadList {
    pub leads: Vec<Lead>,
    pub count: u64,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A text waiting for a person.
#[derive(ToSchema)]
pub struct DeadLetter {
    pub id: String,
    pub phone: String,
    pub kind: String,
    pub body: String,
    /// `in_doubt`, `provider.<code>`, ...
    pub reason: String,
    pub detail: String,
    #[schema(format = DateTime)]
    pub at: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// `GET /v1/admin/dead-letters`.
#[derive(ToSchema)]
pub struct DeadLetterList {
    pub count: u64,
    pub dead_letters: Vec<DeadLetter>,
}

/// `POST /v1/admin/dead-letters/{id}/retry`.
#[derive(ToSchema)]
pub struct RetryQueued {
    pub id: String,
    #[schema(example = "queued")]
    pub status: String,
}

/// `GET /v1/admin/leads/{phone}/consent` as JSON.
#[derive(ToSchema)]
pub struct ConsentExport {
    pub phone: String,
    pub status: LeadStatus,
    pub consent: Option<ConsentRecord>,
    pub history: Vec<compliance::ConsentRow>,
}

/// A number on a do-not-contact list.
#[derive(ToSchema)]
pub struct Suppression {
    pub phone: String,
    /// `admin`, `internal_dnc`, `litigator`, ...
    pub list: String,
    pub reason: Option<String>,
    #[schema(format = DateTime)]
    pub added_at: String,
}

/// `PUT /v1/admin/suppressions/{phone}`: the entry, and the one it replaced.
#[derive(ToSchema)]
pub struct SuppressionPut {
    #[serde(flatten)]
    pub entry: Suppression,
    pub previous: Option<Suppression>,
}

/// `GET /v1/admin/suppressions`.
#[derive(ToSchema)]
pub struct SuppressionList {
    pub count: u64,
    pub suppressions: Vec<Suppression>,
}

/// `DELETE /v1/admin/suppressions/{phone}`.
#[derive(ToSchema)]
pub struct SuppressionRemoved {
    pub phone: String,
    pub removed: Suppression,
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
