//! Outbound event webhooks against a real subscriber: an axum server on an ephemeral port
//! that records every delivery (and answers 500 when told to). Signatures are checked with
//! leadline's verifier and with an independent one, the `standardwebhooks` package from
//! PyPI, run with python3 (`LEADLINE_STANDARDWEBHOOKS_PYTHON` names the interpreter, e.g. a
//! venv's; `.ci/run` installs it). Without it the Python check is skipped with a note, except
//! when `CI` is set: then it is a failure.

use super::helpers::*;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use leadline::config::SubscriptionSettings;
use leadline::integrations::standard_webhooks::{self, WebhookKey};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Two secrets: a subscription in the middle of a rotation signs with both.
const SECRET_OLD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET_NEW: &str = "whsec_dGhpcyBpcyB0aGUgbmV3IGtleSBvZiAzMiBieXRlcyE=";

#[derive(Debug, Clone)]
struct Got {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    json: Value,
}

#[derive(Default)]
struct SubscriberState {
    received: Vec<Got>,
    /// Answer 500 to these event ids ("*": to everything).
    fail: HashSet<String>,
    attempts: BTreeMap<String, usize>,
}

#[derive(Clone)]
struct Subscriber {
    url: String,
    state: Arc<Mutex<SubscriberState>>,
}

async fn hook(State(state): State<Arc<Mutex<SubscriberState>>>, headers: HeaderMap, body: String) -> StatusCode {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let got = Got {
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp"),
        signature: h("webhook-signature"),
        json: serde_json::from_str(&body).unwrap_or(Value::Null),
        body,
    };
    let mut s = state.lock().unwrap();
    *s.attempts.entry(got.id.clone()).or_default() += 1;
    if s.fail.contains("*") || s.fail.contains(&got.id) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    s.received.push(got);
    StatusCode::NO_CONTENT
}

impl Subscriber {
    async fn start() -> Subscriber {
        let state = Arc::new(Mutex::new(SubscriberState::default()));
        let app = Router::new().route("/hook", post(hook)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Subscriber { url, state }
    }

    fn received(&self) -> Vec<Got> {
        self.state.lock().unwrap().received.clone()
    }

    fn fail(&self, id: &str, on: bool) {
        let mut s = self.state.lock().unwrap();
        if on {
            s.fail.insert(id.into());
        } else {
            s.fail.remove(id);
        }
    }

    fn attempts(&self, id: &str) -> usize {
        self.state.lock().unwrap().attempts.get(id).copied().unwrap_or(0)
    }

    /// The events received for one lead, in arrival order: (type, sequence).
    fn of(&self, phone: &str) -> Vec<(String, u64)> {
        self.received()
            .iter()
            .filter(|g| g.json["data"]["phone"] == phone)
            .map(|g| {
                (g.json["type"].as_str().unwrap_or("").to_string(), g.json["data"]["sequence"].as_u64().unwrap_or(0))
            })
            .collect()
    }

    /// Waits (bounded) until `phone` received an event of type `kind`.
    async fn wait_for(&self, phone: &str, kind: &str) -> Vec<(String, u64)> {
        for _ in 0..500 {
            let got = self.of(phone);
            if got.iter().any(|(t, _)| t == kind) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{phone}: no {kind} event; received {:?}", self.of(phone));
    }
}

fn subscription(url: &str, events: &[&str], secret: &str) -> SubscriptionSettings {
    SubscriptionSettings {
        url: url.into(),
        events: events.iter().map(|e| e.to_string()).collect(),
        secret: secret.into(),
        secret_env: String::new(),
    }
}

async fn spawn(sub: &Subscriber, events: &[&str], tweak: impl FnOnce(&mut leadline::config::Settings)) -> TestApp {
    let s = subscription(&sub.url, events, &format!("{SECRET_OLD} {SECRET_NEW}"));
    TestApp::spawn_with(|settings| {
        settings.webhooks.subscriptions = vec![s];
        settings.webhooks.delivery.retry_base_ms = 10;
        settings.webhooks.delivery.max_backoff_secs = 1;
        settings.webhooks.delivery.timeout_ms = 2000;
        tweak(settings);
    })
    .await
}

/// The sequences of one lead's events must be 1, 2, 3, ... in arrival order.
fn assert_in_order(phone: &str, got: &[(String, u64)]) {
    let seqs: Vec<u64> = got.iter().map(|(_, s)| *s).collect();
    let expected: Vec<u64> = (1..=got.len() as u64).collect();
    assert_eq!(seqs, expected, "{phone}: events out of order or missing: {got:?}");
}

/// Every delivery verifies with leadline's verifier under each of the two secrets.
fn verify_in_rust(received: &[Got]) {
    for secret in [SECRET_OLD, SECRET_NEW] {
        let key = WebhookKey::parse(secret).unwrap();
        for g in received {
            let ts = standard_webhooks::parse_timestamp(&g.timestamp).expect("webhook-timestamp");
            assert!(
                standard_webhooks::verify(std::slice::from_ref(&key), &g.id, ts, g.body.as_bytes(), &g.signature),
                "{} does not verify with one of the secrets",
                g.id
            );
            assert_eq!(g.signature.split(' ').count(), 2, "one v1 signature per secret: {}", g.signature);
            assert_eq!(g.id, g.json["data"]["id"], "webhook-id is the event id");
        }
    }
}

/// Verifies every delivery with the `standardwebhooks` package from PyPI, under each secret.
/// Skipped with a note when it is not installed, unless `CI` is set.
fn verify_in_python(received: &[Got]) {
    let python = std::env::var("LEADLINE_STANDARDWEBHOOKS_PYTHON").unwrap_or_else(|_| "python3".into());
    let available = std::process::Command::new(&python)
        .args(["-c", "import standardwebhooks"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        let msg = format!(
            "independent verifier: {python} cannot import standardwebhooks (pip install standardwebhooks, \
             and point LEADLINE_STANDARDWEBHOOKS_PYTHON at that interpreter); the Python check is skipped"
        );
        if std::env::var_os("CI").is_some() {
            panic!("{msg} (CI is set, so this is a failure)");
        }
        eprintln!("{msg}");
        return;
    }
    let messages: Vec<Value> = received
        .iter()
        .map(|g| json!({"id": g.id, "timestamp": g.timestamp, "signature": g.signature, "body": g.body}))
        .collect();
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
messages = json.load(sys.stdin)
secrets = sys.argv[1:]
for secret in secrets:
    wh = Webhook(secret)
    for m in messages:
        headers = {"webhook-id": m["id"], "webhook-timestamp": m["timestamp"], "webhook-signature": m["signature"]}
        data = wh.verify(m["body"], headers)
        assert data["data"]["id"] == m["id"], m["id"]
print("verified", len(messages) * len(secrets))
"#;
    let mut child = std::process::Command::new(&python)
        .args(["-c", script, SECRET_OLD, SECRET_NEW])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(serde_json::to_string(&messages).unwrap().as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "standardwebhooks refused a delivery: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.trim(), format!("verified {}", messages.len() * 2));
    // A tampered body must fail there too (the verifier is really checking).
    let mut tampered = messages[0].clone();
    tampered["body"] = Value::String(tampered["body"].as_str().unwrap().replace("+1", "+4"));
    let mut child = std::process::Command::new(&python)
        .args(["-c", script, SECRET_OLD])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(serde_json::to_string(&vec![tampered]).unwrap().as_bytes()).unwrap();
    }
    assert!(!child.wait().unwrap().success(), "a tampered body verified");
}

#[tokio::test]
async fn a_subscriber_receives_every_event_in_order_per_lead_with_valid_signatures() {
    let sub = Subscriber::start().await;
    let app = spawn(&sub, &["*"], |_| {}).await;
    let (ana, ben) = ("+12125550301", "+12125550302");

    // Ana: captured (text queued, sent, delivered), replies (hand-off), is frozen.
    assert_eq!(app.post_lead(&lead_with_consent(ana, "EW-1")).await.status(), 202);
    app.twilio.wait_for(ana, 1).await;
    sub.wait_for(ana, "text.sent").await;
    let sid = app.twilio.last_sid().unwrap();
    let p = [("MessageSid", sid.as_str()), ("MessageStatus", "delivered")];
    assert!(app.twilio_webhook("/v1/twilio/status", &p).await.status().is_success());
    sub.wait_for(ana, "text.delivered").await;
    assert_eq!(app.inbound(ana, "Is the basement finished?", "SM-ew1").await.status(), 200);
    sub.wait_for(ana, "lead.handed_off").await;
    let res = app.admin_post(&format!("/v1/admin/leads/{}/freeze", urlencode(ana)), Some(json!({"reason": "x"}))).await;
    assert_eq!(res.status(), 200);
    let ana_events = sub.wait_for(ana, "lead.frozen").await;

    // Ben: no consent (blocked), then STOP (opted out, confirmation), then START.
    let res = app.post_lead(&json!({"source": "web", "phone": ben, "first_name": "Ben"})).await;
    assert_eq!(res.status(), 202);
    sub.wait_for(ben, "text.blocked").await;
    assert_eq!(app.inbound(ben, "STOP", "SM-ew2").await.status(), 200);
    sub.wait_for(ben, "lead.opted_out").await;
    app.twilio.wait_for(ben, 1).await;
    sub.wait_for(ben, "text.sent").await;
    assert_eq!(app.inbound(ben, "START", "SM-ew3").await.status(), 200);
    let ben_events = sub.wait_for(ben, "lead.opted_in").await;

    let types = |got: &[(String, u64)]| got.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>();
    assert_eq!(
        types(&ana_events),
        ["text.queued", "text.sent", "text.delivered", "lead.replied", "lead.handed_off", "lead.frozen"],
        "{ana_events:?}"
    );
    let ben_types = types(&ben_events);
    assert_eq!(&ben_types[..5], ["text.blocked", "lead.replied", "lead.opted_out", "text.queued", "text.sent"]);
    assert_eq!(&ben_types[5..7], ["lead.replied", "lead.opted_in"], "{ben_events:?}");
    assert_in_order(ana, &ana_events);
    assert_in_order(ben, &ben_events);

    // The payload's shape.
    let received = sub.received();
    let opted_out = received.iter().find(|g| g.json["type"] == "lead.opted_out").unwrap();
    assert_eq!(opted_out.json["data"]["phone"], ben);
    assert_eq!(opted_out.json["data"]["status"], "OPT_OUT");
    assert_eq!(opted_out.json["data"]["rule"], "opt_out.keyword");
    assert!(opted_out.json["timestamp"].is_string());
    verify_in_rust(&received);
    verify_in_python(&received);

    // Nothing left in the queue (a delivery leaves it just after the subscriber answered),
    // nothing dead.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let v = loop {
        let v: Value = app.admin_get("/v1/admin/webhooks/deliveries").await.json().await.unwrap();
        if v["queued_count"] == 0 || std::time::Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(v["queued_count"], 0, "{v}");
    assert_eq!(v["dead_count"], 0, "{v}");
    assert_eq!(v["subscriptions"][0]["url"], sub.url.as_str());
    assert_eq!(v["subscriptions"][0]["secrets"], 2);
    app.stop().await;
}

#[tokio::test]
async fn only_the_subscribed_event_types_are_queued_and_the_test_ping_is_signed() {
    let sub = Subscriber::start().await;
    let app = spawn(&sub, &["lead.opted_out"], |_| {}).await;
    let ana = "+12125550311";
    assert_eq!(app.post_lead(&lead_with_consent(ana, "EW-11")).await.status(), 202);
    app.twilio.wait_for(ana, 1).await;
    assert_eq!(app.inbound(ana, "STOP", "SM-ew11").await.status(), 200);
    let got = sub.wait_for(ana, "lead.opted_out").await;
    assert_eq!(got.len(), 1, "only lead.opted_out: {got:?}");
    // Its sequence counts every event of the lead, subscribed or not.
    assert!(got[0].1 > 1, "{got:?}");

    let res = app.admin_post("/v1/admin/webhooks/test", None).await;
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["results"][0]["delivered"], true, "{report}");
    assert_eq!(report["results"][0]["status"], 204, "{report}");
    let ping = sub.received().into_iter().find(|g| g.json["type"] == "webhook.test").expect("the ping arrived");
    verify_in_rust(std::slice::from_ref(&ping));
    let res = app.admin_post("/v1/admin/webhooks/test", Some(json!({"subscription": "nope"}))).await;
    assert_eq!(res.status(), 404);
    let res = app.admin_post("/v1/admin/webhooks/test", Some(json!({"subscriptio": "typo"}))).await;
    assert_eq!(res.status(), 422);
    app.stop().await;
}

#[tokio::test]
async fn a_failing_event_is_retried_then_dead_and_does_not_block_later_ones_then_replayed() {
    let sub = Subscriber::start().await;
    let app = spawn(&sub, &["*"], |s| s.webhooks.delivery.max_attempts = 3).await;
    let ana = "+12125550321";
    // Ana's first event (text.queued) fails every time.
    let first = "evt_12125550321_1";
    sub.fail(first, true);
    assert_eq!(app.post_lead(&lead_with_consent(ana, "EW-21")).await.status(), 202);
    app.twilio.wait_for(ana, 1).await;
    let got = sub.wait_for(ana, "text.sent").await;
    assert_eq!(got, [("text.sent".to_string(), 2)], "later events go once the first is dead");
    assert_eq!(sub.attempts(first), 3, "retried up to max_attempts");

    let v: Value = app.admin_get("/v1/admin/webhooks/deliveries").await.json().await.unwrap();
    assert_eq!(v["dead_count"], 1, "{v}");
    let dead = &v["dead"][0];
    assert_eq!(dead["state"], "dead");
    assert_eq!(dead["attempts"], 3);
    assert_eq!(dead["last_error"], "HTTP 500");
    assert_eq!(dead["event"]["type"], "text.queued");
    let id = dead["id"].as_str().unwrap().to_string();
    assert!(id.ends_with(first), "{id}");
    // The admin page shows it too.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = http.post(format!("{}/admin/login", app.base)).form(&[("token", ADMIN_TOKEN)]).send().await.unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let res = http.get(format!("{}/admin/integrations", app.base)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains(&id) && html.contains("HTTP 500") && html.contains("1 dead"), "{html}");

    // The subscriber is fixed; the operator replays it.
    sub.fail(first, false);
    let res = app.admin_post(&format!("/v1/admin/webhooks/deliveries/{id}/replay"), None).await;
    assert_eq!(res.status(), 202);
    let got = sub.wait_for(ana, "text.queued").await;
    assert_eq!(got.last(), Some(&("text.queued".to_string(), 1)), "{got:?}");
    let v: Value = app.admin_get("/v1/admin/webhooks/deliveries").await.json().await.unwrap();
    assert_eq!(v["dead_count"], 0, "{v}");
    let res = app.admin_post(&format!("/v1/admin/webhooks/deliveries/{id}/replay"), None).await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    app.stop().await;
}

#[tokio::test]
async fn queued_events_survive_a_restart_and_are_delivered_in_order_after_it() {
    let sub = Subscriber::start().await;
    sub.fail("*", true);
    let app = spawn(&sub, &["*"], |s| s.webhooks.delivery.max_attempts = 1000).await;
    let ana = "+12125550331";
    assert_eq!(app.post_lead(&lead_with_consent(ana, "EW-31")).await.status(), 202);
    app.twilio.wait_for(ana, 1).await;
    assert_eq!(app.inbound(ana, "STOP", "SM-ew31").await.status(), 200);
    app.twilio.wait_for(ana, 2).await;
    app.wait_timeline(ana, "text_sent").await;
    // Queued while the subscriber refuses everything.
    let v: Value = app.admin_get("/v1/admin/webhooks/deliveries").await.json().await.unwrap();
    assert!(v["queued_count"].as_u64().unwrap() >= 5, "{v}");
    assert!(sub.of(ana).is_empty());

    let app = app.restart().await;
    sub.fail("*", false);
    let mut got = vec![];
    for _ in 0..500 {
        got = sub.of(ana);
        let v: Value = app.admin_get("/v1/admin/webhooks/deliveries").await.json().await.unwrap();
        if v["queued_count"] == 0 && !got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_in_order(ana, &got);
    let types: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types[..3], ["text.queued", "text.sent", "lead.replied"], "{got:?}");
    assert!(types.contains(&"lead.opted_out"), "{got:?}");
    verify_in_rust(&sub.received());
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_lists_every_event_in_its_webhooks_section() {
    let app = TestApp::spawn().await;
    let doc: Value =
        app.client.get(format!("{}/v1/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
    let hooks = doc["webhooks"].as_object().expect("a webhooks section");
    let names: Vec<&str> = hooks.keys().map(String::as_str).collect();
    for event in leadline_core::lead_events::EVENT_TYPES {
        assert!(names.contains(&event), "{event} missing from {names:?}");
        let op = &hooks[event]["post"];
        assert_eq!(
            op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/EventWebhookPayload"
        );
        let headers: Vec<&str> =
            op["parameters"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(headers, ["webhook-id", "webhook-timestamp", "webhook-signature"]);
    }
    let payload = &doc["components"]["schemas"]["EventWebhookPayload"];
    assert!(payload["properties"]["type"].is_object() && payload["properties"]["data"].is_object(), "{payload}");
    app.stop().await;
}
