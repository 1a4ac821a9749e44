//! Sending limits: account-wide messages per second (governor), per-sender-number messages
//! per second, and a daily cap per brand.
//!
//! governor cannot check two limiters atomically (boinkor-net/governor#117): checking one
//! consumes a token even if the other refuses. So the pacer is the single consumer of both,
//! behind one lock: it waits until the sender is ready, then for the account limiter, and
//! only then marks the sender used, so the moment a token is taken is the moment of the
//! send for both limits, and neither can be exceeded (measured in `actors/tests/priority_lane.rs`).
//!
//! Two lanes share that one turn ([`Lane`]). Replies the law requires (an opt-out
//! confirmation must go within minutes, 47 CFR 64.1200(a)(12); we promise seconds) take the
//! priority lane: while any of them waits, no automated text takes a turn, so a STOP is
//! confirmed after at most the automated send already holding the turn plus the sender's
//! period, however many alerts are queued. Priority texts still wait for their sender to be
//! free and for the account limiter: carriers enforce both.

use crate::clock::Clock;
use crate::model::TextKind;
use crate::storage::Store;
use crate::ts::Ts;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Mutex, MutexGuard};

/// Which queue a text waits in for its sending turn. The one place the priority rule lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Replies the law requires (opt-out confirmation, HELP) and the opt-in confirmation:
    /// ahead of every automated text, not held by the daily cap or the gateway's backlog.
    Priority,
    /// Automated texts (first contact, alerts, follow-ups): FIFO-ish behind the priority lane.
    Normal,
}

impl Lane {
    pub fn of(kind: TextKind) -> Lane {
        if kind.is_automated() {
            Lane::Normal
        } else {
            Lane::Priority
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Lane::Priority => "priority",
            Lane::Normal => "normal",
        }
    }
}

/// `[gateway.limits]` in config.toml.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendLimits {
    /// Messages per second for the whole account (the 10DLC campaign's throughput).
    pub account_mps: NonZeroU32,
    /// Messages per second from one sender number.
    pub sender_mps: NonZeroU32,
    /// Texts per UTC day for the brand (T-Mobile-style daily cap); 0 = no cap.
    pub daily_cap: u32,
    /// true: never more than `account_mps` in ANY one-second window (burst 1).
    /// false: governor's GCRA with burst = `account_mps` (can pass up to 2x in a sliding second).
    pub strict_window: bool,
    /// Automated send tasks at most at once; more texts wait in the gateway's backlog.
    /// Required replies (the priority lane) are not counted: they never wait in the backlog.
    pub max_concurrent_sends: usize,
}

impl Default for SendLimits {
    fn default() -> Self {
        SendLimits {
            account_mps: NonZeroU32::MIN.saturating_add(9),
            sender_mps: NonZeroU32::MIN,
            daily_cap: 0,
            strict_window: true,
            max_concurrent_sends: 1024,
        }
    }
}

pub struct Pacer {
    account: DefaultDirectRateLimiter,
    sender_period: Duration,
    next_ok: Mutex<HashMap<String, Instant>>,
    /// How many priority texts are waiting for a turn. A watch, not an atomic plus
    /// `Notify`: `wait_for` checks the value and subscribes to changes in one step, so a
    /// normal acquirer cannot miss the drop to zero (no lost wake-up).
    priority_waiting: watch::Sender<usize>,
    daily_cap: u32,
    /// Cluster mode: today's count is kept by applying the log (`count_attempt`, on every
    /// node), so a new lease holder starts from the cluster's count; the pacer only reads it.
    counted_by_log: bool,
    store: Store,
    clock: Arc<dyn Clock>,
}

/// The `meta` key of the sends counted on `day` (UTC).
fn day_key(day: Ts) -> String {
    format!("gateway:sent:{}", day.0.format("%Y-%m-%d"))
}

/// Counts one send attempt of `at`'s UTC day toward the daily cap (cluster mode: done by every
/// node as it applies the first `Attempting` of a text from the log).
pub fn count_attempt(store: &Store, at: Ts) -> Result<(), crate::storage::StoreError> {
    let key = day_key(at);
    let sent: u32 = store.meta_get(&key)?.unwrap_or(0);
    store.meta_put(&key, &(sent + 1))
}

impl Pacer {
    pub fn new(limits: &SendLimits, store: Store, clock: Arc<dyn Clock>, counted_by_log: bool) -> Pacer {
        let mps = limits.account_mps;
        let quota = if limits.strict_window {
            Quota::with_period(Duration::from_secs(1) / mps.get()).unwrap_or_else(|| Quota::per_second(mps))
        } else {
            Quota::per_second(mps)
        };
        Pacer {
            account: RateLimiter::direct(quota),
            sender_period: Duration::from_secs(1) / limits.sender_mps.get(),
            next_ok: Mutex::new(HashMap::new()),
            priority_waiting: watch::Sender::new(0),
            daily_cap: limits.daily_cap,
            counted_by_log,
            store,
            clock,
        }
    }

    /// Takes the (single) sending turn for `sender`: waits out the daily cap (not in the
    /// priority lane: an opt-out confirmation or HELP answer must not wait a day), waits
    /// until `sender` is free *without* holding the turn (so other numbers keep sending),
    /// then holds the pacer until [`Turn::go`] or drop. The caller does its last checks while
    /// holding it, so the moment the limiters are consumed is the moment of the send.
    ///
    /// The priority rule: a normal acquirer waits while any priority acquirer is waiting, and
    /// re-checks after it gets the lock (it may have queued on the fair mutex before the
    /// priority text arrived): if one is waiting it gives the lock up at once, so the
    /// automated texts queued ahead of a priority text on the mutex cost a lock hand-off each,
    /// not a turn. A priority text waits for every sender while it waits for its own, which
    /// pauses other numbers for at most one sender period; they are rare, and letting other
    /// numbers' automated texts through would put their turns (and account tokens) ahead of it.
    pub async fn acquire(&self, sender: &str, lane: Lane) -> Turn<'_> {
        let started = Instant::now();
        // Counted from here until the turn is taken, or until the wait is abandoned (a stop
        // drops this future): the guard's drop uncounts it.
        let _waiting = match lane {
            Lane::Priority => Some(PriorityWaiter::new(&self.priority_waiting)),
            Lane::Normal => {
                self.wait_for_daily_cap().await;
                None
            }
        };
        let mut priority = self.priority_waiting.subscribe();
        loop {
            if lane == Lane::Normal {
                // Err only if the sender is gone; it lives as long as `self`.
                let _ = priority.wait_for(|n| *n == 0).await;
            }
            let next_ok = self.next_ok.lock().await;
            if lane == Lane::Normal && *self.priority_waiting.borrow() > 0 {
                continue; // drops the lock: a priority text goes first
            }
            match next_ok.get(sender).copied() {
                Some(at) if at > Instant::now() => {
                    drop(next_ok);
                    tokio::time::sleep(at.saturating_duration_since(Instant::now())).await;
                }
                // The daily cap is checked again holding the turn: the check before the wait
                // lets every waiting text through at once when the count is below the cap.
                _ if lane == Lane::Normal && self.cap_reached() => {
                    drop(next_ok);
                    metrics::gauge!("leadline_gateway_daily_cap_reached").set(1.0);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                _ => return Turn { pacer: self, next_ok, started, sender: sender.to_string(), lane },
            }
        }
    }

    fn day_key(&self) -> String {
        day_key(Ts::from(self.clock.now()))
    }

    /// Today's sends reached the cap (never with no cap).
    fn cap_reached(&self) -> bool {
        self.daily_cap > 0 && self.store.meta_get::<u32>(&self.day_key()).ok().flatten().unwrap_or(0) >= self.daily_cap
    }

    /// Over the brand's daily cap the send waits for the next UTC day; it is not dropped.
    async fn wait_for_daily_cap(&self) {
        if self.daily_cap == 0 {
            return;
        }
        loop {
            if !self.cap_reached() {
                return;
            }
            metrics::gauge!("leadline_gateway_daily_cap_reached").set(1.0);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    fn count_today(&self) {
        if self.daily_cap == 0 {
            return;
        }
        metrics::gauge!("leadline_gateway_daily_cap_reached").set(0.0);
        if self.counted_by_log {
            return;
        }
        if let Err(e) = count_attempt(&self.store, Ts::from(self.clock.now())) {
            tracing::error!(error = %e, "cannot count today's sends");
        }
    }
}

/// The exclusive right to send next.
pub struct Turn<'a> {
    pacer: &'a Pacer,
    next_ok: MutexGuard<'a, HashMap<String, Instant>>,
    started: Instant,
    sender: String,
    lane: Lane,
}

/// Counts one priority text as waiting while it lives.
struct PriorityWaiter<'a>(&'a watch::Sender<usize>);

impl<'a> PriorityWaiter<'a> {
    fn new(count: &'a watch::Sender<usize>) -> Self {
        count.send_modify(|n| *n += 1);
        PriorityWaiter(count)
    }
}

impl Drop for PriorityWaiter<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Turn<'_> {
    /// Waits for the account limiter, marks the sender used, and gives the turn up.
    pub async fn go(mut self) {
        self.pacer.account.until_ready().await;
        let sent_at = Instant::now();
        let sender = std::mem::take(&mut self.sender);
        self.next_ok.insert(sender, sent_at + self.pacer.sender_period);
        if self.next_ok.len() > 10_000 {
            self.next_ok.retain(|_, at| *at > sent_at);
        }
        self.pacer.count_today();
        metrics::histogram!("leadline_gateway_wait_seconds", "lane" => self.lane.as_str())
            .record(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    fn pacer(sender_mps: u32, dir: &tempfile::TempDir) -> Arc<Pacer> {
        let limits = SendLimits {
            account_mps: NonZeroU32::new(1_000).unwrap(),
            sender_mps: NonZeroU32::new(sender_mps).unwrap(),
            ..SendLimits::default()
        };
        Arc::new(Pacer::new(&limits, Store::open(dir.path()).unwrap(), Arc::new(SystemClock), false))
    }

    type Log = Arc<std::sync::Mutex<Vec<Lane>>>;

    /// Takes a turn on the one sender and notes its lane in `log` while holding it.
    fn spawn_turn(tasks: &mut tokio::task::JoinSet<()>, pacer: &Arc<Pacer>, log: &Log, lane: Lane) {
        let (pacer, log) = (pacer.clone(), log.clone());
        tasks.spawn(async move {
            let turn = pacer.acquire("", lane).await;
            log.lock().unwrap().push(lane);
            turn.go().await;
        });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_priority_turn_comes_before_every_waiting_normal_one() {
        let dir = tempfile::tempdir().unwrap();
        let pacer = pacer(50, &dir); // a turn every 20 ms
        let log: Log = Arc::default();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..30 {
            spawn_turn(&mut tasks, &pacer, &log, Lane::Normal);
        }
        while log.lock().unwrap().len() < 3 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let before = log.lock().unwrap().len();
        spawn_turn(&mut tasks, &pacer, &log, Lane::Priority);
        for _ in 0..10 {
            spawn_turn(&mut tasks, &pacer, &log, Lane::Normal);
        }
        while tasks.join_next().await.is_some() {}
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 41);
        let at = log.iter().position(|l| *l == Lane::Priority).unwrap();
        // At most the normal turn being taken as the priority one arrived goes in between.
        assert!(at <= before + 1, "priority turn was #{at}, arrived after #{before}");
    }

    #[tokio::test]
    async fn an_abandoned_priority_wait_does_not_block_normal_turns() {
        let dir = tempfile::tempdir().unwrap();
        let pacer = pacer(5, &dir); // a turn every 200 ms
        pacer.acquire("", Lane::Normal).await.go().await;
        // The sender is busy: this priority wait is abandoned (as a stop abandons it).
        let gave_up = tokio::time::timeout(Duration::from_millis(20), pacer.acquire("", Lane::Priority)).await;
        assert!(gave_up.is_err());
        assert_eq!(*pacer.priority_waiting.borrow(), 0);
        let normal = tokio::time::timeout(Duration::from_secs(2), pacer.acquire("", Lane::Normal)).await;
        assert!(normal.is_ok(), "a normal turn waited for a priority text that was gone");
    }
}
