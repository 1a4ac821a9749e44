//! Follow Up Boss write-back: what leadline did, logged on the lead's FUB person.
//!
//! | lead event | FUB call |
//! |---|---|
//! | `text.sent` | `POST /v1/textMessages` (`isIncoming: false`; the text's body from the outbox) |
//! | `lead.replied` | `POST /v1/textMessages` (`isIncoming: true`) |
//! | `lead.opted_out` | `PUT /v1/people/{id}?mergeTags=true` with `tags: [opt_out_tag]` and `stage: opt_out_stage` (when set) |
//! | `lead.handed_off` | `POST /v1/notes` for the assigned agent |
//!
//! FUB documents `POST /v1/textMessages` as a log of a text sent by another system (it sends
//! nothing; registered systems only: `X-System`, `X-System-Key`). The person: the lead's
//! `source_lead_id` when it came from FUB, else `GET /v1/people?phone=` when that finds
//! exactly one person (remembered in `meta` `fub:person:<phone>`); a lead with no person
//! is skipped (`leadline_fub_writes_total{outcome="unlinked"}`).
//!
//! Durable: the writes are queued in part `F` in the same batch as the lead change (the
//! event queue's layout, `storage::Queue::FubWrites`), one lead's writes in order, retried
//! with the shared backoff, dead after `writeback.max_attempts` (`GET /v1/admin/fub/writes`).
//! FUB takes no idempotency key, so a POST whose outcome is unknown (timeout, connection
//! lost, 5xx) is marked in doubt, and before it is sent again the person's texts or notes
//! are read (`GET /v1/textMessages?personId=`, `GET /v1/notes?personId=`): if one carries
//! this write's reference (`externalUrl` of a text, the last line of a note) it was applied
//! and is not sent again. The tag/stage PUT is idempotent and simply repeated.

use super::client::Failure;
use crate::app::App;
use crate::integrations::error_chain;
use crate::integrations::retry::{self, Backoff};
use leadline_core::decide::INBOUND_PREFIX;
use leadline_core::lead_events::{self, Subscription};
use leadline_core::storage::{Queue, WebhookDelivery, WebhookQueueHead};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The pseudo-subscription id of the write-back queue.
pub const SUBSCRIPTION: &str = "fub";
/// Marks a failed attempt whose outcome is unknown: reconciled before the next one.
pub const IN_DOUBT: &str = "in doubt: ";

/// The events the write-back logs, when it is on (`FUB_API_KEY` set and
/// `integrations.followupboss.writeback.enabled`).
pub fn subscription(app_settings: &crate::config::Settings, api_key_set: bool) -> Option<Subscription> {
    (api_key_set && app_settings.integrations.followupboss.writeback.enabled).then(|| Subscription {
        id: SUBSCRIPTION.into(),
        events: [
            lead_events::TEXT_SENT,
            lead_events::LEAD_REPLIED,
            lead_events::LEAD_OPTED_OUT,
            lead_events::LEAD_HANDED_OFF,
        ]
        .map(String::from)
        .to_vec(),
    })
}

/// One FUB call.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// `POST /v1/textMessages`; `reference` goes into `externalUrl`.
    Text { body: Value, reference: String },
    /// `PUT /v1/people/{id}?mergeTags=true`.
    Person { body: Value },
    /// `POST /v1/notes`; `reference` is the note's last line.
    Note { body: Value, reference: String },
    /// Nothing to write (e.g. an opt-out with neither tag nor stage configured).
    Nothing,
}

/// What one queued event writes to FUB (pure). `text_body` is the sent text's body (from
/// the outbox), `from` leadline's number (if known).
pub fn plan(
    d: &WebhookDelivery,
    person_id: &str,
    text_body: Option<&str>,
    from: Option<&str>,
    writeback: &crate::config::FubWritebackSettings,
    public_url: &str,
) -> Write {
    let e = &d.event;
    let reference = format!("{}/admin/leads/{}#{}", public_url.trim_end_matches('/'), e.phone.as_str(), e.id);
    let phone = e.phone.as_str();
    let from = from.unwrap_or("");
    match e.event_type.as_str() {
        lead_events::TEXT_SENT => Write::Text {
            body: json!({"personId": person_number(person_id), "message": text_body.unwrap_or(&e.detail),
                "toNumber": phone, "fromNumber": from, "isIncoming": false,
                "externalLabel": "leadline", "externalUrl": reference}),
            reference,
        },
        lead_events::LEAD_REPLIED => {
            let said = e.detail.strip_prefix(INBOUND_PREFIX).and_then(|s| s.strip_suffix('"')).unwrap_or(&e.detail);
            Write::Text {
                body: json!({"personId": person_number(person_id), "message": said, "toNumber": from,
                    "fromNumber": phone, "isIncoming": true, "externalLabel": "leadline", "externalUrl": reference}),
                reference,
            }
        }
        lead_events::LEAD_OPTED_OUT => {
            let mut body = serde_json::Map::new();
            if !writeback.opt_out_tag.trim().is_empty() {
                body.insert("tags".into(), json!([writeback.opt_out_tag.trim()]));
            }
            if !writeback.opt_out_stage.trim().is_empty() {
                body.insert("stage".into(), json!(writeback.opt_out_stage.trim()));
            }
            if body.is_empty() {
                Write::Nothing
            } else {
                Write::Person { body: Value::Object(body) }
            }
        }
        lead_events::LEAD_HANDED_OFF => {
            let rule = e.rule.as_deref().unwrap_or("handoff");
            Write::Note {
                body: json!({"personId": person_number(person_id), "subject": format!("leadline: {rule}"),
                    "body": format!("{}\n\nleadline ref {reference}", e.detail)}),
                reference,
            }
        }
        _ => Write::Nothing,
    }
}

/// FUB's ids are numbers; send one as a number when it is one.
fn person_number(id: &str) -> Value {
    id.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::from(id))
}

/// The write-back loop (one task).
pub struct Writer {
    pub app: App,
    pub subscription: Subscription,
    pub backoff: Backoff,
}

/// How a FUB request that did not succeed ended.
enum Outcome {
    /// Not applied (429, 4xx, refused connection): retry as is.
    Refused(Failure),
    /// Maybe applied (timeout, connection lost, 5xx): reconcile before retrying.
    InDoubt(Failure),
}

impl Writer {
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut not_before: HashMap<String, Instant> = HashMap::new();
        // The queue gauge counts the whole queue (a scan): at most every few seconds.
        let gauge_every = Duration::from_secs(5);
        let mut gauge_at = Instant::now().checked_sub(gauge_every).unwrap_or_else(Instant::now);
        loop {
            if gauge_at.elapsed() >= gauge_every {
                gauge_at = Instant::now();
                metrics::gauge!("leadline_fub_writes_queued")
                    .set(self.app.store.webhook_queued_count(Queue::FubWrites) as f64);
                metrics::gauge!("leadline_fub_writes_dead")
                    .set(self.app.store.webhook_dead_count(Queue::FubWrites) as f64);
                not_before.retain(|_, at| *at > gauge_at);
            }
            // Cluster mode: only the gateway lease holder writes to FUB.
            let standby = self.app.cluster.as_ref().is_some_and(|c| !c.is_leader());
            let progressed = !standby && self.round(&mut not_before).await;
            if progressed {
                if *stop.borrow() {
                    return;
                }
                continue;
            }
            tokio::select! {
                _ = self.app.webhook_wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stop.changed() => return,
            }
        }
    }

    async fn round(&self, not_before: &mut HashMap<String, Instant>) -> bool {
        let now = Instant::now();
        let waiting = |d: &WebhookDelivery| not_before.get(d.event.phone.as_str()).is_some_and(|at| *at > now);
        let heads =
            self.app.store.webhook_queue_heads_where(Queue::FubWrites, &self.subscription.id, 64, |d| !waiting(d));
        let heads = match heads {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the Follow Up Boss write queue");
                return false;
            }
        };
        let mut progressed = false;
        for head in heads {
            let lead = head.delivery.event.phone.as_str().to_string();
            progressed |= self.attempt(head, lead, not_before).await;
        }
        progressed
    }

    /// One attempt at one write; true if it left the queue.
    async fn attempt(&self, head: WebhookQueueHead, lead: String, not_before: &mut HashMap<String, Instant>) -> bool {
        let WebhookQueueHead { key, mut delivery } = head;
        let outcome = self.write(&key, &delivery).await;
        let store = &self.app.store;
        let (failure, in_doubt) = match outcome {
            Ok(label) => {
                if let Err(e) = store.webhook_delivered(Queue::FubWrites, &key).await {
                    tracing::error!(error = %e, "cannot record a Follow Up Boss write");
                    return false;
                }
                not_before.remove(&lead);
                metrics::counter!("leadline_fub_writes_total", "outcome" => label).increment(1);
                return true;
            }
            Err(Outcome::Refused(f)) => (f, false),
            Err(Outcome::InDoubt(f)) => (f, true),
        };
        delivery.attempts += 1;
        // In doubt: the next attempt reads before it writes. Refused: FUB did not apply it.
        delivery.last_error = if in_doubt { format!("{IN_DOUBT}{}", failure.message) } else { failure.message.clone() };
        delivery.last_attempt_at = Some(leadline_core::Ts::from(chrono::Utc::now()));
        metrics::counter!("leadline_fub_writes_total", "outcome" => "failed").increment(1);
        let max = self.app.settings.integrations.followupboss.writeback.max_attempts;
        if !failure.retryable || delivery.attempts >= max {
            tracing::error!(subscription = %delivery.subscription, phone = %delivery.event.phone.masked(), sequence = delivery.event.sequence, attempts = delivery.attempts, error = %failure.message, "Follow Up Boss write given up (GET /v1/admin/fub/writes)");
            if let Err(e) = store.webhook_give_up(Queue::FubWrites, &key, &delivery).await {
                tracing::error!(error = %e, "cannot record a dead Follow Up Boss write");
                return false;
            }
            not_before.remove(&lead);
            metrics::counter!("leadline_fub_writes_total", "outcome" => "dead").increment(1);
            metrics::gauge!("leadline_fub_writes_dead").set(store.webhook_dead_count(Queue::FubWrites) as f64);
            return true;
        }
        tracing::warn!(subscription = %delivery.subscription, phone = %delivery.event.phone.masked(), sequence = delivery.event.sequence, attempts = delivery.attempts, error = %failure.message, "Follow Up Boss write failed; will retry");
        if let Err(e) = store.webhook_attempt_failed(Queue::FubWrites, &key, &delivery).await {
            tracing::error!(error = %e, "cannot record a failed Follow Up Boss write");
        }
        not_before.insert(lead, Instant::now() + self.backoff.delay(delivery.attempts, failure.retry_after));
        false
    }

    /// Does one write; `Ok(outcome label)` when it is applied (or was, or needs nothing).
    async fn write(&self, key: &[u8], d: &WebhookDelivery) -> Result<&'static str, Outcome> {
        let app = &self.app;
        let Some(person) = self.person(d).await? else { return Ok("unlinked") };
        let text_body =
            d.event.message_id.as_deref().and_then(|id| app.store.outbox(id).ok().flatten()).map(|r| r.text.body);
        let from = app.store.meta_get::<String>(&format!("gateway:sender:{}", d.event.phone.as_str())).ok().flatten();
        let public_url = app.settings.server.public_url.as_str().to_string();
        let writeback = &app.settings.integrations.followupboss.writeback;
        let base = app.settings.integrations.followupboss.api_base.as_str().trim_end_matches('/').to_string();
        let in_doubt = d.last_error.starts_with(IN_DOUBT);
        match plan(d, &person, text_body.as_deref(), from.as_deref(), writeback, &public_url) {
            Write::Nothing => Ok("skipped"),
            Write::Person { body } => {
                let url = format!("{base}/v1/people/{person}?mergeTags=true");
                self.send(reqwest::Method::PUT, &url, Some(&body)).await.map(|_| "written")
            }
            Write::Text { body, reference } => {
                let list = format!("{base}/v1/textMessages?personId={person}&limit=100&sort=-created");
                if in_doubt
                    && self
                        .already(&list, &["textmessages", "textMessages"], |t| t["externalUrl"] == reference.as_str())
                        .await?
                {
                    return Ok("reconciled");
                }
                self.mark_in_doubt(key, d).await?;
                self.send(reqwest::Method::POST, &format!("{base}/v1/textMessages"), Some(&body))
                    .await
                    .map(|_| "written")
            }
            Write::Note { body, reference } => {
                let list = format!("{base}/v1/notes?personId={person}&limit=100&sort=-created");
                let tail = format!("leadline ref {reference}");
                let has = |n: &Value| n["body"].as_str().is_some_and(|b| b.ends_with(&tail));
                if in_doubt && self.already(&list, &["notes"], has).await? {
                    return Ok("reconciled");
                }
                self.mark_in_doubt(key, d).await?;
                self.send(reqwest::Method::POST, &format!("{base}/v1/notes"), Some(&body)).await.map(|_| "written")
            }
        }
    }

    /// Before a POST FUB cannot de-duplicate: the write is in doubt from here until its answer
    /// is stored, so a crash or kill in between makes the next attempt read first.
    async fn mark_in_doubt(&self, key: &[u8], d: &WebhookDelivery) -> Result<(), Outcome> {
        if d.last_error.starts_with(IN_DOUBT) {
            return Ok(());
        }
        let mut marked = d.clone();
        marked.last_error = format!("{IN_DOUBT}attempt under way");
        self.app
            .store
            .webhook_attempt_failed(Queue::FubWrites, key, &marked)
            .await
            .map_err(|e| Outcome::Refused(Failure::retry(format!("cannot store the attempt: {e}"))))
    }

    /// Whether a listing already holds the write (the read that settles an in-doubt write).
    async fn already(&self, url: &str, keys: &[&str], matches: impl Fn(&Value) -> bool) -> Result<bool, Outcome> {
        let page = self.send(reqwest::Method::GET, url, None).await.map_err(|o| match o {
            // A failed read settles nothing: the write stays in doubt.
            Outcome::Refused(f) | Outcome::InDoubt(f) => Outcome::InDoubt(f),
        })?;
        Ok(keys.iter().filter_map(|k| page[*k].as_array()).flatten().any(matches))
    }

    /// The FUB person of the lead: its `source_lead_id` when it came from FUB, else the one
    /// person a phone lookup finds (remembered).
    async fn person(&self, d: &WebhookDelivery) -> Result<Option<String>, Outcome> {
        let app = &self.app;
        let phone = &d.event.phone;
        let cache = format!("fub:person:{}", phone.as_str());
        if let Ok(Some(id)) = app.store.meta_get::<String>(&cache) {
            return Ok(Some(id));
        }
        if let Ok(Some(lead)) = app.store.lead(phone) {
            let from_fub = lead.profile.source.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("followupboss"));
            if let (true, Some(id)) = (from_fub, lead.profile.source_lead_id) {
                return Ok(Some(id));
            }
        }
        let base = app.settings.integrations.followupboss.api_base.as_str().trim_end_matches('/');
        let digits: String = phone.as_str().chars().filter(char::is_ascii_digit).collect();
        let url = format!("{base}/v1/people?phone={digits}&limit=2&fields=id");
        let mut ids = self.people_ids(&url).await?;
        if ids.is_empty() && app.settings.integrations.followupboss.writeback.create_people {
            // FUB's documented way to add a lead; it de-duplicates people by phone, so a
            // repeat after an unknown outcome finds the same person.
            let lead = app.store.lead(phone).ok().flatten();
            let profile = lead.as_ref().map(|l| &l.profile);
            let person = json!({
                "firstName": profile.and_then(|p| p.first_name.clone()),
                "lastName": profile.and_then(|p| p.last_name.clone()),
                "phones": [{"value": phone.as_str()}],
                "emails": profile.and_then(|p| p.email.clone()).map(|e| vec![json!({"value": e})]).unwrap_or_default(),
            });
            let event = json!({"source": "leadline", "system": app.settings.integrations.followupboss.system_name,
                "type": "General Inquiry", "message": "Lead texted by leadline", "person": person});
            self.send(reqwest::Method::POST, &format!("{base}/v1/events"), Some(&event)).await?;
            ids = self.people_ids(&url).await?;
        }
        match ids.as_slice() {
            [id] => {
                if let Err(e) = app.store.meta_put(&cache, id) {
                    tracing::warn!(error = %e, "cannot remember a lead's Follow Up Boss person");
                }
                Ok(Some(id.clone()))
            }
            _ => Ok(None),
        }
    }

    /// The ids of the people a `GET /v1/people?...` finds.
    async fn people_ids(&self, url: &str) -> Result<Vec<String>, Outcome> {
        let page = self.send(reqwest::Method::GET, url, None).await.map_err(|o| match o {
            // A read changes nothing, so it is never in doubt itself.
            Outcome::Refused(f) | Outcome::InDoubt(f) => Outcome::Refused(f),
        })?;
        Ok(page["people"].as_array().into_iter().flatten().filter_map(|p| super::payload::id_text(&p["id"])).collect())
    }

    /// One request with FUB's authentication; the JSON answer.
    async fn send(&self, method: reqwest::Method, url: &str, body: Option<&Value>) -> Result<Value, Outcome> {
        let app = &self.app;
        let cfg = &app.settings.integrations.followupboss;
        let Some(api_key) = app.secrets.fub_api_key.as_deref() else {
            return Err(Outcome::Refused(Failure::permanent("FUB_API_KEY is not set")));
        };
        let mut req = http()
            .request(method.clone(), url)
            .basic_auth(api_key, Some(""))
            .header("Accept", "application/json")
            .header("X-System", &cfg.system_name)
            .timeout(Duration::from_millis(cfg.timeout_ms));
        if let Some(key) = app.secrets.fub_system_key.as_deref() {
            req = req.header("X-System-Key", key);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let what = format!("{method} {}", url.split('?').next().unwrap_or(url));
        let res = match req.send().await {
            Ok(res) => res,
            // Not connected: nothing was sent. Anything else (timeout, reset): maybe applied.
            Err(e) if e.is_connect() => {
                return Err(Outcome::Refused(Failure::retry(format!("{what}: {}", error_chain(&e)))))
            }
            Err(e) => return Err(Outcome::InDoubt(Failure::retry(format!("{what}: {}", error_chain(&e))))),
        };
        let status = res.status();
        if status.as_u16() == 429 {
            let mut f = Failure::retry(format!("{what}: HTTP 429"));
            f.retry_after = retry::retry_after(res.headers());
            return Err(Outcome::Refused(f));
        }
        if status.is_server_error() {
            let mut f = Failure::retry(format!("{what}: HTTP {status}"));
            f.retry_after = retry::retry_after(res.headers());
            return Err(Outcome::InDoubt(f));
        }
        if !status.is_success() {
            return Err(Outcome::Refused(Failure::permanent(format!("{what}: HTTP {status}"))));
        }
        Ok(res.json().await.unwrap_or(Value::Null))
    }
}

fn http() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadline_core::lead_events::LeadEvent;
    use leadline_core::model::LeadStatus;
    use leadline_core::{Phone, Ts};

    fn delivery(event_type: &str, detail: &str, rule: Option<&str>) -> WebhookDelivery {
        WebhookDelivery {
            subscription: SUBSCRIPTION.into(),
            event: LeadEvent {
                id: "evt_12125550142_3".into(),
                event_type: event_type.into(),
                phone: Phone::parse("+12125550142").unwrap(),
                sequence: 3,
                at: Ts::from_millis(1_700_000_000_000).unwrap(),
                status: LeadStatus::Engaged,
                message_id: None,
                rule: rule.map(String::from),
                detail: detail.into(),
                agent: None,
                timeline_seq: 5,
            },
            attempts: 0,
            last_error: String::new(),
            last_attempt_at: None,
        }
    }

    fn settings(tag: &str, stage: &str) -> crate::config::FubWritebackSettings {
        crate::config::FubWritebackSettings {
            enabled: true,
            opt_out_tag: tag.into(),
            opt_out_stage: stage.into(),
            max_attempts: 3,
            create_people: false,
        }
    }

    #[test]
    fn each_event_plans_its_fub_call() {
        let url = "https://leadline.example.com/";
        let s = settings("opted-out", "");
        let sent = plan(&delivery("text.sent", "x", None), "101", Some("Hi Ana"), Some("+12125550100"), &s, url);
        let Write::Text { body, reference } = sent else { panic!("{sent:?}") };
        assert_eq!(reference, "https://leadline.example.com/admin/leads/+12125550142#evt_12125550142_3");
        assert_eq!(body["personId"], 101);
        assert_eq!(body["message"], "Hi Ana");
        assert_eq!(body["isIncoming"], false);
        assert_eq!(body["toNumber"], "+12125550142");
        let replied = plan(&delivery("lead.replied", "lead wrote: \"Is it sold?\"", None), "101", None, None, &s, url);
        let Write::Text { body, .. } = replied else { panic!() };
        assert_eq!(body["message"], "Is it sold?");
        assert_eq!(body["isIncoming"], true);
        assert_eq!(body["fromNumber"], "+12125550142");
        let out = plan(&delivery("lead.opted_out", "", None), "101", None, None, &s, url);
        assert_eq!(out, Write::Person { body: json!({"tags": ["opted-out"]}) });
        let out = plan(&delivery("lead.opted_out", "", None), "101", None, None, &settings("", "Trash"), url);
        assert_eq!(out, Write::Person { body: json!({"stage": "Trash"}) });
        assert_eq!(
            plan(&delivery("lead.opted_out", "", None), "1", None, None, &settings("", ""), url),
            Write::Nothing
        );
        let note =
            plan(&delivery("lead.handed_off", "The lead replied", Some("handoff.reply")), "101", None, None, &s, url);
        let Write::Note { body, reference } = note else { panic!() };
        assert_eq!(body["subject"], "leadline: handoff.reply");
        assert!(body["body"].as_str().unwrap().ends_with(&format!("leadline ref {reference}")));
        assert_eq!(plan(&delivery("text.queued", "", None), "1", None, None, &s, url), Write::Nothing);
    }
}
