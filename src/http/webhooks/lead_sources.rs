//! Lead-source adapters: a lead portal's own payload, mapped onto the generic lead
//! (`LeadBody`), then the same path as `POST /v1/events/leads` (same validation, same
//! de-duplication by `source` + `source_lead_id`, same decision core).
//!
//! - `POST /v1/webhooks/realtor`: a **Realtor.com-style** lead (JSON).
//! - `POST /v1/webhooks/zillow`: a **Zillow-style** lead post (JSON).
//! - `POST /v1/webhooks/webform`: a plain HTML form (`application/x-www-form-urlencoded`).
//!
//! The Realtor.com and Zillow adapters are "style" adapters: neither company publishes its
//! lead-delivery payload openly. The field names follow the public descriptions collected in
//! `reference/anchors.md` §4 (the API Evangelist transcription of Realtor.com Lead Delivery /
//! Connections Plus, a nested variant seen in third-party code, and the Zillow rentals and
//! lender contact shapes); check them against a real delivery before relying on them.
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
use serde_json::Value;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// Applies a mapped lead exactly like `POST /v1/events/leads`.
pub async fn submit_lead(app: &App, lead: LeadBody) -> Result<Response, ApiError> {
    let applied = leads::capture(app, lead).await?;
    Ok((StatusCode::ACCEPTED, Json(Applied::from(&applied))).into_response())
}

fn missing(fields: &[&str]) -> ApiError {
    ApiError::unprocessable("missing_field", format!("missing required field(s): {}", fields.join(", ")))
}

/// The value at `path` as a trimmed non-empty string (numbers are accepted for ids and phones).
fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    match cur {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first of several alternative paths that has a value.
fn first(v: &Value, paths: &[&[&str]]) -> Option<String> {
    paths.iter().find_map(|p| text(v, p))
}

/// A price in whole dollars from a number or a string like "$450,000".
fn price(v: &Value, paths: &[&[&str]]) -> Option<u64> {
    let raw = first(v, paths)?;
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

/// Maps a Realtor.com-style lead. Two shapes are accepted:
/// - flat (Lead Delivery / Connections Plus transcription): `lead_id`, `role`,
///   `contact {first_name, last_name, email, phone}`, `property {address, city, state,
///   zip_code, mls_id, list_price, listing_url}`, `message`, `timestamp`;
/// - nested: `Lead.lead_info.lead_consumer_info {first_name, last_name, email, phone}`,
///   `Lead.lead_property_info {property_street_address, property_city, property_state_code,
///   property_zip, property_price, property_mls_id}`.
pub fn realtor_lead(v: &Value) -> Result<LeadBody, ApiError> {
    if let Some(lead) = v.get("Lead") {
        let c = ["lead_info", "lead_consumer_info"];
        let p = "lead_property_info";
        let Some(phone) = text(lead, &[c[0], c[1], "phone"]) else {
            return Err(missing(&["Lead.lead_info.lead_consumer_info.phone"]));
        };
        let mut out = empty_lead("realtor", phone);
        out.source_lead_id = first(lead, &[&["lead_info", "lead_id"], &["lead_id"], &["id"]]);
        out.first_name = text(lead, &[c[0], c[1], "first_name"]);
        out.last_name = text(lead, &[c[0], c[1], "last_name"]);
        out.email = text(lead, &[c[0], c[1], "email"]);
        out.message = first(lead, &[&["lead_info", "comments"], &["lead_info", "message"], &["message"]]);
        out.occurred_at = timestamp(first(lead, &[&["lead_info", "timestamp"], &["timestamp"]]));
        out.listing = listing(
            first(lead, &[&[p, "property_mls_id"], &[p, "mls_id"], &[p, "listing_id"]]),
            address(
                text(lead, &[p, "property_street_address"]),
                text(lead, &[p, "property_city"]),
                text(lead, &[p, "property_state_code"]),
                text(lead, &[p, "property_zip"]),
            ),
            price(lead, &[&[p, "property_price"]]),
        );
        return Ok(out);
    }
    let lead_id = text(v, &["lead_id"]);
    let phone = text(v, &["contact", "phone"]);
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
    out.first_name = text(v, &["contact", "first_name"]);
    out.last_name = text(v, &["contact", "last_name"]);
    out.email = text(v, &["contact", "email"]);
    out.message = text(v, &["message"]);
    out.occurred_at = timestamp(text(v, &["timestamp"]));
    out.listing = listing(
        first(v, &[&["property", "mls_id"], &["property", "listing_id"]]),
        address(
            text(v, &["property", "address"]),
            text(v, &["property", "city"]),
            text(v, &["property", "state"]),
            text(v, &["property", "zip_code"]),
        ),
        price(v, &[&["property", "list_price"], &["property", "price"]]),
    );
    Ok(out)
}

/// Maps a Zillow-style lead post: the rentals/Premier Agent shape `name, email, phone,
/// listingStreet, listingUnit, listingCity, listingState, listingPostalCode, message,
/// leadType` (plus, when the sender has them, `id`/`leadId`, `listingId`/`mlsNumber`,
/// `listingPrice`, `created`), or the lender contact shape with `sender {firstName,
/// lastName, emailAddress, phoneNumber}`.
pub fn zillow_lead(v: &Value) -> Result<LeadBody, ApiError> {
    let Some(phone) = first(v, &[&["phone"], &["phoneNumber"], &["sender", "phoneNumber"]]) else {
        return Err(missing(&["phone"]));
    };
    let mut out = empty_lead("zillow", phone);
    out.source_lead_id = first(v, &[&["leadId"], &["id"], &["contactId"]]);
    let (first_name, last_name) = match first(v, &[&["firstName"], &["sender", "firstName"]]) {
        Some(f) => (Some(f), first(v, &[&["lastName"], &["sender", "lastName"]])),
        None => split_name(text(v, &["name"])),
    };
    out.first_name = first_name;
    out.last_name = last_name;
    out.email = first(v, &[&["email"], &["emailAddress"], &["sender", "emailAddress"]]);
    out.message = first(v, &[&["message"], &["details", "message"]]);
    out.occurred_at = timestamp(first(v, &[&["created"], &["createdAt"], &["timestamp"]]));
    let street = match (text(v, &["listingStreet"]), text(v, &["listingUnit"])) {
        (Some(s), Some(u)) => Some(format!("{s} #{}", u.trim_start_matches('#'))),
        (s, _) => s,
    };
    out.listing = listing(
        first(v, &[&["listingId"], &["mlsNumber"], &["mlsId"]]),
        address(street, text(v, &["listingCity"]), text(v, &["listingState"]), text(v, &["listingPostalCode"])),
        price(v, &[&["listingPrice"]]),
    );
    if let Some(kind) = text(v, &["leadType"]) {
        tracing::debug!(lead_type = %kind, "zillow lead type");
    }
    Ok(out)
}

#[utoipa::path(
    post,
    path = "/v1/webhooks/realtor",
    tag = "webhooks",
    summary = "A Realtor.com-style lead (JSON, flat or nested)",
    request_body = crate::http::openapi::RealtorLead,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, description = "Replays the first response to the same request; 1 to 255 printable ASCII characters")),
    security((), ("leadline_signature" = []), ("webhook_url_key" = [])),
    responses(
        (status = 202, description = "Stored like `POST /v1/events/leads`", body = crate::app::views::Applied),
        (status = 400, description = "Not JSON (`malformed_json`) or a bad `Idempotency-Key`", body = crate::http::error::ErrorBody),
        (status = 403, description = "Neither a valid `X-Leadline-Signature` nor a valid `?key=` (`invalid_signature`), when `LEADLINE_WEBHOOK_SECRET` is set", body = crate::http::error::ErrorBody),
        (status = 409, description = "The same `Idempotency-Key` is still being processed (`idempotency_key_in_use`)", body = crate::http::error::ErrorBody),
        (status = 415, description = "Not `Content-Type: application/json` (`unsupported_media_type`)", body = crate::http::error::ErrorBody),
        (status = 422, description = "Not a JSON object (`invalid_body`), a required field is missing (`missing_field`), a bad field (`invalid_field`, `invalid_phone`), or an `Idempotency-Key` reused for another request", body = crate::http::error::ErrorBody),
        (status = 503, description = "Not stored; retry (with the same `Idempotency-Key`)", body = crate::http::error::ErrorBody),
    )
)]
pub async fn post_realtor(State(app): State<App>, ApiJson(v): ApiJson<Value>) -> Result<Response, ApiError> {
    submit_lead(&app, realtor_lead(&v)?).await
}

#[utoipa::path(
    post,
    path = "/v1/webhooks/zillow",
    tag = "webhooks",
    summary = "A Zillow-style lead post (JSON)",
    request_body = crate::http::openapi::ZillowLead,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, description = "Replays the first response to the same request; 1 to 255 printable ASCII characters")),
    security((), ("leadline_signature" = []), ("webhook_url_key" = [])),
    responses(
        (status = 202, description = "Stored like `POST /v1/events/leads`", body = crate::app::views::Applied),
        (status = 400, description = "Not JSON (`malformed_json`) or a bad `Idempotency-Key`", body = crate::http::error::ErrorBody),
        (status = 403, description = "Neither a valid `X-Leadline-Signature` nor a valid `?key=` (`invalid_signature`), when `LEADLINE_WEBHOOK_SECRET` is set", body = crate::http::error::ErrorBody),
        (status = 409, description = "The same `Idempotency-Key` is still being processed (`idempotency_key_in_use`)", body = crate::http::error::ErrorBody),
        (status = 415, description = "Not `Content-Type: application/json` (`unsupported_media_type`)", body = crate::http::error::ErrorBody),
        (status = 422, description = "Not a JSON object (`invalid_body`), a required field is missing (`missing_field`), a bad field (`invalid_field`, `invalid_phone`), or an `Idempotency-Key` reused for another request", body = crate::http::error::ErrorBody),
        (status = 503, description = "Not stored; retry (with the same `Idempotency-Key`)", body = crate::http::error::ErrorBody),
    )
)]
pub async fn post_zillow(State(app): State<App>, ApiJson(v): ApiJson<Value>) -> Result<Response, ApiError> {
    submit_lead(&app, zillow_lead(&v)?).await
}

/// A ticked checkbox as browsers and form builders send it.
fn checked(v: Option<&String>) -> bool {
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

/// Maps a web-form post. Fields: `phone` (required), `first_name`, `last_name`, `email`,
/// `message`, `listing_id`, `listing_address`, `consent` (checkbox), `consent_text`,
/// `page_url` (else the `Referer` header), `consent_at` (RFC 3339; default: now), and
/// optionally `source`, `submission_id`, `state`.
pub fn webform_lead(
    form: &HashMap<String, String>,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    now: Ts,
) -> Result<LeadBody, ApiError> {
    let get = |k: &str| form.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let Some(phone) = get("phone") else {
        return Err(missing(&["phone"]));
    };
    let mut out = empty_lead(get("source").as_deref().unwrap_or("webform"), phone);
    out.source_lead_id = get("submission_id");
    out.first_name = get("first_name");
    out.last_name = get("last_name");
    out.email = get("email");
    out.message = get("message");
    out.state = get("state");
    out.listing = listing(get("listing_id"), get("listing_address"), None);
    if checked(form.get("consent")) {
        let granted_at = match get("consent_at") {
            None => now,
            Some(raw) => timestamp(Some(raw.clone())).ok_or_else(|| {
                ApiError::unprocessable("invalid_field", format!("`consent_at` is not an RFC 3339 timestamp: '{raw}'"))
            })?,
        };
        let referer = headers.get(header::REFERER).and_then(|h| h.to_str().ok()).map(str::to_string);
        out.consent = Some(ConsentBody {
            granted_at: Some(granted_at),
            source_url: get("page_url").or(referer),
            disclosure: get("consent_text"),
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
    request_body(content = crate::http::openapi::WebForm, content_type = "application/x-www-form-urlencoded"),
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, description = "Replays the first response to the same request; 1 to 255 printable ASCII characters")),
    security((), ("leadline_signature" = []), ("webhook_url_key" = [])),
    responses(
        (status = 202, description = "Stored like `POST /v1/events/leads`", body = crate::app::views::Applied),
        (status = 415, description = "Not `application/x-www-form-urlencoded` (`unsupported_media_type`)", body = crate::http::error::ErrorBody),
        (status = 400, description = "Not JSON (`malformed_json`) or a bad `Idempotency-Key`", body = crate::http::error::ErrorBody),
        (status = 403, description = "Neither a valid `X-Leadline-Signature` nor a valid `?key=` (`invalid_signature`), when `LEADLINE_WEBHOOK_SECRET` is set", body = crate::http::error::ErrorBody),
        (status = 409, description = "The same `Idempotency-Key` is still being processed (`idempotency_key_in_use`)", body = crate::http::error::ErrorBody),
        (status = 422, description = "A required field is missing (`missing_field`), a bad field (`invalid_field`, `invalid_phone`), or an `Idempotency-Key` reused for another request", body = crate::http::error::ErrorBody),
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
    // The first value of a repeated field wins.
    let mut form = HashMap::new();
    for (k, v) in form_urlencoded::parse(&bytes) {
        form.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
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
