//! `leadline cluster import`: moves a single node's database into a new cluster.
//!
//! Every record the nodes share (leads, timelines, consent, outbox, dead letters,
//! suppressions, timers, ...; not the node-local `meta` and idempotency records) is
//! published to the log as raw writes, in chunks; every node that starts applies them like
//! any entry. Only into a cluster whose log is still empty, before its nodes start: a
//! running cluster's state would be overwritten under its lead actors.

use super::log::{Entry, Envelope};
use super::Cluster;
use crate::config::Settings;
use leadline_core::clock::SystemClock;
use leadline_core::storage::{RawOp, Store};
use leadline_core::Ts;
use serde::Serialize;
use std::sync::Arc;

/// Bytes of raw writes per log entry (NATS' default max_payload is 1 MiB).
const CHUNK_BYTES: usize = 256 * 1024;

#[derive(Debug, Serialize)]
pub struct ImportReport {
    pub records: u64,
    pub entries: u64,
    pub bytes: u64,
    /// The log's last sequence after the import.
    pub last_sequence: u64,
}

pub async fn import(settings: &Settings, store: &Store, progress: impl Fn(u64)) -> anyhow::Result<ImportReport> {
    let cluster = Cluster::connect(
        &settings.cluster,
        settings.server.bind.port(),
        Arc::new(SystemClock),
        std::time::Duration::ZERO,
    )
    .await?;
    let existing = cluster.stream.get_info().await?.state.last_sequence;
    if existing > 0 {
        anyhow::bail!(
            "the cluster log already has {existing} entries: import only into a new cluster, before its nodes start"
        );
    }
    let mut report = ImportReport { records: 0, entries: 0, bytes: 0, last_sequence: 0 };
    let mut chunk: Vec<RawOp> = Vec::new();
    let mut size = 0;
    let mut records = store.shared_records();
    loop {
        let next = records.next().transpose()?;
        if let Some(op) = next.as_ref() {
            size += op.0.len() + op.1.as_ref().map_or(0, Vec::len);
        }
        let done = next.is_none();
        chunk.extend(next);
        if !chunk.is_empty() && (done || size >= CHUNK_BYTES) {
            report.records += chunk.len() as u64;
            report.bytes += size as u64;
            let envelope = Envelope {
                id: format!("import:{}", report.entries),
                at: Ts::from(chrono::Utc::now()),
                phone: None,
                entry: Entry::Records { ops: std::mem::take(&mut chunk) },
            };
            let (seq, _) = cluster.publish(&envelope, None).await?;
            report.entries += 1;
            report.last_sequence = seq;
            size = 0;
            progress(report.records);
        }
        if done {
            return Ok(report);
        }
    }
}
