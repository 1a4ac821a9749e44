//! Follow Up Boss adapter: `POST /v1/webhooks/followupboss`.
//!
//! FUB sends a thin notification `{eventId, eventCreated, event, resourceIds, uri}` signed
//! with `FUB-Signature` (hex HMAC-SHA256 of base64(raw body), keyed with the system key from
//! `FUB_SYSTEM_KEY`). leadline verifies it, de-duplicates by `eventId`, persists the
//! notification, acknowledges with 202 at once (FUB expects an answer within seconds) and
//! then, in a spawned task, fetches each person from the FUB API and applies it:
//!
//! - `peopleCreated` -> a lead capture (source `followupboss`, `phones[0].value`,
//!   `firstName`, `lastName`, `emails[0].value`) plus, if the person has a `stage`, a CRM
//!   status change to that stage;
//! - `peopleStageUpdated`, `peopleUpdated` -> `CrmChanged { status: stage }` (skipped when
//!   the stage did not change; a person leadline does not know yet is captured first).
//!
//! Other events are acknowledged and ignored. FUB people carry no consent record, so these
//! leads are stored but never texted automatically (timeline: `consent.missing`).
//!
//! **Failures after the acknowledgement.** The notification is written to the store
//! (`fub:pending`) before the 202, and removed only when it was processed or given up on,
//! so a crash or restart resumes it ([`resume_pending`]). Each notification is tried up to
//! `integrations.followupboss.max_attempts` times with exponential backoff starting at
//! `retry_base_ms` (network errors, 429 and 5xx from FUB, a lead that did not acknowledge).
//! A permanent error (401/403 from FUB, an unreadable answer) or the last failed attempt is
//! logged at `error` level with the event id and counted in
//! `leadline_fub_failures_total`; the event is then dropped (re-send it from FUB, or post
//! the change to `/v1/events/crm`). Applying a person twice is harmless: every lead event
//! carries a dedupe key.

use super::body::{parse_json, read_limited};
use super::error::ApiError;
use super::App;
use crate::app::leads::LeadBody;
use crate::webhook_auth;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use leadline_core::limits;
use leadline_core::model::Event;
use leadline_core::storage::{Store, StoreError, StoredResponse};
use leadline_core::{Phone, Ts};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub const SIGNATURE_HEADER: &str = "fub-signature";
/// The events leadline acts on.
pub const HANDLED_EVENTS: [&str; 3] = ["peopleCreated", "peopleUpdated", "peopleStageUpdated"];
const PENDING_KEY: &str = "fub:pending";
/// Serialises read-modify-write of the pending list (one process, one store).
static PENDING_LOCK: Mutex<()> = Mutex::new(());

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FubNotification, example = json!({"eventId": "7b2a", "eventCreated": "2026-11-27T14:03:00+00:00",
    "event": "peopleStageUpdated", "resourceIds": [1234], "uri": "https://api.followupboss.com/v1/people?id=1234"}))]
pub struct Notification {
    pub event_id: String,
    pub event_created: Option<String>,
    /// `peopleCreated`, `peopleUpdated` and `peopleStageUpdated` are acted on; others are ignored.
    pub event: String,
    #[serde(default)]
    pub resource_ids: Vec<Value>,
    pub uri: Option<String>,
}

/// A notification acknowledged but not processed yet (persisted in `meta`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingEvent {
    pub event_id: String,
    pub event: String,
    pub resource_ids: Vec<String>,
    pub uri: Option<String>,
    pub received_at: Ts,
}

fn pending_list(store: &Store) -> Result<Vec<PendingEvent>, StoreError> {
    Ok(store.meta_get::<Vec<PendingEvent>>(PENDING_KEY)?.unwrap_or_default())
}

fn add_pending(store: &Store, ev: &PendingEvent) -> Result<(), StoreError> {
    let _lock = PENDING_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let mut list = pending_list(store)?;
    if !list.iter().any(|p| p.event_id == ev.event_id) {
        list.push(ev.clone());
    }
    store.meta_put(PENDING_KEY, &list)
}

async fn remove_pending(store: &Store, event_id: &str) -> Result<(), StoreError> {
    {
        let _lock = PENDING_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let mut list = pending_list(store)?;
        list.retain(|p| p.event_id != event_id);
        store.meta_put(PENDING_KEY, &list)?;
    }
    store.flush().await
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A Follow Up Boss webhook notification
///
/// Verified, de-duplicated by `eventId`, persisted and acknowledged at once; the people are
/// then fetched from the FUB API and applied in the background.
#[utoipa::path(
    post,
    path = "/v1/webhooks/followupboss",
    tag = "webhooks",
    operation_id = "followupboss_webhook",
    request_body = Notification,
    security(("fub_signature" = [])),
    responses(
        (status = 202, description = "Accepted (`accepted: true`); processed in the background", body = crate::http::openapi::FubAck),
        (status = 200, description = "A repeated `eventId` (`duplicate: true`) or an event leadline does not act on (`ignored: true`)", body = crate::http::openapi::FubAck),
        (status = 400, description = "Not JSON (`malformed_json`)", body = crate::http::error::ErrorBody),
        (status = 403, description = "`FUB-Signature` missing or invalid, or `FUB_SYSTEM_KEY` not set (`invalid_signature`)", body = crate::http::error::ErrorBody),
        (status = 422, description = "Wrong shape (`invalid_body`) or a bad `eventId` (`invalid_field`)", body = crate::http::error::ErrorBody),
        (status = 503, description = "`FUB_API_KEY` not set (`not_configured`) or the store is unavailable", body = crate::http::error::ErrorBody),
    )
)]
pub async fn webhook(State(app): State<App>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let bytes = read_limited(body, app.settings.server.max_body_bytes).await?;
    let Some(system_key) = app.secrets.fub_system_key.as_deref() else {
        return Err(ApiError::forbidden(
            "Follow Up Boss webhooks are refused: FUB_SYSTEM_KEY (your FUB system key) is not set",
        ));
    };
    let signature = headers.get(SIGNATURE_HEADER).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !webhook_auth::verify_fub(&bytes, system_key, signature) {
        metrics::counter!("leadline_webhook_signature_failures_total").increment(1);
        let what = if signature.is_empty() { "is missing" } else { "is not valid" };
        return Err(ApiError::forbidden(format!("FUB-Signature {what}")));
    }
    let n: Notification = parse_json(&bytes, false)?;
    let event_id = n.event_id.trim().to_string();
    if event_id.is_empty() || event_id.len() > 200 {
        return Err(ApiError::unprocessable("invalid_field", "`eventId` must be 1 to 200 characters"));
    }
    let dedupe_key = format!("fub:{event_id}");
    if app.store.idempotent_response(&dedupe_key)?.is_some() {
        metrics::counter!("leadline_duplicate_events_total", "kind" => "followupboss").increment(1);
        return Ok(
            (StatusCode::OK, Json(json!({"event_id": event_id, "event": n.event, "duplicate": true}))).into_response()
        );
    }
    if !HANDLED_EVENTS.contains(&n.event.as_str()) {
        return Ok(
            (StatusCode::OK, Json(json!({"event_id": event_id, "event": n.event, "ignored": true}))).into_response()
        );
    }
    if app.secrets.fub_api_key.is_none() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_configured",
            "FUB_API_KEY is not set, so the people in this notification cannot be fetched",
        ));
    }
    let resource_ids: Vec<String> = n.resource_ids.iter().filter_map(id_text).collect();
    let now = Ts::from(app.clock.now());
    let pending = PendingEvent {
        event_id: event_id.clone(),
        event: n.event.clone(),
        resource_ids,
        uri: n.uri.clone(),
        received_at: now,
    };
    add_pending(&app.store, &pending)?;
    let out = json!({
        "event_id": event_id, "event": n.event, "accepted": true, "resources": pending.resource_ids.len(),
    });
    let stored = StoredResponse {
        status: 202,
        body: serde_json::to_vec(&out).unwrap_or_default(),
        request_sha256: hex::encode(Sha256::digest(&bytes)),
        stored_at: now,
    };
    // Flushes the pending entry too: durable before the acknowledgement.
    app.store.put_idempotent_response(&dedupe_key, &stored).await?;
    tracing::info!(event_id = %pending.event_id, event = %pending.event, "Follow Up Boss notification accepted");
    tokio::spawn(process(app.clone(), pending));
    Ok((StatusCode::ACCEPTED, Json(out)).into_response())
}

/// Processes the notifications a previous run acknowledged but did not finish.
pub fn resume_pending(app: &App) {
    match pending_list(&app.store) {
        Ok(list) => {
            if !list.is_empty() {
                tracing::info!(count = list.len(), "resuming Follow Up Boss notifications");
            }
            for ev in list {
                tokio::spawn(process(app.clone(), ev));
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot read pending Follow Up Boss notifications"),
    }
}

#[derive(Debug)]
struct Failure {
    retryable: bool,
    message: String,
}

impl Failure {
    fn retry(message: impl Into<String>) -> Self {
        Failure { retryable: true, message: message.into() }
    }
    fn permanent(message: impl Into<String>) -> Self {
        Failure { retryable: false, message: message.into() }
    }
}

/// Applies one notification with bounded retries, then forgets it (see the module note).
pub async fn process(app: App, ev: PendingEvent) {
    let cfg = app.settings.integrations.followupboss.clone();
    let max_attempts = cfg.max_attempts.max(1);
    let mut attempt = 1;
    loop {
        match process_once(&app, &ev).await {
            Ok(people) => {
                metrics::counter!("leadline_fub_events_total", "event" => ev.event.clone()).increment(1);
                tracing::info!(event_id = %ev.event_id, event = %ev.event, people, "Follow Up Boss notification applied");
                break;
            }
            Err(f) if f.retryable && attempt < max_attempts => {
                let delay = cfg.retry_base_ms.saturating_mul(1u64 << (attempt - 1).min(16));
                tracing::warn!(event_id = %ev.event_id, attempt, error = %f.message, delay_ms = delay, "Follow Up Boss notification failed; retrying");
                tokio::time::sleep(Duration::from_millis(delay)).await;
                attempt += 1;
            }
            Err(f) => {
                metrics::counter!("leadline_fub_failures_total").increment(1);
                tracing::error!(
                    event_id = %ev.event_id,
                    event = %ev.event,
                    attempts = attempt,
                    error = %f.message,
                    "Follow Up Boss notification dropped after failing; re-send it from FUB or post the change to /v1/events/crm"
                );
                break;
            }
        }
    }
    if let Err(e) = remove_pending(&app.store, &ev.event_id).await {
        tracing::error!(event_id = %ev.event_id, error = %e, "cannot remove a processed Follow Up Boss notification");
    }
}

fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

/// The URLs to GET: the notification's `uri` path and query on the configured `api_base`
/// (the API key is only ever sent to `api_base`), else `/v1/people/{id}` per resource id.
fn people_urls(api_base: &url::Url, ev: &PendingEvent) -> Vec<String> {
    let base = api_base.as_str().trim_end_matches('/');
    let from_uri =
        ev.uri.as_deref().and_then(|u| url::Url::parse(u).ok()).filter(|u| u.path().starts_with("/v1/people"));
    match from_uri {
        Some(u) => vec![match u.query() {
            Some(q) => format!("{base}{}?{q}", u.path()),
            None => format!("{base}{}", u.path()),
        }],
        None => ev
            .resource_ids
            .iter()
            .filter(|id| id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .map(|id| format!("{base}/v1/people/{id}"))
            .collect(),
    }
}

async fn fetch_people(app: &App, ev: &PendingEvent) -> Result<Vec<Value>, Failure> {
    let cfg = &app.settings.integrations.followupboss;
    let api_key = app.secrets.fub_api_key.clone().ok_or_else(|| Failure::permanent("FUB_API_KEY is not set"))?;
    let mut people = Vec::new();
    for url in people_urls(&cfg.api_base, ev) {
        let mut req = http()
            .get(&url)
            .basic_auth(&api_key, Some(""))
            .header("Accept", "application/json")
            .header("X-System", &cfg.system_name)
            .timeout(Duration::from_millis(cfg.timeout_ms));
        if let Some(key) = app.secrets.fub_system_key.as_deref() {
            req = req.header("X-System-Key", key);
        }
        let res =
            req.send().await.map_err(|e| Failure::retry(format!("GET {url}: {}", crate::reso::error_chain(&e))))?;
        let status = res.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            tracing::warn!(%url, "Follow Up Boss person not found (deleted?); skipped");
            continue;
        }
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(Failure::retry(format!("GET {url}: HTTP {status}")));
        }
        if !status.is_success() {
            return Err(Failure::permanent(format!("GET {url}: HTTP {status} (check FUB_API_KEY)")));
        }
        let body: Value = res.json().await.map_err(|e| Failure::permanent(format!("GET {url}: not JSON: {e}")))?;
        match body.get("people").and_then(Value::as_array) {
            Some(list) => people.extend(list.iter().cloned()),
            None if body.get("id").is_some() => people.push(body),
            None => return Err(Failure::permanent(format!("GET {url}: neither a person nor a list of people"))),
        }
    }
    Ok(people)
}

async fn process_once(app: &App, ev: &PendingEvent) -> Result<usize, Failure> {
    let people = fetch_people(app, ev).await?;
    let mut applied = 0;
    for person in &people {
        if apply_person(app, ev, person).await? {
            applied += 1;
        }
    }
    Ok(applied)
}

fn field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(id_text)
}

/// `phones[0].value` (or the next one that is a valid number).
fn person_phone(person: &Value) -> Option<Phone> {
    let phones = person.get("phones")?.as_array()?;
    phones.iter().filter_map(|p| p.get("value").and_then(Value::as_str)).find_map(|p| Phone::parse(p).ok())
}

/// The person as a lead. The person is real and the data comes from the CRM, so fields over
/// their limits (docs/limits.md) are shortened rather than refused: names are cut and end in
/// "...", and an email address too long for SMTP is left out (a cut one would not work).
fn capture_body(person: &Value, phone: &Phone, id: &str) -> LeadBody {
    let name = |key: &str| field(person, key).map(|n| limits::clip(&n, limits::NAME_MAX_CHARS));
    let email = person
        .get("emails")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
        .and_then(|e| e.get("value"))
        .and_then(id_text)
        .filter(|e| {
            let fits = limits::check_email("email", Some(e)).is_ok();
            if !fits {
                tracing::warn!(person = %id, chars = e.chars().count(), "Follow Up Boss email over the length limit; left out");
            }
            fits
        });
    LeadBody {
        source: "followupboss".into(),
        phone: phone.as_str().to_string(),
        source_lead_id: Some(id.to_string()),
        first_name: name("firstName"),
        last_name: name("lastName"),
        email,
        state: None,
        listing: None,
        message: None,
        consent: None,
        occurred_at: None,
    }
}

async fn capture(app: &App, person: &Value, phone: &Phone, id: &str) -> Result<(), Failure> {
    let (phone, lead) = capture_body(person, phone, id).into_event().map_err(|e| Failure::permanent(e.to_string()))?;
    let dedupe = format!("lead:followupboss:{id}");
    app.submit(phone, Event::LeadCaptured(Box::new(lead)), Some(dedupe))
        .await
        .map_err(|e| Failure::retry(e.to_string()))?;
    Ok(())
}

/// Returns whether the person changed anything.
async fn apply_person(app: &App, ev: &PendingEvent, person: &Value) -> Result<bool, Failure> {
    let Some(id) = field(person, "id") else {
        tracing::warn!(event_id = %ev.event_id, "Follow Up Boss person without an id; skipped");
        return Ok(false);
    };
    let Some(phone) = person_phone(person) else {
        tracing::info!(event_id = %ev.event_id, person = %id, "Follow Up Boss person has no valid phone number; skipped");
        return Ok(false);
    };
    let stage = field(person, "stage");
    let agent = field(person, "assignedTo");
    let known = app.store.lead(&phone).map_err(|e| Failure::retry(e.to_string()))?;
    if ev.event == "peopleCreated" || known.is_none() {
        capture(app, person, &phone, &id).await?;
    }
    let Some(stage) = stage else { return Ok(true) };
    let unchanged = known
        .as_ref()
        .and_then(|l| l.crm_status.as_deref())
        .is_some_and(|s| s.trim().eq_ignore_ascii_case(stage.trim()));
    if unchanged {
        return Ok(false);
    }
    let event = Event::CrmChanged { status: stage, agent, source: Some("followupboss".into()) };
    let dedupe = format!("fub:{}:{id}", ev.event_id);
    app.submit(phone, event, Some(dedupe)).await.map_err(|e| Failure::retry(e.to_string()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_long_people_fields_are_cut_not_refused() {
        let person = json!({
            "id": 7, "firstName": "A".repeat(3000), "lastName": "Lee",
            "emails": [{"value": format!("{}@example.com", "a".repeat(300))}],
        });
        let phone = Phone::parse("+12125550142").unwrap();
        let (_, capture) = capture_body(&person, &phone, "7").into_event().unwrap();
        let first = capture.first_name.unwrap();
        assert_eq!(first.chars().count(), limits::NAME_MAX_CHARS);
        assert!(first.ends_with("..."), "{first}");
        assert_eq!(capture.last_name.as_deref(), Some("Lee"));
        assert_eq!(capture.email, None);
    }
}
