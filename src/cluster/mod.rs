//! Cluster mode on NATS JetStream (`[cluster] enabled = true`, docs/cluster.md).
//!
//! Every input that changes state goes into one replicated JetStream stream (the log,
//! [`log`]) and is acknowledged only once JetStream has it. Every node reads the whole log
//! in order ([`apply`]) and applies each entry to its own storage through the same lead
//! actors and pure `decide` as single-node mode, at the time written in the entry, so
//! every node holds the same state and answers reads for any lead. One node at a time
//! holds the gateway lease ([`lease`], a JetStream KV key) and sends; its provider calls
//! are fenced by the log itself (see [`ClusterLink`]). Nothing here replicates data on
//! its own: JetStream does.

pub mod apply;
pub mod connect;
pub mod import;
pub mod lease;
pub mod log;
pub mod offline;
pub mod partitions;
pub mod snapshot;
pub mod status;

use crate::config::ClusterSettings;
use anyhow::Context;
use async_nats::header::{HeaderMap, NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, NATS_MESSAGE_ID};
use async_nats::jetstream::{self, kv, stream};
use leadline_core::actors::lead::Applied;
use leadline_core::actors::link::ClusterLink;
use leadline_core::clock::Clock;
use leadline_core::codec;
use leadline_core::model::{Event, OutboundText};
use leadline_core::storage::{DeadLetter, OutboxStatus, RawOp, Replicator};
use leadline_core::{Phone, Ts};
use log::{Entry, Envelope};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// The KV bucket holding the partition count, the gateway lease and node heartbeats.
pub const BUCKET: &str = "leadline_cluster";
/// Publications de-duplicated by id within this window (JetStream `duplicate_window`);
/// longer, the lead's dedupe keys (stored with its state) catch repeats.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(2 * 60 * 60);
/// How long the gateway waits for its replica to catch up with a lead before a send.
const CATCH_UP_WAIT: Duration = Duration::from_secs(2);
/// How long a shared write waits to be applied on the writing node.
const SHARED_WAIT: Duration = Duration::from_secs(10);
/// How long start-up waits for NATS to answer, and then for JetStream (a NATS cluster elects
/// its leaders first).
pub const SETUP_WAIT: Duration = Duration::from_secs(60);

/// What an applied entry reports to the node that published it and waits.
#[derive(Debug)]
pub enum Outcome {
    Lead(Result<Applied, String>),
    Done,
}

/// Why a publication was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum PublishFailed {
    /// Something was published for the lead after the fence (a conditional write).
    #[error("the lead's log moved on")]
    Moved,
    #[error("the cluster log did not acknowledge the event: {0}")]
    Unavailable(String),
}

/// The waits of [`Cluster::submit`].
#[derive(Debug, thiserror::Error)]
pub enum SubmitFailed {
    #[error(transparent)]
    Publish(#[from] PublishFailed),
    /// In the log (replicated), not yet applied here within the wait.
    #[error("the event is in the cluster log; its decisions follow when it is applied")]
    Queued,
    #[error("the lead could not apply the event: {0}")]
    NotApplied(String),
}

#[derive(Clone)]
pub struct Cluster(Arc<Inner>);

impl std::ops::Deref for Cluster {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

pub struct Inner {
    pub settings: ClusterSettings,
    pub node_id: String,
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub stream: stream::Stream,
    pub kv: kv::Store,
    clock: Arc<dyn Clock>,
    /// The highest log sequence this node has applied (every entry up to it is applied).
    applied: watch::Sender<u64>,
    /// Publishers waiting for their entry to be applied here, by entry id.
    waiters: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    /// Set once the first catch-up after start finished (readiness).
    caught_up: AtomicBool,
    /// The gateway lease: held and valid until this instant (monotonic), see [`lease`].
    lease: lease::LeaseState,
    /// The stream's last sequence when last looked at (lag = this - applied).
    last_seen: AtomicU64,
    ids: AtomicU64,
    /// When JetStream last acknowledged a write of ours (the heartbeat's): without a quorum
    /// it acknowledges nothing, and `/readyz` says so.
    acked_at: Mutex<std::time::Instant>,
    /// Since when a snapshot this node started is under way (`snapshot`).
    snapshotting: Mutex<Option<std::time::Instant>>,
    /// The partitions this node owns ([`partitions`]).
    ownership: partitions::Ownership,
}

impl Cluster {
    /// Connects, creates the stream and the bucket if needed, and checks the partition count.
    /// `wait`: how long to keep trying while no NATS server answers (a starting node waits
    /// for its servers; a command run by hand fails at once, with the error).
    pub async fn connect(
        settings: &ClusterSettings,
        bind_port: u16,
        clock: Arc<dyn Clock>,
        wait: Duration,
    ) -> anyhow::Result<Cluster> {
        let node_id = node_id(settings, bind_port);
        let client = connect::connect(settings, &node_id, wait).await?;
        let js = jetstream::new(client.clone());
        // A NATS cluster that is starting has no JetStream leader for a few seconds: retry.
        let deadline = std::time::Instant::now() + SETUP_WAIT;
        let (stream, kv) = loop {
            match setup(&js, settings).await {
                Ok(done) => break done,
                Err(e) if std::time::Instant::now() < deadline => {
                    tracing::warn!(error = %format!("{e:#}"), "JetStream not ready; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => return Err(e),
            }
        };
        check_partitions(&kv, settings.partitions).await?;
        Ok(Cluster(Arc::new(Inner {
            settings: settings.clone(),
            node_id,
            client,
            js,
            stream,
            kv,
            clock,
            applied: watch::channel(0).0,
            waiters: Mutex::new(HashMap::new()),
            caught_up: AtomicBool::new(false),
            lease: lease::LeaseState::default(),
            last_seen: AtomicU64::new(0),
            ids: AtomicU64::new(0),
            acked_at: Mutex::new(std::time::Instant::now()),
            snapshotting: Mutex::new(None),
            ownership: partitions::Ownership::default(),
        })))
    }
}

/// The log's stream and the bucket, created if needed.
async fn setup(js: &jetstream::Context, settings: &ClusterSettings) -> anyhow::Result<(stream::Stream, kv::Store)> {
    {
        let stream = js
            .get_or_create_stream(stream::Config {
                name: log::STREAM.into(),
                subjects: vec![log::SUBJECTS.into()],
                num_replicas: settings.replicas,
                duplicate_window: DUPLICATE_WINDOW,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .context("cannot create or open the JetStream stream LEADLINE_EVENTS")?;
        let kv = open_bucket(js, settings.replicas).await?;
        snapshot::open_stream(js, settings.replicas).await?;
        Ok((stream, kv))
    }
}

impl Cluster {
    fn subject(&self, phone: &Phone) -> String {
        log::subject(phone, self.settings.partitions)
    }

    /// A fresh entry id, unique across nodes and restarts.
    fn fresh_id(&self) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        format!("{}:{}:{n}", self.node_id, self.clock.now().timestamp_nanos_opt().unwrap_or_default())
    }

    /// Publishes an entry; its stream sequence once JetStream acknowledged it (replicated),
    /// and whether it was a duplicate of an earlier publication with the same id.
    pub async fn publish(&self, envelope: &Envelope, fence: Option<u64>) -> Result<(u64, bool), PublishFailed> {
        let payload = codec::encode(envelope).map_err(|e| PublishFailed::Unavailable(e.to_string()))?;
        let mut headers = HeaderMap::new();
        headers.insert(NATS_MESSAGE_ID, envelope.id.as_str());
        if let Some(seq) = fence {
            headers.insert(NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, seq.to_string().as_str());
        }
        let subject = match &envelope.phone {
            Some(phone) => self.subject(phone),
            None => log::SHARED_SUBJECT.to_string(),
        };
        let result = async { self.js.publish_with_headers(subject, headers, payload.into()).await?.await }.await;
        match result {
            Ok(ack) => Ok((ack.sequence, ack.duplicate)),
            Err(e) if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence => Err(PublishFailed::Moved),
            Err(e) => {
                metrics::counter!("leadline_cluster_publish_failures_total").increment(1);
                Err(PublishFailed::Unavailable(e.to_string()))
            }
        }
    }

    /// Publishes an entry and waits (at most `wait`) until this node applied it.
    pub async fn submit(
        &self,
        phone: Option<Phone>,
        entry: Entry,
        id: Option<String>,
        wait: Duration,
    ) -> Result<Outcome, SubmitFailed> {
        let id = id.unwrap_or_else(|| self.fresh_id());
        let envelope = Envelope { id: id.clone(), at: Ts::from(self.clock.now()), phone, entry };
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().map_err(|_| SubmitFailed::NotApplied("poisoned".into()))?.insert(id.clone(), tx);
        let published = self.publish(&envelope, None).await;
        let (seq, duplicate) = match published {
            Ok(p) => p,
            Err(e) => {
                self.forget(&id);
                return Err(e.into());
            }
        };
        if duplicate {
            // The same fact was published before (a retry, maybe through another node).
            self.forget(&id);
            return match tokio::time::timeout(wait, self.applied_through(seq)).await {
                Ok(()) => Ok(Outcome::Done),
                Err(_) => Err(SubmitFailed::Queued),
            };
        }
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(outcome)) => Ok(outcome),
            _ => {
                self.forget(&id);
                Err(SubmitFailed::Queued)
            }
        }
    }

    /// Publishes an entry without waiting for it to be applied here.
    pub async fn record(&self, phone: Option<Phone>, entry: Entry) -> Result<(), PublishFailed> {
        let envelope = Envelope { id: self.fresh_id(), at: Ts::from(self.clock.now()), phone, entry };
        self.publish(&envelope, None).await.map(|_| ())
    }

    fn forget(&self, id: &str) {
        if let Ok(mut w) = self.waiters.lock() {
            w.remove(id);
        }
    }

    /// Hands the outcome of an applied entry to its publisher, if it is waiting here.
    fn settle(&self, id: &str, outcome: Outcome) {
        let waiter = self.waiters.lock().ok().and_then(|mut w| w.remove(id));
        if let Some(tx) = waiter {
            let _ = tx.send(outcome);
        }
    }

    /// Resolves once every entry up to `seq` is applied here.
    pub async fn applied_through(&self, seq: u64) {
        let mut rx = self.applied.subscribe();
        let _ = rx.wait_for(|applied| *applied >= seq).await;
    }

    pub fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Waits (at most `wait`) until this node applied everything the log held when called:
    /// before reading state that other nodes change (MLS fan-out reads who watches a listing).
    pub async fn catch_up_all(&self, wait: Duration) -> bool {
        let last = match self.stream.get_info().await {
            Ok(info) => info.state.last_sequence,
            Err(_) => return false,
        };
        self.last_seen.fetch_max(last, Ordering::Relaxed);
        tokio::time::timeout(wait, self.applied_through(last)).await.is_ok()
    }

    /// `/readyz`'s view: `ok` when connected to NATS, JetStream acknowledged a write within
    /// about `lease_ms` (no quorum: `no_quorum`), and caught up with the log once since start
    /// (else `catching_up`).
    pub fn readiness(&self) -> &'static str {
        let acked = self.acked_at.lock().map(|at| at.elapsed()).unwrap_or_default();
        let quiet = Duration::from_millis(self.settings.lease_ms) + Duration::from_secs(2);
        if self.client.connection_state() != async_nats::connection::State::Connected {
            "disconnected"
        } else if acked > quiet {
            "no_quorum"
        } else if !self.caught_up.load(Ordering::Relaxed) {
            "catching_up"
        } else {
            "ok"
        }
    }

    /// JetStream acknowledged a write of ours just now.
    pub(crate) fn acked(&self) {
        if let Ok(mut at) = self.acked_at.lock() {
            *at = std::time::Instant::now();
        }
    }

    pub fn lag(&self) -> u64 {
        self.last_seen.load(Ordering::Relaxed).saturating_sub(self.applied())
    }

    pub fn is_leader(&self) -> bool {
        self.lease.valid()
    }

    /// How many partitions this node owns now (`/readyz`, [`partitions`]).
    pub fn partitions_owned(&self) -> usize {
        self.ownership.owned().len()
    }
}

/// The KV bucket, created if needed. async-nats' `create_key_value` first asks for the
/// account's info, whose reply from nats-server 2.9 (Debian's) it cannot parse; so the
/// bucket's stream is created here with the key-value conventions (NATS ADR-8: `KV_<bucket>`,
/// subjects `$KV.<bucket>.>`, roll-ups allowed, deletes denied, direct gets, discard new).
async fn open_bucket(js: &jetstream::Context, replicas: usize) -> anyhow::Result<kv::Store> {
    if let Ok(kv) = js.get_key_value(BUCKET).await {
        return Ok(kv);
    }
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{BUCKET}"),
        subjects: vec![format!("$KV.{BUCKET}.>")],
        max_messages_per_subject: 1,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        num_replicas: replicas,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .context("cannot create the JetStream KV bucket leadline_cluster")?;
    js.get_key_value(BUCKET).await.context("cannot open the JetStream KV bucket leadline_cluster")
}

/// `cluster.node_id`, or the host name and the HTTP port.
fn node_id(settings: &ClusterSettings, bind_port: u16) -> String {
    let configured = settings.node_id.trim();
    if !configured.is_empty() {
        return configured.to_string();
    }
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "node".into());
    format!("{host}-{bind_port}")
}

/// The partition count is recorded on first start; another count is refused (every lead
/// would move to another subject).
async fn check_partitions(kv: &kv::Store, partitions: u32) -> anyhow::Result<()> {
    let mine = partitions.to_string();
    match kv.create("partitions", mine.clone().into()).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
            let recorded = kv.get("partitions").await.context("cannot read the recorded partition count")?;
            let recorded = recorded.map(|b| String::from_utf8_lossy(&b).to_string()).unwrap_or_default();
            if recorded == mine {
                Ok(())
            } else {
                anyhow::bail!(
                    "cluster.partitions = {partitions}, but this cluster was started with {recorded} partitions; \
                     the count is fixed for the life of a deployment"
                )
            }
        }
        Err(e) => Err(anyhow::anyhow!("cannot record the partition count: {e}")),
    }
}

/// The store's view of the cluster: shared writes go through the log (`Store::commit_shared`).
#[async_trait::async_trait]
impl Replicator for Cluster {
    async fn replicate(&self, ops: Vec<RawOp>) -> Result<(), String> {
        match self.submit(None, Entry::Records { ops }, None, SHARED_WAIT).await {
            Ok(Outcome::Done) => Ok(()),
            Ok(Outcome::Lead(Err(e))) => Err(e),
            Ok(Outcome::Lead(Ok(_))) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The actors' view of the cluster (the gateway and the scheduler).
#[async_trait::async_trait]
impl ClusterLink for Cluster {
    async fn publish(&self, phone: &Phone, event: Event, dedupe_key: String) -> bool {
        let envelope = Envelope {
            id: dedupe_key.clone(),
            at: Ts::from(self.clock.now()),
            phone: Some(phone.clone()),
            entry: Entry::Lead { event, dedupe_key: Some(dedupe_key) },
        };
        match Cluster::publish(self, &envelope, None).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "cluster publish failed");
                false
            }
        }
    }

    fn leading(&self) -> bool {
        self.is_leader()
    }

    fn owns(&self, phone: &Phone) -> bool {
        self.ownership.owns(log::partition(phone, self.settings.partitions))
    }

    async fn catch_up(&self, phone: &Phone) -> Option<u64> {
        if !self.is_leader() {
            return None;
        }
        let last = match self.stream.get_last_raw_message_by_subject(&self.subject(phone)).await {
            Ok(msg) => msg.sequence,
            Err(e) if e.kind() == jetstream::stream::LastRawMessageErrorKind::NoMessageFound => 0,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the lead's last log entry");
                return None;
            }
        };
        tokio::time::timeout(CATCH_UP_WAIT, self.applied_through(last)).await.ok()?;
        self.is_leader().then_some(last)
    }

    async fn record(
        &self,
        text: &OutboundText,
        status: &OutboxStatus,
        dead_letter: Option<&DeadLetter>,
        fence: Option<u64>,
    ) -> bool {
        if fence.is_some() && !self.is_leader() {
            return false;
        }
        let envelope = Envelope {
            id: self.fresh_id(),
            at: Ts::from(self.clock.now()),
            phone: Some(text.to.clone()),
            entry: Entry::Outbox {
                text: text.clone(),
                status: status.clone(),
                dead_letter: dead_letter.map(|d| Box::new(d.clone())),
            },
        };
        match Cluster::publish(self, &envelope, fence).await {
            Ok(_) if fence.is_none() => true,
            Ok((seq, _)) => {
                // The write before a provider call is applied here before the call, so this
                // node's replica (the daily cap's count, the outbox) already has it.
                let _ = tokio::time::timeout(CATCH_UP_WAIT, self.applied_through(seq)).await;
                // The fence held; a pause since (SIGSTOP, a long GC) must not lead to a call now.
                self.is_leader()
            }
            Err(e) => {
                tracing::warn!(error = %e, id = %text.log_id(), "outbox record not published");
                false
            }
        }
    }
}
