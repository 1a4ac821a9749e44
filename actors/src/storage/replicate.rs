//! The storage seam of cluster mode: writes that do not come from a lead's own commit.
//!
//! Lead actors write through [`Store::commit_lead`], and in cluster mode every node runs the
//! same lead actor over the same log, so those writes need nothing more. Other writes
//! (operators' records, delivery queues of integrations, an import) happen on one node; in
//! cluster mode they must reach every node's database. Such writes go through
//! [`Store::commit_shared`]: on a single node it is the ordinary durable commit; with a
//! [`Replicator`] set (cluster mode), the raw writes are published to the replicated log
//! and every node applies them with [`Store::apply_replicated`], the replicator returning
//! once this node has.

use super::keyspace::{Part, Writes};
use super::{Result, Store, StoreError};

/// One raw write of the keyspace: the key as stored (part prefix included) and the new
/// value, `None` to delete.
pub type RawOp = (Vec<u8>, Option<Vec<u8>>);

#[async_trait::async_trait]
pub trait Replicator: Send + Sync {
    /// Publishes `ops`; returns once they are replicated (and, see [`Replicator::applies_here`],
    /// applied on this node).
    async fn replicate(&self, ops: Vec<RawOp>) -> std::result::Result<(), String>;

    /// Whether this node applies what it publishes by reading the log (a running node). An
    /// offline command does not read the log: the store then applies the writes itself once
    /// they are replicated, and the node re-applies them, unchanged, when it reaches them.
    fn applies_here(&self) -> bool {
        true
    }
}

/// Parts that stay on each node: the schema marker, checkpoints and counters (`meta`) and
/// the HTTP idempotency records of requests this node answered.
const NODE_LOCAL: [Part; 2] = [Part::Meta, Part::Idempotency];

impl Store {
    /// Cluster mode: route [`Store::commit_shared`] writes through `replicator`. Set once, at
    /// start-up, before anything is served.
    pub fn set_replicator(&self, replicator: std::sync::Arc<dyn Replicator>) {
        let _ = self.replicator.set(replicator);
    }

    /// A durable write that every node must see (see the module comment).
    pub(crate) async fn commit_shared(&self, writes: Writes) -> Result<()> {
        match self.replicator.get() {
            Some(r) if r.applies_here() => r.replicate(writes.ops).await.map_err(StoreError::Replication),
            Some(r) => {
                r.replicate(writes.ops.clone()).await.map_err(StoreError::Replication)?;
                self.group.commit(writes).await
            }
            None => self.group.commit(writes).await,
        }
    }

    /// Applies writes taken from the replicated log (durably).
    pub async fn apply_replicated(&self, ops: Vec<RawOp>) -> Result<()> {
        self.group.commit(Writes { ops }).await
    }

    /// Every record a cluster shares, as raw writes (`leadline cluster import`): all parts but
    /// the node-local ones. In key order, lazily.
    pub fn shared_records(&self) -> impl Iterator<Item = Result<RawOp>> + '_ {
        let local: Vec<u8> = NODE_LOCAL.iter().map(|p| p.prefix()).collect();
        self.leads
            .whole_tree()
            .filter(move |kv| kv.as_ref().map_or(true, |(k, _)| k.first().is_some_and(|p| !local.contains(p))))
            .map(|kv| kv.map(|(k, v)| (k.to_vec(), Some(v.to_vec()))).map_err(StoreError::from))
    }
}

/// `meta` keys that belong in a cluster snapshot although `meta` stays on each node: the
/// gateway's per-day send counts (the daily cap), which every node derives from the log.
const SNAPSHOT_META: &[u8] = b"gateway:";

impl Store {
    /// What a snapshot of this replica holds (log compaction): every shared record and the
    /// daily send counts. In key order, lazily.
    pub fn snapshot_records(&self) -> impl Iterator<Item = Result<RawOp>> + '_ {
        let meta = Part::Meta.prefix();
        let counts = self
            .leads
            .whole_tree()
            .filter(move |kv| {
                kv.as_ref().map_or(true, |(k, _)| k.first() == Some(&meta) && k[1..].starts_with(SNAPSHOT_META))
            })
            .map(|kv| kv.map(|(k, v)| (k.to_vec(), Some(v.to_vec()))).map_err(StoreError::from));
        self.shared_records().chain(counts)
    }

    /// Deletes everything a snapshot replaces (before loading one into a stale replica):
    /// what [`Store::snapshot_records`] would export. Returns how many records it deleted.
    pub async fn clear_snapshot_records(&self) -> Result<u64> {
        let mut deleted = 0;
        let mut batch = Vec::new();
        for op in self.snapshot_records() {
            batch.push((op?.0, None));
            if batch.len() >= 1000 {
                deleted += batch.len() as u64;
                self.apply_replicated(std::mem::take(&mut batch)).await?;
            }
        }
        deleted += batch.len() as u64;
        self.apply_replicated(batch).await?;
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Suppression;
    use crate::phone::Phone;
    use crate::ts::Ts;
    use std::sync::{Arc, Mutex};

    /// Stands in for the cluster: applies what it is given to another store.
    struct Into(Store, Mutex<usize>);

    #[async_trait::async_trait]
    impl Replicator for Into {
        async fn replicate(&self, ops: Vec<RawOp>) -> std::result::Result<(), String> {
            *self.1.lock().unwrap() += 1;
            self.0.apply_replicated(ops).await.map_err(|e| e.to_string())
        }
    }

    #[tokio::test]
    async fn shared_writes_go_through_the_replicator_and_records_export_without_node_local_parts() {
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = (Store::open(a_dir.path()).unwrap(), Store::open(b_dir.path()).unwrap());
        let phone = Phone::parse("+12125550142").unwrap();
        let entry = Suppression { list: "admin".into(), reason: None, added_at: Ts::from_millis(0).unwrap() };
        let replicator = Arc::new(Into(b.clone(), Mutex::new(0)));
        a.set_replicator(replicator.clone());
        a.suppress(&phone, &entry).await.unwrap();
        assert_eq!(*replicator.1.lock().unwrap(), 1);
        assert_eq!(b.suppression(&phone).unwrap(), Some(entry.clone()), "the other store has it");
        assert_eq!(a.suppression(&phone).unwrap(), None, "written only as the log applies it");

        b.meta_put("node:local", &"x".to_string()).unwrap();
        let exported: Vec<RawOp> = b.shared_records().collect::<Result<_>>().unwrap();
        assert!(exported.iter().all(|(k, _)| k[0] != Part::Meta.prefix()), "meta stays on the node");
        let c_dir = tempfile::tempdir().unwrap();
        let c = Store::open(c_dir.path()).unwrap();
        c.apply_replicated(exported).await.unwrap();
        assert_eq!(c.suppression(&phone).unwrap(), Some(entry));
    }

    #[tokio::test]
    async fn a_snapshot_carries_the_daily_counts_and_clearing_leaves_node_local_records() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let phone = Phone::parse("+12125550142").unwrap();
        let entry = Suppression { list: "admin".into(), reason: None, added_at: Ts::from_millis(0).unwrap() };
        store.suppress(&phone, &entry).await.unwrap();
        store.meta_put("gateway:sent:2026-11-30", &3u32).unwrap();
        store.meta_put("cluster:applied", &"41".to_string()).unwrap();
        let keys: Vec<Vec<u8>> = store.snapshot_records().map(|op| op.unwrap().0).collect();
        let meta = Part::Meta.prefix();
        assert!(keys.iter().any(|k| k[0] == meta && k.ends_with(b"gateway:sent:2026-11-30")), "the day's count");
        assert!(!keys.iter().any(|k| k.ends_with(b"cluster:applied")), "the checkpoint stays on the node");

        assert_eq!(store.clear_snapshot_records().await.unwrap(), keys.len() as u64);
        assert_eq!(store.suppression(&phone).unwrap(), None);
        assert_eq!(store.meta_get::<u32>("gateway:sent:2026-11-30").unwrap(), None);
        assert_eq!(store.meta_get::<String>("cluster:applied").unwrap(), Some("41".into()));
        assert_eq!(store.snapshot_records().count(), 0);
    }
}
