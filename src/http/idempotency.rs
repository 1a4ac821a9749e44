//! `Idempotency-Key` on `/v1/events/*` and the lead-source adapters.
//!
//! - The first response to a key (status and body) is stored with the SHA-256 of the
//!   request (method, path, query and raw body).
//! - A repeat with the same key and the same request gets the stored response again, with
//!   the header `Idempotent-Replayed: true`; the handler does not run again.
//! - The same key with a different request: 422 `idempotency_key_reused`.
//! - The same key while the first request is still running: 409 `idempotency_key_in_use`
//!   (retry after it finished).
//! - 5xx responses are not stored: they mean "not done, retry", so a retry with the same key
//!   runs the handler again (the events' own dedupe keys keep that harmless).
//! - Keys expire after `idempotency.ttl_hours`; `app::expiry` deletes expired ones hourly. Keys are at most 255 printable ASCII characters.
//!
//! A verified Standard Webhooks `webhook-id` (`webhooks::signed` puts it in the request's
//! extensions as [`WebhookId`]) is a key too, in its own namespace (`webhook-id:<id>`), with
//! the same rules: senders reuse the id on every retry, so a repeat gets the first response
//! back and changes nothing. A request with both an `Idempotency-Key` and a `webhook-id` is
//! checked against both (a stored response under either is replayed) and stored under both.

use super::body::read_limited;
use super::error::ApiError;
use super::App;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use leadline_core::storage::StoredResponse;
use leadline_core::Ts;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
pub const MAX_KEY_LEN: usize = 255;
/// Namespace of client keys in the store (`fub:` holds Follow Up Boss event ids).
const PREFIX: &str = "http:";
/// Namespace of verified Standard Webhooks message ids in the store.
const WEBHOOK_ID_PREFIX: &str = "webhook-id:";

/// A verified `webhook-id` (set by `webhooks::signed` only after its signature and timestamp
/// were checked, so it cannot be forged to replay or poison someone else's response).
#[derive(Debug, Clone)]
pub struct WebhookId(pub String);

/// One key a request is stored under, and how to name it in an error.
struct Key {
    store_key: String,
    header: &'static str,
}

/// The middleware's state: the app plus the keys whose first request is still running.
#[derive(Clone)]
pub struct Idempotency {
    app: App,
    in_flight: Arc<Mutex<HashSet<String>>>,
}

impl Idempotency {
    pub fn new(app: App) -> Self {
        Idempotency { app, in_flight: Arc::default() }
    }
}

/// Removes the key from the in-flight set when the request ends (or is cancelled).
struct InFlight {
    set: Arc<Mutex<HashSet<String>>>,
    keys: Vec<String>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut set = self.set.lock().unwrap_or_else(|p| p.into_inner());
        for k in &self.keys {
            set.remove(k);
        }
    }
}

pub async fn middleware(State(idem): State<Idempotency>, req: Request, next: Next) -> Response {
    match handle(idem, req, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn request_hash(method: &str, path_and_query: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b" ");
    h.update(path_and_query.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// 1 to [`MAX_KEY_LEN`] printable ASCII characters (spaces allowed).
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

async fn handle(idem: Idempotency, req: Request, next: Next) -> Result<Response, ApiError> {
    let mut keys = Vec::new();
    if let Some(raw) = req.headers().get(HEADER) {
        let key = raw.to_str().ok().map(str::trim).filter(|k| valid_key(k)).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_idempotency_key",
                format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} printable ASCII characters"),
            )
        })?;
        keys.push(Key { store_key: format!("{PREFIX}{key}"), header: "Idempotency-Key" });
    }
    if let Some(WebhookId(id)) = req.extensions().get::<WebhookId>() {
        keys.push(Key { store_key: format!("{WEBHOOK_ID_PREFIX}{id}"), header: "webhook-id" });
    }
    if keys.is_empty() {
        return Ok(next.run(req).await);
    }
    let app = &idem.app;
    let (parts, body) = req.into_parts();
    let bytes = read_limited(body, app.settings.server.max_body_bytes).await?;
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let hash = request_hash(parts.method.as_str(), path, &bytes);

    let _guard = {
        let mut set = idem.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(busy) = keys.iter().find(|k| set.contains(&k.store_key)) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_in_use",
                format!("a request with this {} is still being processed; retry when it has finished", busy.header),
            ));
        }
        for k in &keys {
            set.insert(k.store_key.clone());
        }
        InFlight { set: idem.in_flight.clone(), keys: keys.iter().map(|k| k.store_key.clone()).collect() }
    };

    let now = Ts::from(app.clock.now());
    let ttl = chrono::Duration::hours(app.settings.idempotency.ttl_hours as i64);
    for key in &keys {
        if let Some(stored) = app.store.idempotent_response(&key.store_key)? {
            if stored.stored_at.0 + ttl > now.0 {
                if stored.request_sha256 != hash {
                    return Err(ApiError::unprocessable(
                        "idempotency_key_reused",
                        format!(
                            "this {} was already used for a different request; use a new {}",
                            key.header, key.header
                        ),
                    ));
                }
                metrics::counter!("leadline_idempotent_replays_total").increment(1);
                return Ok(replay(&stored));
            }
        }
    }

    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let status = response.status();
    if status.is_server_error() {
        return Ok(response);
    }
    let (mut parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::unavailable(format!("could not buffer the response: {e}")))?;
    let stored = StoredResponse { status: status.as_u16(), body: body.to_vec(), request_sha256: hash, stored_at: now };
    for key in &keys {
        if let Err(e) = app.store.put_idempotent_response(&key.store_key, &stored).await {
            // The event itself is applied; only the replay record is missing. A retry runs the
            // handler again, and the event's own dedupe key keeps that harmless.
            tracing::error!(error = %e, "could not store the idempotent response");
        }
    }
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Ok(Response::from_parts(parts, Body::from(body)))
}

fn replay(stored: &StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut res = (status, stored.body.clone()).into_response();
    let h = res.headers_mut();
    h.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    res
}
