//! `leadline cluster status`: what the cluster looks like from NATS (works while the
//! service runs, on any machine that reaches NATS).

use super::{connect, lease, log, partitions, BUCKET};
use crate::config::ClusterSettings;
use anyhow::Context;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ClusterStatus {
    pub nats_url: String,
    /// The partition count recorded on first start.
    pub partitions: Option<u32>,
    /// JetStream replicas of the log.
    pub replicas: usize,
    /// Entries in the log and the last sequence.
    pub messages: u64,
    /// The log's first entry: above 1 once a snapshot let older entries be purged.
    pub first_sequence: u64,
    pub last_sequence: u64,
    /// The latest complete snapshot (log compaction), if any.
    pub snapshot: Option<super::snapshot::Manifest>,
    /// What the snapshots' stream holds: the latest snapshot's chunks (older ones are purged
    /// with the log), and those of a snapshot under way.
    pub snapshot_messages: u64,
    pub snapshot_bytes: u64,
    /// The node holding the gateway lease (it sends); `null` when none does.
    pub gateway_lease: Option<String>,
    pub nodes: Vec<NodeStatus>,
    /// Partitions no node owns (none yet, or their owner's node id is gone).
    pub unowned_partitions: Vec<u32>,
}

#[derive(Debug, Serialize)]
pub struct NodeStatus {
    pub node: String,
    /// The last log sequence the node had applied at its latest heartbeat.
    pub applied: u64,
    /// `last_sequence - applied`.
    pub lag: u64,
    /// Seconds since its latest heartbeat (every third of `lease_ms`; a stopped node's
    /// heartbeat ages).
    pub heartbeat_age_secs: i64,
    /// It stopped gracefully (its last heartbeat said so).
    pub stopped: bool,
    /// The partitions assigned to it (it fires their leads' timers).
    pub partitions: Vec<u32>,
}

pub async fn status(settings: &ClusterSettings) -> anyhow::Result<ClusterStatus> {
    let client = connect::connect(settings, "status", std::time::Duration::ZERO).await?;
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream(log::STREAM).await.context("no leadline log in this NATS (never started?)")?;
    let info = stream.get_info().await.context("cannot read the log's state")?;
    let kv = js.get_key_value(BUCKET).await.context("cannot open the leadline_cluster bucket")?;
    let partitions = kv.get("partitions").await.ok().flatten().and_then(|b| String::from_utf8_lossy(&b).parse().ok());
    let last_sequence = info.state.last_sequence;
    let snapshots = match js.get_stream(super::snapshot::STREAM).await {
        Ok(mut stream) => stream.info().await.map(|i| (i.state.messages, i.state.bytes)).unwrap_or_default(),
        Err(_) => (0, 0),
    };
    let (owners, _) = partitions::read(&kv).await.unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    let beats = lease::heartbeats(&kv).await.context("cannot read the nodes' heartbeats")?;
    let nodes: Vec<NodeStatus> = beats
        .into_iter()
        .map(|beat| NodeStatus {
            partitions: owned_by(&owners, &beat.node),
            applied: beat.applied,
            lag: last_sequence.saturating_sub(beat.applied),
            heartbeat_age_secs: now - beat.written,
            stopped: beat.stopped,
            node: beat.node,
        })
        .collect();
    let unowned_partitions = (0..partitions.unwrap_or(0))
        .filter(|&p| owners.get(p as usize).is_none_or(|o| !nodes.iter().any(|n| &n.node == o)))
        .collect();
    Ok(ClusterStatus {
        nats_url: settings.nats_url.clone(),
        partitions,
        replicas: info.config.num_replicas,
        messages: info.state.messages,
        first_sequence: info.state.first_sequence,
        last_sequence,
        snapshot: super::snapshot::manifest(&kv).await.ok().flatten(),
        snapshot_messages: snapshots.0,
        snapshot_bytes: snapshots.1,
        gateway_lease: lease::holder_in(&kv).await,
        nodes,
        unowned_partitions,
    })
}

fn owned_by(owners: &[String], node: &str) -> Vec<u32> {
    owners.iter().enumerate().filter(|(_, o)| o.as_str() == node).map(|(p, _)| p as u32).collect()
}
