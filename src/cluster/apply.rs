//! Applies the log to this node's storage: every node runs this over the whole log, so
//! every node holds every lead's state (admin reads work anywhere).
//!
//! Lead events go to the lead's actor (the same single writer and pure `decide` as
//! single-node mode) at the entry's time, with a dedupe key (the event's own, else
//! `log:<sequence>`), so an entry applied again after a crash changes nothing. Different
//! leads' events are applied at the same time, each lead's in log order ([`Pipeline`]).
//! Gateway records, shared records and dead-letter actions are idempotent writes. The
//! applied sequence is checkpointed in `meta`; after a restart the node resumes from there.

use super::log::{Entry, Envelope, SUBJECTS};
use super::{Cluster, Outcome};
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use futures_util::StreamExt;
use leadline_core::actors::gateway::GatewayMsg;
use leadline_core::actors::lead::LeadMsg;
use leadline_core::actors::scheduler::woken_timer;
use leadline_core::actors::supervisor::SupervisorMsg;
use leadline_core::codec;
use leadline_core::storage::{OutboxStatus, Store};
use leadline_core::Phone;
use ractor::ActorRef;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// Where the applied sequence is checkpointed (a `meta` key).
const CHECKPOINT: &str = "cluster:applied";
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// An entry that keeps failing is retried this often, then skipped with an error (a lead
/// actor that panics on an event must not stop the node's whole log).
const MAX_TRIES: u32 = 10;
/// With no entry for this long, the consumer is checked against the log's last sequence.
const STALL_CHECK: Duration = Duration::from_secs(2);

/// The exit code of a node the log was compacted past while it ran (EX_TEMPFAIL: restart it).
const EXIT_COMPACTED: i32 = 75;

#[derive(Clone)]
pub struct Targets {
    pub store: Store,
    /// Where a snapshot this node takes is staged before it is published (`storage.path`).
    pub snapshot_dir: std::path::PathBuf,
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
            let mut pipe = Pipeline::new(&cluster, &targets, applied);
            loop {
                let next = tokio::select! {
                    done = pipe.tasks.join_next(), if !pipe.tasks.is_empty() => {
                        pipe.finished(done);
                        // The catch-up's last entry may finish after the log went quiet.
                        if pipe.applied() >= target {
                            cluster.caught_up.store(true, Ordering::Relaxed);
                        }
                        continue;
                    }
                    next = tokio::time::timeout(STALL_CHECK, messages.next()) => next,
                    _ = stop.wait_for(|s| *s) => Ok(None),
                };
                let next = match next {
                    Ok(next) => next,
                    // Quiet for a while: fine if the log has nothing newer, else the consumer
                    // stalled (seen after a NATS server died): make a new one.
                    Err(_) => match cluster.stream.get_info().await {
                        Ok(info) if info.state.last_sequence <= pipe.last => continue,
                        Ok(_) => {
                            tracing::warn!(applied = pipe.applied(), "the cluster log's consumer stalled; resuming");
                            break;
                        }
                        Err(_) => continue,
                    },
                };
                let Some(Ok(message)) = next else { break };
                let Ok(seq) = message.info().map(|i| i.stream_sequence) else { continue };
                if seq <= pipe.last {
                    continue;
                }
                if seq > pipe.last + 1 {
                    // The log's sequences have no gaps but a purge: the log was compacted past
                    // this node while it lagged. Its replica cannot catch up entry by entry;
                    // a restart loads the snapshot (`snapshot::restore_if_needed`).
                    pipe.drain_all().await;
                    save(&targets.store, pipe.applied());
                    tracing::error!(
                        applied = pipe.applied(),
                        next = seq,
                        "the cluster log was compacted past this node's position; exiting so that a restart \
                         loads the snapshot"
                    );
                    std::process::exit(EXIT_COMPACTED);
                }
                pipe.push(seq, &message.payload).await;
                if pipe.applied() >= target {
                    cluster.caught_up.store(true, Ordering::Relaxed);
                }
                if saved_at.elapsed() >= CHECKPOINT_EVERY {
                    saved_at = Instant::now();
                    save(&targets.store, pipe.applied());
                }
            }
            // Resume (or stop) from an exact point: let what is under way finish first.
            pipe.drain_all().await;
            applied = pipe.applied();
            save(&targets.store, applied);
            if *stop.borrow() {
                break;
            }
            tracing::warn!("the cluster log's consumer ended; resuming");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

/// Applies entries of different leads at the same time, so their writes share group
/// commits as in single-node mode, while every lead's own entries (its events, the gateway's
/// records of its texts, dead-letter actions, hand-off deliveries) stay in log order: a
/// lead's next entry starts only when its previous one is done. Shared records (no lead)
/// wait until nothing is under way and are applied alone. Each entry touches only its own
/// lead's records, or is alone, so every node reaches the same state whatever the timing. `applied` is the last sequence below which everything is
/// done (the checkpoint, and what `Cluster::applied_through` waits for).
struct Pipeline<'a> {
    cluster: &'a Cluster,
    targets: &'a Targets,
    tasks: JoinSet<(u64, Phone)>,
    /// Leads with an event under way, and their events waiting behind it.
    busy: HashMap<Phone, VecDeque<(u64, Envelope)>>,
    /// Sequences taken from the log and not done yet.
    pending: BTreeSet<u64>,
    /// The last sequence taken from the log.
    last: u64,
    /// What each running task applies (to finish it even if it panicked).
    running: HashMap<tokio::task::Id, (u64, Phone)>,
}

/// Entries under way at most; the log waits beyond it.
const MAX_IN_FLIGHT: usize = 256;

impl<'a> Pipeline<'a> {
    fn new(cluster: &'a Cluster, targets: &'a Targets, applied: u64) -> Self {
        Pipeline {
            cluster,
            targets,
            tasks: JoinSet::new(),
            busy: HashMap::new(),
            pending: BTreeSet::new(),
            last: applied,
            running: HashMap::new(),
        }
    }

    fn applied(&self) -> u64 {
        self.pending.first().map_or(self.last, |first| first - 1)
    }

    fn publish_applied(&self) {
        self.cluster.applied.send_replace(self.applied());
    }

    async fn push(&mut self, seq: u64, payload: &[u8]) {
        self.last = seq;
        let envelope: Envelope = match codec::decode(payload) {
            Ok(e) => e,
            Err(e) => {
                // Written by a newer version, or damaged: nothing this node can apply.
                tracing::error!(seq, error = %e, "cluster log entry cannot be decoded; skipped");
                metrics::counter!("leadline_cluster_apply_failures_total").increment(1);
                self.publish_applied();
                return;
            }
        };
        match envelope.phone.clone() {
            Some(phone) => {
                while self.tasks.len() >= MAX_IN_FLIGHT {
                    let done = self.tasks.join_next().await;
                    self.finished(done);
                }
                self.pending.insert(seq);
                match self.busy.get_mut(&phone) {
                    Some(waiting) => waiting.push_back((seq, envelope)),
                    None => {
                        self.busy.insert(phone.clone(), VecDeque::new());
                        self.start(seq, phone, envelope);
                    }
                }
            }
            None => {
                self.drain_all().await;
                apply_one(self.cluster, self.targets, seq, &envelope).await;
                self.publish_applied();
            }
        }
    }

    fn start(&mut self, seq: u64, phone: Phone, envelope: Envelope) {
        let (cluster, targets, key) = (self.cluster.clone(), self.targets.clone(), phone.clone());
        let task = self.tasks.spawn(async move {
            apply_one(&cluster, &targets, seq, &envelope).await;
            (seq, phone)
        });
        self.running.insert(task.id(), (seq, key));
    }

    /// A lead event is done: start that lead's next one, if any.
    fn finished(&mut self, done: Option<Result<(u64, Phone), tokio::task::JoinError>>) {
        let (seq, phone) = match done {
            Some(Ok(done)) => done,
            // A task that panicked: its entry is skipped like one that kept failing.
            Some(Err(e)) => match self.running.get(&e.id()).cloned() {
                Some(done) => {
                    tracing::error!(seq = done.0, error = %e, "cluster log entry not applied (task failed); skipped");
                    metrics::counter!("leadline_cluster_apply_failures_total").increment(1);
                    done
                }
                None => return,
            },
            None => return,
        };
        self.running.retain(|_, (s, _)| *s != seq);
        self.pending.remove(&seq);
        let next = self.busy.get_mut(&phone).and_then(VecDeque::pop_front);
        match next {
            Some((seq, envelope)) => self.start(seq, phone, envelope),
            None => {
                self.busy.remove(&phone);
            }
        }
        self.publish_applied();
    }

    async fn drain_all(&mut self) {
        while !self.tasks.is_empty() {
            let done = self.tasks.join_next().await;
            self.finished(done);
        }
    }
}

pub(super) fn save(store: &Store, applied: u64) {
    if let Err(e) = store.meta_put(CHECKPOINT, &applied.to_string()) {
        tracing::warn!(error = %e, "cannot checkpoint the applied log sequence");
    }
}

async fn apply_one(cluster: &Cluster, targets: &Targets, seq: u64, envelope: &Envelope) {
    for attempt in 1..=MAX_TRIES {
        match apply_entry(cluster, targets, seq, envelope).await {
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
            if let Some((phone, due)) = dedupe_key.as_deref().and_then(woken_timer) {
                // The partition's owner fired this timer; every node drops it now, before
                // the wake-up may schedule the next one.
                t.store.remove_timer_at(due, &phone).map_err(err)?;
            }
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
            if let OutboxStatus::Attempting { attempt: 1, at } = status {
                // The daily cap's count, the same on every node (a retry is not a new text).
                leadline_core::actors::pacer::count_attempt(&t.store, *at).map_err(err)?;
            }
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
        Entry::Snapshot { node } => {
            super::snapshot::take(cluster, &t.store, &t.snapshot_dir, seq, node).await?;
            Ok(Outcome::Done)
        }
        Entry::NotificationDelivered { id } => {
            t.store.remove_notification(id).await.map_err(err)?;
            Ok(Outcome::Done)
        }
    }
}
