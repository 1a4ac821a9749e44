//! Follow Up Boss write-back against a fake FUB API that speaks its wire format: Basic auth
//! with the API key, `X-System` / `X-System-Key`, `GET /v1/people?phone=`, `POST` and `GET
//! /v1/textMessages`, `PUT /v1/people/{id}?mergeTags=true`, `POST` and `GET /v1/notes`; it
//! answers 429 with `Retry-After` and 500 when told to (once after applying the write: an
//! unknown outcome for leadline).

use super::helpers::*;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const API_KEY: &str = "fub-api-key-wb";
const SYSTEM_KEY: &str = "fub-system-key-wb";
const PERSON: u64 = 4242;

/// What the next POST answers.
#[derive(Debug, Clone, Copy)]
enum Next {
    /// 429, not applied, `Retry-After: 1`.
    TooMany,
    /// Applied, then 500: leadline cannot know it was applied.
    AppliedThen500,
    /// 503, not applied.
    Unavailable,
}

#[derive(Default)]
struct Fub {
    phone_digits: String,
    texts: Vec<Value>,
    notes: Vec<Value>,
    /// (query, body) of every PUT /v1/people/{id}.
    person_updates: Vec<(String, Value)>,
    script: VecDeque<Next>,
    /// Requests without the right Basic auth or X-System headers.
    bad_auth: Vec<String>,
    posts: usize,
    /// Bodies of `POST /v1/events` (a lead sent in: the person is created from its phone).
    events: Vec<Value>,
}

type FubState = Arc<Mutex<Fub>>;

fn check_auth(fub: &FubState, what: &str, headers: &HeaderMap) {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{API_KEY}:")));
    if h("authorization") != basic || h("x-system") != "leadline" || h("x-system-key") != SYSTEM_KEY {
        fub.lock().unwrap().bad_auth.push(what.to_string());
    }
}

/// The scripted answer for a POST, or None to apply it normally.
fn scripted(fub: &FubState) -> Option<Next> {
    let mut f = fub.lock().unwrap();
    f.posts += 1;
    f.script.pop_front()
}

fn refuse(next: Next) -> Option<Response> {
    match next {
        Next::TooMany => Some((StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "slow down").into_response()),
        Next::Unavailable => Some((StatusCode::SERVICE_UNAVAILABLE, "down").into_response()),
        Next::AppliedThen500 => None,
    }
}

async fn people(State(fub): State<FubState>, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    check_auth(&fub, "GET /v1/people", &headers);
    let q = q.unwrap_or_default();
    let phone = form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "phone").map(|(_, v)| v.to_string());
    let f = fub.lock().unwrap();
    let found = phone.is_some_and(|p| p.chars().filter(char::is_ascii_digit).collect::<String>() == f.phone_digits);
    let people = if found { vec![json!({"id": PERSON})] } else { vec![] };
    Json(json!({"_metadata": {"collection": "people", "total": people.len()}, "people": people})).into_response()
}

async fn put_person(
    State(fub): State<FubState>,
    Path(id): Path<u64>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    check_auth(&fub, "PUT /v1/people", &headers);
    assert_eq!(id, PERSON);
    fub.lock().unwrap().person_updates.push((q.unwrap_or_default(), body));
    Json(json!({"id": PERSON})).into_response()
}

async fn post_text(State(fub): State<FubState>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    check_auth(&fub, "POST /v1/textMessages", &headers);
    let next = scripted(&fub);
    if let Some(refused) = next.and_then(refuse) {
        return refused;
    }
    let mut f = fub.lock().unwrap();
    let mut stored = body.clone();
    stored["id"] = json!(f.texts.len() + 1);
    f.texts.push(stored.clone());
    match next {
        Some(Next::AppliedThen500) => (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        _ => (StatusCode::CREATED, Json(stored)).into_response(),
    }
}

async fn list_texts(State(fub): State<FubState>, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    check_auth(&fub, "GET /v1/textMessages", &headers);
    let q = q.unwrap_or_default();
    let person = form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "personId").map(|(_, v)| v.to_string());
    let f = fub.lock().unwrap();
    let texts: Vec<Value> =
        f.texts.iter().filter(|t| Some(t["personId"].to_string()) == person).rev().cloned().collect();
    Json(json!({"_metadata": {"collection": "textmessages", "total": texts.len()}, "textmessages": texts}))
        .into_response()
}

async fn post_note(State(fub): State<FubState>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    check_auth(&fub, "POST /v1/notes", &headers);
    let next = scripted(&fub);
    if let Some(refused) = next.and_then(refuse) {
        return refused;
    }
    let mut f = fub.lock().unwrap();
    f.notes.push(body.clone());
    match next {
        Some(Next::AppliedThen500) => (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        _ => (StatusCode::CREATED, Json(body)).into_response(),
    }
}

async fn list_notes(State(fub): State<FubState>, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    check_auth(&fub, "GET /v1/notes", &headers);
    let q = q.unwrap_or_default();
    let person = form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "personId").map(|(_, v)| v.to_string());
    let f = fub.lock().unwrap();
    let notes: Vec<Value> = f.notes.iter().filter(|n| Some(n["personId"].to_string()) == person).cloned().collect();
    Json(json!({"_metadata": {"collection": "notes", "total": notes.len()}, "notes": notes})).into_response()
}

async fn post_event(State(fub): State<FubState>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    check_auth(&fub, "POST /v1/events", &headers);
    let mut f = fub.lock().unwrap();
    let phone = body["person"]["phones"][0]["value"].as_str().unwrap_or("").to_string();
    f.phone_digits = phone.chars().filter(char::is_ascii_digit).collect();
    f.events.push(body);
    (StatusCode::OK, Json(json!({"id": 1, "personId": PERSON}))).into_response()
}

async fn start_fub(fub: FubState) -> String {
    let app = Router::new()
        .route("/v1/events", axum::routing::post(post_event))
        .route("/v1/people", get(people))
        .route("/v1/people/{id}", put(put_person))
        .route("/v1/textMessages", get(list_texts).post(post_text))
        .route("/v1/notes", get(list_notes).post(post_note))
        .with_state(fub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

async fn wait_until(what: &str, f: impl Fn() -> bool) {
    for _ in 0..600 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// (message, isIncoming) of every logged text, oldest first.
fn texts(fub: &FubState) -> Vec<(String, bool)> {
    fub.lock()
        .unwrap()
        .texts
        .iter()
        .map(|t| (t["message"].as_str().unwrap_or("").to_string(), t["isIncoming"].as_bool().unwrap_or(false)))
        .collect()
}

#[tokio::test]
async fn texts_replies_opt_out_and_hand_off_reach_fub_once_each_across_429_5xx_and_a_restart() {
    let phone = "+12125550341";
    let fub: FubState = Arc::default();
    fub.lock().unwrap().phone_digits = "12125550341".into();
    // The first text's log: 429 (Retry-After), then applied-but-500 (in doubt: read, found).
    fub.lock().unwrap().script = VecDeque::from([Next::TooMany, Next::AppliedThen500]);
    let base = start_fub(fub.clone()).await;
    let app = TestApp::spawn_with_secrets(
        |s| {
            s.integrations.followupboss.api_base = base.parse().unwrap();
            s.integrations.followupboss.retry_base_ms = 10;
            s.integrations.followupboss.timeout_ms = 2000;
            s.integrations.followupboss.writeback.opt_out_stage = "Do Not Contact".into();
        },
        |secrets| {
            secrets.fub_api_key = Some(API_KEY.into());
            secrets.fub_system_key = Some(SYSTEM_KEY.into());
        },
    )
    .await;

    assert_eq!(app.post_lead(&lead_with_consent(phone, "WB-1")).await.status(), 202);
    let first = app.twilio.wait_for(phone, 1).await;
    let first_body = first[0].body().to_string();
    wait_until("the first text logged", || texts(&fub).len() == 1).await;
    // Let the in-doubt write settle (a read finds it; it leaves the queue).
    for _ in 0..300 {
        let v: Value = app.admin_get("/v1/admin/fub/writes").await.json().await.unwrap();
        if v["queued_count"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fub.lock().unwrap().posts, 2, "429, then applied+500, then no third POST: the read found it");
    assert_eq!(texts(&fub).len(), 1);

    // A reply: logged as incoming, and a hand-off note for the agent.
    assert_eq!(app.inbound(phone, "Is it sold?", "SM-wb1").await.status(), 200);
    wait_until("the reply and the note", || texts(&fub).len() == 2 && fub.lock().unwrap().notes.len() == 1).await;

    // A restart, then STOP: tag + stage, the STOP logged, the confirmation logged.
    let app = app.restart().await;
    fub.lock().unwrap().script = VecDeque::from([Next::Unavailable]);
    assert_eq!(app.inbound(phone, "STOP", "SM-wb2").await.status(), 200);
    app.twilio.wait_for(phone, 2).await;
    wait_until("the opt-out written", || texts(&fub).len() == 4 && !fub.lock().unwrap().person_updates.is_empty())
        .await;
    for _ in 0..50 {
        let v: Value = app.admin_get("/v1/admin/fub/writes").await.json().await.unwrap();
        if v["queued_count"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let logged = texts(&fub);
    let confirmation = app.twilio.received_for(phone)[1].body().to_string();
    assert_eq!(
        logged,
        [(first_body, false), ("Is it sold?".to_string(), true), ("STOP".to_string(), true), (confirmation, false),],
        "each fact exactly once, in order"
    );
    {
        let f = fub.lock().unwrap();
        assert_eq!(f.texts[0]["personId"], PERSON);
        assert_eq!(f.texts[0]["toNumber"], phone);
        assert_eq!(f.texts[0]["fromNumber"], FROM);
        assert_eq!(f.texts[1]["fromNumber"], phone);
        assert_eq!(f.notes.len(), 1, "{:?}", f.notes);
        assert_eq!(f.notes[0]["subject"], "leadline: handoff.reply");
        assert_eq!(f.person_updates.len(), 1, "{:?}", f.person_updates);
        let (query, body) = &f.person_updates[0];
        assert_eq!(query, "mergeTags=true");
        assert_eq!(body["tags"], json!(["leadline-opted-out"]));
        assert_eq!(body["stage"], "Do Not Contact");
        assert!(f.bad_auth.is_empty(), "requests without FUB's auth headers: {:?}", f.bad_auth);
    }

    let v: Value = app.admin_get("/v1/admin/fub/writes").await.json().await.unwrap();
    assert_eq!(v["enabled"], true);
    assert_eq!(v["queued_count"], 0, "{v}");
    assert_eq!(v["dead_count"], 0, "{v}");
    app.stop().await;
}

#[tokio::test]
async fn a_write_fub_keeps_refusing_is_dead_visible_and_replayable_without_a_duplicate() {
    let phone = "+12125550342";
    let fub: FubState = Arc::default();
    fub.lock().unwrap().phone_digits = "12125550342".into();
    // 503, then (after a read that finds nothing) applied but 500: dead after 2 attempts, in doubt.
    fub.lock().unwrap().script = VecDeque::from([Next::Unavailable, Next::AppliedThen500]);
    let base = start_fub(fub.clone()).await;
    let app = TestApp::spawn_with_secrets(
        |s| {
            s.integrations.followupboss.api_base = base.parse().unwrap();
            s.integrations.followupboss.retry_base_ms = 10;
            s.integrations.followupboss.writeback.max_attempts = 2;
        },
        |secrets| {
            secrets.fub_api_key = Some(API_KEY.into());
            secrets.fub_system_key = Some(SYSTEM_KEY.into());
        },
    )
    .await;
    assert_eq!(app.post_lead(&lead_with_consent(phone, "WB-2")).await.status(), 202);
    app.twilio.wait_for(phone, 1).await;
    let mut dead = Value::Null;
    for _ in 0..300 {
        let v: Value = app.admin_get("/v1/admin/fub/writes").await.json().await.unwrap();
        if v["dead_count"] == 1 {
            dead = v["dead"][0].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(dead["attempts"], 2, "{dead}");
    assert!(dead["last_error"].as_str().unwrap().starts_with("in doubt: "), "{dead}");
    assert_eq!(dead["event"]["type"], "text.sent");
    let id = dead["id"].as_str().unwrap();
    let res = app.admin_post(&format!("/v1/admin/fub/writes/{id}/replay"), None).await;
    assert_eq!(res.status(), 202);
    // The replay reads first, finds the text FUB applied on the second attempt: no second log.
    for _ in 0..100 {
        let v: Value = app.admin_get("/v1/admin/fub/writes").await.json().await.unwrap();
        if v["queued_count"] == 0 && v["dead_count"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let v: Value = app.admin_get("/v1/admin/fub/writes").await.json().await.unwrap();
    assert_eq!((v["queued_count"].clone(), v["dead_count"].clone()), (json!(0), json!(0)), "{v}");
    assert_eq!(texts(&fub).len(), 1, "logged once: {:?}", texts(&fub));
    assert_eq!(fub.lock().unwrap().posts, 2, "no POST after the replay's read");
    let res = app.admin_post(&format!("/v1/admin/fub/writes/{id}/replay"), None).await;
    assert_eq!(res.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn a_lead_fub_does_not_know_is_sent_in_as_a_lead_once_when_create_people_is_on() {
    let phone = "+12125550343";
    let fub: FubState = Arc::default();
    let base = start_fub(fub.clone()).await;
    let app = TestApp::spawn_with_secrets(
        |s| {
            s.integrations.followupboss.api_base = base.parse().unwrap();
            s.integrations.followupboss.retry_base_ms = 10;
            s.integrations.followupboss.writeback.create_people = true;
        },
        |secrets| {
            secrets.fub_api_key = Some(API_KEY.into());
            secrets.fub_system_key = Some(SYSTEM_KEY.into());
        },
    )
    .await;
    assert_eq!(app.post_lead(&lead_with_consent(phone, "WB-3")).await.status(), 202);
    app.twilio.wait_for(phone, 1).await;
    wait_until("the first text logged", || texts(&fub).len() == 1).await;
    assert_eq!(app.inbound(phone, "Can I see it Sunday?", "SM-wb3").await.status(), 200);
    wait_until("the reply logged", || texts(&fub).len() == 2).await;
    {
        let f = fub.lock().unwrap();
        assert_eq!(f.events.len(), 1, "sent in once, then linked: {:?}", f.events);
        let event = &f.events[0];
        assert_eq!(event["source"], "leadline");
        assert_eq!(event["type"], "General Inquiry");
        assert_eq!(event["person"]["firstName"], "Ana");
        assert_eq!(f.texts[0]["personId"], PERSON);
        assert!(f.bad_auth.is_empty(), "{:?}", f.bad_auth);
    }
    app.stop().await;
}
