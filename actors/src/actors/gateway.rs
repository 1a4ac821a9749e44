//! The gateway: the only way a text leaves leadline.
//!
//! For each text it: waits its turn (account and per-sender rates, daily cap: `pacer`),
//! re-runs the compliance gate on the lead's latest snapshot (an opt-out, freeze or
//! suppression that arrived meanwhile wins; quiet hours defer), persists `Attempting` and
//! flushes, calls the provider, persists the result and tells the lead. Retryable errors
//! (rate limits, 5xx, connection refused) are retried with the shared backoff
//! ([`crate::retry::Backoff`]: exponential, full jitter, at least the provider's
//! `Retry-After`), bounded in attempts and total time, with the gate re-run before every
//! attempt. A refusal the provider module classified as [`SendFailure::SenderMisconfigured`]
//! is dead-lettered as `configuration.<code>` for an operator.
//! A timeout after the request was sent is *not* retried: the provider may have taken it, and a
//! second copy is worse than a parked one, so it goes to dead letters as `in_doubt`, like a
//! record left `Attempting` by a crash. Sends run as tasks so a slow provider never blocks
//! the gateway's mailbox.
//!
//! Replies the law requires (opt-out confirmation, HELP; see [`Lane`]) skip the backlog and
//! the task limit and go ahead of every automated text in the pacer: a STOP must be
//! confirmed within seconds even behind a million queued alerts.

use super::lead::LeadMsg;
use super::link::ClusterLink;
use super::pacer::{Lane, Pacer, SendLimits};
use super::supervisor::SupervisorMsg;
use crate::clock::Clock;
use crate::decide::{gate, Gate, Stage, IN_DOUBT};
use crate::model::{Event, OutboundText, SendResult};
use crate::phone::Phone;
use crate::policy::Policy;
use crate::provider::{ProviderError, SendFailure, Sender, SmsProvider};
use crate::retry::Backoff;
use crate::storage::{DeadLetter, OutboxStatus, Store};
use crate::ts::Ts;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `[gateway.retry]` in config.toml.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    /// No new attempt starts after this long since the first.
    pub max_total_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 5, base_delay_ms: 500, max_delay_ms: 30_000, max_total_ms: 300_000 }
    }
}

impl RetryPolicy {
    /// The shared rule ([`Backoff`]). `base_delay_ms` has always been the unit of
    /// `base * 2^attempt` (the retry after attempt 1 waits up to `2 * base`), so the
    /// backoff's first ceiling is `2 * base`: the same settings give the same delays.
    pub fn backoff(&self) -> Backoff {
        Backoff::new(
            Duration::from_millis(self.base_delay_ms.saturating_mul(2)),
            Duration::from_millis(self.max_delay_ms),
        )
    }
}

pub enum GatewayMsg {
    /// Where send outcomes are routed (set once, right after the supervisor starts).
    Attach(ActorRef<SupervisorMsg>),
    /// Send a text whose outbox record is `Queued`.
    Send(OutboundText),
    /// Start-up recovery: resend `Queued` records, park `Attempting` ones as in doubt.
    Recover,
    /// An operator asked to retry a dead letter: it is queued again and goes through the
    /// compliance gate like any text. Replies false if there is no such dead letter.
    RetryDeadLetter(String, RpcReplyPort<Result<bool, String>>),
    /// A send task finished.
    Finished(String),
    /// Wait (bounded) for in-flight sends, for graceful shutdown.
    Drain(Duration, RpcReplyPort<()>),
}

pub struct GatewayArgs {
    pub provider: Arc<dyn SmsProvider>,
    pub store: Store,
    pub policy: Arc<Policy>,
    pub clock: Arc<dyn Clock>,
    pub limits: SendLimits,
    pub retry: RetryPolicy,
    /// Our sender numbers; each lead sticks to one (persisted).
    pub from_numbers: Vec<String>,
    /// Use a Twilio Messaging Service instead of From numbers.
    pub messaging_service_sid: Option<String>,
    /// Cluster mode: only the lease holder sends, and outbox changes and outcomes go
    /// through the replicated log (see [`ClusterLink`]).
    pub link: Option<Arc<dyn ClusterLink>>,
}

#[derive(Clone)]
struct Ctx {
    provider: Arc<dyn SmsProvider>,
    store: Store,
    policy: Arc<Policy>,
    clock: Arc<dyn Clock>,
    pacer: Arc<Pacer>,
    retry: RetryPolicy,
    from_numbers: Arc<Vec<String>>,
    messaging_service_sid: Option<String>,
    supervisor: Option<ActorRef<SupervisorMsg>>,
    link: Option<Arc<dyn ClusterLink>>,
    /// Set when the service is stopping: no new provider call starts after it (see `Drain`).
    stopping: tokio::sync::watch::Receiver<bool>,
}

pub struct GatewayState {
    ctx: Ctx,
    stop: tokio::sync::watch::Sender<bool>,
    /// Ids of the texts being worked on (running tasks and the backlog), with their lane.
    in_flight: HashMap<String, Lane>,
    tasks: tokio::task::JoinSet<()>,
    /// Automated texts waiting for a task slot, oldest first: at most `max_tasks` automated
    /// send tasks run at once (`gateway.limits.max_concurrent_sends`); a waiting text costs a
    /// few hundred bytes instead of a task and its pacer wait. Their outbox records are
    /// `Queued` either way, so a stop loses nothing: the next start sends them.
    backlog: VecDeque<OutboundText>,
    max_tasks: usize,
    /// Automated send tasks running (priority ones are not counted: see `spawn_send`).
    running: usize,
}

pub struct Gateway;

impl Actor for Gateway {
    type Msg = GatewayMsg;
    type State = GatewayState;
    type Arguments = GatewayArgs;

    async fn pre_start(&self, _me: ActorRef<GatewayMsg>, a: GatewayArgs) -> Result<GatewayState, ActorProcessingErr> {
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let max_tasks = a.limits.max_concurrent_sends.max(1);
        let ctx = Ctx {
            stopping,
            pacer: Arc::new(Pacer::new(&a.limits, a.store.clone(), a.clock.clone(), a.link.is_some())),
            provider: a.provider,
            store: a.store,
            policy: a.policy,
            clock: a.clock,
            retry: a.retry,
            from_numbers: Arc::new(a.from_numbers),
            messaging_service_sid: a.messaging_service_sid,
            supervisor: None,
            link: a.link,
        };
        Ok(GatewayState {
            ctx,
            stop,
            in_flight: HashMap::new(),
            tasks: tokio::task::JoinSet::new(),
            backlog: VecDeque::new(),
            max_tasks,
            running: 0,
        })
    }

    async fn handle(
        &self,
        me: ActorRef<GatewayMsg>,
        msg: GatewayMsg,
        st: &mut GatewayState,
    ) -> Result<(), ActorProcessingErr> {
        // Reap finished tasks so the set does not grow.
        while st.tasks.try_join_next().is_some() {}
        match msg {
            GatewayMsg::Attach(sup) => st.ctx.supervisor = Some(sup),
            // In cluster mode every node's leads ask; only the lease holder sends (a node that
            // takes the lease over finds the same texts `Queued` in its replica: `Recover`).
            GatewayMsg::Send(_) if st.ctx.link.as_ref().is_some_and(|l| !l.leading()) => {}
            GatewayMsg::Send(text) => st.spawn_send(&me, text),
            GatewayMsg::Finished(id) => {
                // A finished priority task frees no automated slot.
                if st.in_flight.remove(&id) == Some(Lane::Normal) {
                    st.running = st.running.saturating_sub(1);
                    if let Some(next) = st.backlog.pop_front() {
                        st.start(&me, next, Lane::Normal);
                    }
                }
                st.gauges();
            }
            GatewayMsg::Recover => recover(&st.ctx, &me, &st.in_flight).await,
            GatewayMsg::RetryDeadLetter(id, reply) => {
                let result = requeue_dead_letter(&st.ctx, &id).await;
                if let Ok(Some(text)) = &result {
                    st.spawn_send(&me, text.clone());
                }
                let _ = reply.send(result.map(|t| t.is_some()));
            }
            GatewayMsg::Drain(timeout, reply) => {
                // Texts still waiting for a sending turn stay `Queued` and go at the next start;
                // only provider calls already under way finish, and their outcomes reach the
                // leads, whose actors are drained after this.
                st.stop.send_replace(true);
                st.backlog.clear();
                let _ = tokio::time::timeout(timeout, async { while st.tasks.join_next().await.is_some() {} }).await;
                let _ = reply.send(());
            }
        }
        Ok(())
    }
}

impl GatewayState {
    fn spawn_send(&mut self, me: &ActorRef<GatewayMsg>, text: OutboundText) {
        let lane = Lane::of(text.kind);
        match self.in_flight.entry(text.id.clone()) {
            std::collections::hash_map::Entry::Occupied(_) => return, // already on its way: a duplicate request
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(lane);
            }
        }
        match lane {
            // A required reply starts at once, past the backlog and the task limit, so it
            // can take its place at the head of the pacer's queue. Unbounded on purpose:
            // these answer a lead's own STOP/HELP/START (at most one per inbound message),
            // and `in_flight` drops duplicates, so there are few at any time.
            Lane::Priority => self.start(me, text, lane),
            Lane::Normal if self.running < self.max_tasks && self.backlog.is_empty() => self.start(me, text, lane),
            Lane::Normal => self.backlog.push_back(text),
        }
        self.gauges();
    }

    fn gauges(&self) {
        metrics::gauge!("leadline_gateway_in_flight").set(self.in_flight.len() as f64);
        metrics::gauge!("leadline_gateway_backlog").set(self.backlog.len() as f64);
    }

    fn start(&mut self, me: &ActorRef<GatewayMsg>, text: OutboundText, lane: Lane) {
        if lane == Lane::Normal {
            self.running += 1;
        }
        let ctx = self.ctx.clone();
        let me = me.clone();
        self.tasks.spawn(async move {
            let id = text.id.clone();
            send_one(&ctx, text, lane).await;
            let _ = me.cast(GatewayMsg::Finished(id));
        });
    }
}

/// Tells the lead what happened to its text (through the supervisor, which activates it if needed).
fn report(ctx: &Ctx, text: &OutboundText, result: SendResult, tag: &str) {
    let event = Event::SendOutcome { message_id: text.id.clone(), kind: text.kind, result };
    let dedupe = format!("outcome:{}:{tag}", text.id);
    if let Some(link) = ctx.link.clone() {
        let (to, id) = (text.to.clone(), text.log_id());
        tokio::spawn(async move {
            if !link.publish(&to, event, dedupe).await {
                tracing::error!(%id, "send outcome not recorded in the cluster log; the text's outbox record has it");
            }
        });
        return;
    }
    let Some(sup) = &ctx.supervisor else {
        tracing::error!(id = %text.log_id(), "no supervisor attached; outcome not routed");
        return;
    };
    let msg = LeadMsg::Apply { event, dedupe_key: Some(dedupe), reply: None, at: None };
    if let Err(e) = sup.cast(SupervisorMsg::Route(text.to.clone(), msg)) {
        tracing::error!(error = %e, id = %text.log_id(), "could not route send outcome");
    }
}

fn now(ctx: &Ctx) -> Ts {
    Ts::from(ctx.clock.now())
}

/// The lead's sender: a Messaging Service if configured, else a sticky From number.
fn sender_for(ctx: &Ctx, to: &Phone) -> Sender {
    if let Some(sid) = &ctx.messaging_service_sid {
        return Sender::MessagingService(sid.clone());
    }
    let key = format!("gateway:sender:{}", to.as_str());
    if let Ok(Some(from)) = ctx.store.meta_get::<String>(&key) {
        if ctx.from_numbers.contains(&from) {
            return Sender::From(from);
        }
    }
    let Some(first) = ctx.from_numbers.first() else {
        return Sender::From(String::new()); // dry-run: no numbers needed
    };
    // Spread leads over the pool deterministically, then remember the choice.
    let hash = to.as_str().bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let from = ctx.from_numbers.get((hash % ctx.from_numbers.len() as u64) as usize).unwrap_or(first).clone();
    if let Err(e) = ctx.store.meta_put(&key, &from) {
        tracing::warn!(error = %e, "could not persist the lead's sender");
    }
    Sender::From(from)
}

/// What to do after re-checking the lead: `None` = go ahead.
async fn regate(ctx: &Ctx, text: &OutboundText) -> Option<()> {
    let mut lead = match ctx.store.lead(&text.to) {
        Ok(Some(lead)) => lead,
        Ok(None) => return None,
        Err(e) => {
            tracing::error!(error = %e, id = %text.log_id(), "lead unreadable; text stays queued");
            return Some(());
        }
    };
    if let Ok(s) = ctx.store.suppression(&text.to) {
        lead.suppressed = s;
    }
    match gate(&lead, text.kind, &ctx.policy, now(ctx), Stage::Send) {
        Gate::Allow => None,
        Gate::Block { rule, reason } => {
            let status = OutboxStatus::Cancelled { rule: rule.clone(), reason: reason.clone(), at: now(ctx) };
            if persist(ctx, text, status).await {
                report(ctx, text, SendResult::Cancelled { rule, reason }, "cancelled");
            }
            Some(())
        }
        Gate::Defer { until, rule, reason } => {
            if persist(ctx, text, OutboxStatus::Deferred { until, at: now(ctx) }).await {
                let result = SendResult::Deferred { text: Box::new(text.clone()), until, rule, reason };
                report(ctx, text, result, &format!("deferred:{}", until.millis()));
            }
            Some(())
        }
    }
}

async fn send_one(ctx: &Ctx, text: OutboundText, lane: Lane) {
    match ctx.store.outbox(&text.id) {
        Ok(Some(rec)) if rec.status == OutboxStatus::Queued => {}
        Ok(_) => return, // already handled (a duplicate request) or unknown
        Err(e) => {
            tracing::error!(error = %e, id = %text.log_id(), "outbox unreadable; text stays queued");
            return;
        }
    }
    let sender = sender_for(ctx, &text.to);
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        // Last checks happen inside the sending turn, so nothing slips between them and the send.
        let mut stopping = ctx.stopping.clone();
        let turn = tokio::select! {
            turn = ctx.pacer.acquire(sender.label(), lane) => turn,
            _ = stopping.wait_for(|s| *s) => return, // still Queued: recovery sends it next start
        };
        if *ctx.stopping.borrow() {
            return;
        }
        // Cluster mode: this node must still lead and have applied every entry of the lead's
        // log (a STOP taken by another node included) before the gate; the write of
        // `Attempting` is then conditional on nothing having arrived for the lead since.
        let fence = match &ctx.link {
            Some(link) => match link.catch_up(&text.to).await {
                // A former lease holder may have recorded this text before the fence: then
                // it is its (in doubt), not ours to send.
                Some(fence) if matches!(ctx.store.outbox(&text.id), Ok(Some(r)) if r.status == OutboxStatus::Queued) => {
                    Some(fence)
                }
                Some(_) => return,
                // Our replica is behind: try again shortly (the turn is given back). Not
                // leading any more: it stays Queued for the next holder's recovery.
                None if link.leading() => {
                    attempt -= 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                None => return,
            },
            None => None,
        };
        if regate(ctx, &text).await.is_some() {
            return;
        }
        // The one durable write before the call. Until here (the wait for the sending turn
        // included) a crash leaves the text `Queued`: sent after the restart, so an opt-out
        // confirmation still goes out in time. From here on it leaves it `Attempting`: in
        // doubt, never resent. It comes before `go` (the account limiter's last wait, at
        // most 1/account_mps, one text at a time), not after it: the provider must see the
        // configured rate, so nothing of variable length may sit between `go` and the call.
        if !persist_fenced(ctx, &text, OutboxStatus::Attempting { at: now(ctx), attempt }, fence).await {
            return;
        }
        turn.go().await;
        let err = match ctx.provider.send(&text, &sender).await {
            Ok(ok) => {
                metrics::counter!("leadline_sends_total", "provider" => ctx.provider.name(), "outcome" => "accepted")
                    .increment(1);
                let status = OutboxStatus::Accepted {
                    provider_id: ok.provider_id.clone(),
                    status: ok.status.clone(),
                    at: now(ctx),
                };
                // Not waited for: the lead's commit of this outcome, queued after it, makes it
                // durable. If a crash loses it, the durable `Attempting` makes the text in
                // doubt (dead-lettered, never resent): safe, and one flush less per text.
                if let Some(link) = &ctx.link {
                    if !link.record(&text, &status, None, None).await {
                        tracing::error!(id = %text.log_id(), "acceptance not recorded in the cluster log; in doubt after a failover");
                    }
                } else if let Err(e) = ctx.store.set_outbox_status_lazy(&text.id, status, now(ctx)) {
                    tracing::error!(error = %e, id = %text.log_id(), "could not persist outbox status");
                }
                report(ctx, &text, SendResult::Accepted { provider_id: ok.provider_id, status: ok.status }, "accepted");
                return;
            }
            Err(err) => err,
        };
        let out_of_budget =
            attempt >= ctx.retry.max_attempts || started.elapsed() >= Duration::from_millis(ctx.retry.max_total_ms);
        if err.retryable && !out_of_budget {
            metrics::counter!("leadline_send_retries_total", "code" => code_label(&err)).increment(1);
            tracing::warn!(id = %text.log_id(), attempt, code = ?err.code, message = %err.message, "retryable provider error; backing off");
            // Back to Queued while waiting, so a crash during the backoff is not "in doubt".
            persist(ctx, &text, OutboxStatus::Queued).await;
            let mut stopping = ctx.stopping.clone();
            tokio::select! {
                () = tokio::time::sleep(ctx.retry.backoff().delay(attempt, err.retry_after)) => continue,
                _ = stopping.wait_for(|s| *s) => return, // Queued again: sent at the next start
            }
        }
        give_up(ctx, &text, err, attempt).await;
        return;
    }
}

fn code_label(err: &ProviderError) -> String {
    err.code.map(|c| c.to_string()).or(err.http_status.map(|s| format!("http_{s}"))).unwrap_or_else(|| "io".into())
}

/// The text will not be sent automatically: dead letter it, record why, tell the lead.
async fn give_up(ctx: &Ctx, text: &OutboundText, err: ProviderError, attempts: u32) {
    let at = now(ctx);
    let reason = if err.outcome_unknown {
        "in_doubt".to_string()
    } else if err.failure == SendFailure::SenderMisconfigured {
        tracing::error!(id = %text.log_id(), code = ?err.code, message = %err.message, "provider configuration error: fix the sender/campaign setup");
        metrics::counter!("leadline_provider_configuration_errors_total").increment(1);
        format!("configuration.{}", code_label(&err))
    } else {
        format!("provider.{}", code_label(&err))
    };
    let outcome = if err.outcome_unknown { "in_doubt" } else { "failed" };
    metrics::counter!("leadline_sends_total", "provider" => ctx.provider.name(), "outcome" => outcome).increment(1);
    tracing::warn!(id = %text.log_id(), attempts, code = ?err.code, message = %err.message, %reason, "text dead-lettered");
    let detail = format!("{} (after {attempts} attempt{})", err.message, if attempts == 1 { "" } else { "s" });
    let dl = DeadLetter { text: text.clone(), reason: reason.clone(), detail: detail.clone(), at };
    let status = if err.outcome_unknown {
        OutboxStatus::DeadLettered { reason, at }
    } else {
        OutboxStatus::Failed { code: err.code, message: err.message.clone(), at }
    };
    if let Some(link) = &ctx.link {
        // One log entry for both, applied by every node.
        if !link.record(text, &status, Some(&dl), None).await {
            tracing::error!(id = %text.log_id(), "dead letter not recorded in the cluster log");
        }
    } else {
        if let Err(e) = ctx.store.put_dead_letter(&dl).await {
            tracing::error!(error = %e, id = %text.log_id(), "could not store dead letter");
        }
        persist(ctx, text, status).await;
    }
    metrics::gauge!("leadline_dead_letters").set(ctx.store.dead_letter_count() as f64);
    let result = if err.outcome_unknown {
        SendResult::Cancelled { rule: IN_DOUBT.into(), reason: detail }
    } else {
        SendResult::Failed { code: err.code, failure: err.failure, message: detail, permanent: !err.retryable }
    };
    let tag = if err.outcome_unknown { "in_doubt" } else { "failed" };
    report(ctx, text, result, tag);
}

async fn persist(ctx: &Ctx, text: &OutboundText, status: OutboxStatus) -> bool {
    persist_fenced(ctx, text, status, None).await
}

/// Records an outbox status: in the local store, or in cluster mode in the log (which every
/// node applies to its store), there conditional on `fence` when one is given.
async fn persist_fenced(ctx: &Ctx, text: &OutboundText, status: OutboxStatus, fence: Option<u64>) -> bool {
    if let Some(link) = &ctx.link {
        let recorded = link.record(text, &status, None, fence).await;
        if !recorded {
            tracing::warn!(id = %text.log_id(), "outbox status not recorded in the cluster log; text not sent now");
        }
        return recorded;
    }
    match ctx.store.set_outbox_status(&text.id, status, now(ctx)).await {
        Ok(_) => true,
        Err(e) => {
            tracing::error!(error = %e, id = %text.log_id(), "could not persist outbox status");
            false
        }
    }
}

async fn requeue_dead_letter(ctx: &Ctx, id: &str) -> Result<Option<OutboundText>, String> {
    let Some(dl) = ctx.store.take_dead_letter(id).await.map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    ctx.store.set_outbox_status(id, OutboxStatus::Queued, now(ctx)).await.map_err(|e| e.to_string())?;
    metrics::gauge!("leadline_dead_letters").set(ctx.store.dead_letter_count() as f64);
    tracing::info!(id = %crate::phone::mask_message_id(id), "dead letter requeued by an operator");
    Ok(Some(dl.text))
}

/// Hands `Queued` texts over and parks `Attempting` ones as in doubt: at start-up, and in
/// cluster mode when this node takes the gateway lease (then texts this node is sending
/// right now, `in_flight`, are left alone).
async fn recover(ctx: &Ctx, me: &ActorRef<GatewayMsg>, in_flight: &HashMap<String, Lane>) {
    let records = match ctx.store.unfinished_outbox() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "outbox recovery failed to read the outbox");
            return;
        }
    };
    for rec in records {
        match rec.status {
            OutboxStatus::Queued => {
                let _ = me.cast(GatewayMsg::Send(rec.text));
            }
            OutboxStatus::Deferred { until, .. } => {
                let result = SendResult::Deferred {
                    text: Box::new(rec.text.clone()),
                    until,
                    rule: "gateway.recovered_deferral".into(),
                    reason: "deferred just before sending when the service stopped".into(),
                };
                report(ctx, &rec.text, result, &format!("deferred:{}", until.millis()));
            }
            OutboxStatus::Attempting { .. } if in_flight.contains_key(&rec.text.id) => {}
            OutboxStatus::Attempting { .. } => {
                let err = ProviderError {
                    retryable: false,
                    outcome_unknown: true,
                    code: None,
                    failure: SendFailure::Other,
                    retry_after: None,
                    http_status: None,
                    message: "the service stopped while the provider was being called; it may or may not have been sent. Not resent automatically".into(),
                };
                metrics::counter!("leadline_in_doubt_sends_total").increment(1);
                give_up(ctx, &rec.text, err, 1).await;
            }
            _ => {}
        }
    }
}
