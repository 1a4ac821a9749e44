//! Applies the log, in order, to this node's storage: every node runs this over the whole
//! log, so every node holds every lead's state (admin reads work anywhere).
//!
//! Lead events go to the lead's actor (the same single writer and pure `decide` as
//! single-node mode) at the entry's time, with a dedupe key (the event's own, else
//! `log:<sequence>`), so an entry applied again after a crash changes nothing. Gateway
//! records, suppressions and dead-letter actions are idempotent writes. The applied
//! sequence is checkpointed in `meta`; after a restart the node resumes from there.

use super::log::{Entry, Envelope, SUBJECTS};
use super::{Cluster, Outcome};
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use futures_util::StreamExt;
use leadline_core::actors::gateway::GatewayMsg;
use leadline_core::actors::lead::LeadMsg;
use leadline_core::actors::supervisor::SupervisorMsg;
use leadline_core::codec;
use leadline_core::storage::{OutboxStatus, Store};
use ractor::ActorRef;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where the applied sequence is checkpointed (a `meta` key).
const CHECKPOINT: &str = "cluster:applied";
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// An entry that keeps failing is retried this often, then skipped with an error (a lead
/// actor that panics on an event must not stop the node's whole log).
const MAX_TRIES: u32 = 10;
/// With no entry for this long, the consumer is checked against the log's last sequence.
const STALL_CHECK: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Targets {
    pub store: Store,
    pub supervisor: ActorRef<SupervisorMsg>,
    pub gateway: ActorRef<GatewayMsg>,
}

/// The last applied sequence recorded in `store` (0: none).
pub fn checkpoint(store: &Store) -> u64 {
    store.meta_get::<String>(CHECKPOINT).ok().flatten().and_then(|s| s.parse().ok()).unwrap_or(0)
}

pub fn spawn(cluster: Cluster, targets: Targets, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut applied = checkpoint(&targets.store);
        cluster.applied.send_replace(applied);
        let mut saved_at = Instant::now();
        loop {
            let target = cluster.stream.get_info().await.map(|i| i.state.last_sequence).unwrap_or(u64::MAX);
            if applied >= target {
                cluster.caught_up.store(true, Ordering::Relaxed);
            }
            let config = pull::OrderedConfig {
                filter_subject: SUBJECTS.into(),
                deliver_policy: match applied {
                    0 => DeliverPolicy::All,
                    n => DeliverPolicy::ByStartSequence { start_sequence: n + 1 },
                },
                ..Default::default()
            };
            let consumer = cluster.stream.create_consumer(config).await;
            let messages = match consumer {
                Ok(c) => c.messages().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let mut messages = match messages {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the cluster log; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = stop.wait_for(|s| *s) => break,
                    }
                }
            };
            loop {
                let next = tokio::select! {
                    next = tokio::time::timeout(STALL_CHECK, messages.next()) => next,
                    _ = stop.wait_for(|s| *s) => Ok(None),
                };
                let next = match next {
                    Ok(next) => next,
                    // Quiet for a while: fine if the log has nothing newer, else the consumer
                    // stalled (seen after a NATS server died): make a new one.
                    Err(_) => match cluster.stream.get_info().await {
                        Ok(info) if info.state.last_sequence <= applied => continue,
                        Ok(_) => {
                            tracing::warn!(applied, "the cluster log's consumer stalled; resuming");
                            break;
                        }
                        Err(_) => continue,
                    },
                };
                let Some(Ok(message)) = next else { break };
                let Ok(seq) = message.info().map(|i| i.stream_sequence) else { continue };
                if seq <= applied {
                    continue;
                }
                apply_one(&cluster, &targets, seq, &message.payload).await;
                applied = seq;
                cluster.applied.send_replace(seq);
                if seq >= target {
                    cluster.caught_up.store(true, Ordering::Relaxed);
                }
                if saved_at.elapsed() >= CHECKPOINT_EVERY {
                    saved_at = Instant::now();
                    save(&targets.store, applied);
                }
            }
            save(&targets.store, applied);
            if *stop.borrow() {
                break;
            }
            tracing::warn!("the cluster log's consumer ended; resuming");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

fn save(store: &Store, applied: u64) {
    if let Err(e) = store.meta_put(CHECKPOINT, &applied.to_string()) {
        tracing::warn!(error = %e, "cannot checkpoint the applied log sequence");
    }
}

async fn apply_one(cluster: &Cluster, targets: &Targets, seq: u64, payload: &[u8]) {
    let envelope: Envelope = match codec::decode(payload) {
        Ok(e) => e,
        Err(e) => {
            // Written by a newer version, or damaged: nothing this node can apply.
            tracing::error!(seq, error = %e, "cluster log entry cannot be decoded; skipped");
            metrics::counter!("leadline_cluster_apply_failures_total").increment(1);
            return;
        }
    };
    for attempt in 1..=MAX_TRIES {
        match apply_entry(cluster, targets, seq, &envelope).await {
            Ok(outcome) => {
                cluster.settle(&envelope.id, outcome);
                return;
            }
            Err(e) if attempt < MAX_TRIES => {
                tracing::warn!(seq, attempt, error = %e, "cluster log entry not applied; retrying");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            Err(e) => {
                tracing::error!(seq, error = %e, "cluster log entry not applied after {MAX_TRIES} tries; skipped");
                metrics::counter!("leadline_cluster_apply_failures_total").increment(1);
                cluster.settle(&envelope.id, Outcome::Lead(Err(e)));
            }
        }
    }
}

async fn apply_entry(cluster: &Cluster, t: &Targets, seq: u64, env: &Envelope) -> Result<Outcome, String> {
    let err = |e: leadline_core::storage::StoreError| e.to_string();
    let at = env.at;
    match &env.entry {
        Entry::Lead { event, dedupe_key } => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let msg = LeadMsg::Apply {
                event: event.clone(),
                dedupe_key: Some(dedupe_key.clone().unwrap_or_else(|| format!("log:{seq}"))),
                reply: Some(tx.into()),
                at: Some(at),
            };
            let phone = env.phone.clone().ok_or("a lead event without a phone")?;
            t.supervisor.cast(SupervisorMsg::Route(phone, msg)).map_err(|e| e.to_string())?;
            match tokio::time::timeout(Duration::from_secs(30), rx).await {
                Ok(Ok(Ok(applied))) => Ok(Outcome::Lead(Ok(applied))),
                Ok(Ok(Err(e))) => Err(e.to_string()),
                Ok(Err(_)) => Err("the lead actor failed".into()),
                Err(_) => Err("the lead actor did not answer within 30 s".into()),
            }
        }
        Entry::Outbox { text, status, dead_letter } => {
            if let Some(dl) = dead_letter {
                t.store.put_dead_letter(dl).await.map_err(err)?;
                metrics::gauge!("leadline_dead_letters").set(t.store.dead_letter_count() as f64);
            }
            t.store.set_outbox_status(&text.id, status.clone(), at).await.map_err(err)?;
            if *status == OutboxStatus::Queued && cluster.is_leader() {
                let _ = t.gateway.cast(GatewayMsg::Send(text.clone()));
            }
            Ok(Outcome::Done)
        }
        Entry::Records { ops } => {
            t.store.apply_replicated(ops.clone()).await.map_err(err)?;
            Ok(Outcome::Done)
        }
        Entry::RetryDeadLetter { id } => {
            if let Some(dl) = t.store.take_dead_letter(id).await.map_err(err)? {
                t.store.set_outbox_status(id, OutboxStatus::Queued, at).await.map_err(err)?;
                metrics::gauge!("leadline_dead_letters").set(t.store.dead_letter_count() as f64);
                if cluster.is_leader() {
                    let _ = t.gateway.cast(GatewayMsg::Send(dl.text));
                }
            }
            Ok(Outcome::Done)
        }
        Entry::DiscardDeadLetter { id } => {
            t.store.take_dead_letter(id).await.map_err(err)?;
            metrics::gauge!("leadline_dead_letters").set(t.store.dead_letter_count() as f64);
            Ok(Outcome::Done)
        }
        Entry::NotificationDelivered { id } => {
            t.store.remove_notification(id).await.map_err(err)?;
            Ok(Outcome::Done)
        }
    }
}
