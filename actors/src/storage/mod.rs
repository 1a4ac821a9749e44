//! All persistence, behind one type. sled 0.34.7 underneath.
//!
//! One sled tree, `kv`, holds everything; each kind of record is a part of it with its own
//! one-byte key prefix (`keyspace.rs`, which also says why one tree):
//! - `L` leads: E.164 phone -> `LeadState` snapshot (codec).
//! - `T` timeline: phone + `/` + seq (u64 big-endian) -> `TimelineEntry`; a prefix scan reads one lead in order.
//! - `O` outbox: message id -> `OutboxRecord`: every text from the moment it is decided to its final outcome.
//! - `o` outbox_open: message id -> empty, for every record that may not be final yet (a superset:
//!   written with or before the record, removed after it became final), so start-up recovery
//!   reads the few open records instead of scanning the whole outbox.
//! - `P` provider_ids: provider message SID -> message id (delivery receipts find their lead).
//! - `D` dedupe: idempotency key -> first-seen time (millis, big-endian): re-delivered webhooks are ignored.
//! - `X` dead_letters: message id -> `DeadLetter`: texts a person must decide about.
//! - `W` timers: due time (millis, big-endian) + phone -> empty: durable wake-ups for deferred
//!   texts, ordered by due time so the scheduler reads only what is due.
//! - `S` suppression: phone -> `Suppression`: the do-not-contact list (internal DNC, litigators).
//! - `I` interests: listing id + 0x00 + phone -> empty: which leads watch a listing (MLS fan-out).
//! - `K` idempotency: `Idempotency-Key` -> `StoredResponse`: replayed for re-deliveries until it expires.
//! - `N` notifications: id -> `Notification`: hand-off messages for people, written with the
//!   lead's snapshot and deleted once the hand-off webhook accepted them.
//! - `E` event_webhooks: the outbound event webhooks' delivery queue (`event_webhooks.rs`):
//!   `q` + subscription + 0 + phone + 0 + sequence -> `WebhookDelivery` (written with the
//!   lead's snapshot, deleted once delivered), `d` + delivery id -> a dead (exhausted)
//!   delivery, `n` + phone -> the lead's last event sequence number.
//! - `F` fub_writes: the Follow Up Boss write-back queue, the same layout as `E`'s `q` and
//!   `d` entries (one pseudo-subscription, `fub`).
//! - `A` operators: name -> `operators::Operator`: named operators of the admin API and page
//!   (role, Argon2id password hash, SHA-256 of each API token, revocation).
//! - `a` sessions: hex SHA-256 of the page cookie -> `operators::Session` (server-side, so
//!   signing out or revoking the operator ends it at once).
//! - `M` meta: namespaced small values of the integrations (RESO poller watermark, last seen
//!   price and status per listing), through `meta_get` / `meta_put`, and the schema marker.
//!
//! Every value is a `codec::Record` (its own record version); `open_with` migrates the
//! records of a database written by an older build before it returns (`Store::upgrade`),
//! including schema 1's one-tree-per-part layout.
//!
//! Durability: everything one event writes (a lead's snapshot, its new timeline entries,
//! its new outbox records, the event's dedupe key, ...) is one batch; the commit queue
//! (`group_commit.rs`) applies the batches of all events waiting at that moment as one
//! atomic sled write and flushes before any of them is acknowledged. sled's flush is
//! crash-consistent (it survives `kill -9`), but on Linux it uses `sync_file_range`, not
//! `fsync`, so it is not guaranteed to survive a power loss on drives without power-loss
//! protection (spacejam/sled#1452); `storage.durability = "power"` adds an fsync.

use crate::codec::{self, CodecError, Record};
use crate::model::{LeadState, Notification, OutboundText, Suppression, TimelineEntry};
use crate::operators::{Operator, Session};
use crate::phone::Phone;
use crate::ts::Ts;
use serde::{Deserialize, Serialize};
use std::ops::Bound;
use std::path::Path;

mod event_webhooks;
mod keyspace;
mod search;
pub use event_webhooks::{Queue, WebhookDelivery, WebhookQueueHead};
use keyspace::{Part, Space, Writes, KV_TREE};
pub use search::{LeadFilter, NewestCursor};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("stored value is unreadable: {0}")]
    Codec(#[from] CodecError),
    #[error("the database is at schema version {found}; this build reads up to {supported} (a newer build wrote it)")]
    NewerSchema { found: u32, supported: u32 },
    /// `backup_to` was given a directory that is not empty (or not a directory).
    #[error("backup directory {0} exists and is not empty")]
    BackupTarget(String),
    /// Cluster mode: the replicated log did not take or apply a shared write.
    #[error("the cluster log did not take the write: {0}")]
    Replication(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Where a text is on its way out. Only ever moves forward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutboxStatus {
    /// Decided and persisted; not yet handed to the provider.
    Queued,
    /// The gateway is about to call (or is calling) the provider. A crash here leaves the
    /// outcome unknown, so such a record is never sent again automatically.
    Attempting {
        at: Ts,
        attempt: u32,
    },
    Accepted {
        provider_id: String,
        status: String,
        at: Ts,
    },
    Failed {
        code: Option<u32>,
        message: String,
        at: Ts,
    },
    Cancelled {
        rule: String,
        reason: String,
        at: Ts,
    },
    DeadLettered {
        reason: String,
        at: Ts,
    },
    /// Re-checked just before sending and outside the allowed hours: back in the lead's
    /// pending list. The one backward move: it becomes `Queued` again when released.
    Deferred {
        until: Ts,
        at: Ts,
    },
}

impl OutboxStatus {
    /// Start-up recovery looks at records that are not final. `Deferred` counts as not
    /// final: the lead may not have taken the text back before a crash, and telling it again
    /// is harmless (the outcome is deduplicated).
    pub fn is_final(&self) -> bool {
        !matches!(self, OutboxStatus::Queued | OutboxStatus::Attempting { .. } | OutboxStatus::Deferred { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    pub text: OutboundText,
    pub status: OutboxStatus,
    pub updated_at: Ts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub text: OutboundText,
    /// `in_doubt`, `provider.<code>`, ...
    pub reason: String,
    pub detail: String,
    pub at: Ts,
}

/// A response remembered for an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
    /// SHA-256 (hex) of the request body, so a key reused for a different request is detected.
    pub request_sha256: String,
    pub stored_at: Ts,
}

/// What one lead event writes, atomically.
pub struct LeadCommit<'a> {
    pub state: &'a LeadState,
    pub entries: &'a [TimelineEntry],
    pub sends: &'a [OutboundText],
    pub dedupe_key: Option<&'a str>,
    /// When the lead next needs waking (its earliest pending text).
    pub wake_at: Option<Ts>,
    /// Listings this event added to the lead's interests (for the fan-out index).
    pub new_interests: &'a [String],
    /// Hand-off notifications to deliver.
    pub notifications: &'a [Notification],
    /// A suppression-list entry this event created (a CRM do-not-contact status).
    pub suppress: Option<&'a Suppression>,
    /// Outbound webhook events this change emitted (`lead_events::derive`, numbered), queued
    /// for every subscription in `subscriptions` that wants them.
    pub events: &'a [crate::lead_events::LeadEvent],
    pub subscriptions: &'a [crate::lead_events::Subscription],
    /// The Follow Up Boss write-back, when on: the event types it logs (part `F`).
    pub fub: Option<&'a crate::lead_events::Subscription>,
}

mod group_commit;
mod replicate;
pub use group_commit::{Durability, StoreOptions};
pub use replicate::{RawOp, Replicator};

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    /// The write barrier of `backup_to`: every write path holds it shared while it writes
    /// (not while it waits for the flush), the backup holds it exclusive while it copies.
    ///
    /// Why a lock and not a snapshot: sled 0.34 has no snapshot (an iterator sees the tree
    /// as it changes), and an event writes several keys at once, so a copy made while
    /// events commit could hold a lead's snapshot without its timeline entries.
    /// Why this lock: on the hot path an uncontended `try_read` is one atomic operation on a
    /// cache line no-one else writes except a backup, against a sled transaction and a flush
    /// that cost hundreds of microseconds. While a backup runs, writers wait for it (in
    /// `shared`, off the async worker when they are on one); reads are never blocked.
    barrier: std::sync::Arc<std::sync::RwLock<()>>,
    group: std::sync::Arc<group_commit::GroupCommit>,
    leads: Space,
    timeline: Space,
    outbox: Space,
    outbox_open: Space,
    provider_ids: Space,
    dedupe: Space,
    dead_letters: Space,
    timers: Space,
    suppression: Space,
    interests: Space,
    idempotency: Space,
    meta: Space,
    notifications: Space,
    /// Cluster mode: where [`Store::commit_shared`] writes go (`replicate.rs`).
    replicator: std::sync::Arc<std::sync::OnceLock<std::sync::Arc<dyn Replicator>>>,
    event_webhooks: Space,
    fub_writes: Space,
    operators: Space,
    sessions: Space,
    leads_by_created: Space,
}

fn timeline_prefix(phone: &Phone) -> Vec<u8> {
    let mut k = phone.as_str().as_bytes().to_vec();
    k.push(b'/');
    k
}

fn timeline_key(phone: &Phone, seq: u64) -> Vec<u8> {
    let mut k = timeline_prefix(phone);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn interest_key(listing_id: &str, phone: &Phone) -> Vec<u8> {
    let mut k = listing_id.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(phone.as_str().as_bytes());
    k
}

/// The key of a lead in the by-creation index (`Part::LeadsByCreated`).
pub(crate) fn created_key(created: Ts, phone: &Phone) -> Vec<u8> {
    timer_key(created, phone)
}

fn timer_key(due: Ts, phone: &Phone) -> Vec<u8> {
    let mut k = due.millis().to_be_bytes().to_vec();
    k.extend_from_slice(phone.as_str().as_bytes());
    k
}

/// sled's page cache unless `storage.cache_capacity_mb` says otherwise (sled's own default
/// is 1 GiB, which alone broke the 1 GiB RSS budget for a million stored leads; most leads
/// are cold, and the OS page cache still holds the files). docs/soak.md shows the service's
/// RSS levelling off under it.
pub const DEFAULT_CACHE_BYTES: u64 = 256 * 1024 * 1024;

/// `meta` key: the by-creation index covers every lead.
const LEADS_BY_CREATED_INDEXED: &str = "storage:leads_by_created_indexed";

/// `meta` key: the `outbox_open` index covers every outbox record.
const OUTBOX_OPEN_INDEXED: &str = "storage:outbox_open_indexed";

/// `meta` key: the schema version the database's records are written in; absent in
/// databases written before it existed, which are schema 1.
const SCHEMA_VERSION_KEY: &str = "storage:schema_version";

/// The schema this build writes: the layout (1: one sled tree per part; 2: one keyspace,
/// `keyspace.rs`) plus every record-version bump of the types the store rewrites at open,
/// so it grows with each bump. `open_with` rewrites the records of a database with a lower
/// schema, then writes this marker.
pub const SCHEMA_VERSION: u32 = LAYOUT_KEYSPACE
    + (LeadState::VERSION as u32 - 1)
    + (TimelineEntry::VERSION as u32 - 1)
    + (OutboxRecord::VERSION as u32 - 1)
    + (DeadLetter::VERSION as u32 - 1)
    + (Suppression::VERSION as u32 - 1)
    + (StoredResponse::VERSION as u32 - 1)
    + (Notification::VERSION as u32 - 1)
    + (Operator::VERSION as u32 - 1)
    + (Session::VERSION as u32 - 1);

/// sled 0.34's log segment size (`Config::segment_size`, left at its default).
const SEGMENT_BYTES: usize = 512 * 1024;

/// The first schema with one keyspace.
const LAYOUT_KEYSPACE: u32 = 2;

/// Rewrites every record in `tree` that is an older version of `T` as the current version;
/// returns how many. Idempotent: records already current are skipped, so a pass interrupted
/// by a crash is finished by the next one.
fn rewrite_outdated<T: Record>(tree: &Space) -> Result<usize> {
    let mut rewritten = 0;
    for kv in tree.iter() {
        let (k, v) = kv?;
        if codec::is_outdated::<T>(&v) {
            let value: T = codec::decode(&v)?;
            tree.insert(&k, codec::encode(&value)?)?;
            rewritten += 1;
        }
    }
    Ok(rewritten)
}

/// The page cache of the database `backup_to` writes (it only writes it once).
const BACKUP_CACHE_BYTES: u64 = 16 * 1024 * 1024;
/// Keys per `apply_batch` while copying.
const BACKUP_BATCH: usize = 1000;

/// What `Store::backup_to` copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupStats {
    /// Leads in the copy.
    pub leads: u64,
    /// Keys copied, over all trees.
    pub keys: u64,
    /// The copy's size on disk.
    pub bytes: u64,
    /// How long writes waited on the barrier (the copy itself, without its flush).
    pub writes_paused: std::time::Duration,
}

/// A durable wake-up that is due.
#[derive(Debug, Clone)]
pub struct DueTimer {
    pub key: Vec<u8>,
    pub phone: Phone,
    pub due: Ts,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        Self::open_with(path, StoreOptions::default())
    }

    pub fn open_with(path: &Path, options: StoreOptions) -> Result<Store> {
        let db =
            sled::Config::new().path(path).mode(sled::Mode::LowSpace).cache_capacity(options.cache_capacity).open()?;
        let kv = db.open_tree(KV_TREE)?;
        let barrier = std::sync::Arc::new(std::sync::RwLock::new(()));
        let group =
            group_commit::GroupCommit::new(db.clone(), kv.clone(), barrier.clone(), options, path.to_path_buf())
                .map_err(sled::Error::Io)?;
        let space = |part| Space::new(kv.clone(), part);
        let store = Store {
            barrier,
            group: std::sync::Arc::new(group),
            leads: space(Part::Leads),
            timeline: space(Part::Timeline),
            outbox: space(Part::Outbox),
            outbox_open: space(Part::OutboxOpen),
            provider_ids: space(Part::ProviderIds),
            dedupe: space(Part::Dedupe),
            dead_letters: space(Part::DeadLetters),
            timers: space(Part::Timers),
            suppression: space(Part::Suppression),
            interests: space(Part::Interests),
            idempotency: space(Part::Idempotency),
            meta: space(Part::Meta),
            notifications: space(Part::Notifications),
            replicator: Default::default(),
            event_webhooks: space(Part::EventWebhooks),
            fub_writes: space(Part::FubWrites),
            operators: space(Part::Operators),
            sessions: space(Part::Sessions),
            leads_by_created: space(Part::LeadsByCreated),
            db,
        };
        store.upgrade()?;
        store.index_leads_by_created()?;
        store.roll_log_segment()?;
        Ok(store)
    }

    /// Builds the by-creation index of a database written before it existed: once, at open,
    /// before anything is served (about a second per 300,000 leads). Since then every lead's
    /// first commit indexes it.
    fn index_leads_by_created(&self) -> Result<()> {
        if self.meta.get(LEADS_BY_CREATED_INDEXED)?.is_some() {
            return Ok(());
        }
        self.rebuild_lead_index()
    }

    /// Indexes every stored lead by creation (idempotent): at the first open of an older
    /// database, and after records were loaded from elsewhere (a cluster snapshot, which an
    /// older node may have written without the index).
    pub fn rebuild_lead_index(&self) -> Result<()> {
        let mut indexed = 0u64;
        for kv in self.leads.iter() {
            let (_, v) = kv?;
            let Ok(lead) = codec::decode::<LeadState>(&v) else { continue };
            self.leads_by_created.insert(created_key(lead.created_at, &lead.phone), &[][..])?;
            indexed += 1;
        }
        self.meta_put(LEADS_BY_CREATED_INDEXED, &true)?;
        self.db.flush()?;
        if indexed > 0 {
            tracing::info!(leads = indexed, "storage: leads indexed by creation");
        }
        Ok(())
    }

    /// Writes (and removes) a little more than one log segment of scratch values and
    /// flushes, before anything is served. Why: after an open, sled's first flush that
    /// completes a log segment walks every segment the database has
    /// (`SegmentAccountant::stabilize`; ~0.5 s for a million leads), and the flush, so an
    /// event's acknowledgement, waits for it. Doing it here moves that wait into the start,
    /// before readiness, instead of into one of the first events after it.
    fn roll_log_segment(&self) -> Result<()> {
        const SCRATCH: &str = "storage:segment_roll:";
        let chunk = vec![0u8; 4096];
        for i in 0..(SEGMENT_BYTES / chunk.len() + 32) {
            self.meta.insert(format!("{SCRATCH}{i:04}"), chunk.as_slice())?;
        }
        self.db.flush()?;
        for kv in self.meta.scan_prefix(SCRATCH.as_bytes()) {
            self.meta.remove(kv?.0)?;
        }
        self.db.flush()?;
        Ok(())
    }

    /// Holds the write barrier shared: every write to the trees happens under it. Never
    /// nest it (a backup waiting for the lock blocks new readers, so a nested acquire could
    /// wait forever), and never hold it across an `.await`.
    fn shared(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        use std::sync::TryLockError;
        match self.barrier.try_read() {
            Ok(guard) => return guard,
            Err(TryLockError::Poisoned(e)) => return e.into_inner(),
            Err(TryLockError::WouldBlock) => {}
        }
        // A backup is copying: wait for it. On a multi-threaded runtime's worker, let the
        // runtime hand this worker's other tasks to another thread meanwhile, so HTTP
        // requests that only read (health checks, admin pages) keep being served.
        let wait = || self.barrier.read().unwrap_or_else(|e| e.into_inner());
        let on_worker = tokio::runtime::Handle::try_current()
            .map(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
            .unwrap_or(false);
        if on_worker {
            tokio::task::block_in_place(wait)
        } else {
            wait()
        }
    }

    /// Copies the whole database into a fresh sled database at `dir` (absent or an empty
    /// directory): every tree, every key and value verbatim (records keep their version
    /// bytes, the `meta` tree its schema marker), so this build opens the copy with
    /// `Store::open` as it is. Consistent: writes wait on the barrier while the trees are
    /// copied, so the copy is the database as it was between two writes, and every event
    /// acknowledged before the call is in it. The copy is flushed (after the barrier is
    /// released: nothing writes to it but this function) before it returns.
    ///
    /// Blocking (it copies everything): call it off the async workers (`spawn_blocking`).
    pub fn backup_to(&self, dir: &Path) -> Result<BackupStats> {
        let occupied = match std::fs::read_dir(dir) {
            Ok(mut entries) => entries.next().is_some(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(StoreError::BackupTarget(format!("{}: {e}", dir.display()))),
        };
        if occupied {
            return Err(StoreError::BackupTarget(dir.display().to_string()));
        }
        let copy =
            sled::Config::new().path(dir).mode(sled::Mode::LowSpace).cache_capacity(BACKUP_CACHE_BYTES).open()?;
        let started = std::time::Instant::now();
        let guard = self.barrier.write().unwrap_or_else(|e| e.into_inner());
        let mut keys = 0u64;
        for name in self.db.tree_names() {
            let from = self.db.open_tree(&name)?;
            let to = copy.open_tree(&name)?;
            let mut batch = sled::Batch::default();
            let mut in_batch = 0;
            for kv in from.iter() {
                let (k, v) = kv?;
                batch.insert(k, v);
                in_batch += 1;
                keys += 1;
                if in_batch == BACKUP_BATCH {
                    to.apply_batch(std::mem::take(&mut batch))?;
                    in_batch = 0;
                }
            }
            to.apply_batch(batch)?;
        }
        let leads = Space::new(copy.open_tree(KV_TREE)?, Part::Leads).len() as u64;
        drop(guard);
        let writes_paused = started.elapsed();
        copy.flush()?;
        let bytes = copy.size_on_disk()?;
        Ok(BackupStats { leads, keys, bytes, writes_paused })
    }

    /// The schema marker (`SCHEMA_VERSION` once this build opened the database).
    pub fn schema_version(&self) -> Result<Option<u32>> {
        self.meta_get(SCHEMA_VERSION_KEY)
    }

    /// Brings the records up to `SCHEMA_VERSION` before anything is served. A schema-1
    /// database (one tree per part) is first copied into the keyspace (`migrate_layout`).
    /// Then, below `SCHEMA_VERSION`, each part's outdated records are decoded (through their
    /// type's migration) and written back in the current version, flushed, and the marker
    /// is written and flushed. A crash in between leaves the marker unwritten, and the next
    /// open finishes the pass; old and new records both decode meanwhile. `meta` values
    /// migrate when read (`decode`) and are written back in the current version by their
    /// next put.
    fn upgrade(&self) -> Result<()> {
        let mut found = self.schema_version()?;
        if found.is_none_or(|v| v < LAYOUT_KEYSPACE) {
            if let Some(legacy) = self.migrate_layout()? {
                found = Some(legacy);
            }
        }
        let schema = found.unwrap_or(1);
        if schema > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema { found: schema, supported: SCHEMA_VERSION });
        }
        if schema < SCHEMA_VERSION {
            let rewritten = rewrite_outdated::<LeadState>(&self.leads)?
                + rewrite_outdated::<TimelineEntry>(&self.timeline)?
                + rewrite_outdated::<OutboxRecord>(&self.outbox)?
                + rewrite_outdated::<DeadLetter>(&self.dead_letters)?
                + rewrite_outdated::<Suppression>(&self.suppression)?
                + rewrite_outdated::<StoredResponse>(&self.idempotency)?
                + rewrite_outdated::<Notification>(&self.notifications)?
                + rewrite_outdated::<Operator>(&self.operators)?
                + rewrite_outdated::<Session>(&self.sessions)?;
            self.db.flush()?;
            tracing::info!(from = schema, to = SCHEMA_VERSION, rewritten, "storage: records migrated");
        }
        if found != Some(SCHEMA_VERSION) {
            self.meta_put(SCHEMA_VERSION_KEY, &SCHEMA_VERSION)?;
            self.db.flush()?;
        }
        self.drop_legacy_trees()
    }

    /// Copies a schema-1 database's trees (one per part) into the keyspace, verbatim, and
    /// returns the schema they were written in; `None` if there are none. Idempotent: until
    /// the marker in the keyspace says it is done, nothing else wrote to the keyspace, so a
    /// copy interrupted by a crash is simply done again. The old trees are dropped only after
    /// the marker is written (`drop_legacy_trees`).
    fn migrate_layout(&self) -> Result<Option<u32>> {
        let names = self.db.tree_names();
        let present = |part: &Part| names.iter().any(|n| n.as_ref() == part.legacy_tree().as_bytes());
        if !Part::ALL.iter().any(present) {
            return Ok(None);
        }
        let started = std::time::Instant::now();
        let mut legacy_schema = 1;
        let mut copied = 0u64;
        for part in Part::ALL.iter().filter(|p| present(p)) {
            let from = self.db.open_tree(part.legacy_tree())?;
            let to = Space::new(self.db.open_tree(KV_TREE)?, *part);
            let mut batch = sled::Batch::default();
            let mut in_batch = 0;
            for kv in from.iter() {
                let (k, v) = kv?;
                if *part == Part::Meta && k.as_ref() == SCHEMA_VERSION_KEY.as_bytes() {
                    legacy_schema = codec::decode::<u32>(&v)?;
                    continue;
                }
                batch.insert(to.key(&k), v);
                in_batch += 1;
                copied += 1;
                if in_batch == BACKUP_BATCH {
                    self.db.open_tree(KV_TREE)?.apply_batch(std::mem::take(&mut batch))?;
                    in_batch = 0;
                }
            }
            self.db.open_tree(KV_TREE)?.apply_batch(batch)?;
        }
        self.db.flush()?;
        tracing::info!(
            records = copied,
            took_ms = started.elapsed().as_millis() as u64,
            "storage: one tree per part copied into the keyspace"
        );
        Ok(Some(legacy_schema))
    }

    /// Drops schema 1's trees once the keyspace's marker says their copy is complete.
    fn drop_legacy_trees(&self) -> Result<()> {
        for name in self.db.tree_names() {
            if Part::ALL.iter().any(|p| name.as_ref() == p.legacy_tree().as_bytes()) {
                self.db.drop_tree(&name)?;
            }
        }
        Ok(())
    }

    /// Opens and closes the database at `path` so that sled writes its page-table snapshot
    /// now. sled 0.34 writes that snapshot only when it opens a database, and replays all the
    /// log written since the previous one; doing it at shutdown moves that replay out of the
    /// next start. Call it only when no `Store` on `path` is open any more (it fails, harmlessly,
    /// if one is). Crash-safe: an interrupted checkpoint leaves the old snapshot in place.
    pub fn checkpoint(path: &Path) -> Result<()> {
        let db =
            sled::Config::new().path(path).mode(sled::Mode::LowSpace).cache_capacity(DEFAULT_CACHE_BYTES).open()?;
        db.flush()?;
        Ok(())
    }

    /// Waits until everything written so far is on disk (see the module note on what that
    /// means); concurrent callers share flushes (group commit).
    pub async fn flush(&self) -> Result<()> {
        self.group.commit(Writes::default()).await
    }

    pub fn lead(&self, phone: &Phone) -> Result<Option<LeadState>> {
        match self.leads.get(phone.as_str())? {
            Some(bytes) => Ok(Some(codec::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    /// A cheap check for readiness probes: fails if the database cannot be read, or if the
    /// latest flush failed (e.g. a full disk: sled then refuses every write until a restart,
    /// while reads still work).
    pub fn ping(&self) -> Result<()> {
        self.leads.first()?;
        match self.group.failing() {
            None => Ok(()),
            Some(e) => {
                Err(StoreError::Sled(sled::Error::Io(std::io::Error::other(format!("writes are failing: {e}")))))
            }
        }
    }

    pub fn lead_exists(&self, phone: &Phone) -> Result<bool> {
        Ok(self.leads.contains_key(phone.as_str())?)
    }

    pub fn lead_count(&self) -> usize {
        self.leads.len()
    }

    pub fn seen(&self, dedupe_key: &str) -> Result<bool> {
        Ok(self.dedupe.contains_key(dedupe_key)?)
    }

    /// Writes a lead's new snapshot, timeline entries, outbox records, dedupe key, timer,
    /// interests, notifications and suppression as one batch, and returns once it is
    /// durable. Only after this returns may the event be acknowledged.
    pub async fn commit_lead(&self, c: LeadCommit<'_>) -> Result<()> {
        let phone = &c.state.phone;
        let now = c.state.updated_at;
        let mut w = Writes::default();
        w.put(&self.leads, phone.as_str(), codec::encode(c.state)?);
        if c.state.timeline_len as usize == c.entries.len() {
            // The lead's first commit (its timeline starts here): index it by creation.
            w.put(&self.leads_by_created, created_key(c.state.created_at, phone), Vec::new());
        }
        for e in c.entries {
            w.put(&self.timeline, timeline_key(phone, e.seq), codec::encode(e)?);
        }
        for t in c.sends {
            let rec = OutboxRecord { text: t.clone(), status: OutboxStatus::Queued, updated_at: now };
            w.put(&self.outbox_open, t.id.as_bytes(), Vec::new());
            w.put(&self.outbox, t.id.as_bytes(), codec::encode(&rec)?);
        }
        if let Some(key) = c.dedupe_key {
            w.put(&self.dedupe, key, now.millis().to_be_bytes().to_vec());
        }
        if let Some(at) = c.wake_at {
            w.put(&self.timers, timer_key(at, phone), Vec::new());
        }
        for listing in c.new_interests {
            w.put(&self.interests, interest_key(listing, phone), Vec::new());
        }
        for n in c.notifications {
            w.put(&self.notifications, n.id.as_bytes(), codec::encode(n)?);
        }
        if let Some(s) = c.suppress {
            w.put(&self.suppression, phone.as_str(), codec::encode(s)?);
        }
        self.queue_events(&mut w, c.events, c.subscriptions, c.fub)?;
        self.group.commit(w).await
    }

    /// A lead's timeline, oldest first, starting after `after_seq`, at most `limit` entries.
    pub fn timeline(&self, phone: &Phone, after_seq: u64, limit: usize) -> Result<Vec<TimelineEntry>> {
        let start = timeline_key(phone, after_seq.saturating_add(1));
        let mut end = timeline_prefix(phone);
        end.extend_from_slice(&u64::MAX.to_be_bytes());
        self.timeline
            .range(Bound::Included(start.as_slice()), Bound::Included(end.as_slice()))
            .take(limit)
            .map(|kv| {
                let (_, v) = kv?;
                Ok(codec::decode(&v)?)
            })
            .collect()
    }

    pub fn outbox(&self, id: &str) -> Result<Option<OutboxRecord>> {
        match self.outbox.get(id)? {
            Some(bytes) => Ok(Some(codec::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Moves an outbox record to a new status; returns once that is durable.
    pub async fn set_outbox_status(&self, id: &str, status: OutboxStatus, now: Ts) -> Result<Option<OutboxRecord>> {
        let Some((rec, writes)) = self.outbox_status_writes(id, status, now)? else {
            return Ok(None);
        };
        self.group.commit(writes).await?;
        Ok(Some(rec))
    }

    /// Moves an outbox record to a new status without waiting for it to be durable: it is
    /// applied before anything written after this call and made durable by the next flush
    /// (e.g. the lead's commit of the same text's outcome). Only for a status whose loss in
    /// a crash leaves a safe state: `Accepted` after a durable `Attempting` (lost, the text
    /// is in doubt and never resent). Saves a durable write per text.
    pub fn set_outbox_status_lazy(&self, id: &str, status: OutboxStatus, now: Ts) -> Result<Option<OutboxRecord>> {
        let Some((rec, writes)) = self.outbox_status_writes(id, status, now)? else {
            return Ok(None);
        };
        self.group.apply_later(writes);
        Ok(Some(rec))
    }

    fn outbox_status_writes(&self, id: &str, status: OutboxStatus, now: Ts) -> Result<Option<(OutboxRecord, Writes)>> {
        let Some(mut rec) = self.outbox(id)? else {
            return Ok(None);
        };
        let mut w = Writes::default();
        if let OutboxStatus::Accepted { provider_id, .. } = &status {
            w.put(&self.provider_ids, provider_id.as_str(), id.as_bytes().to_vec());
        }
        let is_final = status.is_final();
        rec.status = status;
        rec.updated_at = now;
        w.put(&self.outbox, id, codec::encode(&rec)?);
        if is_final {
            w.del(&self.outbox_open, id);
        } else {
            w.put(&self.outbox_open, id, Vec::new());
        }
        Ok(Some((rec, w)))
    }

    /// Records that are not final: the start-up recovery looks at these. Reads the
    /// `outbox_open` index (and drops its stale entries), not the whole outbox; a database
    /// written before the index existed is scanned once to build it.
    pub fn unfinished_outbox(&self) -> Result<Vec<OutboxRecord>> {
        let _barrier = self.shared();
        if self.meta.get(OUTBOX_OPEN_INDEXED)?.is_none() {
            for kv in self.outbox.iter() {
                let (k, v) = kv?;
                if !codec::decode::<OutboxRecord>(&v)?.status.is_final() {
                    self.outbox_open.insert(&k, &[][..])?;
                }
            }
            // Durable with the next flush; if that never comes, the next start scans again.
            // (Not `meta_put`: the barrier is held already.)
            self.meta.insert(OUTBOX_OPEN_INDEXED, codec::encode(&true)?)?;
        }
        let mut out = Vec::new();
        for k in self.outbox_open.keys() {
            let k = k?;
            match self.outbox.get(&k)? {
                Some(v) => {
                    let rec: OutboxRecord = codec::decode(&v)?;
                    if rec.status.is_final() {
                        self.outbox_open.remove(&k)?;
                    } else {
                        out.push(rec);
                    }
                }
                // Indexed by a commit that then failed: the record was never written.
                None => {
                    self.outbox_open.remove(&k)?;
                }
            }
        }
        Ok(out)
    }

    /// The message id a provider SID belongs to.
    pub fn message_for_provider_id(&self, provider_id: &str) -> Result<Option<String>> {
        Ok(self.provider_ids.get(provider_id)?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub async fn put_dead_letter(&self, dl: &DeadLetter) -> Result<()> {
        let mut w = Writes::default();
        w.put(&self.dead_letters, dl.text.id.as_str(), codec::encode(dl)?);
        self.group.commit(w).await
    }

    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        self.dead_letters
            .iter()
            .map(|kv| {
                let (_, v) = kv?;
                Ok(codec::decode(&v)?)
            })
            .collect()
    }

    /// Size of the database on disk, in bytes.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// Timers due at or before `now`, oldest first.
    pub fn due_timers(&self, now: Ts, limit: usize) -> Result<Vec<DueTimer>> {
        self.due_timers_of(now, limit, |_| true)
    }

    /// Timers due at or before `now` of the leads `mine` accepts (in cluster mode: the
    /// partitions this node owns), oldest first.
    pub fn due_timers_of(&self, now: Ts, limit: usize, mine: impl Fn(&Phone) -> bool) -> Result<Vec<DueTimer>> {
        let end = now.millis().saturating_add(1).to_be_bytes();
        let mut out = Vec::new();
        for kv in self.timers.range(Bound::Unbounded, Bound::Excluded(&end[..])) {
            if out.len() >= limit {
                break;
            }
            let (k, _) = kv?;
            let parsed = (k.len() > 8).then(|| {
                let mut ms = [0u8; 8];
                ms.copy_from_slice(&k[..8]);
                (Phone::parse(&String::from_utf8_lossy(&k[8..])), Ts::from_millis(i64::from_be_bytes(ms)))
            });
            match parsed {
                Some((Ok(phone), Some(due))) if mine(&phone) => out.push(DueTimer { key: k.to_vec(), phone, due }),
                Some((Ok(_), Some(_))) => {}
                _ => {
                    let _barrier = self.shared();
                    self.timers.remove(&k)?;
                }
            }
        }
        Ok(out)
    }

    /// How many wake-ups are scheduled.
    pub fn timer_count(&self) -> usize {
        self.timers.len()
    }

    pub fn remove_timer(&self, key: &[u8]) -> Result<()> {
        let _barrier = self.shared();
        self.timers.remove(key)?;
        Ok(())
    }

    /// Removes the lead's timer due at `due` (cluster mode: its wake-up is in the log, fired
    /// by the partition's owner, and every node drops the timer as it applies the wake-up).
    pub fn remove_timer_at(&self, due: Ts, phone: &Phone) -> Result<()> {
        self.remove_timer(&timer_key(due, phone))
    }

    pub fn suppression(&self, phone: &Phone) -> Result<Option<Suppression>> {
        match self.suppression.get(phone.as_str())? {
            Some(bytes) => Ok(Some(codec::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    pub async fn suppress(&self, phone: &Phone, entry: &Suppression) -> Result<()> {
        let mut w = Writes::default();
        w.put(&self.suppression, phone.as_str(), codec::encode(entry)?);
        self.commit_shared(w).await
    }

    /// Puts many numbers on the suppression list as one durable write (bulk imports).
    pub async fn suppress_many(&self, entries: &[(Phone, Suppression)]) -> Result<()> {
        let mut w = Writes::default();
        for (phone, entry) in entries {
            w.put(&self.suppression, phone.as_str(), codec::encode(entry)?);
        }
        self.commit_shared(w).await
    }

    /// Returns whether the number was on the list.
    pub async fn unsuppress(&self, phone: &Phone) -> Result<bool> {
        let was = self.suppression.contains_key(phone.as_str())?;
        let mut w = Writes::default();
        w.del(&self.suppression, phone.as_str());
        self.commit_shared(w).await?;
        Ok(was)
    }

    pub fn suppression_list(&self) -> Result<Vec<(Phone, Suppression)>> {
        let mut out = Vec::new();
        for kv in self.suppression.iter() {
            let (k, v) = kv?;
            if let Ok(phone) = Phone::parse(&String::from_utf8_lossy(&k)) {
                out.push((phone, codec::decode(&v)?));
            }
        }
        Ok(out)
    }

    /// Every stored lead's phone, in key order (for `audit verify` and exports).
    pub fn lead_phones(&self) -> Result<Vec<Phone>> {
        let mut out = Vec::new();
        for k in self.leads.keys() {
            let k = k?;
            if let Ok(p) = Phone::parse(&String::from_utf8_lossy(&k)) {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// Leads watching a listing (fan-out targets), in phone order.
    pub fn interested_leads(&self, listing_id: &str) -> Result<Vec<Phone>> {
        let mut prefix = listing_id.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for k in self.interests.scan_prefix(&prefix).map(|kv| kv.map(|(k, _)| k)) {
            let k = k?;
            if let Some(p) = std::str::from_utf8(&k[prefix.len()..]).ok().and_then(Phone::from_stored) {
                out.push(p);
            }
        }
        Ok(out)
    }

    pub fn idempotent_response(&self, key: &str) -> Result<Option<StoredResponse>> {
        match self.idempotency.get(key)? {
            Some(bytes) => Ok(Some(codec::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    pub async fn put_idempotent_response(&self, key: &str, response: &StoredResponse) -> Result<()> {
        let mut w = Writes::default();
        w.put(&self.idempotency, key, codec::encode(response)?);
        self.group.commit(w).await
    }

    /// Forgets idempotency keys and dedupe keys stored before `cutoff`; returns how many.
    pub fn purge_idempotency_before(&self, cutoff: Ts) -> Result<usize> {
        let mut purged = 0;
        for kv in self.idempotency.iter() {
            let (k, v) = kv?;
            let old = codec::decode::<StoredResponse>(&v).map(|r| r.stored_at < cutoff).unwrap_or(true);
            if old {
                let _barrier = self.shared();
                self.idempotency.remove(&k)?;
                purged += 1;
            }
        }
        for kv in self.dedupe.iter() {
            let (k, v) = kv?;
            let at = <[u8; 8]>::try_from(v.as_ref()).ok().map(i64::from_be_bytes);
            if at.is_none_or(|ms| ms < cutoff.millis()) {
                let _barrier = self.shared();
                self.dedupe.remove(&k)?;
                purged += 1;
            }
        }
        Ok(purged)
    }

    /// A small named value (integration state); `key` should be namespaced, e.g. `reso:watermark`.
    pub fn meta_get<T: Record>(&self, key: &str) -> Result<Option<T>> {
        match self.meta.get(key)? {
            Some(bytes) => Ok(Some(codec::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Stores a named value (not flushed: call `flush` after a batch).
    pub fn meta_put<T: Record>(&self, key: &str, value: &T) -> Result<()> {
        let value = codec::encode(value)?;
        let _barrier = self.shared();
        self.meta.insert(key, value)?;
        Ok(())
    }

    /// Stores a named value and returns once it is durable.
    pub async fn meta_commit<T: Record>(&self, key: &str, value: &T) -> Result<()> {
        let mut w = Writes::default();
        w.put(&self.meta, key, codec::encode(value)?);
        self.group.commit(w).await
    }

    /// Removes and returns a dead letter (an operator retries or discards it).
    pub async fn take_dead_letter(&self, id: &str) -> Result<Option<DeadLetter>> {
        let dl = match self.dead_letters.get(id)? {
            Some(bytes) => Some(codec::decode(&bytes)?),
            None => None,
        };
        let mut w = Writes::default();
        w.del(&self.dead_letters, id);
        self.group.commit(w).await?;
        Ok(dl)
    }

    pub fn dead_letter_count(&self) -> usize {
        self.dead_letters.len()
    }

    /// Notifications not yet delivered, oldest id first.
    pub fn undelivered_notifications(&self, limit: usize) -> Result<Vec<Notification>> {
        self.notifications.iter().map(|kv| kv.map(|(_, v)| v)).take(limit).map(|v| Ok(codec::decode(&v?)?)).collect()
    }

    pub async fn remove_notification(&self, id: &str) -> Result<()> {
        let mut w = Writes::default();
        w.del(&self.notifications, id);
        self.group.commit(w).await
    }

    /// Suppressed numbers after `after` (phone order) that `keep` accepts (given the stored
    /// E.164 number and the entry), at most `limit`: a page of the list.
    pub fn suppression_page(
        &self,
        after: Option<&str>,
        limit: usize,
        keep: impl Fn(&str, &Suppression) -> bool,
    ) -> Result<Vec<(Phone, Suppression)>> {
        let start = match after {
            Some(a) => Bound::Excluded(a.as_bytes()),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for kv in self.suppression.range(start, Bound::Unbounded) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = kv?;
            let key = String::from_utf8_lossy(&k);
            let entry: Suppression = codec::decode(&v)?;
            if !keep(&key, &entry) {
                continue;
            }
            if let Ok(phone) = Phone::parse(&key) {
                out.push((phone, entry));
            }
        }
        Ok(out)
    }

    pub fn dead_letter(&self, id: &str) -> Result<Option<DeadLetter>> {
        match self.dead_letters.get(id)? {
            Some(bytes) => Ok(Some(codec::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Dead letters after id `after` (id order), at most `limit`.
    pub fn dead_letters_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<DeadLetter>> {
        let start = match after {
            Some(a) => Bound::Excluded(a.as_bytes()),
            None => Bound::Unbounded,
        };
        self.dead_letters.range(start, Bound::Unbounded).take(limit).map(|kv| Ok(codec::decode(&kv?.1)?)).collect()
    }

    // --- operators and their page sessions -------------------------------------------
    // Shared writes: in cluster mode every node knows every operator and session, so a
    // token or a page sign-in works through any node.

    pub fn operator(&self, name: &str) -> Result<Option<Operator>> {
        match self.operators.get(name)? {
            Some(bytes) => Ok(Some(codec::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Every operator (revoked ones too), by name.
    pub fn operators(&self) -> Result<Vec<Operator>> {
        self.operators.iter().map(|kv| Ok(codec::decode(&kv?.1)?)).collect()
    }

    /// Creates or replaces an operator; returns once it is durable.
    pub async fn put_operator(&self, op: &Operator) -> Result<()> {
        let mut w = Writes::default();
        w.put(&self.operators, op.name.as_str(), codec::encode(op)?);
        self.commit_shared(w).await
    }

    /// Writes an operator and ends every page session of theirs, as one durable write
    /// (revocation, a new password).
    pub async fn put_operator_ending_sessions(&self, op: &Operator) -> Result<usize> {
        let mut w = Writes::default();
        w.put(&self.operators, op.name.as_str(), codec::encode(op)?);
        let mut ended = 0;
        for kv in self.sessions.iter() {
            let (k, v) = kv?;
            let theirs = codec::decode::<Session>(&v).map(|s| s.operator == op.name).unwrap_or(true);
            if theirs {
                w.del(&self.sessions, &k);
                ended += 1;
            }
        }
        self.commit_shared(w).await?;
        Ok(ended)
    }

    pub fn session(&self, key: &str) -> Result<Option<Session>> {
        match self.sessions.get(key)? {
            Some(bytes) => Ok(Some(codec::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    pub async fn put_session(&self, key: &str, session: &Session) -> Result<()> {
        let mut w = Writes::default();
        w.put(&self.sessions, key, codec::encode(session)?);
        self.commit_shared(w).await
    }

    pub async fn remove_session(&self, key: &str) -> Result<()> {
        let mut w = Writes::default();
        w.del(&self.sessions, key);
        self.commit_shared(w).await
    }

    /// Forgets sessions that expired before `now`; returns how many.
    pub fn purge_sessions_before(&self, now: Ts) -> Result<usize> {
        let mut purged = 0;
        for kv in self.sessions.iter() {
            let (k, v) = kv?;
            if codec::decode::<Session>(&v).map(|s| s.expires_at < now).unwrap_or(true) {
                let _barrier = self.shared();
                self.sessions.remove(&k)?;
                purged += 1;
            }
        }
        Ok(purged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::sample::{Sample, SampleV1};

    #[test]
    fn rewrite_outdated_migrates_old_records_in_place_and_only_those() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).temporary(true).open().unwrap();
        let tree = Space::new(db.open_tree(KV_TREE).unwrap(), Part::Meta);
        tree.insert("a", codec::encode(&SampleV1 { name: "a".into(), count: 1 }).unwrap()).unwrap();
        tree.insert("b", codec::encode(&Sample { name: "b".into(), count: 2, note: Some("n".into()) }).unwrap())
            .unwrap();
        assert_eq!(rewrite_outdated::<Sample>(&tree).unwrap(), 1);
        let a = tree.get("a").unwrap().unwrap();
        assert_eq!(a[0], Sample::VERSION);
        assert_eq!(codec::decode::<Sample>(&a).unwrap(), Sample { name: "a".into(), count: 1, note: None });
        // A second pass (after a crash before the marker) finds nothing left to do.
        assert_eq!(rewrite_outdated::<Sample>(&tree).unwrap(), 0);
    }

    #[test]
    fn a_schema_1_layout_is_copied_into_the_keyspace_even_after_an_interrupted_copy() {
        let dir = tempfile::tempdir().unwrap();
        let phone = Phone::parse("+12125550100").unwrap();
        let at = Ts::from_millis(1_700_000_000_000).unwrap();
        let mut lead = LeadState::new(phone.clone(), at);
        lead.agent = Some("Ana".into());
        {
            // What schema 1 left: one tree per part, its marker in `meta`.
            let db = sled::open(dir.path()).unwrap();
            db.open_tree("leads").unwrap().insert(phone.as_str(), codec::encode(&lead).unwrap()).unwrap();
            db.open_tree("timers").unwrap().insert(timer_key(at, &phone), &[][..]).unwrap();
            db.open_tree("meta").unwrap().insert(SCHEMA_VERSION_KEY, codec::encode(&1u32).unwrap()).unwrap();
            // A copy a crash interrupted: a stale half in the keyspace, no marker there.
            let stale = LeadState::new(phone.clone(), at);
            let kv = Space::new(db.open_tree(KV_TREE).unwrap(), Part::Leads);
            kv.insert(phone.as_str(), codec::encode(&stale).unwrap()).unwrap();
            db.flush().unwrap();
        }
        for _ in 0..2 {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.schema_version().unwrap(), Some(SCHEMA_VERSION));
            assert_eq!(store.lead(&phone).unwrap().unwrap().agent.as_deref(), Some("Ana"));
            assert_eq!(store.due_timers(at, 10).unwrap().len(), 1);
            let legacy: Vec<_> = store
                .db
                .tree_names()
                .into_iter()
                .filter(|n| Part::ALL.iter().any(|p| n.as_ref() == p.legacy_tree().as_bytes()))
                .collect();
            assert!(legacy.is_empty(), "schema 1 trees left: {legacy:?}");
        }
    }

    #[test]
    fn an_open_writes_the_schema_marker_and_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.schema_version().unwrap(), Some(SCHEMA_VERSION));
            store.meta_put(SCHEMA_VERSION_KEY, &(SCHEMA_VERSION + 1)).unwrap();
            store.db.flush().unwrap();
        }
        match Store::open(dir.path()) {
            Err(StoreError::NewerSchema { found, supported }) => {
                assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            }
            other => panic!("expected NewerSchema, got {:?}", other.map(|_| ())),
        }
    }
}
