//! Offline commands in cluster mode. Commands that open one node's database while it is
//! stopped (`leadline suppress import`, `leadline operators …`, `leadline compliance
//! rescan`) would otherwise change that node's replica only, while another node, the
//! gateway lease holder, sends: a number suppressed on one replica would still be texted.
//! With `[cluster] enabled = true` their writes go through the replicated log instead, so
//! every node applies them.

use super::log::Entry;
use super::Cluster;
use crate::config::Settings;
use leadline_core::clock::SystemClock;
use leadline_core::model::Event;
use leadline_core::storage::{RawOp, Replicator, Store};
use leadline_core::Phone;
use std::sync::Arc;
use std::time::Duration;

/// Publishes shared writes (suppressions, operators) to the log; the store applies them too.
struct Offline(Settings);

impl Offline {
    /// One connection per publication: each CLI step runs on its own short-lived runtime.
    async fn connect(&self) -> Result<Cluster, String> {
        let settings = &self.0;
        Cluster::connect(&settings.cluster, settings.server.bind.port(), Arc::new(SystemClock), Duration::ZERO)
            .await
            .map_err(|e| format!("cannot reach the cluster log: {e:#}"))
    }
}

#[async_trait::async_trait]
impl Replicator for Offline {
    async fn replicate(&self, ops: Vec<RawOp>) -> Result<(), String> {
        let cluster = self.connect().await?;
        cluster.record(None, Entry::Records { ops }).await.map_err(|e| e.to_string())
    }

    fn applies_here(&self) -> bool {
        false
    }
}

/// In cluster mode, makes the store's shared writes go through the log.
pub fn attach(settings: &Settings, store: &Store) {
    if settings.cluster.enabled {
        store.set_replicator(Arc::new(Offline(settings.clone())));
    }
}

/// Cluster mode's `compliance rescan`: each finding becomes the lead's `RevocationFound`
/// event in the log (its id the rescan's key, so a re-run is a duplicate), applied by every
/// node through the lead's actor like any event.
pub async fn publish_events(settings: &Settings, events: Vec<(Phone, Event, String)>) -> Result<(), String> {
    let cluster = Offline(settings.clone()).connect().await?;
    for (phone, event, key) in events {
        let envelope = super::log::Envelope {
            id: key.clone(),
            at: leadline_core::Ts::from(chrono::Utc::now()),
            phone: Some(phone),
            entry: Entry::Lead { event, dedupe_key: Some(key) },
        };
        cluster.publish(&envelope, None).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}
