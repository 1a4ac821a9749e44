//! Signed webhooks: when `LEADLINE_WEBHOOK_SECRET` is set, every `/v1/events/*` request and
//! every lead-source adapter (`/v1/webhooks/{realtor,zillow,webform}`) must prove it knows
//! the secret, or it is refused with 403 `invalid_signature` before anything is parsed.
//!
//! - `X-Leadline-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>` (every route).
//! - Adapters only, for senders that cannot sign (a lead portal's dashboard, a browser form):
//!   `?key=<hex HMAC-SHA256(secret, "webhook:<source>")>` in the URL, e.g.
//!   `/v1/webhooks/zillow?key=...`. The key is per source, so one that leaks (a web form's
//!   HTML) cannot be used on another endpoint. Rotate by changing the secret.
//!
//! Without a secret nothing is checked; start-up (`startup::check_bind_policy`) makes `serve` refuse that on a
//! non-loopback address unless `server.allow_unsigned_webhooks = true`.

use crate::app::App;
use crate::http::body::read_limited;
use crate::http::error::ApiError;
use crate::integrations::signature;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

pub const SIGNATURE_HEADER: &str = "x-leadline-signature";

/// The URL key of one adapter (`source` = `realtor`, `zillow`, `webform`): lower-case hex.
pub fn url_key(secret: &str, source: &str) -> String {
    let sig = signature::leadline_signature(format!("webhook:{source}").as_bytes(), secret);
    sig.trim_start_matches("sha256=").to_string()
}

/// The middleware for `/v1/events/*` and the adapters.
pub async fn require_signature(State(app): State<App>, req: Request, next: Next) -> Response {
    let Some(secret) = app.secrets.webhook_secret.clone() else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let bytes = match read_limited(body, app.settings.server.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let path = parts.uri.path();
    let ok = match parts.headers.get(SIGNATURE_HEADER) {
        Some(h) => h.to_str().map(|h| signature::verify_leadline(&bytes, &secret, h)).unwrap_or(false),
        None => match path.strip_prefix("/v1/webhooks/") {
            Some(source) if !source.is_empty() && !source.contains('/') => {
                let given = parts
                    .uri
                    .query()
                    .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "key").map(|(_, v)| v))
                    .unwrap_or_default();
                let want = url_key(&secret, source);
                !given.is_empty() && bool::from(given.to_ascii_lowercase().as_bytes().ct_eq(want.as_bytes()))
            }
            _ => false,
        },
    };
    if !ok {
        metrics::counter!("leadline_webhook_signature_failures_total").increment(1);
        let what = if parts.headers.contains_key(SIGNATURE_HEADER) { "is not valid" } else { "is missing" };
        return ApiError::forbidden(format!(
            "X-Leadline-Signature {what}: sign the raw body with HMAC-SHA256 and LEADLINE_WEBHOOK_SECRET \
             (header value sha256=<hex>)"
        ))
        .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}
