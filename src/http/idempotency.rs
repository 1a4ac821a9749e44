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
const MAX_KEY_LEN: usize = 255;
/// Namespace of client keys in the store (`fub:` holds Follow Up Boss event ids).
const PREFIX: &str = "http:";

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
    key: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.set.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.key);
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

fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

async fn handle(idem: Idempotency, req: Request, next: Next) -> Result<Response, ApiError> {
    let Some(raw) = req.headers().get(HEADER) else {
        return Ok(next.run(req).await);
    };
    let key = raw.to_str().ok().map(str::trim).filter(|k| valid_key(k)).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_idempotency_key",
            format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} printable ASCII characters"),
        )
    })?;
    let store_key = format!("{PREFIX}{key}");
    let app = &idem.app;
    let (parts, body) = req.into_parts();
    let bytes = read_limited(body, app.settings.server.max_body_bytes).await?;
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let hash = request_hash(parts.method.as_str(), path, &bytes);

    let _guard = {
        let mut set = idem.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if !set.insert(store_key.clone()) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_in_use",
                "a request with this Idempotency-Key is still being processed; retry when it has finished",
            ));
        }
        InFlight { set: idem.in_flight.clone(), key: store_key.clone() }
    };

    let now = Ts::from(app.clock.now());
    let ttl = chrono::Duration::hours(app.settings.idempotency.ttl_hours as i64);
    if let Some(stored) = app.store.idempotent_response(&store_key)? {
        if stored.stored_at.0 + ttl > now.0 {
            if stored.request_sha256 != hash {
                return Err(ApiError::unprocessable(
                    "idempotency_key_reused",
                    "this Idempotency-Key was already used for a different request; use a new key",
                ));
            }
            metrics::counter!("leadline_idempotent_replays_total").increment(1);
            return Ok(replay(&stored));
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
    if let Err(e) = app.store.put_idempotent_response(&store_key, &stored).await {
        // The event itself is applied; only the replay record is missing. A retry runs the
        // handler again, and the event's own dedupe key keeps that harmless.
        tracing::error!(error = %e, "could not store the idempotent response");
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
