//! Log compaction: a snapshot of the replicated state at a log position, after which the
//! log's older entries are purged, so the log does not grow for ever and a new node does not
//! replay all of history.
//!
//! 1. Once the log has grown by `cluster.snapshot_every` entries since the last snapshot, the
//!    gateway lease holder appends a marker, `Entry::Snapshot { node }`, to the log.
//! 2. Every node applies the marker alone (nothing else under way, like every shared entry).
//!    The named node copies its replica's shared records right then: the state after every
//!    entry before the marker, and nothing after it. The copy is staged in a file in
//!    `storage.path`, so memory holds one chunk at a time.
//! 3. It publishes the copy in chunks to the stream `LEADLINE_SNAPSHOTS` (subject
//!    `leadline.snap.<marker sequence>`) and records a [`Manifest`] under the key `snapshot`
//!    of the `leadline_cluster` bucket.
//! 4. Once every live node (heartbeat revisions moving) has applied up to the marker, it
//!    purges the log below the marker and the older snapshots.
//!
//! A node whose checkpoint is below the log's first entry (a new node, or one that was down
//! through a compaction) loads the snapshot at start-up, before anything else runs: it
//! deletes its replica's shared records, applies the chunks and resumes after the marker.

use super::log::Entry;
use super::{apply, Cluster, BUCKET};
use anyhow::Context;
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::stream;
use futures_util::StreamExt;
use leadline_core::codec::{self, Record};
use leadline_core::storage::{RawOp, Store};
use leadline_core::Ts;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub const STREAM: &str = "LEADLINE_SNAPSHOTS";
pub const SUBJECTS: &str = "leadline.snap.>";
/// The bucket key of the latest complete snapshot's [`Manifest`].
const MANIFEST_KEY: &str = "snapshot";
/// Bytes of records per chunk (NATS' default max_payload is 1 MiB).
const CHUNK_BYTES: usize = 256 * 1024;
/// How often the lease holder looks at the log's growth.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// How long the purge waits for live nodes to apply up to the marker; then it skips this
/// purge (the next snapshot tries again) rather than push a live node onto a snapshot.
const PURGE_WAIT: Duration = Duration::from_secs(120);
/// A snapshot not finished in this long (its node died) no longer holds the next one back.
const GIVE_UP_AFTER: Duration = Duration::from_secs(600);

/// A complete snapshot: the state after every log entry below `as_of` (the marker).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub as_of: u64,
    /// The sequence, in `LEADLINE_SNAPSHOTS`, of its first chunk.
    pub first_chunk: u64,
    pub chunks: u64,
    pub records: u64,
    pub bytes: u64,
    pub node: String,
    pub taken_at: Ts,
}

impl Record for Manifest {
    const KIND: &'static str = "cluster_snapshot_manifest";
    const VERSION: u8 = 1;
}

/// One chunk of a snapshot's records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    pub index: u64,
    pub ops: Vec<RawOp>,
}

impl Record for Chunk {
    const KIND: &'static str = "cluster_snapshot_chunk";
    const VERSION: u8 = 1;
}

fn chunk_subject(as_of: u64) -> String {
    format!("leadline.snap.{as_of}")
}

/// The snapshots' stream, created if needed.
pub(super) async fn open_stream(
    js: &async_nats::jetstream::Context,
    replicas: usize,
) -> anyhow::Result<stream::Stream> {
    js.get_or_create_stream(stream::Config {
        name: STREAM.into(),
        subjects: vec![SUBJECTS.into()],
        num_replicas: replicas,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .context("cannot create or open the JetStream stream LEADLINE_SNAPSHOTS")
}

/// The latest complete snapshot's manifest, if any.
pub async fn manifest(kv: &async_nats::jetstream::kv::Store) -> anyhow::Result<Option<Manifest>> {
    match kv.get(MANIFEST_KEY).await.context("cannot read the snapshot manifest")? {
        Some(bytes) if !bytes.is_empty() => {
            Ok(Some(codec::decode(&bytes).context("cannot decode the snapshot manifest")?))
        }
        _ => Ok(None),
    }
}

/// Start-up: loads the latest snapshot when the log no longer holds what this replica still
/// needs (its checkpoint is below the log's first entry). Runs before the node serves.
pub async fn restore_if_needed(cluster: &Cluster, store: &Store) -> anyhow::Result<Option<Manifest>> {
    let applied = apply::checkpoint(store);
    let info = cluster.stream.get_info().await.context("cannot read the cluster log's state")?;
    if info.state.first_sequence <= applied + 1 {
        return Ok(None);
    }
    let Some(manifest) = manifest(&cluster.kv).await? else {
        anyhow::bail!(
            "the cluster log starts at entry {} but this node has applied only up to {applied}, and no snapshot \
             is recorded in the {BUCKET} bucket: this node cannot catch up",
            info.state.first_sequence
        );
    };
    if manifest.as_of < info.state.first_sequence {
        anyhow::bail!(
            "the latest snapshot is of log entry {} but the log starts at {}: entries in between are lost",
            manifest.as_of,
            info.state.first_sequence
        );
    }
    tracing::warn!(
        applied,
        first = info.state.first_sequence,
        as_of = manifest.as_of,
        records = manifest.records,
        "the cluster log was compacted past this node's checkpoint: loading the snapshot"
    );
    let cleared = store.clear_snapshot_records().await.context("cannot clear the stale replica")?;
    let snapshots = cluster.js.get_stream(STREAM).await.context("cannot open LEADLINE_SNAPSHOTS")?;
    let consumer = snapshots
        .create_consumer(pull::OrderedConfig {
            filter_subject: chunk_subject(manifest.as_of),
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: manifest.first_chunk },
            ..Default::default()
        })
        .await
        .context("cannot read the snapshot")?;
    let mut messages = consumer.messages().await.context("cannot read the snapshot")?;
    let mut next = 0;
    while next < manifest.chunks {
        let message = tokio::time::timeout(Duration::from_secs(30), messages.next())
            .await
            .context("the snapshot's chunks stopped arriving")?
            .context("the snapshot ended early")?
            .map_err(|e| anyhow::anyhow!("cannot read the snapshot: {e}"))?;
        let chunk: Chunk = codec::decode(&message.payload).context("cannot decode a snapshot chunk")?;
        // A chunk published twice (a retried publication) comes again with the same index.
        if chunk.index < next {
            continue;
        }
        anyhow::ensure!(chunk.index == next, "snapshot chunk {} missing", next);
        store.apply_replicated(chunk.ops).await.context("cannot write the snapshot")?;
        next += 1;
    }
    store.rebuild_lead_index().context("cannot index the snapshot's leads")?;
    apply::save(store, manifest.as_of - 1);
    metrics::counter!("leadline_cluster_snapshot_restores_total").increment(1);
    tracing::warn!(cleared, as_of = manifest.as_of, "snapshot loaded; resuming the log after it");
    Ok(Some(manifest))
}

/// On the lease holder: appends a snapshot marker once the log has grown by `snapshot_every`.
pub fn spawn_trigger(cluster: Cluster, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let every = cluster.settings.snapshot_every;
        loop {
            tokio::select! {
                () = tokio::time::sleep(CHECK_EVERY) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            if every == 0 || !cluster.is_leader() || snapshot_under_way(&cluster) {
                continue;
            }
            let Ok(info) = cluster.stream.get_info().await else { continue };
            let since = match manifest(&cluster.kv).await {
                Ok(Some(m)) => m.as_of,
                Ok(None) => 0,
                Err(_) => continue,
            };
            if !due(info.state.last_sequence, since, every) {
                continue;
            }
            set_under_way(&cluster, Some(Instant::now()));
            let entry = Entry::Snapshot { node: cluster.node_id.clone() };
            if let Err(e) = cluster.record(None, entry).await {
                tracing::warn!(error = %e, "snapshot marker not published");
                set_under_way(&cluster, None);
            }
        }
    })
}

fn snapshot_under_way(cluster: &Cluster) -> bool {
    cluster.snapshotting.lock().ok().and_then(|s| *s).is_some_and(|since| since.elapsed() < GIVE_UP_AFTER)
}

fn set_under_way(cluster: &Cluster, since: Option<Instant>) {
    if let Ok(mut s) = cluster.snapshotting.lock() {
        *s = since;
    }
}

/// Applying the marker at `as_of` (nothing else under way): the named node copies its
/// replica now and publishes the copy in the background.
pub(super) async fn take(
    cluster: &Cluster,
    store: &Store,
    dir: &std::path::Path,
    as_of: u64,
    node: &str,
) -> Result<(), String> {
    if node != cluster.node_id {
        return Ok(());
    }
    let started = Instant::now();
    let (copy, file) = (store.clone(), dir.join(format!("cluster-snapshot-{as_of}.tmp")));
    let written = {
        let file = file.clone();
        tokio::task::spawn_blocking(move || copy_to_file(&copy, &file)).await.map_err(|e| e.to_string())?
    };
    let copied = match written {
        Ok(copied) => copied,
        Err(e) => {
            let _ = std::fs::remove_file(&file);
            return Err(format!("cannot copy the replica for a snapshot: {e:#}"));
        }
    };
    tracing::info!(as_of, chunks = copied.chunks, ms = started.elapsed().as_millis() as u64, "snapshot copied");
    let cluster = cluster.clone();
    tokio::spawn(async move {
        if let Err(e) = publish(&cluster, as_of, &file, copied).await {
            tracing::warn!(as_of, error = %format!("{e:#}"), "snapshot not completed; the next one will try again");
        }
        let _ = tokio::fs::remove_file(&file).await;
        set_under_way(&cluster, None);
    });
    Ok(())
}

/// What a copy holds: its chunks, records and encoded bytes.
#[derive(Clone, Copy)]
struct Copied {
    chunks: u64,
    records: u64,
    bytes: u64,
}

/// Writes the replica's snapshot records to `file` as encoded chunks (each a big-endian u32
/// length, then the chunk), so memory holds one chunk at a time however large the replica;
/// synced before it returns. An empty replica is one empty chunk: a manifest always names
/// at least one.
fn copy_to_file(store: &Store, file: &std::path::Path) -> anyhow::Result<Copied> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(file).context("cannot create the snapshot file")?);
    let mut copied = Copied { chunks: 0, records: 0, bytes: 0 };
    let (mut ops, mut size) = (Vec::new(), 0);
    for op in store.snapshot_records() {
        let op = op?;
        size += op.0.len() + op.1.as_ref().map_or(0, Vec::len);
        ops.push(op);
        if size >= CHUNK_BYTES {
            write_chunk(&mut out, &mut copied, std::mem::take(&mut ops))?;
            size = 0;
        }
    }
    if !ops.is_empty() || copied.chunks == 0 {
        write_chunk(&mut out, &mut copied, ops)?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(copied)
}

fn write_chunk(out: &mut impl std::io::Write, copied: &mut Copied, ops: Vec<RawOp>) -> anyhow::Result<()> {
    copied.records += ops.len() as u64;
    let encoded = codec::encode(&Chunk { index: copied.chunks, ops })?;
    out.write_all(&u32::try_from(encoded.len())?.to_be_bytes())?;
    out.write_all(&encoded)?;
    copied.chunks += 1;
    copied.bytes += encoded.len() as u64;
    Ok(())
}

async fn publish(cluster: &Cluster, as_of: u64, file: &std::path::Path, copied: Copied) -> anyhow::Result<()> {
    use tokio::io::AsyncReadExt;
    let snapshots = cluster.js.get_stream(STREAM).await.context("cannot open LEADLINE_SNAPSHOTS")?;
    let mut input =
        tokio::io::BufReader::new(tokio::fs::File::open(file).await.context("cannot read the snapshot file")?);
    let mut first_chunk = None;
    for index in 0..copied.chunks {
        let len = input.read_u32().await.context("cannot read the snapshot file")?;
        let mut payload = vec![0; len as usize];
        input.read_exact(&mut payload).await.context("cannot read the snapshot file")?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, format!("snap:{as_of}:{index}").as_str());
        let ack = async { cluster.js.publish_with_headers(chunk_subject(as_of), headers, payload.into()).await?.await }
            .await
            .map_err(|e| anyhow::anyhow!("snapshot chunk not stored: {e}"))?;
        first_chunk.get_or_insert(ack.sequence);
    }
    let Copied { chunks, records, bytes } = copied;
    let manifest = Manifest {
        as_of,
        first_chunk: first_chunk.unwrap_or(0),
        chunks,
        records,
        bytes,
        node: cluster.node_id.clone(),
        taken_at: Ts::from(chrono::Utc::now()),
    };
    let Some(replaced) = record(cluster, &manifest).await? else {
        tracing::warn!(as_of, "a newer snapshot was recorded meanwhile; this one is dropped");
        snapshots.purge().filter(chunk_subject(as_of)).await.context("cannot drop the superseded snapshot")?;
        return Ok(());
    };
    metrics::counter!("leadline_cluster_snapshots_total").increment(1);
    tracing::info!(as_of, records, bytes, "snapshot recorded");
    if !live_nodes_reached(cluster, as_of).await {
        tracing::warn!(as_of, "a live node has not applied up to the snapshot; the log is not purged this time");
        return Ok(());
    }
    // JetStream reads a purge "below sequence 1" as "purge everything": never ask for it.
    if as_of > 1 {
        let purged = cluster.stream.purge().sequence(as_of).await.context("cannot purge the log")?;
        tracing::info!(as_of, purged = purged.purged, "cluster log compacted");
    }
    // The snapshot this one replaces, by its subject: never another one's chunks.
    if let Some(old) = replaced {
        snapshots.purge().filter(chunk_subject(old.as_of)).await.context("cannot purge the older snapshot")?;
    }
    Ok(())
}

/// Records `manifest` as the latest snapshot unless one at least as new is recorded (two
/// holders may snapshot at once around a lease change): `Some(the one it replaced)` when it
/// was recorded, `None` when it lost. A write conditional on the key's revision, so the
/// manifest never goes backwards.
async fn record(cluster: &Cluster, manifest: &Manifest) -> anyhow::Result<Option<Option<Manifest>>> {
    use async_nats::jetstream::kv::{CreateErrorKind, UpdateErrorKind};
    let encoded = codec::encode(manifest).context("cannot encode the snapshot manifest")?;
    const LOST: &str = "cannot record the snapshot manifest";
    loop {
        let current = cluster.kv.entry(MANIFEST_KEY).await.context("cannot read the snapshot manifest")?;
        let (revision, replaced) = match current {
            Some(entry) if !entry.value.is_empty() => {
                let recorded: Manifest = codec::decode(&entry.value).context("cannot decode the snapshot manifest")?;
                if recorded.as_of >= manifest.as_of {
                    return Ok(None);
                }
                (Some(entry.revision), Some(recorded))
            }
            Some(entry) => (Some(entry.revision), None),
            None => (None, None),
        };
        // Another write coming first sends us round again, to compare with it.
        let raced = match revision {
            Some(revision) => match cluster.kv.update(MANIFEST_KEY, encoded.clone().into(), revision).await {
                Ok(_) => false,
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => true,
                Err(e) => return Err(anyhow::Error::new(e).context(LOST)),
            },
            None => match cluster.kv.create(MANIFEST_KEY, encoded.clone().into()).await {
                Ok(_) => false,
                Err(e) if e.kind() == CreateErrorKind::AlreadyExists => true,
                Err(e) => return Err(anyhow::Error::new(e).context(LOST)),
            },
        };
        if !raced {
            return Ok(Some(replaced));
        }
    }
}

/// Waits (at most [`PURGE_WAIT`]) until every live node has applied every entry below
/// `as_of`. Live as for partition ownership (`partitions::Liveness`: a heartbeat revision
/// that moved within `lease_ms` on this node's monotonic clock, and no graceful stop), judged
/// after watching for two leases; a node that is down loads the snapshot when it returns.
async fn live_nodes_reached(cluster: &Cluster, as_of: u64) -> bool {
    let started = Instant::now();
    let lease = Duration::from_millis(cluster.settings.lease_ms);
    let mut liveness = super::partitions::Liveness::new(lease);
    while started.elapsed() < PURGE_WAIT {
        let now = Instant::now();
        let beats = super::lease::heartbeats(&cluster.kv).await.unwrap_or_default();
        for b in &beats {
            liveness.observe(&b.node, b.revision, b.stopped, now);
        }
        let live = liveness.live(&cluster.node_id, now);
        let all_there = beats.iter().filter(|b| live.contains(&b.node)).all(|b| b.applied + 1 >= as_of);
        if all_there && started.elapsed() >= lease * 2 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}

/// Is a snapshot due: has the log grown by `every` entries since the last one (0: never)?
fn due(last_sequence: u64, since: u64, every: u64) -> bool {
    every > 0 && last_sequence.saturating_sub(since) >= every
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_records_have_pinned_bytes() {
        let manifest = Manifest {
            as_of: 41,
            first_chunk: 7,
            chunks: 2,
            records: 3,
            bytes: 99,
            node: "n1".into(),
            taken_at: Ts::from_millis(1_700_000_000_000).unwrap(),
        };
        let bytes = codec::encode(&manifest).unwrap();
        assert_eq!(codec::decode::<Manifest>(&bytes).unwrap(), manifest);
        let chunk = Chunk { index: 1, ops: vec![(b"Lk".to_vec(), Some(b"v".to_vec())), (b"Sx".to_vec(), None)] };
        let chunk_bytes = codec::encode(&chunk).unwrap();
        assert_eq!(codec::decode::<Chunk>(&chunk_bytes).unwrap(), chunk);
        // Golden: a change here makes running clusters unable to read their snapshots.
        assert_eq!(hex(&chunk_bytes), GOLDEN_CHUNK, "chunk bytes changed");
    }

    const GOLDEN_CHUNK: &str = "010102024c6b01017602537800";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_snapshot_is_due_after_the_configured_growth() {
        assert!(!due(150, 100, 0), "0 turns compaction off");
        assert!(!due(149, 100, 50));
        assert!(due(150, 100, 50));
        assert!(due(50, 0, 50), "the first snapshot counts from the log's start");
    }
}
