//! Signed webhooks: when a webhook secret is set, every `/v1/events/*` request and every
//! lead-source adapter (`/v1/webhooks/{realtor,zillow,webform}`) must prove it knows one,
//! or it is refused before anything is parsed. Two schemes:
//!
//! - **Standard Webhooks** (`LEADLINE_WEBHOOK_SECRETS`, `whsec_...`, comma-separated for
//!   rotation; `integrations::standard_webhooks`): headers `webhook-id`,
//!   `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256(key,
//!   "{id}.{timestamp}.{body}")>` (space-separated, several allowed). When any of the three
//!   headers is present, this scheme is the one checked: any `v1,` signature matching any
//!   secret is accepted, else 401 `invalid_signature`; a timestamp more than
//!   `webhooks.inbound_tolerance_secs` away from the clock (either way) is 401
//!   `webhook_timestamp_out_of_tolerance`. The verified `webhook-id` is handed to the
//!   idempotency layer ([`crate::http::idempotency::WebhookId`]), so a repeated id gets
//!   the first response back and changes nothing.
//! - **Legacy** (`LEADLINE_WEBHOOK_SECRET`): `X-Leadline-Signature: sha256=<hex
//!   HMAC-SHA256(secret, raw body)>` (every route), or for the adapters only, for senders
//!   that cannot sign (a lead portal's dashboard, a browser form),
//!   `?key=<hex HMAC-SHA256(secret, "webhook:<source>")>` in the URL, e.g.
//!   `/v1/webhooks/zillow?key=...`. The key is per source, so one that leaks (a web form's
//!   HTML) cannot be used on another endpoint. Rotate by changing the secret. Failures are
//!   403 `invalid_signature`, as they always were; so is a request without any signature.
//!
//! Without any secret nothing is checked (the `webhook-*` headers are ignored); start-up
//! (`startup::check_bind_policy`) makes `serve` refuse that on a non-loopback address unless
//! `server.allow_unsigned_webhooks = true`.

use crate::app::App;
use crate::http::body::read_limited;
use crate::http::error::ApiError;
use crate::http::idempotency::{self, WebhookId};
use crate::integrations::signature;
use crate::integrations::standard_webhooks::{self as sw, WebhookKey};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use subtle::ConstantTimeEq;

pub const SIGNATURE_HEADER: &str = "x-leadline-signature";

/// The error code of a Standard Webhooks request whose timestamp is too old or too new.
pub const STALE_CODE: &str = "webhook_timestamp_out_of_tolerance";

/// The middleware's state: the app and the Standard Webhooks keys, decoded once.
#[derive(Clone)]
pub struct Signed {
    app: App,
    keys: Arc<[WebhookKey]>,
}

impl Signed {
    /// Decodes `LEADLINE_WEBHOOK_SECRETS`. `Application::build` has already refused
    /// malformed ones; should one get here anyway it is left out, which fails closed (a
    /// request signed with it is refused; unsigned requests still are too).
    pub fn new(app: App) -> Self {
        let keys = app.secrets.webhook_secrets.iter().filter_map(|s| WebhookKey::parse(s).ok()).collect();
        Signed { app, keys }
    }
}

/// The URL key of one adapter (`source` = `realtor`, `zillow`, `webform`): lower-case hex.
pub fn url_key(secret: &str, source: &str) -> String {
    let sig = signature::leadline_signature(format!("webhook:{source}").as_bytes(), secret);
    sig.trim_start_matches("sha256=").to_string()
}

/// The middleware for `/v1/events/*` and the adapters.
pub async fn require_signature(State(signed): State<Signed>, req: Request, next: Next) -> Response {
    let app = &signed.app;
    if !app.secrets.signs_webhooks() {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let bytes = match read_limited(body, app.settings.server.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let standard =
        [sw::ID_HEADER, sw::TIMESTAMP_HEADER, sw::SIGNATURE_HEADER].iter().any(|h| parts.headers.contains_key(*h));
    let checked = if standard {
        verify_standard(&signed, &parts.headers, &bytes).map(|id| {
            parts.extensions.insert(WebhookId(id));
        })
    } else {
        verify_legacy(app, &parts, &bytes)
    };
    if let Err(e) = checked {
        metrics::counter!("leadline_webhook_signature_failures_total").increment(1);
        return e.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

/// Checks the Standard Webhooks headers; returns the verified `webhook-id`.
fn verify_standard(signed: &Signed, headers: &HeaderMap, body: &[u8]) -> Result<String, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let (Some(id), Some(timestamp), Some(signatures)) =
        (header(sw::ID_HEADER), header(sw::TIMESTAMP_HEADER), header(sw::SIGNATURE_HEADER))
    else {
        return Err(unauthorized(
            "invalid_signature",
            "a Standard Webhooks request needs all three headers webhook-id, webhook-timestamp and \
             webhook-signature, each non-empty ASCII",
        ));
    };
    if signed.keys.is_empty() {
        return Err(unauthorized(
            "invalid_signature",
            "Standard Webhooks signatures (webhook-signature) are not accepted: LEADLINE_WEBHOOK_SECRETS is \
             not set on this server; sign with X-Leadline-Signature (LEADLINE_WEBHOOK_SECRET) instead",
        ));
    }
    let Some(ts) = sw::parse_timestamp(timestamp) else {
        return Err(unauthorized("invalid_signature", "webhook-timestamp must be a unix time in whole seconds"));
    };
    // The signature first: only a sender that holds a secret learns how far off its clock is.
    if !sw::verify(&signed.keys, id, ts, body, signatures) {
        return Err(unauthorized(
            "invalid_signature",
            "webhook-signature is not valid: it must hold v1,<base64 HMAC-SHA256 of \"{webhook-id}.\
             {webhook-timestamp}.{raw body}\"> made with the key of one of the LEADLINE_WEBHOOK_SECRETS",
        ));
    }
    let app = &signed.app;
    let now = app.clock.now().timestamp();
    let tolerance = app.settings.webhooks.inbound_tolerance_secs;
    if now.abs_diff(ts) > tolerance {
        let when = if ts < now { "old" } else { "far in the future" };
        return Err(unauthorized(
            STALE_CODE,
            format!(
                "webhook-timestamp {ts} is too {when}: it must be within {tolerance} s of the server's time \
                 ({now}); sign again with the current time (a retry keeps its webhook-id)"
            ),
        ));
    }
    if !idempotency::valid_key(id) {
        return Err(ApiError::bad_request(
            "invalid_webhook_id",
            format!("webhook-id must be 1 to {} printable ASCII characters", idempotency::MAX_KEY_LEN),
        ));
    }
    Ok(id.to_string())
}

/// `X-Leadline-Signature`, or an adapter's `?key=`, with `LEADLINE_WEBHOOK_SECRET`.
fn verify_legacy(app: &App, parts: &axum::http::request::Parts, bytes: &[u8]) -> Result<(), ApiError> {
    let given_header = parts.headers.contains_key(SIGNATURE_HEADER);
    let Some(secret) = app.secrets.webhook_secret.as_deref() else {
        let what = if given_header {
            "X-Leadline-Signature is not accepted: LEADLINE_WEBHOOK_SECRET is not set on this server"
        } else {
            "the request is not signed"
        };
        return Err(ApiError::forbidden(format!(
            "{what}; sign it with Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature) \
             and one of the LEADLINE_WEBHOOK_SECRETS"
        )));
    };
    let path = parts.uri.path();
    let ok = match parts.headers.get(SIGNATURE_HEADER) {
        Some(h) => h.to_str().map(|h| signature::verify_leadline(bytes, secret, h)).unwrap_or(false),
        None => match path.strip_prefix("/v1/webhooks/") {
            Some(source) if !source.is_empty() && !source.contains('/') => {
                let given = parts
                    .uri
                    .query()
                    .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "key").map(|(_, v)| v))
                    .unwrap_or_default();
                let want = url_key(secret, source);
                !given.is_empty() && bool::from(given.to_ascii_lowercase().as_bytes().ct_eq(want.as_bytes()))
            }
            _ => false,
        },
    };
    if ok {
        return Ok(());
    }
    let what = if given_header { "is not valid" } else { "is missing" };
    let or_standard = if app.secrets.webhook_secrets.is_empty() {
        ""
    } else {
        ", or sign with Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature)"
    };
    Err(ApiError::forbidden(format!(
        "X-Leadline-Signature {what}: sign the raw body with HMAC-SHA256 and LEADLINE_WEBHOOK_SECRET \
         (header value sha256=<hex>){or_standard}"
    )))
}
