//! The gateway: the only way a text leaves leadline.
//!
//! For each text it (1) waits for the account-wide rate limiter, (2) re-runs the
//! compliance gate on the lead's latest snapshot (an opt-out that arrived meanwhile wins),
//! (3) persists `Attempting` and flushes, (4) calls the provider, (5) persists the result and
//! tells the lead. A record left `Attempting` by a crash is "in doubt": start-up recovery
//! parks it in dead letters instead of sending it again. Sends run as tasks so a slow
//! provider never blocks the gateway's mailbox.

use super::lead::LeadMsg;
use super::supervisor::SupervisorMsg;
use crate::clock::Clock;
use crate::decide::{gate, Gate, Stage};
use crate::model::{Event, OutboundText, SendResult};
use crate::policy::Policy;
use crate::provider::SmsProvider;
use crate::storage::{DeadLetter, OutboxStatus, Store};
use crate::ts::Ts;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

pub enum GatewayMsg {
    /// Where send outcomes are routed (set once, right after the supervisor starts).
    Attach(ActorRef<SupervisorMsg>),
    /// Send a text whose outbox record is `Queued`.
    Send(OutboundText),
    /// Start-up recovery: resend `Queued` records, park `Attempting` ones as in doubt.
    Recover,
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
    /// Account-wide messages per second.
    pub account_mps: NonZeroU32,
}

#[derive(Clone)]
struct Ctx {
    provider: Arc<dyn SmsProvider>,
    store: Store,
    policy: Arc<Policy>,
    clock: Arc<dyn Clock>,
    limiter: Arc<DefaultDirectRateLimiter>,
    supervisor: Option<ActorRef<SupervisorMsg>>,
}

pub struct GatewayState {
    ctx: Ctx,
    in_flight: HashSet<String>,
    tasks: tokio::task::JoinSet<()>,
}

pub struct Gateway;

impl Actor for Gateway {
    type Msg = GatewayMsg;
    type State = GatewayState;
    type Arguments = GatewayArgs;

    async fn pre_start(&self, _me: ActorRef<GatewayMsg>, a: GatewayArgs) -> Result<GatewayState, ActorProcessingErr> {
        // Burst 1: never more than `account_mps` in any one-second window.
        let period = Duration::from_secs(1) / a.account_mps.get();
        let quota = Quota::with_period(period).unwrap_or_else(|| Quota::per_second(a.account_mps));
        let ctx = Ctx {
            provider: a.provider,
            store: a.store,
            policy: a.policy,
            clock: a.clock,
            limiter: Arc::new(RateLimiter::direct(quota)),
            supervisor: None,
        };
        Ok(GatewayState { ctx, in_flight: HashSet::new(), tasks: tokio::task::JoinSet::new() })
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
            GatewayMsg::Send(text) => {
                if st.in_flight.insert(text.id.clone()) {
                    let ctx = st.ctx.clone();
                    metrics::gauge!("leadline_gateway_in_flight").set(st.in_flight.len() as f64);
                    st.tasks.spawn(async move {
                        let id = text.id.clone();
                        send_one(&ctx, text).await;
                        let _ = me.cast(GatewayMsg::Finished(id));
                    });
                }
            }
            GatewayMsg::Finished(id) => {
                st.in_flight.remove(&id);
                metrics::gauge!("leadline_gateway_in_flight").set(st.in_flight.len() as f64);
            }
            GatewayMsg::Recover => recover(&st.ctx, &me).await,
            GatewayMsg::Drain(timeout, reply) => {
                let _ = tokio::time::timeout(timeout, async { while st.tasks.join_next().await.is_some() {} }).await;
                let _ = reply.send(());
            }
        }
        Ok(())
    }
}

/// Tells the lead what happened to its text (through the supervisor, which activates it if needed).
fn report(ctx: &Ctx, text: &OutboundText, result: SendResult, tag: &str) {
    let Some(sup) = &ctx.supervisor else {
        tracing::error!(id = %text.id, "no supervisor attached; outcome not routed");
        return;
    };
    let event = Event::SendOutcome { message_id: text.id.clone(), kind: text.kind, result };
    let msg = LeadMsg::Apply { event, dedupe_key: Some(format!("outcome:{}:{tag}", text.id)), reply: None };
    if let Err(e) = sup.cast(SupervisorMsg::Route(text.to.clone(), msg)) {
        tracing::error!(error = %e, id = %text.id, "could not route send outcome");
    }
}

fn now(ctx: &Ctx) -> Ts {
    Ts::from(ctx.clock.now())
}

async fn send_one(ctx: &Ctx, text: OutboundText) {
    match ctx.store.outbox(&text.id) {
        Ok(Some(rec)) if rec.status == OutboxStatus::Queued => {}
        Ok(_) => return, // already handled (a duplicate request) or unknown
        Err(e) => {
            tracing::error!(error = %e, id = %text.id, "outbox unreadable; text stays queued");
            return;
        }
    }
    ctx.limiter.until_ready().await;

    // Defence in depth: the same gate the decision core used, on the freshest state
    // (an opt-out, freeze or suppression since the decision wins; so do quiet hours).
    match ctx.store.lead(&text.to) {
        Ok(Some(mut lead)) => {
            if let Ok(s) = ctx.store.suppression(&text.to) {
                lead.suppressed = s;
            }
            match gate(&lead, text.kind, &ctx.policy, now(ctx), Stage::Send) {
                Gate::Allow => {}
                Gate::Block { rule, reason } => {
                    let status = OutboxStatus::Cancelled { rule: rule.clone(), reason: reason.clone(), at: now(ctx) };
                    if persist(ctx, &text, status).await {
                        report(ctx, &text, SendResult::Cancelled { rule, reason }, "cancelled");
                    }
                    return;
                }
                Gate::Defer { until, rule, reason } => {
                    if persist(ctx, &text, OutboxStatus::Deferred { until, at: now(ctx) }).await {
                        let result = SendResult::Deferred { text: Box::new(text.clone()), until, rule, reason };
                        report(ctx, &text, result, &format!("deferred:{}", until.millis()));
                    }
                    return;
                }
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, id = %text.id, "lead unreadable; text stays queued");
            return;
        }
    }
    if !persist(ctx, &text, OutboxStatus::Attempting { at: now(ctx), attempt: 1 }).await {
        return;
    }
    let result = ctx.provider.send(&text).await;
    let at = now(ctx);
    match result {
        Ok(ok) => {
            metrics::counter!("leadline_sends_total", "provider" => ctx.provider.name(), "outcome" => "accepted")
                .increment(1);
            let status = OutboxStatus::Accepted { provider_id: ok.provider_id.clone(), status: ok.status.clone(), at };
            persist(ctx, &text, status).await;
            report(ctx, &text, SendResult::Accepted { provider_id: ok.provider_id, status: ok.status }, "accepted");
        }
        Err(err) => {
            metrics::counter!("leadline_sends_total", "provider" => ctx.provider.name(), "outcome" => "failed")
                .increment(1);
            tracing::warn!(id = %text.id, code = ?err.code, message = %err.message, "provider refused text");
            let reason = err.code.map(|c| format!("provider.{c}")).unwrap_or_else(|| "provider.error".into());
            let dl = DeadLetter { text: text.clone(), reason, detail: err.message.clone(), at };
            if let Err(e) = ctx.store.put_dead_letter(&dl).await {
                tracing::error!(error = %e, id = %text.id, "could not store dead letter");
            }
            persist(ctx, &text, OutboxStatus::Failed { code: err.code, message: err.message.clone(), at }).await;
            let result = SendResult::Failed { code: err.code, message: err.message, permanent: !err.retryable };
            report(ctx, &text, result, "failed");
        }
    }
}

async fn persist(ctx: &Ctx, text: &OutboundText, status: OutboxStatus) -> bool {
    match ctx.store.set_outbox_status(&text.id, status, now(ctx)).await {
        Ok(_) => true,
        Err(e) => {
            tracing::error!(error = %e, id = %text.id, "could not persist outbox status");
            false
        }
    }
}

async fn recover(ctx: &Ctx, me: &ActorRef<GatewayMsg>) {
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
            OutboxStatus::Attempting { .. } => {
                let reason = "in_doubt".to_string();
                let detail = "the service stopped while the provider was being called; it may or may not have been sent. Not resent automatically.".to_string();
                tracing::warn!(id = %rec.text.id, "in-doubt send parked in dead letters");
                metrics::counter!("leadline_in_doubt_sends_total").increment(1);
                let dl =
                    DeadLetter { text: rec.text.clone(), reason: reason.clone(), detail: detail.clone(), at: now(ctx) };
                if ctx.store.put_dead_letter(&dl).await.is_ok()
                    && persist(ctx, &rec.text, OutboxStatus::DeadLettered { reason, at: now(ctx) }).await
                {
                    report(
                        ctx,
                        &rec.text,
                        SendResult::Cancelled { rule: "gateway.in_doubt".into(), reason: detail },
                        "in_doubt",
                    );
                }
            }
            _ => {}
        }
    }
}
