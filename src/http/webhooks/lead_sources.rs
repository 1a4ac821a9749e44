//! Lead-source adapters: a lead portal's own payload, mapped onto the generic lead
//! (`LeadBody`), then the same path as `POST /v1/events/leads` (same validation, same
//! de-duplication by `source` + `source_lead_id`, same decision core).
//!
//! - `POST /v1/webhooks/realtor`: a **Realtor.com-style** lead (JSON).
//! - `POST /v1/webhooks/zillow`: a **Zillow-style** lead post (JSON).
//! - `POST /v1/webhooks/webform`: a plain HTML form (`application/x-www-form-urlencoded`).
//!
//! The Realtor.com and Zillow adapters are "style" adapters: neither company publishes its
//! lead-delivery payload openly. The field names follow public descriptions (the API
//! Evangelist transcription of Realtor.com Lead Delivery / Connections Plus, a nested variant
//! seen in third-party code, and Zillow's rentals and lender contact shapes); check them
//! against a real delivery before relying on them. The payload types below are what the
//! handlers deserialise and what the OpenAPI document shows.
//!
//! Portal leads carry no consent record that names this brokerage, so they are stored but
//! never texted automatically (timeline: `consent.missing`); the web form records consent
//! when its checkbox is ticked.

use crate::app::leads::{self, ConsentBody, LeadBody, ListingBody};
use crate::app::views::Applied;
use crate::app::App;
use crate::http::body::read_limited;
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use leadline_core::Ts;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use utoipa::ToSchema;

/// Applies a mapped lead exactly like `POST /v1/events/leads`.
pub async fn submit_lead(app: &App, lead: LeadBody) -> Result<Response, ApiError> {
    let applied = leads::capture(app, lead).await?;
    Ok((StatusCode::ACCEPTED, Json(Applied::from(&applied))).into_response())
}

fn missing(fields: &[&str]) -> ApiError {
    ApiError::unprocessable("missing_field", format!("missing required field(s): {}", fields.join(", ")))
}

/// A value leadline reads as text: a string (trimmed; empty is none) or a number (lead
/// portals send ids, phones and zip codes as either). Other JSON types are read as none, as
/// a portal's extra or malformed value should not refuse the lead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(Option<String>);

impl Text {
    fn get(&self) -> Option<String> {
        self.0.clone()
    }
}

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Text(match Value::deserialize(d)? {
            Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }))
    }
}

impl utoipa::PartialSchema for Text {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Number, Type::Null]))
            .description(Some("Text; a number is read as its digits"))
            .into()
    }
}

impl ToSchema for Text {}

/// The first of several alternatives that has a value.
fn first(options: &[&Text]) -> Option<String> {
    options.iter().find_map(|t| t.get())
}

/// A price in whole dollars from a number or a string like "$450,000".
fn price(options: &[&Text]) -> Option<u64> {
    let raw = first(options)?;
    let digits: String = raw.chars().filter(|c| c.is_ascii_digit() || *c == '.').collect();
    digits.parse::<f64>().ok().filter(|p| p.is_finite() && *p >= 0.0).map(|p| p.round() as u64)
}

fn timestamp(raw: Option<String>) -> Option<Ts> {
    let raw = raw?;
    match chrono::DateTime::parse_from_rfc3339(&raw) {
        Ok(t) => Some(Ts::from(t.with_timezone(&chrono::Utc))),
        Err(_) => {
            tracing::debug!(value = %raw, "lead timestamp is not RFC 3339; ignored");
            None
        }
    }
}

/// "123 Main St, Springfield, IL 62701" from whichever parts are present.
fn address(street: Option<String>, city: Option<String>, state: Option<String>, zip: Option<String>) -> Option<String> {
    let region = [state, zip].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let parts: Vec<String> = [street, city, Some(region)].into_iter().flatten().filter(|s| !s.is_empty()).collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn listing(id: Option<String>, address: Option<String>, price: Option<u64>) -> Option<ListingBody> {
    (id.is_some() || address.is_some() || price.is_some()).then_some(ListingBody { id, address, price })
}

fn split_name(full: Option<String>) -> (Option<String>, Option<String>) {
    match full {
        None => (None, None),
        Some(n) => match n.split_once(char::is_whitespace) {
            Some((f, l)) => (Some(f.to_string()), Some(l.trim().to_string()).filter(|l| !l.is_empty())),
            None => (Some(n), None),
        },
    }
}

fn empty_lead(source: &str, phone: String) -> LeadBody {
    LeadBody {
        source: source.into(),
        phone,
        source_lead_id: None,
        first_name: None,
        last_name: None,
        email: None,
        state: None,
        listing: None,
        message: None,
        consent: None,
        occurred_at: None,
    }
}

// ---------------------------------------------------------------------------------------
// The payloads, as the portals send them
// ---------------------------------------------------------------------------------------

/// `POST /v1/webhooks/realtor`: a Realtor.com-style lead, flat (`lead_id`, `contact`,
/// `property`, ...) or nested (`{"Lead": {...}}`, when `Lead` is present). Flat: `lead_id`
/// and `contact.phone` are required; nested: `Lead.lead_info.lead_consumer_info.phone`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct RealtorLead {
    #[serde(rename = "Lead")]
    pub nested: Option<RealtorNestedLead>,
    #[serde(flatten)]
    pub flat: RealtorFlat,
}

/// The flat shape (Lead Delivery / Connections Plus transcription). `lead_id` and
/// `contact.phone` are required.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct RealtorFlat {
    /// String or number.
    pub lead_id: Text,
    pub role: Text,
    pub contact: Option<RealtorContact>,
    pub property: Option<RealtorProperty>,
    pub message: Text,
    /// RFC 3339.
    pub timestamp: Text,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct RealtorContact {
    pub first_name: Text,
    pub last_name: Text,
    pub email: Text,
    /// Required. String or number.
    pub phone: Text,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct RealtorProperty {
    pub address: Text,
    pub city: Text,
    pub state: Text,
    pub zip_code: Text,
    pub mls_id: Text,
    pub listing_id: Text,
    /// A number or a string like `$450,000`.
    pub list_price: Text,
    pub price: Text,
    pub listing_url: Text,
}

/// The nested shape's `Lead`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct RealtorNestedLead {
    pub lead_info: Option<RealtorLeadInfo>,
    pub lead_property_info: Option<RealtorPropertyInfo>,
    pub lead_id: Text,
    pub id: Text,
    pub message: Text,
    pub timestamp: Text,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct RealtorLeadInfo {
    pub lead_id: Text,
    pub comments: Text,
    pub message: Text,
    pub timestamp: Text,
    pub lead_consumer_info: Option<RealtorContact>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct RealtorPropertyInfo {
    pub property_street_address: Text,
    pub property_city: Text,
    pub property_state_code: Text,
    pub property_zip: Text,
    pub property_price: Text,
    pub property_mls_id: Text,
    pub mls_id: Text,
    pub listing_id: Text,
}

/// `POST /v1/webhooks/zillow`: a Zillow-style lead post (rentals/Premier Agent shape, or the
/// lender contact shape with `sender`). A phone (`phone`, `phoneNumber` or
/// `sender.phoneNumber`) is required.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct ZillowLead {
    pub phone: Text,
    pub phone_number: Text,
    pub sender: Option<ZillowSender>,
    /// Full name (split at the first space) when `firstName` is absent.
    pub name: Text,
    pub first_name: Text,
    pub last_name: Text,
    pub email: Text,
    pub email_address: Text,
    pub lead_id: Text,
    pub id: Text,
    pub contact_id: Text,
    pub listing_id: Text,
    pub mls_number: Text,
    pub mls_id: Text,
    pub listing_street: Text,
    pub listing_unit: Text,
    pub listing_city: Text,
    pub listing_state: Text,
    pub listing_postal_code: Text,
    /// A number or a string like `$450,000`.
    pub listing_price: Text,
    pub message: Text,
    pub lead_type: Text,
    /// RFC 3339 (`createdAt` and `timestamp` are read too).
    pub created: Text,
    pub created_at: Text,
    pub timestamp: Text,
    pub details: Option<ZillowDetails>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ZillowDetails {
    pub message: Text,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct ZillowSender {
    pub first_name: Text,
    pub last_name: Text,
    pub email_address: Text,
    pub phone_number: Text,
}

/// `POST /v1/webhooks/webform`: a plain HTML form. The consent is recorded when the
/// `consent` checkbox is ticked (with the client's IP and user agent from the request).
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct WebForm {
    /// Required.
    pub phone: Text,
    pub first_name: Text,
    pub last_name: Text,
    pub email: Text,
    pub message: Text,
    pub listing_id: Text,
    pub listing_address: Text,
    /// Checkbox: `on`, `yes`, `true`, `1` or `checked` when ticked.
    pub consent: Text,
    /// The disclosure text shown next to the checkbox.
    pub consent_text: Text,
    /// Else the `Referer` header.
    pub page_url: Text,
    /// RFC 3339; default: now.
    #[schema(format = DateTime)]
    pub consent_at: Text,
    /// Default `webform`.
    pub source: Text,
    /// De-duplicates re-submissions.
    pub submission_id: Text,
    /// Two-letter state of the lead's address.
    pub state: Text,
}

// ---------------------------------------------------------------------------------------
// Mapping onto the generic lead
// ---------------------------------------------------------------------------------------

/// Maps a Realtor.com-style lead: the nested shape when `Lead` is present, else the flat one.
pub fn realtor_lead(v: &RealtorLead) -> Result<LeadBody, ApiError> {
    if let Some(lead) = &v.nested {
        let info = lead.lead_info.as_ref();
        let consumer = info.and_then(|i| i.lead_consumer_info.as_ref());
        let Some(phone) = consumer.and_then(|c| c.phone.get()) else {
            return Err(missing(&["Lead.lead_info.lead_consumer_info.phone"]));
        };
        let none = Text::default();
        let info_field = |f: fn(&RealtorLeadInfo) -> &Text| info.map(f).unwrap_or(&none);
        let mut out = empty_lead("realtor", phone);
        out.source_lead_id = first(&[info_field(|i| &i.lead_id), &lead.lead_id, &lead.id]);
        out.first_name = consumer.and_then(|c| c.first_name.get());
        out.last_name = consumer.and_then(|c| c.last_name.get());
        out.email = consumer.and_then(|c| c.email.get());
        out.message = first(&[info_field(|i| &i.comments), info_field(|i| &i.message), &lead.message]);
        out.occurred_at = timestamp(first(&[info_field(|i| &i.timestamp), &lead.timestamp]));
        if let Some(p) = &lead.lead_property_info {
            out.listing = listing(
                first(&[&p.property_mls_id, &p.mls_id, &p.listing_id]),
                address(
                    p.property_street_address.get(),
                    p.property_city.get(),
                    p.property_state_code.get(),
                    p.property_zip.get(),
                ),
                price(&[&p.property_price]),
            );
        }
        return Ok(out);
    }
    let f = &v.flat;
    let lead_id = f.lead_id.get();
    let phone = f.contact.as_ref().and_then(|c| c.phone.get());
    let absent: Vec<&str> = [("lead_id", lead_id.is_none()), ("contact.phone", phone.is_none())]
        .iter()
        .filter(|f| f.1)
        .map(|f| f.0)
        .collect();
    let (Some(lead_id), Some(phone)) = (lead_id, phone) else {
        return Err(missing(&absent));
    };
    let mut out = empty_lead("realtor", phone);
    out.source_lead_id = Some(lead_id);
    if let Some(c) = &f.contact {
        out.first_name = c.first_name.get();
        out.last_name = c.last_name.get();
        out.email = c.email.get();
    }
    out.message = f.message.get();
    out.occurred_at = timestamp(f.timestamp.get());
    if let Some(p) = &f.property {
        out.listing = listing(
            first(&[&p.mls_id, &p.listing_id]),
            address(p.address.get(), p.city.get(), p.state.get(), p.zip_code.get()),
            price(&[&p.list_price, &p.price]),
        );
    }
    Ok(out)
}

/// Maps a Zillow-style lead post: the rentals/Premier Agent shape `name, email, phone,
/// listingStreet, listingUnit, listingCity, listingState, listingPostalCode, message,
/// leadType` (plus, when the sender has them, `id`/`leadId`, `listingId`/`mlsNumber`,
/// `listingPrice`, `created`), or the lender contact shape with `sender {firstName,
/// lastName, emailAddress, phoneNumber}`.
pub fn zillow_lead(v: &ZillowLead) -> Result<LeadBody, ApiError> {
    let none = ZillowSender::default();
    let sender = v.sender.as_ref().unwrap_or(&none);
    let Some(phone) = first(&[&v.phone, &v.phone_number, &sender.phone_number]) else {
        return Err(missing(&["phone"]));
    };
    let mut out = empty_lead("zillow", phone);
    out.source_lead_id = first(&[&v.lead_id, &v.id, &v.contact_id]);
    let (first_name, last_name) = match first(&[&v.first_name, &sender.first_name]) {
        Some(f) => (Some(f), first(&[&v.last_name, &sender.last_name])),
        None => split_name(v.name.get()),
    };
    out.first_name = first_name;
    out.last_name = last_name;
    out.email = first(&[&v.email, &v.email_address, &sender.email_address]);
    let details_message = v.details.as_ref().map(|d| d.message.clone()).unwrap_or_default();
    out.message = first(&[&v.message, &details_message]);
    out.occurred_at = timestamp(first(&[&v.created, &v.created_at, &v.timestamp]));
    let street = match (v.listing_street.get(), v.listing_unit.get()) {
        (Some(s), Some(u)) => Some(format!("{s} #{}", u.trim_start_matches('#'))),
        (s, _) => s,
    };
    out.listing = listing(
        first(&[&v.listing_id, &v.mls_number, &v.mls_id]),
        address(street, v.listing_city.get(), v.listing_state.get(), v.listing_postal_code.get()),
        price(&[&v.listing_price]),
    );
    if let Some(kind) = v.lead_type.get() {
        tracing::debug!(lead_type = %kind, "zillow lead type");
    }
    Ok(out)
}

#[utoipa::path(
    post,
    path = "/v1/webhooks/realtor",
    tag = "webhooks",
    summary = "A Realtor.com-style lead (JSON, flat or nested)",
    request_body = RealtorLead,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, description = "Replays the first response to the same request; 1 to 255 printable ASCII characters")),
    security((), ("webhook_id" = [], "webhook_timestamp" = [], "webhook_signature" = []), ("leadline_signature" = []), ("webhook_url_key" = [])),
    responses(
        (status = 202, description = "Stored like `POST /v1/events/leads`", body = crate::app::views::Applied),
        (status = 400, description = "Not JSON (`malformed_json`), a bad `Idempotency-Key` or a bad `webhook-id` (`invalid_webhook_id`)", body = crate::http::error::ErrorBody),
        (status = 401, description = "Standard Webhooks headers present but not valid (`invalid_signature`), or `webhook-timestamp` more than `webhooks.inbound_tolerance_secs` from the server's time (`webhook_timestamp_out_of_tolerance`)", body = crate::http::error::ErrorBody),
        (status = 403, description = "Unsigned, or neither a valid legacy `X-Leadline-Signature` nor a valid `?key=` (`invalid_signature`), when a webhook secret is set", body = crate::http::error::ErrorBody),
        (status = 409, description = "The same `Idempotency-Key` or `webhook-id` is still being processed (`idempotency_key_in_use`)", body = crate::http::error::ErrorBody),
        (status = 415, description = "Not `Content-Type: application/json` (`unsupported_media_type`)", body = crate::http::error::ErrorBody),
        (status = 422, description = "Not a JSON object (`invalid_body`), a required field is missing (`missing_field`), a bad field (`invalid_field`, `invalid_phone`), or an `Idempotency-Key` or `webhook-id` reused for another request (`idempotency_key_reused`)", body = crate::http::error::ErrorBody),
        (status = 503, description = "Not stored; retry (with the same `Idempotency-Key`)", body = crate::http::error::ErrorBody),
    )
)]
pub async fn post_realtor(State(app): State<App>, ApiJson(v): ApiJson<RealtorLead>) -> Result<Response, ApiError> {
    submit_lead(&app, realtor_lead(&v)?).await
}

#[utoipa::path(
    post,
    path = "/v1/webhooks/zillow",
    tag = "webhooks",
    summary = "A Zillow-style lead post (JSON)",
    request_body = ZillowLead,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, description = "Replays the first response to the same request; 1 to 255 printable ASCII characters")),
    security((), ("webhook_id" = [], "webhook_timestamp" = [], "webhook_signature" = []), ("leadline_signature" = []), ("webhook_url_key" = [])),
    responses(
        (status = 202, description = "Stored like `POST /v1/events/leads`", body = crate::app::views::Applied),
        (status = 400, description = "Not JSON (`malformed_json`), a bad `Idempotency-Key` or a bad `webhook-id` (`invalid_webhook_id`)", body = crate::http::error::ErrorBody),
        (status = 401, description = "Standard Webhooks headers present but not valid (`invalid_signature`), or `webhook-timestamp` more than `webhooks.inbound_tolerance_secs` from the server's time (`webhook_timestamp_out_of_tolerance`)", body = crate::http::error::ErrorBody),
        (status = 403, description = "Unsigned, or neither a valid legacy `X-Leadline-Signature` nor a valid `?key=` (`invalid_signature`), when a webhook secret is set", body = crate::http::error::ErrorBody),
        (status = 409, description = "The same `Idempotency-Key` or `webhook-id` is still being processed (`idempotency_key_in_use`)", body = crate::http::error::ErrorBody),
        (status = 415, description = "Not `Content-Type: application/json` (`unsupported_media_type`)", body = crate::http::error::ErrorBody),
        (status = 422, description = "Not a JSON object (`invalid_body`), a required field is missing (`missing_field`), a bad field (`invalid_field`, `invalid_phone`), or an `Idempotency-Key` or `webhook-id` reused for another request (`idempotency_key_reused`)", body = crate::http::error::ErrorBody),
        (status = 503, description = "Not stored; retry (with the same `Idempotency-Key`)", body = crate::http::error::ErrorBody),
    )
)]
pub async fn post_zillow(State(app): State<App>, ApiJson(v): ApiJson<ZillowLead>) -> Result<Response, ApiError> {
    submit_lead(&app, zillow_lead(&v)?).await
}

/// A ticked checkbox as browsers and form builders send it.
fn checked(v: Option<String>) -> bool {
    v.is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "on" | "yes" | "true" | "1" | "checked"))
}

/// The client's IP: the first hop of `X-Forwarded-For` (set by the reverse proxy) when it
/// is an IP address (or `address:port`), else the socket's peer address. A first hop that is
/// no address (`unknown`, garbage) is ignored rather than refusing the form.
fn client_ip(headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<String> {
    let first_hop = headers
        .get("x-forwarded-for")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split(',').next())
        .map(str::trim)
        .filter(|h| !h.is_empty());
    let forwarded = first_hop.and_then(|hop| {
        let ip = hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()));
        if ip.is_none() {
            tracing::debug!(first_hop = %hop, "X-Forwarded-For's first hop is not an IP address; using the peer address");
        }
        ip
    });
    forwarded.or_else(|| peer.map(|p| p.ip())).map(|ip| ip.to_string())
}

impl WebForm {
    /// The form from its decoded fields; the first value of a repeated field wins.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
    ) -> Self {
        let mut fields = serde_json::Map::new();
        for (k, v) in pairs {
            fields.entry(k.into_owned()).or_insert_with(|| Value::String(v.into_owned()));
        }
        // Every field is `Text`, which reads any string: this cannot fail.
        serde_json::from_value(Value::Object(fields)).unwrap_or_default()
    }
}

/// Maps a web-form post: `phone` is required; the consent is recorded when the `consent`
/// checkbox is ticked, with `page_url` (else the `Referer` header), `consent_at` (RFC 3339;
/// default: now), the client's IP and user agent.
pub fn webform_lead(
    form: &WebForm,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    now: Ts,
) -> Result<LeadBody, ApiError> {
    let Some(phone) = form.phone.get() else {
        return Err(missing(&["phone"]));
    };
    let mut out = empty_lead(form.source.get().as_deref().unwrap_or("webform"), phone);
    out.source_lead_id = form.submission_id.get();
    out.first_name = form.first_name.get();
    out.last_name = form.last_name.get();
    out.email = form.email.get();
    out.message = form.message.get();
    out.state = form.state.get();
    out.listing = listing(form.listing_id.get(), form.listing_address.get(), None);
    if checked(form.consent.get()) {
        let granted_at = match form.consent_at.get() {
            None => now,
            Some(raw) => timestamp(Some(raw.clone())).ok_or_else(|| {
                ApiError::unprocessable("invalid_field", format!("`consent_at` is not an RFC 3339 timestamp: '{raw}'"))
            })?,
        };
        let referer = headers.get(header::REFERER).and_then(|h| h.to_str().ok()).map(str::to_string);
        out.consent = Some(ConsentBody {
            granted_at: Some(granted_at),
            source_url: form.page_url.get().or(referer),
            disclosure: form.consent_text.get(),
            ip: client_ip(headers, peer),
            user_agent: headers.get(header::USER_AGENT).and_then(|h| h.to_str().ok()).map(str::to_string),
            seller: None,
        });
    }
    Ok(out)
}

#[utoipa::path(
    post,
    path = "/v1/webhooks/webform",
    tag = "webhooks",
    summary = "A plain HTML web form (consent recorded when its checkbox is ticked)",
    request_body(content = WebForm, content_type = "application/x-www-form-urlencoded"),
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, description = "Replays the first response to the same request; 1 to 255 printable ASCII characters")),
    security((), ("webhook_id" = [], "webhook_timestamp" = [], "webhook_signature" = []), ("leadline_signature" = []), ("webhook_url_key" = [])),
    responses(
        (status = 202, description = "Stored like `POST /v1/events/leads`", body = crate::app::views::Applied),
        (status = 415, description = "Not `application/x-www-form-urlencoded` (`unsupported_media_type`)", body = crate::http::error::ErrorBody),
        (status = 400, description = "Not JSON (`malformed_json`), a bad `Idempotency-Key` or a bad `webhook-id` (`invalid_webhook_id`)", body = crate::http::error::ErrorBody),
        (status = 401, description = "Standard Webhooks headers present but not valid (`invalid_signature`), or `webhook-timestamp` more than `webhooks.inbound_tolerance_secs` from the server's time (`webhook_timestamp_out_of_tolerance`)", body = crate::http::error::ErrorBody),
        (status = 403, description = "Unsigned, or neither a valid legacy `X-Leadline-Signature` nor a valid `?key=` (`invalid_signature`), when a webhook secret is set", body = crate::http::error::ErrorBody),
        (status = 409, description = "The same `Idempotency-Key` or `webhook-id` is still being processed (`idempotency_key_in_use`)", body = crate::http::error::ErrorBody),
        (status = 422, description = "A required field is missing (`missing_field`), a bad field (`invalid_field`, `invalid_phone`), or an `Idempotency-Key` or `webhook-id` reused for another request (`idempotency_key_reused`)", body = crate::http::error::ErrorBody),
        (status = 503, description = "Not stored; retry (with the same `Idempotency-Key`)", body = crate::http::error::ErrorBody),
    )
)]
pub async fn post_webform(State(app): State<App>, req: Request) -> Result<Response, ApiError> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the web form endpoint takes application/x-www-form-urlencoded",
        ));
    }
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let (parts, body) = req.into_parts();
    let bytes = read_limited(body, app.settings.server.max_body_bytes).await?;
    let form = WebForm::from_pairs(form_urlencoded::parse(&bytes));
    let lead = webform_lead(&form, &parts.headers, peer, Ts::from(app.clock.now()))?;
    submit_lead(&app, lead).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn forwarded(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn the_client_ip_is_an_ip_address_or_the_peer() {
        let peer: Option<SocketAddr> = Some("192.0.2.1:40000".parse().unwrap());
        assert_eq!(client_ip(&forwarded("198.51.100.7, 10.0.0.1"), peer).as_deref(), Some("198.51.100.7"));
        assert_eq!(client_ip(&forwarded("198.51.100.7:5555"), peer).as_deref(), Some("198.51.100.7"));
        assert_eq!(client_ip(&forwarded("[2001:db8::1]:443"), peer).as_deref(), Some("2001:db8::1"));
        assert_eq!(client_ip(&forwarded("unknown"), peer).as_deref(), Some("192.0.2.1"));
        assert_eq!(client_ip(&forwarded("=HYPERLINK(\"x\")"), peer).as_deref(), Some("192.0.2.1"));
        assert_eq!(client_ip(&HeaderMap::new(), None), None);
    }
}
