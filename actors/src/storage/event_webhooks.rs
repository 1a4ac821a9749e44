//! The outbound event webhooks' delivery queue: part `E` of the keyspace; and the same
//! queue layout for the Follow Up Boss write-back in part `F` ([`Queue`]).
//!
//! - `q` + subscription id + 0x00 + phone + 0x00 + sequence (u64 big-endian) ->
//!   `WebhookDelivery`: one event still to deliver to one subscription. Written in the same
//!   batch as the lead change that emitted it (`Store::commit_lead`), so an acknowledged
//!   change never loses its events and a lost change never emits one. Key order is the
//!   delivery order: per subscription, per lead, by sequence.
//! - `d` + delivery id -> `WebhookDelivery`: a delivery that exhausted its retries (dead);
//!   it no longer holds back the lead's later events; an operator may replay it.
//! - `n` + phone -> u64: the lead's last event sequence number (written with the events).

use super::keyspace::{Space, Writes};
use super::{Result, Store};
use crate::codec;
use crate::lead_events::{LeadEvent, Subscription};
use crate::phone::Phone;
use crate::ts::Ts;
use serde::{Deserialize, Serialize};
use std::ops::Bound;

const QUEUED: u8 = b'q';
const DEAD: u8 = b'd';
const SEQUENCE: u8 = b'n';

/// One event on its way to one subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// The subscription's id (`webhooks.subscriptions`, derived from its URL).
    pub subscription: String,
    pub event: LeadEvent,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Why the last attempt failed ("" before the first failure).
    pub last_error: String,
    pub last_attempt_at: Option<Ts>,
}

impl WebhookDelivery {
    /// `<subscription>.<event id>`: unique, URL-safe; the admin API's id.
    pub fn id(&self) -> String {
        format!("{}.{}", self.subscription, self.event.id)
    }
}

/// The oldest queued delivery of one lead for one subscription, with its key.
#[derive(Debug, Clone)]
pub struct WebhookQueueHead {
    pub key: Vec<u8>,
    pub delivery: WebhookDelivery,
}

fn sub_prefix(subscription: &str) -> Vec<u8> {
    let mut k = vec![QUEUED];
    k.extend_from_slice(subscription.as_bytes());
    k.push(0);
    k
}

fn queue_key(subscription: &str, phone: &Phone, sequence: u64) -> Vec<u8> {
    let mut k = sub_prefix(subscription);
    k.extend_from_slice(phone.as_str().as_bytes());
    k.push(0);
    k.extend_from_slice(&sequence.to_be_bytes());
    k
}

fn dead_key(id: &str) -> Vec<u8> {
    let mut k = vec![DEAD];
    k.extend_from_slice(id.as_bytes());
    k
}

fn sequence_key(phone: &Phone) -> Vec<u8> {
    let mut k = vec![SEQUENCE];
    k.extend_from_slice(phone.as_str().as_bytes());
    k
}

/// Which delivery queue: the outbound event webhooks (part `E`) or the Follow Up Boss
/// write-back (part `F`, one pseudo-subscription). Same layout, same rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    EventWebhooks,
    FubWrites,
}

impl Store {
    fn queue_space(&self, queue: Queue) -> &Space {
        match queue {
            Queue::EventWebhooks => &self.event_webhooks,
            Queue::FubWrites => &self.fub_writes,
        }
    }

    /// Adds a lead change's events to its commit batch: one queue entry per subscription
    /// that wants each event (part `E`), one per event the Follow Up Boss write-back wants
    /// (part `F`), and the lead's new last sequence number.
    pub(super) fn queue_events(
        &self,
        w: &mut Writes,
        events: &[LeadEvent],
        subs: &[Subscription],
        fub: Option<&Subscription>,
    ) -> Result<()> {
        let Some(last) = events.last() else { return Ok(()) };
        let targets = subs.iter().map(|s| (Queue::EventWebhooks, s)).chain(fub.map(|s| (Queue::FubWrites, s)));
        for (queue, s) in targets {
            for e in events.iter().filter(|e| s.wants(&e.event_type)) {
                let d = WebhookDelivery {
                    subscription: s.id.clone(),
                    event: e.clone(),
                    attempts: 0,
                    last_error: String::new(),
                    last_attempt_at: None,
                };
                w.put(self.queue_space(queue), queue_key(&s.id, &e.phone, e.sequence), codec::encode(&d)?);
            }
        }
        w.put(&self.event_webhooks, sequence_key(&last.phone), codec::encode(&last.sequence)?);
        Ok(())
    }

    /// The lead's last event sequence number (0: none yet).
    pub fn event_sequence(&self, phone: &Phone) -> Result<u64> {
        match self.event_webhooks.get(sequence_key(phone))? {
            Some(v) => Ok(codec::decode(&v)?),
            None => Ok(0),
        }
    }

    /// For one subscription: the oldest queued delivery of each lead (at most `limit`
    /// leads), in key order. Only a lead's head may be attempted: that keeps each lead's
    /// events in order. Reads one entry per lead (it skips over the rest of a lead's backlog).
    pub fn webhook_queue_heads(&self, queue: Queue, subscription: &str, limit: usize) -> Result<Vec<WebhookQueueHead>> {
        self.webhook_queue_heads_where(queue, subscription, limit, |_| true)
    }

    /// Like `webhook_queue_heads`, but only heads for which `eligible` is true count towards
    /// `limit` and are returned (the others, e.g. leads waiting for a retry, are passed over),
    /// so leads in backoff never starve the leads behind them.
    pub fn webhook_queue_heads_where(
        &self,
        queue: Queue,
        subscription: &str,
        limit: usize,
        eligible: impl Fn(&WebhookDelivery) -> bool,
    ) -> Result<Vec<WebhookQueueHead>> {
        let prefix = sub_prefix(subscription);
        let mut end = prefix.clone();
        if let Some(last) = end.last_mut() {
            *last = 1; // the byte after the 0x00 separator: just past this subscription's keys
        }
        let mut start = prefix.clone();
        let mut out = Vec::new();
        while out.len() < limit {
            let next = self
                .queue_space(queue)
                .range(Bound::Included(start.as_slice()), Bound::Excluded(end.as_slice()))
                .next()
                .transpose()?;
            let Some((key, value)) = next else { break };
            let delivery: WebhookDelivery = codec::decode(&value)?;
            // The next lead: past every key of this one (phone, then 0x00, then the sequence).
            start = sub_prefix(subscription);
            start.extend_from_slice(delivery.event.phone.as_str().as_bytes());
            start.push(1);
            if eligible(&delivery) {
                out.push(WebhookQueueHead { key: key.to_vec(), delivery });
            }
        }
        Ok(out)
    }

    /// Every queued delivery (all subscriptions), oldest first per lead, at most `limit`.
    pub fn webhook_queued(&self, queue: Queue, limit: usize) -> Result<Vec<WebhookDelivery>> {
        self.queue_space(queue).scan_prefix(&[QUEUED]).take(limit).map(|kv| Ok(codec::decode(&kv?.1)?)).collect()
    }

    /// How many deliveries are queued (all subscriptions).
    pub fn webhook_queued_count(&self, queue: Queue) -> usize {
        self.queue_space(queue).scan_prefix(&[QUEUED]).count()
    }

    /// The deliveries that exhausted their retries, by id.
    pub fn webhook_dead(&self, queue: Queue) -> Result<Vec<WebhookDelivery>> {
        self.queue_space(queue).scan_prefix(&[DEAD]).map(|kv| Ok(codec::decode(&kv?.1)?)).collect()
    }

    pub fn webhook_dead_count(&self, queue: Queue) -> usize {
        self.queue_space(queue).scan_prefix(&[DEAD]).count()
    }

    /// The subscriber took it: it leaves the queue (durably, before the next one is sent).
    pub async fn webhook_delivered(&self, queue: Queue, key: &[u8]) -> Result<()> {
        let mut w = Writes::default();
        w.del(self.queue_space(queue), key);
        self.commit_shared(w).await
    }

    /// An attempt failed and it will be tried again: its count and error are kept.
    pub async fn webhook_attempt_failed(&self, queue: Queue, key: &[u8], delivery: &WebhookDelivery) -> Result<()> {
        let mut w = Writes::default();
        w.put(self.queue_space(queue), key, codec::encode(delivery)?);
        self.commit_shared(w).await
    }

    /// It exhausted its retries: out of the queue (the lead's next event may go) into the
    /// dead deliveries, in one batch.
    pub async fn webhook_give_up(&self, queue: Queue, key: &[u8], delivery: &WebhookDelivery) -> Result<()> {
        let mut w = Writes::default();
        w.del(self.queue_space(queue), key);
        w.put(self.queue_space(queue), dead_key(&delivery.id()), codec::encode(delivery)?);
        self.commit_shared(w).await
    }

    /// An operator replays a dead delivery: back in the queue at its own sequence, with its
    /// attempts reset (so it goes before the lead's events still queued after it). `None`
    /// if there is no such dead delivery.
    pub async fn webhook_replay(&self, queue: Queue, id: &str) -> Result<Option<WebhookDelivery>> {
        let space = self.queue_space(queue);
        let Some(v) = space.get(dead_key(id))? else { return Ok(None) };
        let mut d: WebhookDelivery = codec::decode(&v)?;
        d.attempts = 0;
        let mut w = Writes::default();
        w.del(space, dead_key(id));
        w.put(space, queue_key(&d.subscription, &d.event.phone, d.event.sequence), codec::encode(&d)?);
        self.commit_shared(w).await?;
        Ok(Some(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead_events::number;
    use crate::lead_events::EventFact;
    use crate::model::LeadState;

    fn events(phone: &str, from: u64, n: usize) -> Vec<LeadEvent> {
        let lead = LeadState::new(Phone::parse(phone).unwrap(), Ts::from_millis(1_700_000_000_000).unwrap());
        let facts = (0..n)
            .map(|i| EventFact {
                event_type: if i % 2 == 0 { "text.queued" } else { "text.sent" },
                message_id: None,
                rule: None,
                detail: format!("e{i}"),
                timeline_seq: i as u64,
            })
            .collect();
        number(facts, &lead, from, lead.created_at)
    }

    #[tokio::test]
    async fn heads_are_per_lead_in_sequence_order_and_dead_ones_stop_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let subs = [
            Subscription { id: "all".into(), events: vec!["*".into()] },
            Subscription { id: "sent".into(), events: vec!["text.sent".into()] },
        ];
        let a = events("+12125550101", 0, 3);
        let b = events("+12125550102", 7, 2);
        for evs in [&a, &b] {
            let mut w = Writes::default();
            store.queue_events(&mut w, evs, &subs, None).unwrap();
            store.group.commit(w).await.unwrap();
        }
        assert_eq!(store.event_sequence(&a[0].phone).unwrap(), 3);
        assert_eq!(store.event_sequence(&b[0].phone).unwrap(), 9);
        assert_eq!(store.webhook_queued_count(Queue::EventWebhooks), 5 + 2);
        let heads = store.webhook_queue_heads(Queue::EventWebhooks, "all", 10).unwrap();
        let seqs: Vec<u64> = heads.iter().map(|h| h.delivery.event.sequence).collect();
        assert_eq!(seqs, [1, 8]);
        assert_eq!(store.webhook_queue_heads(Queue::EventWebhooks, "all", 1).unwrap().len(), 1);
        // A lead passed over (in backoff) does not use up the limit.
        let not_a = |d: &WebhookDelivery| d.event.phone != a[0].phone;
        let heads_b = store.webhook_queue_heads_where(Queue::EventWebhooks, "all", 1, not_a).unwrap();
        assert_eq!(heads_b.iter().map(|h| h.delivery.event.sequence).collect::<Vec<_>>(), [8]);
        let sent = store.webhook_queue_heads(Queue::EventWebhooks, "sent", 10).unwrap();
        assert_eq!(sent.iter().map(|h| h.delivery.event.sequence).collect::<Vec<_>>(), [2, 9]);

        // Delivered: the lead's next event is its head.
        store.webhook_delivered(Queue::EventWebhooks, &heads[0].key).await.unwrap();
        let head = &store.webhook_queue_heads(Queue::EventWebhooks, "all", 10).unwrap()[0];
        assert_eq!(head.delivery.event.sequence, 2);
        // Given up: the next one after it, and it is listed as dead, then replayed in order.
        let mut d = head.delivery.clone();
        d.attempts = 5;
        store.webhook_give_up(Queue::EventWebhooks, &head.key, &d).await.unwrap();
        assert_eq!(store.webhook_queue_heads(Queue::EventWebhooks, "all", 10).unwrap()[0].delivery.event.sequence, 3);
        let dead = store.webhook_dead(Queue::EventWebhooks).unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].id(), "all.evt_12125550101_2");
        let replayed = store.webhook_replay(Queue::EventWebhooks, "all.evt_12125550101_2").await.unwrap().unwrap();
        assert_eq!(replayed.attempts, 0);
        assert_eq!(store.webhook_queue_heads(Queue::EventWebhooks, "all", 10).unwrap()[0].delivery.event.sequence, 2);
        assert!(store.webhook_dead(Queue::EventWebhooks).unwrap().is_empty());
        assert!(store.webhook_replay(Queue::EventWebhooks, "all.evt_12125550101_2").await.unwrap().is_none());
    }
}
