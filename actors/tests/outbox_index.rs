//! The `outbox_open` index: start-up recovery reads the open outbox records through it
//! instead of scanning the whole outbox, and a database written before the index existed
//! is scanned once to build it.

use chrono::{TimeZone, Utc};
use leadline_core::codec;
use leadline_core::model::{LeadState, OutboundText, TextKind};
use leadline_core::storage::{LeadCommit, OutboxRecord, OutboxStatus, Store};
use leadline_core::{Phone, Ts};

fn now() -> Ts {
    Ts::from(Utc.with_ymd_and_hms(2026, 11, 26, 18, 0, 0).unwrap())
}

fn text(phone: &Phone, seq: u64) -> OutboundText {
    OutboundText {
        id: format!("{}#{seq}", phone.as_str()),
        to: phone.clone(),
        kind: TextKind::FirstContact,
        body: "Hi, this is Acme Realty. Reply STOP to opt out.".into(),
        rule: "sequence.first_contact".into(),
        created_at: now(),
    }
}

fn open_ids(store: &Store) -> Vec<String> {
    let mut ids: Vec<String> = store.unfinished_outbox().unwrap().into_iter().map(|r| r.text.id).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn open_records_are_found_and_final_ones_leave_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let phone = Phone::parse("+12125550142").unwrap();
    let state = LeadState::new(phone.clone(), now());
    let (a, b) = (text(&phone, 1), text(&phone, 2));
    let sends = [a.clone(), b.clone()];
    let commit = LeadCommit {
        state: &state,
        entries: &[],
        sends: &sends,
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
    assert_eq!(open_ids(&store), vec![a.id.clone(), b.id.clone()]);

    let accepted = OutboxStatus::Accepted { provider_id: "SM1".into(), status: "queued".into(), at: now() };
    store.set_outbox_status(&a.id, accepted, now()).await.unwrap();
    let attempting = OutboxStatus::Attempting { at: now(), attempt: 1 };
    store.set_outbox_status(&b.id, attempting, now()).await.unwrap();
    assert_eq!(open_ids(&store), vec![b.id.clone()]);

    let deferred = OutboxStatus::Deferred { until: now(), at: now() };
    store.set_outbox_status(&b.id, deferred, now()).await.unwrap();
    assert_eq!(open_ids(&store), vec![b.id.clone()]);
    let cancelled = OutboxStatus::Cancelled { rule: "opt_out".into(), reason: "STOP".into(), at: now() };
    store.set_outbox_status(&b.id, cancelled, now()).await.unwrap();
    assert!(open_ids(&store).is_empty());

    // Survives a reopen.
    store.flush().await.unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert!(open_ids(&store).is_empty());
}

#[tokio::test]
async fn a_database_from_before_the_index_is_scanned_once() {
    let dir = tempfile::tempdir().unwrap();
    let phone = Phone::parse("+13055550199").unwrap();
    let (queued, sent) = (text(&phone, 1), text(&phone, 2));
    {
        // What an older build left behind: outbox records and no index.
        let db = sled::open(dir.path()).unwrap();
        let outbox = db.open_tree("outbox").unwrap();
        for (t, status) in [
            (&queued, OutboxStatus::Queued),
            (&sent, OutboxStatus::Accepted { provider_id: "SM2".into(), status: "sent".into(), at: now() }),
        ] {
            let rec = OutboxRecord { text: t.clone(), status, updated_at: now() };
            outbox.insert(t.id.as_bytes(), codec::encode(&rec).unwrap()).unwrap();
        }
        db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(open_ids(&store), vec![queued.id.clone()]);
    // The second time it reads the index it built.
    assert_eq!(open_ids(&store), vec![queued.id.clone()]);
}
