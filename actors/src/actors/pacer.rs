//! Sending limits: account-wide messages per second (governor), per-sender-number messages
//! per second, and a daily cap per brand.
//!
//! governor cannot check two limiters atomically (boinkor-net/governor#117): checking one
//! consumes a token even if the other refuses. So the pacer is the single consumer of both,
//! behind one lock: it waits until the sender is ready, then for the account limiter, and
//! only then marks the sender used, so the moment a token is taken is the moment of the
//! send for both limits, and neither can be exceeded (tech.md §3).

use crate::clock::Clock;
use crate::storage::Store;
use crate::ts::Ts;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, MutexGuard};

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
    /// Provider calls (send tasks) at most at once; more texts wait in the gateway's backlog.
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
    daily_cap: u32,
    store: Store,
    clock: Arc<dyn Clock>,
}

impl Pacer {
    pub fn new(limits: &SendLimits, store: Store, clock: Arc<dyn Clock>) -> Pacer {
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
            daily_cap: limits.daily_cap,
            store,
            clock,
        }
    }

    /// Takes the (single) sending turn for `sender`: waits out the daily cap (unless
    /// `required_reply`: an opt-out confirmation or HELP answer must not wait a day), waits
    /// until `sender` is free *without* holding the turn (so other numbers keep sending),
    /// then holds the pacer until [`Turn::go`] or drop. The caller does its last checks while
    /// holding it, so the moment the limiters are consumed is the moment of the send.
    pub async fn acquire(&self, sender: &str, required_reply: bool) -> Turn<'_> {
        let started = Instant::now();
        if !required_reply {
            self.wait_for_daily_cap().await;
        }
        loop {
            let next_ok = self.next_ok.lock().await;
            let free_at = next_ok.get(sender).copied();
            match free_at {
                Some(at) if at > Instant::now() => {
                    drop(next_ok);
                    tokio::time::sleep(at.saturating_duration_since(Instant::now())).await;
                }
                _ => return Turn { pacer: self, next_ok, started, sender: sender.to_string() },
            }
        }
    }

    fn day_key(&self) -> String {
        format!("gateway:sent:{}", Ts::from(self.clock.now()).0.format("%Y-%m-%d"))
    }

    /// Over the brand's daily cap the send waits for the next UTC day; it is not dropped.
    async fn wait_for_daily_cap(&self) {
        if self.daily_cap == 0 {
            return;
        }
        loop {
            let sent: u32 = self.store.meta_get(&self.day_key()).ok().flatten().unwrap_or(0);
            if sent < self.daily_cap {
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
        let key = self.day_key();
        let sent: u32 = self.store.meta_get(&key).ok().flatten().unwrap_or(0);
        if let Err(e) = self.store.meta_put(&key, &(sent + 1)) {
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
        metrics::histogram!("leadline_gateway_wait_seconds").record(self.started.elapsed().as_secs_f64());
    }
}
