//! The priority lane: a reply the law requires (an opt-out confirmation within minutes,
//! 47 CFR 64.1200(a)(12); we promise seconds) goes ahead of every queued automated text,
//! however long the queue, while the per-sender and account limits still hold.
//!
//! Drives the `Gateway` actor directly: a real sled store in a tempdir, a provider that
//! records when each text reached it and accepts at once, the real clock. No supervisor is
//! attached, so outcomes are only logged (`report`). The automated texts go to a number with
//! no stored lead, which the send-time gate lets through (`regate`), so no lead state is
//! needed for them. Every text shares the dry-run sender (no From numbers), as in dry-run mode.

use async_trait::async_trait;
use chrono::Utc;
use leadline_core::actors::gateway::{Gateway, GatewayArgs, GatewayMsg, RetryPolicy};
use leadline_core::actors::pacer::SendLimits;
use leadline_core::clock::SystemClock;
use leadline_core::model::{LeadState, OutboundText, TextKind};
use leadline_core::policy::Policy;
use leadline_core::provider::{Accepted, ProviderError, Sender, SmsProvider};
use leadline_core::storage::{LeadCommit, Store};
use leadline_core::{Phone, Ts};
use ractor::{Actor, ActorRef};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What reached the provider, in order: (message id, kind, when).
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, TextKind, Instant)>>);

impl Recorder {
    fn sent(&self) -> Vec<(String, TextKind, Instant)> {
        self.0.lock().unwrap().clone()
    }
}

#[async_trait]
impl SmsProvider for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }

    async fn send(&self, text: &OutboundText, _sender: &Sender) -> Result<Accepted, ProviderError> {
        self.0.lock().unwrap().push((text.id.clone(), text.kind, Instant::now()));
        Ok(Accepted { provider_id: format!("SM{}", text.id.replace(['+', '#'], "")), status: "queued".into() })
    }
}

fn text(to: &Phone, seq: u64, kind: TextKind) -> OutboundText {
    OutboundText {
        id: format!("{}#{seq}", to.as_str()),
        to: to.clone(),
        kind,
        body: "Acme Realty: price drop on 12 Elm St. Reply STOP to opt out.".into(),
        rule: "test".into(),
        created_at: Ts::from(Utc::now()),
    }
}

/// Writes the texts' outbox records as `Queued` in one commit. The public way to queue a
/// text is a lead's commit; the commit's own lead is a bystander no text is addressed to.
async fn queue(store: &Store, texts: &[OutboundText]) {
    let bystander = LeadState::new(Phone::parse("+13055550100").unwrap(), Ts::from(Utc::now()));
    let commit = LeadCommit {
        state: &bystander,
        entries: &[],
        sends: texts,
        dedupe_key: None,
        wake_at: None,
        new_interests: &[],
        notifications: &[],
        suppress: None,
        events: &[],
        subscriptions: &[],
        fub: None,
    };
    store.commit_lead(commit).await.unwrap();
}

async fn gateway(store: &Store, provider: Arc<Recorder>) -> ActorRef<GatewayMsg> {
    let limits = SendLimits {
        account_mps: NonZeroU32::new(10).unwrap(),
        sender_mps: NonZeroU32::new(1).unwrap(),
        daily_cap: 0,
        strict_window: true,
        max_concurrent_sends: 1024,
    };
    let args = GatewayArgs {
        provider,
        store: store.clone(),
        policy: Arc::new(Policy::with_defaults("Acme Realty")),
        clock: Arc::new(SystemClock),
        limits,
        retry: RetryPolicy::default(),
        from_numbers: vec![],
        messaging_service_sid: None,
        link: None,
    };
    Actor::spawn(None, Gateway, args).await.unwrap().0
}

/// Returns once the gateway has handled every message cast before (its mailbox is FIFO).
async fn barrier(gateway: &ActorRef<GatewayMsg>) {
    let reply = gateway
        .call(|r| GatewayMsg::RetryDeadLetter("no-such-dead-letter".into(), r), Some(Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(matches!(reply, ractor::rpc::CallResult::Success(Ok(false))));
}

async fn wait_for_sends(provider: &Recorder, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while provider.sent().len() < n {
        assert!(Instant::now() < deadline, "the gateway sent nothing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Casts the reply, then the `then` texts (already queued) right behind it, and waits until
/// the provider has the reply; returns when it was cast, the send log at the moment the
/// reply was sent and the reply's place in it.
async fn send_required(
    gateway: &ActorRef<GatewayMsg>,
    store: &Store,
    provider: &Recorder,
    reply: OutboundText,
    then: Vec<OutboundText>,
) -> (Instant, Vec<(String, TextKind, Instant)>, usize) {
    queue(store, std::slice::from_ref(&reply)).await;
    let cast_at = Instant::now();
    gateway.cast(GatewayMsg::Send(reply.clone())).unwrap();
    for t in then {
        gateway.cast(GatewayMsg::Send(t)).unwrap();
    }
    let deadline = cast_at + Duration::from_secs(10);
    loop {
        let sent = provider.sent();
        if let Some(pos) = sent.iter().position(|(id, ..)| *id == reply.id) {
            return (cast_at, sent, pos);
        }
        assert!(Instant::now() < deadline, "{:?} not sent within 10 s", reply.kind);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn stop(gateway: ActorRef<GatewayMsg>) {
    gateway.call(|r| GatewayMsg::Drain(Duration::from_secs(5), r), Some(Duration::from_secs(10))).await.unwrap();
    gateway.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opt_out_confirmation_overtakes_100k_queued_texts() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let provider = Arc::new(Recorder::default());
    let gateway = gateway(&store, provider.clone()).await;

    let alerts_to = Phone::parse("+12125550142").unwrap();
    let alerts: Vec<OutboundText> = (1..=100_000).map(|seq| text(&alerts_to, seq, TextKind::ListingAlert)).collect();
    for chunk in alerts.chunks(1_000) {
        queue(&store, chunk).await;
    }
    let queued_in = started.elapsed();
    for t in alerts {
        gateway.cast(GatewayMsg::Send(t)).unwrap();
    }
    barrier(&gateway).await;
    let handed_over_in = started.elapsed() - queued_in;
    // Sending in earnest: the sender is busy and 1,024 tasks wait for their turns.
    wait_for_sends(&provider, 2).await;

    let stop_to = Phone::parse("+12125550199").unwrap();
    let confirmation = text(&stop_to, 1, TextKind::OptOutConfirmation);
    let (cast_at, sent, pos) = send_required(&gateway, &store, &provider, confirmation, vec![]).await;
    let delay = sent[pos].2 - cast_at;
    let overtaken_by = sent[..pos].iter().filter(|(_, _, at)| *at >= cast_at).count();
    println!(
        "100k queued (outbox written in {queued_in:?}, handed to the gateway in {handed_over_in:?}): \
         opt-out confirmation accepted {delay:?} after it was sent to the gateway; \
         {pos} automated texts before it, {overtaken_by} of them after it arrived"
    );
    assert!(delay < Duration::from_secs(5), "opt-out confirmation took {delay:?}");
    // Only the automated text holding the turn when it arrived may go first.
    assert!(overtaken_by <= 1, "{overtaken_by} automated texts went ahead of the confirmation");
    assert!(pos <= 10, "{pos} of 100,000 automated texts went before the confirmation");
    assert!(sent[..pos].iter().all(|(_, kind, _)| *kind == TextKind::ListingAlert));
    // The sender's pace held: one text per second from the one sender (a little slack for timers).
    for pair in sent.windows(2) {
        let gap = pair[1].2 - pair[0].2;
        assert!(gap >= Duration::from_millis(950), "two sends {gap:?} apart at sender_mps=1");
    }

    stop(gateway).await;
    println!("test took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_help_reply_is_the_next_send_among_75_queued_texts() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let provider = Arc::new(Recorder::default());
    let gateway = gateway(&store, provider.clone()).await;

    let to = Phone::parse("+13125550142").unwrap();
    let mut alerts: Vec<OutboundText> = (1..=75).map(|seq| text(&to, seq, TextKind::FollowUp)).collect();
    queue(&store, &alerts).await;
    // 25 more arrive right behind the HELP reply: they must not get ahead of it either
    // (all waiters wake at the same instant when the sender frees up; arrival order alone
    // decides nothing).
    let behind = alerts.split_off(50);
    for t in alerts {
        gateway.cast(GatewayMsg::Send(t)).unwrap();
    }
    wait_for_sends(&provider, 1).await;

    let help = text(&Phone::parse("+13125550199").unwrap(), 1, TextKind::Help);
    let (cast_at, sent, pos) = send_required(&gateway, &store, &provider, help, behind).await;
    let delay = sent[pos].2 - cast_at;
    let overtaken_by = sent[..pos].iter().filter(|(_, _, at)| *at >= cast_at).count();
    println!("HELP with 50 automated texts queued before it and 25 after: accepted after {delay:?}; {overtaken_by} automated sends between its arrival and its send");
    assert!(overtaken_by <= 1, "{overtaken_by} automated texts went ahead of the HELP reply");
    assert!(delay < Duration::from_secs(3), "HELP reply took {delay:?}");

    stop(gateway).await;
    println!("test took {:?}", started.elapsed());
}
