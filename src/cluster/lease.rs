//! The gateway lease: one node at a time sends (so `account_mps`, per-sender pacing and
//! the daily cap hold for the whole cluster).
//!
//! The lease is the key `lease.gateway` in the `leadline_cluster` KV bucket. Its holder
//! renews it every third of `lease_ms` with an update conditional on the revision it last
//! wrote; another node takes it over with an update conditional on the revision it saw, once
//! that revision has not changed for `lease_ms` on the other node's own monotonic clock (NATS
//! 2.9 has no per-key TTL, and clocks of different machines are never compared). The holder
//! counts its lease valid for `lease_ms` from the moment it *sent* its last successful
//! renewal, so it stops sending before anyone can take over. Its provider calls are fenced
//! again by the log (`ClusterLink::record`).

use super::Cluster;
use leadline_core::actors::gateway::GatewayMsg;
use ractor::ActorRef;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const KEY: &str = "lease.gateway";
/// What a node's last heartbeat says when it stopped gracefully (its partitions move at once).
const STOPPED: &str = "stopped=true";

/// Until when this node may act as the lease holder (monotonic).
#[derive(Default)]
pub struct LeaseState {
    valid_until: Mutex<Option<Instant>>,
}

impl LeaseState {
    pub fn valid(&self) -> bool {
        self.valid_until.lock().ok().and_then(|v| *v).is_some_and(|until| Instant::now() < until)
    }

    fn set(&self, until: Option<Instant>) {
        if let Ok(mut v) = self.valid_until.lock() {
            *v = until;
        }
    }
}

/// Who holds the lease, as stored (the node id; it may have died within `lease_ms`).
pub async fn holder_in(kv: &async_nats::jetstream::kv::Store) -> Option<String> {
    let bytes = kv.get(KEY).await.ok().flatten()?;
    Some(String::from_utf8_lossy(&bytes).to_string()).filter(|s| !s.is_empty())
}

/// Runs the lease until `stop`; releases the lease on the way out so another node takes over
/// at once after a graceful stop. (The heartbeat runs in its own task, `partitions::spawn`,
/// so that slow reads there never delay a renewal.)
pub fn spawn(cluster: Cluster, gateway: ActorRef<GatewayMsg>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let lease = Duration::from_millis(cluster.settings.lease_ms);
        let tick = lease / 3;
        let me = cluster.node_id.clone();
        // The revision we wrote (holding), or the one we saw and since when (not holding).
        let mut held: Option<u64> = None;
        let mut seen: Option<(u64, Instant)> = None;
        let mut was_leading = false;
        loop {
            let started = Instant::now();
            held = match held {
                Some(rev) => match cluster.kv.update(KEY, me.clone().into(), rev).await {
                    Ok(next) => {
                        cluster.lease.set(Some(started + lease));
                        Some(next)
                    }
                    Err(e) if e.kind() == async_nats::jetstream::kv::UpdateErrorKind::WrongLastRevision => {
                        tracing::warn!(node = %me, "gateway lease lost to another node");
                        cluster.lease.set(None);
                        None
                    }
                    // NATS unreachable: keep trying; the lease runs out on its own clock.
                    Err(e) => {
                        tracing::warn!(error = %e, "gateway lease not renewed");
                        Some(rev)
                    }
                },
                None => try_take(&cluster, &me, &mut seen, lease, started).await,
            };
            let leading = cluster.is_leader();
            metrics::gauge!("leadline_cluster_gateway_leader").set(if leading { 1.0 } else { 0.0 });
            if leading && !was_leading {
                tracing::info!(node = %me, "gateway lease taken: this node sends");
                metrics::counter!("leadline_cluster_lease_changes_total").increment(1);
                let cluster = cluster.clone();
                let gateway = gateway.clone();
                tokio::spawn(async move {
                    // Apply everything the previous holder recorded before looking at the outbox.
                    while !cluster.catch_up_all(Duration::from_secs(5)).await && cluster.is_leader() {}
                    if cluster.is_leader() {
                        let _ = gateway.cast(GatewayMsg::Recover);
                    }
                });
            }
            was_leading = leading;
            tokio::select! {
                () = tokio::time::sleep(tick.saturating_sub(started.elapsed())) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        if let Some(rev) = held {
            cluster.lease.set(None);
            // Hand over at once: the others see the key deleted and take it.
            let _ = cluster.kv.update(KEY, Default::default(), rev).await;
        }
    })
}

async fn try_take(
    cluster: &Cluster,
    me: &str,
    seen: &mut Option<(u64, Instant)>,
    lease: Duration,
    started: Instant,
) -> Option<u64> {
    let entry = match cluster.kv.entry(KEY).await {
        Ok(entry) => entry,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the gateway lease");
            return None;
        }
    };
    let taken = match entry {
        // Never held, deleted, or released by a graceful stop (empty value): take it now.
        None => cluster.kv.create(KEY, me.to_string().into()).await.ok(),
        Some(e) if e.value.is_empty() || e.operation != async_nats::jetstream::kv::Operation::Put => {
            cluster.kv.update(KEY, me.to_string().into(), e.revision).await.ok()
        }
        // Our own lease from before a restart: nobody else renews it.
        Some(e) if e.value.as_ref() == me.as_bytes() => {
            cluster.kv.update(KEY, me.to_string().into(), e.revision).await.ok()
        }
        Some(e) => match *seen {
            Some((rev, since)) if rev == e.revision && since.elapsed() >= lease => {
                tracing::warn!(holder = %String::from_utf8_lossy(&e.value), "gateway lease not renewed for lease_ms; taking it over");
                cluster.kv.update(KEY, me.to_string().into(), e.revision).await.ok()
            }
            Some((rev, _)) if rev == e.revision => None,
            _ => {
                *seen = Some((e.revision, Instant::now()));
                None
            }
        },
    };
    if taken.is_some() {
        cluster.lease.set(Some(started + lease));
        *seen = None;
    }
    taken
}

/// A node's latest heartbeat (key `node.<id>`).
#[derive(Debug, Clone)]
pub struct Heartbeat {
    pub node: String,
    /// The key's revision: it moves with every heartbeat (liveness is judged on it).
    pub revision: u64,
    /// The last log sequence the node had applied.
    pub applied: u64,
    /// Its last heartbeat said it stopped gracefully.
    pub stopped: bool,
    /// When it was written (Unix seconds, the NATS server's clock).
    pub written: i64,
}

/// Every node's latest heartbeat, by node id. The ids come from the bucket stream's subject
/// list (one request to its leader), not from `Store::keys`, which creates a consumer each
/// time and, in a NATS cluster that lost a server, timed out.
pub async fn heartbeats(kv: &async_nats::jetstream::kv::Store) -> anyhow::Result<Vec<Heartbeat>> {
    use futures_util::TryStreamExt;
    let prefix = format!("$KV.{}.node.", kv.name);
    let subjects: Vec<(String, usize)> =
        kv.stream.clone().info_with_subjects(format!("{prefix}>")).await?.try_collect().await?;
    let mut ids: Vec<String> =
        subjects.into_iter().filter_map(|(s, _)| s.strip_prefix(&prefix).map(str::to_string)).collect();
    ids.sort();
    let mut found = Vec::new();
    for node in ids {
        let Ok(Some(e)) = kv.entry(format!("node.{node}")).await else { continue };
        found.push(Heartbeat {
            applied: applied_in(&e.value),
            stopped: stopped_in(&e.value),
            revision: e.revision,
            written: e.created.unix_timestamp(),
            node,
        });
    }
    Ok(found)
}

/// How long a node's heartbeat may stand still before its key is dropped (a node id that
/// will not come back, e.g. a container's host name), so the ids read on every tick do not
/// pile up. Judged on the bucket's timestamp against this machine's clock: a day leaves
/// room for any clock skew, and nothing but this clean-up depends on it.
const FORGET_AFTER_SECS: i64 = 24 * 60 * 60;

/// Drops `node`'s heartbeat if it was last written (`written`, Unix seconds) more than
/// [`FORGET_AFTER_SECS`] ago; true when it did.
pub async fn forgotten(cluster: &Cluster, node: &str, written: i64) -> bool {
    if chrono::Utc::now().timestamp() - written < FORGET_AFTER_SECS {
        return false;
    }
    let subject = format!("$KV.{}.node.{node}", cluster.kv.name);
    match cluster.kv.stream.purge().filter(subject).await {
        Ok(_) => {
            tracing::info!(node, "heartbeat silent for a day; forgotten");
            true
        }
        Err(e) => {
            tracing::warn!(node, error = %e, "cannot drop a stale heartbeat");
            false
        }
    }
}

/// Whether a heartbeat value says its node stopped gracefully (its last heartbeat).
fn stopped_in(value: &[u8]) -> bool {
    String::from_utf8_lossy(value).split_whitespace().any(|w| w == STOPPED)
}

/// The applied sequence a heartbeat value reports (`applied=<n> ...`).
fn applied_in(value: &[u8]) -> u64 {
    String::from_utf8_lossy(value)
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("applied="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// This node's heartbeat (`node.<id>`: applied sequence and lag, and whether it stopped), for
/// `leadline cluster status` and the other nodes' judgement of who is live; also refreshes
/// the lag gauge. True when JetStream took it.
pub async fn heartbeat(cluster: &Cluster, stopped: bool) -> bool {
    // The log's stream answers only with a leader: with the bucket's acknowledged write below,
    // the sign that JetStream can take events (readiness).
    let log_ok = match cluster.stream.get_info().await {
        Ok(info) => {
            cluster.last_seen.fetch_max(info.state.last_sequence, Ordering::Relaxed);
            true
        }
        Err(_) => false,
    };
    let lag = cluster.lag();
    metrics::gauge!("leadline_cluster_lag").set(lag as f64);
    metrics::gauge!("leadline_cluster_applied_sequence").set(cluster.applied() as f64);
    let mut value = format!("applied={} lag={} leader={}", cluster.applied(), lag, cluster.is_leader());
    if stopped {
        value = format!("{value} {STOPPED}");
    }
    let put = cluster.kv.put(format!("node.{}", cluster.node_id), value.into()).await.is_ok();
    if put && log_ok {
        cluster.acked();
    }
    put
}
