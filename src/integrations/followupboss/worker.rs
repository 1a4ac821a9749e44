//! The durable Follow Up Boss worker: acknowledged notifications wait in the store
//! (`meta` key `fub:pending`) until they are applied or given up on, so a crash or restart
//! resumes them ([`resume_pending`]).
//!
//! Each notification is tried up to `integrations.followupboss.max_attempts` times with the
//! shared backoff ([`crate::integrations::retry`]: `retry_base_ms` doubling, full jitter, at
//! least FUB's `Retry-After`, at most [`MAX_BACKOFF`]) on network errors, 429 and 5xx from
//! FUB, and a lead that did not acknowledge. A permanent error (401/403 from FUB, an
//! unreadable answer) or the last failed attempt is logged at `error` level with the event id
//! and counted in `leadline_fub_failures_total`; the event is then dropped (re-send it from
//! FUB, or post the change to `/v1/events/crm`). Applying a person twice is harmless: every
//! lead event carries a dedupe key.

use super::client::{fetch_people, Failure};
use super::payload::{Notification, PendingEvent, PendingEvents, Person};
use crate::app::leads::LeadBody;
use crate::app::App;
use crate::integrations::retry::Backoff;
use leadline_core::limits;
use leadline_core::model::Event;
use leadline_core::storage::{Store, StoreError};
use leadline_core::{Phone, Ts};
use std::sync::Mutex;
use std::time::Duration;

const PENDING_KEY: &str = "fub:pending";
/// The longest wait between two attempts at one notification.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Serialises read-modify-write of the pending list (one process, one store).
static PENDING_LOCK: Mutex<()> = Mutex::new(());

fn pending_list(store: &Store) -> Result<Vec<PendingEvent>, StoreError> {
    Ok(store.meta_get::<PendingEvents>(PENDING_KEY)?.map(|p| p.0).unwrap_or_default())
}

fn add_pending(store: &Store, ev: &PendingEvent) -> Result<(), StoreError> {
    let _lock = PENDING_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let mut list = pending_list(store)?;
    if !list.iter().any(|p| p.event_id == ev.event_id) {
        list.push(ev.clone());
    }
    store.meta_put(PENDING_KEY, &PendingEvents(list))
}

async fn remove_pending(store: &Store, event_id: &str) -> Result<(), StoreError> {
    {
        let _lock = PENDING_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let mut list = pending_list(store)?;
        list.retain(|p| p.event_id != event_id);
        store.meta_put(PENDING_KEY, &PendingEvents(list))?;
    }
    store.flush().await
}

/// Queues a verified notification (`event_id` already trimmed and checked): written to the
/// store, not yet flushed (the caller's acknowledgement record flushes it). Returns what was
/// queued; hand it to [`spawn`] once the acknowledgement is durable.
pub fn accept(store: &Store, event_id: &str, n: &Notification, now: Ts) -> Result<PendingEvent, StoreError> {
    let pending = PendingEvent {
        event_id: event_id.to_string(),
        event: n.event.clone(),
        resource_ids: n.resource_id_texts(),
        uri: n.uri.clone(),
        received_at: now,
    };
    add_pending(store, &pending)?;
    Ok(pending)
}

/// Processes a queued notification in the background.
pub fn spawn(app: &App, ev: PendingEvent) {
    tokio::spawn(process(app.clone(), ev));
}

/// Processes the notifications a previous run acknowledged but did not finish.
pub fn resume_pending(app: &App) {
    match pending_list(&app.store) {
        Ok(list) => {
            if !list.is_empty() {
                tracing::info!(count = list.len(), "resuming Follow Up Boss notifications");
            }
            for ev in list {
                spawn(app, ev);
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot read pending Follow Up Boss notifications"),
    }
}

/// Applies one notification with bounded retries, then forgets it (see the module note).
pub async fn process(app: App, ev: PendingEvent) {
    let cfg = app.settings.integrations.followupboss.clone();
    let max_attempts = cfg.max_attempts.max(1);
    let backoff = Backoff::new(Duration::from_millis(cfg.retry_base_ms), MAX_BACKOFF);
    let mut attempt = 1;
    loop {
        match process_once(&app, &ev).await {
            Ok(people) => {
                // Bounded: the handled events by name, anything else `other`.
                let event = super::HANDLED_EVENTS.iter().find(|e| **e == ev.event).copied().unwrap_or("other");
                metrics::counter!("leadline_fub_events_total", "event" => event).increment(1);
                tracing::info!(event_id = %ev.event_id, event = %ev.event, people, "Follow Up Boss notification applied");
                break;
            }
            Err(f) if f.retryable && attempt < max_attempts => {
                let delay = backoff.delay(attempt, f.retry_after);
                tracing::warn!(event_id = %ev.event_id, attempt, error = %f.message, delay_ms = delay.as_millis() as u64, "Follow Up Boss notification failed; retrying");
                tokio::time::sleep(delay).await;
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

/// `phones[0].value` (or the next one that is a valid number).
fn person_phone(person: &Person) -> Option<Phone> {
    person.phones.iter().filter_map(|p| p.value.as_deref()).find_map(|p| Phone::parse(p).ok())
}

/// The person as a lead. The person is real and the data comes from the CRM, so fields over
/// their limits (docs/limits.md) are shortened rather than refused: names are cut and end in
/// "...", and an email address too long for SMTP is left out (a cut one would not work).
fn capture_body(person: &Person, phone: &Phone, id: &str) -> LeadBody {
    let name = |n: &Option<String>| n.as_deref().map(|n| limits::clip(n, limits::NAME_MAX_CHARS));
    let email = person.emails.first().and_then(|e| e.value.clone()).filter(|e| {
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
        first_name: name(&person.first_name),
        last_name: name(&person.last_name),
        email,
        state: None,
        listing: None,
        message: None,
        consent: None,
        occurred_at: None,
    }
}

async fn capture(app: &App, person: &Person, phone: &Phone, id: &str) -> Result<(), Failure> {
    let (phone, lead) = capture_body(person, phone, id).into_event().map_err(|e| Failure::permanent(e.to_string()))?;
    let dedupe = format!("lead:followupboss:{id}");
    app.submit(phone, Event::LeadCaptured(Box::new(lead)), Some(dedupe))
        .await
        .map_err(|e| Failure::retry(e.to_string()))?;
    Ok(())
}

/// Returns whether the person changed anything.
async fn apply_person(app: &App, ev: &PendingEvent, person: &Person) -> Result<bool, Failure> {
    let Some(id) = person.id.as_deref() else {
        tracing::warn!(event_id = %ev.event_id, "Follow Up Boss person without an id; skipped");
        return Ok(false);
    };
    let Some(phone) = person_phone(person) else {
        tracing::info!(event_id = %ev.event_id, person = %id, "Follow Up Boss person has no valid phone number; skipped");
        return Ok(false);
    };
    let known = app.store.lead(&phone).map_err(|e| Failure::retry(e.to_string()))?;
    if ev.event == "peopleCreated" || known.is_none() {
        capture(app, person, &phone, id).await?;
    }
    let Some(stage) = person.stage.clone() else { return Ok(true) };
    let unchanged = known
        .as_ref()
        .and_then(|l| l.crm_status.as_deref())
        .is_some_and(|s| s.trim().eq_ignore_ascii_case(stage.trim()));
    if unchanged {
        return Ok(false);
    }
    let event =
        Event::CrmChanged { status: stage, agent: person.assigned_to.clone(), source: Some("followupboss".into()) };
    let dedupe = format!("fub:{}:{id}", ev.event_id);
    app.submit(phone, event, Some(dedupe)).await.map_err(|e| Failure::retry(e.to_string()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn over_long_people_fields_are_cut_not_refused() {
        let person = Person::from_value(json!({
            "id": 7, "firstName": "A".repeat(3000), "lastName": "Lee",
            "emails": [{"value": format!("{}@example.com", "a".repeat(300))}],
        }));
        let phone = Phone::parse("+12125550142").unwrap();
        let (_, capture) = capture_body(&person, &phone, "7").into_event().unwrap();
        let first = capture.first_name.unwrap();
        assert_eq!(first.chars().count(), limits::NAME_MAX_CHARS);
        assert!(first.ends_with("..."), "{first}");
        assert_eq!(capture.last_name.as_deref(), Some("Lee"));
        assert_eq!(capture.email, None);
    }

    #[test]
    fn the_first_valid_phone_is_used() {
        let person = Person::from_value(json!({"phones": [{"value": "nope"}, {"value": "(212) 555-0142"}]}));
        assert_eq!(person_phone(&person).map(|p| p.as_str().to_string()), Some("+12125550142".into()));
    }
}
