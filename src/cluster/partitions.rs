//! Partition owners: the log's partitions spread evenly over the live nodes.
//!
//! The assignment is one JSON value, the key `partitions.owners` of the `leadline_cluster`
//! bucket (an owner's node id per partition, `""` for none), written only with a CAS on its
//! revision. On every heartbeat tick each node reads the heartbeats, judges which nodes are
//! live (a heartbeat revision that moved within `lease_ms` on this node's own monotonic
//! clock; a node that stopped gracefully says so in its last heartbeat), and computes
//! [`balance`]: a live owner keeps its partitions up to its fair share, the rest go to the
//! nodes below theirs. Every node computes the same answer from the same view, so a
//! conflicting write only means another node wrote it first. A node counts its partitions
//! as its own until `lease_ms` after it sent its last successful heartbeat: before anyone
//! else can judge it dead, so a paused node (SIGSTOP) acts for none once it resumes until it
//! has read the assignment again.
//!
//! What an owner does: it fires the due timers (follow-ups, quiet-hours deferrals) of its
//! partitions' leads, one publication each instead of one per node. Decisions themselves
//! are still taken by every node from the log (`apply`), so every node answers reads for
//! every lead. An owner's work is idempotent (a wake-up's id de-duplicates it in the log),
//! so the brief overlap while a partition moves is harmless.

use super::Cluster;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const KEY: &str = "partitions.owners";

/// This node's partitions, and until when (monotonic) it may act for them.
#[derive(Default)]
pub struct Ownership {
    state: Mutex<(BTreeSet<u32>, Option<Instant>)>,
}

impl Ownership {
    /// The partitions this node may act for now.
    pub fn owned(&self) -> BTreeSet<u32> {
        match self.state.lock() {
            Ok(s) if s.1.is_some_and(|until| Instant::now() < until) => s.0.clone(),
            _ => BTreeSet::new(),
        }
    }

    pub fn owns(&self, partition: u32) -> bool {
        self.state.lock().is_ok_and(|s| s.1.is_some_and(|until| Instant::now() < until) && s.0.contains(&partition))
    }

    fn set(&self, partitions: BTreeSet<u32>, valid_until: Option<Instant>) {
        if let Ok(mut s) = self.state.lock() {
            *s = (partitions, valid_until);
        }
    }

    fn valid_until(&self) -> Option<Instant> {
        self.state.lock().ok().and_then(|s| s.1)
    }

    /// A graceful stop: act for nothing from now.
    pub fn release(&self) {
        self.set(BTreeSet::new(), None);
    }
}

/// Which nodes are live, judged on this node's monotonic clock from heartbeat revisions.
pub struct Liveness {
    lease: Duration,
    /// Per node: the heartbeat revision last seen, since when, and whether it said "stopped".
    seen: HashMap<String, (u64, Instant, bool)>,
}

impl Liveness {
    pub fn new(lease: Duration) -> Self {
        Liveness { lease, seen: HashMap::new() }
    }

    /// Notes a node's heartbeat. A node seen for the first time counts as live until its
    /// revision has stood still for a lease.
    pub fn observe(&mut self, node: &str, revision: u64, stopped: bool, now: Instant) {
        match self.seen.get_mut(node) {
            Some(s) if s.0 == revision => s.2 = stopped,
            _ => {
                self.seen.insert(node.to_string(), (revision, now, stopped));
            }
        }
    }

    /// The live nodes, sorted, always with `me`.
    pub fn live(&self, me: &str, now: Instant) -> Vec<String> {
        let mut live: BTreeSet<String> = self
            .seen
            .iter()
            .filter(|(_, (_, since, stopped))| !stopped && now.duration_since(*since) < self.lease)
            .map(|(node, _)| node.clone())
            .collect();
        live.insert(me.to_string());
        live.into_iter().collect()
    }
}

/// The balanced assignment (pure): each of the `live` nodes (sorted) gets `n / live` or one
/// more partitions, the first nodes in order taking the extra ones; a live owner keeps what
/// it has up to its share, so as few partitions move as the balance allows. An assignment
/// of another length (none yet) counts as all unowned.
pub fn balance(current: &[String], live: &[String], partitions: u32) -> Vec<String> {
    let n = partitions as usize;
    if live.is_empty() {
        return vec![String::new(); n];
    }
    let share = |i: usize| n / live.len() + usize::from(i < n % live.len());
    let index: HashMap<&str, usize> = live.iter().enumerate().map(|(i, node)| (node.as_str(), i)).collect();
    let mut held = vec![0usize; live.len()];
    let mut owners = vec![String::new(); n];
    if current.len() == n {
        for (p, owner) in current.iter().enumerate() {
            if let Some(&i) = index.get(owner.as_str()) {
                if held[i] < share(i) {
                    held[i] += 1;
                    owners[p] = owner.clone();
                }
            }
        }
    }
    for owner in owners.iter_mut().filter(|o| o.is_empty()) {
        // The node furthest below its share (the first such in order).
        let Some(i) =
            (0..live.len()).filter(|&i| held[i] < share(i)).max_by_key(|&i| (share(i) - held[i], usize::MAX - i))
        else {
            break;
        };
        held[i] += 1;
        *owner = live[i].clone();
    }
    owners
}

/// Sends this node's heartbeat and runs a [`tick`] every third of `lease_ms` until `stop`;
/// then acts for no partition and says "stopped" in a last heartbeat, so that the others
/// take its partitions at once.
pub fn spawn(cluster: Cluster, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let lease = Duration::from_millis(cluster.settings.lease_ms);
        let mut liveness = Liveness::new(lease);
        loop {
            let started = Instant::now();
            let beat = super::lease::heartbeat(&cluster, false).await;
            tick(&cluster, &mut liveness, started, beat).await;
            tokio::select! {
                () = tokio::time::sleep((lease / 3).saturating_sub(started.elapsed())) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        cluster.ownership.release();
        super::lease::heartbeat(&cluster, true).await;
    })
}

/// The assignment as stored, with its revision (`None`: never written).
pub async fn read(kv: &async_nats::jetstream::kv::Store) -> anyhow::Result<(Vec<String>, Option<u64>)> {
    match kv.entry(KEY).await? {
        Some(e) if e.operation == async_nats::jetstream::kv::Operation::Put => {
            Ok((serde_json::from_slice(&e.value).unwrap_or_default(), Some(e.revision)))
        }
        Some(e) => Ok((Vec::new(), Some(e.revision))),
        None => Ok((Vec::new(), None)),
    }
}

/// One round, run after this node's heartbeat (sent at `started`, successfully if
/// `heartbeat_ok`): judge the live nodes, rebalance if needed, and take note of what this
/// node owns.
async fn tick(cluster: &Cluster, liveness: &mut Liveness, started: Instant, heartbeat_ok: bool) {
    let me = cluster.node_id.as_str();
    let now = Instant::now();
    let Ok(beats) = super::lease::heartbeats(&cluster.kv).await else { return };
    for beat in beats {
        if beat.node != me && super::lease::forgotten(cluster, &beat.node, beat.written).await {
            continue;
        }
        liveness.observe(&beat.node, beat.revision, beat.stopped, now);
    }
    let live = liveness.live(me, now);
    let Ok((current, revision)) = read(&cluster.kv).await else { return };
    let wanted = balance(&current, &live, cluster.settings.partitions);
    let owners = if wanted == current {
        current
    } else {
        let value = serde_json::to_vec(&wanted).unwrap_or_default();
        let written = match revision {
            Some(rev) => cluster.kv.update(KEY, value.into(), rev).await.is_ok(),
            None => cluster.kv.create(KEY, value.into()).await.is_ok(),
        };
        if written {
            tracing::info!(live = ?live, "partitions rebalanced");
            wanted
        } else {
            // Another node wrote first: what it wrote holds until the next round.
            let Ok((stored, _)) = read(&cluster.kv).await else { return };
            stored
        }
    };
    let mine: BTreeSet<u32> =
        owners.iter().enumerate().filter(|(_, o)| o.as_str() == me).map(|(p, _)| p as u32).collect();
    let before = cluster.ownership.owned();
    let gained = mine.difference(&before).count();
    if gained > 0 {
        metrics::counter!("leadline_cluster_partition_moves_total").increment(gained as u64);
    }
    let until = if heartbeat_ok { Some(started + liveness.lease) } else { cluster.ownership.valid_until() };
    metrics::gauge!("leadline_cluster_partitions_owned").set(mine.len() as f64);
    cluster.ownership.set(mine, until);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nodes(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn counts(owners: &[String]) -> HashMap<String, usize> {
        let mut c = HashMap::new();
        for o in owners {
            *c.entry(o.clone()).or_insert(0) += 1;
        }
        c
    }

    #[test]
    fn the_first_assignment_spreads_partitions_evenly() {
        let owners = balance(&[], &nodes(&["a", "b", "c"]), 8);
        let c = counts(&owners);
        assert_eq!((c["a"], c["b"], c["c"]), (3, 3, 2));
    }

    #[test]
    fn a_dead_nodes_partitions_go_to_the_others_and_nothing_else_moves() {
        let before = balance(&[], &nodes(&["a", "b", "c"]), 8);
        let after = balance(&before, &nodes(&["a", "c"]), 8);
        let c = counts(&after);
        assert_eq!((c["a"], c["c"]), (4, 4));
        for (p, owner) in before.iter().enumerate() {
            if owner != "b" {
                assert_eq!(&after[p], owner, "partition {p} moved though its owner lives");
            }
        }
    }

    #[test]
    fn a_joining_node_takes_only_its_share() {
        let before = balance(&[], &nodes(&["a", "c"]), 8);
        let after = balance(&before, &nodes(&["a", "b", "c"]), 8);
        let moved = before.iter().zip(&after).filter(|(x, y)| x != y).count();
        assert_eq!(counts(&after)["b"], 3);
        assert_eq!(moved, 3, "only the newcomer's share moves: {before:?} -> {after:?}");
    }

    #[test]
    fn liveness_follows_heartbeat_revisions_on_the_local_clock() {
        let lease = Duration::from_millis(100);
        let mut l = Liveness::new(lease);
        let t0 = Instant::now();
        l.observe("a", 1, false, t0);
        l.observe("b", 5, false, t0);
        l.observe("c", 9, true, t0);
        assert_eq!(l.live("me", t0), nodes(&["a", "b", "me"]), "a stopped node is not live");
        l.observe("a", 2, false, t0 + lease);
        l.observe("b", 5, false, t0 + lease);
        assert_eq!(l.live("me", t0 + lease), nodes(&["a", "me"]), "b's heartbeat stood still for a lease");
    }

    proptest! {
        /// Whatever the previous assignment, every partition gets a live owner, shares differ
        /// by at most one, and a balanced assignment stays as it is.
        #[test]
        fn balance_is_even_and_keeps_live_owners(
            previous in proptest::collection::vec(0usize..6, 0..20),
            alive in proptest::collection::btree_set(0usize..6, 1..6),
            partitions in 1u32..20,
        ) {
            let names = ["a", "b", "c", "d", "e", "f"];
            let current: Vec<String> = previous.iter().map(|&i| names[i].to_string()).collect();
            let live: Vec<String> = alive.iter().map(|&i| names[i].to_string()).collect();
            let owners = balance(&current, &live, partitions);
            prop_assert_eq!(owners.len(), partitions as usize);
            prop_assert!(owners.iter().all(|o| live.contains(o)));
            let c = counts(&owners);
            let held: Vec<usize> = live.iter().map(|n| c.get(n).copied().unwrap_or(0)).collect();
            let (lo, hi) = (held.iter().min().copied().unwrap_or(0), held.iter().max().copied().unwrap_or(0));
            prop_assert!(hi - lo <= 1, "uneven: {:?}", held);
            prop_assert_eq!(&balance(&owners, &live, partitions), &owners, "a balanced assignment is left alone");
        }
    }
}
