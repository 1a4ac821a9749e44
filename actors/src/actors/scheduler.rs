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
use crate::storage::Store;
use crate::ts::Ts;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

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
    /// Cluster mode: wake-ups go through the log (every node fires them; the log's
    /// de-duplication keeps one), and a timer is removed once the log has its wake-up.
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
                let due = match st.args.store.due_timers(now, BATCH) {
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
                        let dedupe = format!("wake:{}:{}", timer.phone.as_str(), timer.due.millis());
                        tokio::spawn(async move {
                            if link.publish(&timer.phone, Event::Wake, dedupe).await {
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
