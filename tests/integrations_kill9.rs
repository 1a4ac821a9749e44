//! The integrations' durable queues across a `kill -9` of the real binary, configured only
//! through the environment (the event webhook subscriptions as one
//! `LEADLINE__WEBHOOKS__SUBSCRIPTIONS` value, exactly as docs/integrations/event-webhooks.md
//! shows it):
//!
//! - the outbound events of acknowledged changes, queued while the subscriber refused them,
//!   are all delivered after the restart, in order per lead, with no gap in `sequence`;
//! - a Follow Up Boss text log that FUB applied but never answered (the binary is killed
//!   while FUB holds the request) is found by a read after the restart and not logged again;
//!   every later fact (the STOP, the tag, the confirmation) is logged exactly once.

mod support;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::fake_twilio::FakeTwilio;
use support::server::{base_env, lead_body, Server};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PERSON: u64 = 777;

#[derive(Default)]
struct Hooks {
    /// (webhook-id, body)
    received: Vec<(String, Value)>,
}

#[derive(Default)]
struct Fub {
    texts: Vec<Value>,
    person_updates: Vec<Value>,
    notes: Vec<Value>,
}

struct Fakes {
    accept_hooks: AtomicBool,
    /// While set, a text log is applied and then the answer never comes (FUB holds it).
    fub_hangs: AtomicBool,
    hooks: Mutex<Hooks>,
    fub: Mutex<Fub>,
}

type S = Arc<Fakes>;

async fn hook(State(s): State<S>, headers: HeaderMap, body: String) -> StatusCode {
    if !s.accept_hooks.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    s.hooks.lock().unwrap().received.push((id, serde_json::from_str(&body).unwrap_or(Value::Null)));
    StatusCode::OK
}

async fn people(State(_): State<S>) -> Json<Value> {
    Json(json!({"people": [{"id": PERSON}]}))
}

async fn post_text(State(s): State<S>, Json(body): Json<Value>) -> Response {
    s.fub.lock().unwrap().texts.push(body.clone());
    if s.fub_hangs.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    (StatusCode::CREATED, Json(body)).into_response()
}

async fn list_texts(State(s): State<S>, RawQuery(_): RawQuery) -> Json<Value> {
    Json(json!({"textmessages": s.fub.lock().unwrap().texts.clone()}))
}

async fn put_person(State(s): State<S>, Path(_): Path<u64>, Json(body): Json<Value>) -> Json<Value> {
    s.fub.lock().unwrap().person_updates.push(body);
    Json(json!({"id": PERSON}))
}

async fn post_note(State(s): State<S>, Json(body): Json<Value>) -> Json<Value> {
    s.fub.lock().unwrap().notes.push(body.clone());
    Json(body)
}

async fn list_notes(State(s): State<S>) -> Json<Value> {
    Json(json!({"notes": s.fub.lock().unwrap().notes.clone()}))
}

async fn start(fakes: S) -> String {
    let app = Router::new()
        .route("/hook", post(hook))
        .route("/v1/people", get(people))
        .route("/v1/people/{id}", put(put_person))
        .route("/v1/textMessages", get(list_texts).post(post_text))
        .route("/v1/notes", get(list_notes).post(post_note))
        .with_state(fakes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

async fn wait_until(what: &str, f: impl Fn() -> bool) {
    for _ in 0..1500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_events_and_fub_writes_survive_kill_9_and_nothing_is_logged_twice() {
    let twilio = FakeTwilio::start().await;
    let fakes: S = Arc::new(Fakes {
        accept_hooks: AtomicBool::new(false),
        fub_hangs: AtomicBool::new(true),
        hooks: Mutex::default(),
        fub: Mutex::default(),
    });
    let base = start(fakes.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = base_env(&dir.path().join("data"), &twilio.base_url);
    let kv = |k: &str, v: String| (k.to_string(), v);
    env.push(kv(
        "LEADLINE__WEBHOOKS__SUBSCRIPTIONS",
        format!(r#"[{{url = "{base}/hook", events = ["*"], secret = "{SECRET}"}}]"#),
    ));
    env.push(kv("LEADLINE__WEBHOOKS__DELIVERY__RETRY_BASE_MS", "10".into()));
    env.push(kv("LEADLINE__WEBHOOKS__DELIVERY__MAX_BACKOFF_SECS", "1".into()));
    env.push(kv("LEADLINE__WEBHOOKS__DELIVERY__MAX_ATTEMPTS", "100000".into()));
    env.push(kv("LEADLINE__INTEGRATIONS__FOLLOWUPBOSS__API_BASE", base.clone()));
    env.push(kv("LEADLINE__INTEGRATIONS__FOLLOWUPBOSS__RETRY_BASE_MS", "10".into()));
    env.push(kv("FUB_API_KEY", "fub-key".into()));
    env.push(kv("FUB_SYSTEM_KEY", "fub-system-key".into()));

    let phone = "+12125550361";
    let server = Server::start(dir.path(), &env).await;
    let res = server.client.post_event("/v1/events/leads", &lead_body(phone, "K9-1", "MLS-9", "Ana")).await.unwrap();
    assert_eq!(res.status(), 202);
    let first = twilio.wait_for(phone, 1).await[0].body().to_string();
    // FUB has applied the text log and holds the answer: leadline does not know.
    wait_until("FUB to receive the first text log", || fakes.fub.lock().unwrap().texts.len() == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill9().await;

    fakes.fub_hangs.store(false, Ordering::SeqCst);
    fakes.accept_hooks.store(true, Ordering::SeqCst);
    let server = Server::start(dir.path(), &env).await;
    let res = server.client.inbound(phone, "STOP", "SM-k9-1").await.unwrap();
    assert!(res.status().is_success());
    twilio.wait_for(phone, 2).await;
    wait_until("the STOP and the confirmation logged in FUB", || fakes.fub.lock().unwrap().texts.len() >= 3).await;
    wait_until("the opted-out tag", || !fakes.fub.lock().unwrap().person_updates.is_empty()).await;
    wait_until("lead.opted_out and the confirmation's text.sent delivered", || {
        let h = fakes.hooks.lock().unwrap();
        let types: Vec<&str> = h.received.iter().filter_map(|(_, b)| b["type"].as_str()).collect();
        types.contains(&"lead.opted_out") && types.iter().filter(|t| **t == "text.sent").count() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let confirmation = twilio.received_for(phone)[1].body().to_string();
    let (texts, person_updates) = {
        let fub = fakes.fub.lock().unwrap();
        (fub.texts.clone(), fub.person_updates.clone())
    };
    let logged: Vec<(String, bool)> = texts
        .iter()
        .map(|t| (t["message"].as_str().unwrap_or("").to_string(), t["isIncoming"].as_bool().unwrap_or(false)))
        .collect();
    assert_eq!(
        logged,
        [(first, false), ("STOP".to_string(), true), (confirmation, false)],
        "each fact once, across the kill"
    );
    assert_eq!(person_updates.len(), 1, "{person_updates:?}");

    // Every event, in order, no gap; the webhook-id is the event id.
    let received = fakes.hooks.lock().unwrap().received.clone();
    let mut seen = std::collections::HashSet::new();
    let mut sequences = vec![];
    for (id, body) in &received {
        assert_eq!(id, body["data"]["id"].as_str().unwrap());
        if seen.insert(id.clone()) {
            sequences.push(body["data"]["sequence"].as_u64().unwrap());
        }
    }
    let expected: Vec<u64> = (1..=sequences.len() as u64).collect();
    assert_eq!(sequences, expected, "{:?}", received.iter().map(|(_, b)| b["type"].clone()).collect::<Vec<_>>());
    let types: Vec<&str> = received.iter().filter_map(|(_, b)| b["type"].as_str()).collect();
    assert_eq!(types[..2], ["text.queued", "text.sent"], "{types:?}");
    assert!(server.terminate().await, "graceful stop");
}
