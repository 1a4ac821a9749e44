//! The scheduler: wakes lead actors whose deferred texts are due.
//!
//! Wake-ups live in sled's `timers` tree (written in the same transaction as the lead's
//! snapshot), so they survive restarts: one that fell due while the service was down
//! fires on the first tick. A timer is removed only after the lead acknowledged the wake-up;
//! a wake-up is idempotent (it releases only what is due), so a repeat after a crash is harmless.
//! Ticks use the injected clock, so tests move time without waiting.

use super::lead::LeadMsg;
use super::link::ClusterLink;
use super::supervisor::SupervisorMsg;
use crate::clock::Clock;
use crate::model::Event;
use crate::phone::Phone;
use crate::storage::Store;
use crate::ts::Ts;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// The id of the wake-up for a lead's timer due at `due` (its log entry's id and dedupe key).
pub fn wake_key(phone: &Phone, due: Ts) -> String {
    format!("wake:{}:{}", phone.as_str(), due.millis())
}

/// The timer a wake-up's id names, if it is one ([`wake_key`]).
pub fn woken_timer(key: &str) -> Option<(Phone, Ts)> {
    let (phone, due) = key.strip_prefix("wake:")?.rsplit_once(':')?;
    Some((Phone::parse(phone).ok()?, Ts::from_millis(due.parse().ok()?)?))
}

pub enum SchedulerMsg {
    Tick,
    /// A wake-up was handled (or gave up); the key may be fired again if still present.
    Done(Vec<u8>),
}

pub struct SchedulerArgs {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub supervisor: ActorRef<SupervisorMsg>,
    pub tick: Duration,
    /// Cluster mode: the owner of a lead's partition fires its timers into the log (the
    /// wake-up's id, [`wake_key`], de-duplicates a second firing while a partition moves), and
    /// every node removes the timer as it applies the wake-up.
    pub link: Option<Arc<dyn ClusterLink>>,
}

pub struct SchedulerState {
    args: SchedulerArgs,
    in_flight: HashSet<Vec<u8>>,
    /// When the `leadline_timers_scheduled` gauge was last recounted (first: a minute after start).
    counted_at: std::time::Instant,
}

pub struct Scheduler;

/// Wake-ups handed out per tick, so a backlog after downtime drains in bounded steps.
const BATCH: usize = 500;

/// Counting the timers is a scan of the whole tree in sled (one timer per lead with a
/// follow-up due): done at most this often and off the async threads, not on every tick.
/// Counted on every tick, it took 68% of the CPU with 1M stored leads (leadline-load
/// --probe million).
const COUNT_EVERY: Duration = Duration::from_secs(60);

impl Actor for Scheduler {
    type Msg = SchedulerMsg;
    type State = SchedulerState;
    type Arguments = SchedulerArgs;

    async fn pre_start(
        &self,
        me: ActorRef<SchedulerMsg>,
        args: SchedulerArgs,
    ) -> Result<SchedulerState, ActorProcessingErr> {
        me.send_interval(args.tick, || SchedulerMsg::Tick);
        Ok(SchedulerState { args, in_flight: HashSet::new(), counted_at: std::time::Instant::now() })
    }

    async fn handle(
        &self,
        me: ActorRef<SchedulerMsg>,
        msg: SchedulerMsg,
        st: &mut SchedulerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SchedulerMsg::Done(key) => {
                st.in_flight.remove(&key);
            }
            SchedulerMsg::Tick => {
                let now = Ts::from(st.args.clock.now());
                // In cluster mode a node fires only the timers of the partitions it owns.
                let link = st.args.link.clone();
                let mine = |phone: &Phone| link.as_ref().is_none_or(|l| l.owns(phone));
                let due = match st.args.store.due_timers_of(now, BATCH, mine) {
                    Ok(due) => due,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read timers");
                        return Ok(());
                    }
                };
                if st.counted_at.elapsed() >= COUNT_EVERY {
                    st.counted_at = std::time::Instant::now();
                    let store = st.args.store.clone();
                    tokio::task::spawn_blocking(move || {
                        metrics::gauge!("leadline_timers_scheduled").set(store.timer_count() as f64);
                    });
                }
                for timer in due {
                    if !st.in_flight.insert(timer.key.clone()) {
                        continue;
                    }
                    if let Some(link) = st.args.link.clone() {
                        let (store, me) = (st.args.store.clone(), me.clone());
                        let dedupe = wake_key(&timer.phone, timer.due);
                        tokio::spawn(async move {
                            if link.publish(&timer.phone, Event::Wake, dedupe).await {
                                metrics::counter!("leadline_timers_fired_total").increment(1);
                                if let Err(e) = store.remove_timer(&timer.key) {
                                    tracing::error!(error = %e, "cannot remove a fired timer");
                                }
                            }
                            let _ = me.cast(SchedulerMsg::Done(timer.key));
                        });
                        continue;
                    }
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    let wake =
                        LeadMsg::Apply { event: Event::Wake, dedupe_key: None, reply: Some(tx.into()), at: None };
                    if st.args.supervisor.cast(SupervisorMsg::Route(timer.phone.clone(), wake)).is_err() {
                        st.in_flight.remove(&timer.key);
                        continue;
                    }
                    let store = st.args.store.clone();
                    let me = me.clone();
                    tokio::spawn(async move {
                        if let Ok(Ok(Ok(_))) = tokio::time::timeout(Duration::from_secs(30), rx).await {
                            metrics::counter!("leadline_timers_fired_total").increment(1);
                            if let Err(e) = store.remove_timer(&timer.key) {
                                tracing::error!(error = %e, "cannot remove a fired timer");
                            }
                        }
                        let _ = me.cast(SchedulerMsg::Done(timer.key));
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_up_id_names_its_timer() {
        let phone = Phone::parse("+12125550142").unwrap();
        let due = Ts::from_millis(1_780_000_000_123).unwrap();
        let key = wake_key(&phone, due);
        assert_eq!(key, "wake:+12125550142:1780000000123");
        assert_eq!(woken_timer(&key), Some((phone, due)));
        assert_eq!(woken_timer("inbound:SM123"), None);
        assert_eq!(woken_timer("wake:not-a-number:12"), None);
    }
}
