//! Inbound signatures on `/v1/events/*` and the lead-source adapters: Standard Webhooks
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`; `LEADLINE_WEBHOOK_SECRETS` with
//! rotation), the timestamp tolerance against the injected clock, the `webhook-id` replay,
//! and the legacy `X-Leadline-Signature` next to them.
//!
//! The requests are signed here with `hmac` and `base64` directly, not with leadline's own
//! signer, so a mistake in that signer cannot hide here (the signer itself is checked
//! against the specification's test vector in `integrations::standard_webhooks`).

use super::helpers::*;
use base64::Engine;
use hmac::{Hmac, Mac};
use leadline::config::Secrets;
use leadline::integrations::signature::leadline_signature;
use leadline::startup::Application;
use leadline_core::clock::ManualClock;
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::Arc;

/// base64 of the bytes 1..=32, 101..=132 and 201..=232.
const SECRET_A: &str = "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
const SECRET_B: &str = "whsec_ZWZnaGlqa2xtbm9wcXJzdHV2d3h5ent8fX5/gIGCg4Q=";
const SECRET_UNKNOWN: &str = "whsec_ycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+g=";
const LEGACY_SECRET: &str = "legacy-webhook-secret";

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, as the specification says.
fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", b64.encode(mac.finalize().into_bytes()))
}

/// An app with both Standard Webhooks secrets (a rotation in progress) and the legacy one.
async fn spawn() -> TestApp {
    TestApp::spawn_with_secrets(
        |_| {},
        |sec| {
            sec.webhook_secrets = vec![SECRET_A.into(), SECRET_B.into()];
            sec.webhook_secret = Some(LEGACY_SECRET.into());
        },
    )
    .await
}

fn now(app: &TestApp) -> i64 {
    use leadline_core::clock::Clock;
    app.clock.now().timestamp()
}

/// POSTs `body` with the three Standard Webhooks headers.
async fn post_standard(
    app: &TestApp,
    path: &str,
    body: &Value,
    id: &str,
    timestamp: i64,
    signature: &str,
) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(serde_json::to_vec(body).unwrap())
        .send()
        .await
        .unwrap()
}

/// Signed with `secret` at the clock's current time.
async fn post_signed(app: &TestApp, path: &str, body: &Value, id: &str, secret: &str) -> reqwest::Response {
    let ts = now(app);
    let sig = sign(secret, id, ts, &serde_json::to_vec(body).unwrap());
    post_standard(app, path, body, id, ts, &sig).await
}

async fn error_of(res: reqwest::Response) -> (u16, String, String) {
    let status = res.status().as_u16();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    (status, v["error"]["code"].as_str().unwrap_or("").into(), v["error"]["message"].as_str().unwrap_or("").into())
}

async fn lead_status(app: &TestApp, phone: &str) -> u16 {
    app.admin_get(&format!("/v1/admin/leads/{}", urlencode(phone))).await.status().as_u16()
}

#[tokio::test]
async fn signatures_a_valid_standard_webhooks_signature_is_accepted() {
    let app = spawn().await;
    let phone = "+12125550171";
    let res = post_signed(&app, "/v1/events/leads", &lead_with_consent(phone, "SW-1"), "msg_valid_1", SECRET_A).await;
    assert_eq!(res.status(), 202);
    assert!(res.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.lead(phone).await["phone"], phone);
    // The adapters and the other event routes take it too.
    let zillow = json!({"name": "Kim Ray", "phone": "2125550172", "leadId": "Z-SW"});
    assert_eq!(post_signed(&app, "/v1/webhooks/zillow", &zillow, "msg_valid_2", SECRET_A).await.status(), 202);
    let crm = json!({"phone": phone, "status": "nurture"});
    assert_eq!(post_signed(&app, "/v1/events/crm", &crm, "msg_valid_3", SECRET_A).await.status(), 202);
    app.stop().await;
}

#[tokio::test]
async fn signatures_a_wrong_secret_is_401_and_changes_nothing() {
    let app = spawn().await;
    let phone = "+12125550173";
    let body = lead_with_consent(phone, "SW-2");
    let (status, code, msg) =
        error_of(post_signed(&app, "/v1/events/leads", &body, "msg_wrong", SECRET_UNKNOWN).await).await;
    assert_eq!((status, code.as_str()), (401, "invalid_signature"), "{msg}");
    assert!(msg.contains("webhook-signature"), "{msg}");

    // Headers that do not make a signature at all: also 401, with a message that says why.
    let ts = now(&app);
    let raw = serde_json::to_vec(&body).unwrap();
    let good = sign(SECRET_A, "msg_wrong", ts, &raw);
    for (id, ts_header, sig, hint) in [
        ("msg_wrong", ts.to_string(), "v1,AAAA".to_string(), "webhook-signature"),
        ("msg_wrong", ts.to_string(), good.replace("v1,", "v2,"), "webhook-signature"),
        ("msg_wrong", "yesterday".to_string(), good.clone(), "webhook-timestamp"),
        ("msg_other", ts.to_string(), good.clone(), "webhook-signature"),
    ] {
        let res = app
            .client
            .post(format!("{}/v1/events/leads", app.base))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts_header)
            .header("webhook-signature", sig)
            .body(raw.clone())
            .send()
            .await
            .unwrap();
        let (status, code, msg) = error_of(res).await;
        assert_eq!((status, code.as_str()), (401, "invalid_signature"), "{msg}");
        assert!(msg.contains(hint), "{msg}");
    }
    // A missing header (here webhook-timestamp) names all three.
    let res = app
        .client
        .post(format!("{}/v1/events/leads", app.base))
        .header("content-type", "application/json")
        .header("webhook-id", "msg_wrong")
        .header("webhook-signature", good)
        .body(raw.clone())
        .send()
        .await
        .unwrap();
    let (status, code, msg) = error_of(res).await;
    assert_eq!((status, code.as_str()), (401, "invalid_signature"), "{msg}");
    assert!(msg.contains("webhook-timestamp"), "{msg}");

    assert_eq!(lead_status(&app, phone).await, 404, "nothing was created");
    assert!(app.twilio.settle(phone).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn signatures_the_second_of_two_rotated_secrets_is_accepted() {
    let app = spawn().await;
    let phone = "+12125550174";
    let res = post_signed(&app, "/v1/events/leads", &lead_with_consent(phone, "SW-3"), "msg_rotated", SECRET_B).await;
    assert_eq!(res.status(), 202);
    assert_eq!(lead_status(&app, phone).await, 200);
    app.stop().await;
}

#[tokio::test]
async fn signatures_one_valid_signature_among_several_is_enough() {
    let app = spawn().await;
    let phone = "+12125550175";
    let body = lead_with_consent(phone, "SW-4");
    let raw = serde_json::to_vec(&body).unwrap();
    let ts = now(&app);
    // As a sender in the middle of its own rotation would send it: the old key's signature
    // (unknown here), an unknown version, then the one made with a key leadline knows.
    let header = format!(
        "{} v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {}",
        sign(SECRET_UNKNOWN, "msg_multi", ts, &raw),
        sign(SECRET_B, "msg_multi", ts, &raw)
    );
    assert_eq!(post_standard(&app, "/v1/events/leads", &body, "msg_multi", ts, &header).await.status(), 202);
    assert_eq!(lead_status(&app, phone).await, 200);
    app.stop().await;
}

#[tokio::test]
async fn signatures_a_timestamp_301_seconds_off_either_way_is_401_and_changes_nothing() {
    let app = spawn().await;
    let phone = "+12125550176";
    let ts = now(&app);
    let body = lead_with_consent(phone, "SW-5");
    let raw = serde_json::to_vec(&body).unwrap();
    for (offset, when) in [(-301, "old"), (301, "future")] {
        let id = format!("msg_stale_{offset}");
        let sig = sign(SECRET_A, &id, ts + offset, &raw);
        let (status, code, msg) =
            error_of(post_standard(&app, "/v1/events/leads", &body, &id, ts + offset, &sig).await).await;
        assert_eq!((status, code.as_str()), (401, "webhook_timestamp_out_of_tolerance"), "{msg}");
        assert!(msg.contains(when) && msg.contains("300"), "{msg}");
    }
    assert_eq!(lead_status(&app, phone).await, 404, "no lead was created");

    // An existing lead: a stale CRM change leaves its timeline as it was.
    assert_eq!(post_signed(&app, "/v1/events/leads", &body, "msg_fresh", SECRET_A).await.status(), 202);
    assert_eq!(app.twilio.wait_for(phone, 1).await.len(), 1);
    let before = app.wait_timeline(phone, "text_sent").await;
    let crm = json!({"phone": phone, "status": "closed"});
    let craw = serde_json::to_vec(&crm).unwrap();
    let sig = sign(SECRET_A, "msg_stale_crm", ts - 301, &craw);
    let res = post_standard(&app, "/v1/events/crm", &crm, "msg_stale_crm", ts - 301, &sig).await;
    assert_eq!(res.status(), 401);
    assert_eq!(app.timeline(phone).await, before, "the timeline is unchanged");
    assert_ne!(app.lead(phone).await["crm_status"], "closed");

    // Exactly at the tolerance it is still accepted, both ways; the clock is the app's.
    app.clock.advance(chrono::Duration::seconds(1000));
    let ts = now(&app);
    for (offset, id) in [(-300, "msg_edge_old"), (300, "msg_edge_new")] {
        let crm = json!({"phone": phone, "status": "nurture", "occurred_at": format!("2026-11-26T18:0{}:00Z", if offset < 0 { 1 } else { 2 })});
        let raw = serde_json::to_vec(&crm).unwrap();
        let sig = sign(SECRET_A, id, ts + offset, &raw);
        assert_eq!(post_standard(&app, "/v1/events/crm", &crm, id, ts + offset, &sig).await.status(), 202, "{id}");
    }
    app.stop().await;
}

#[tokio::test]
async fn signatures_a_repeated_webhook_id_replays_the_first_response_and_applies_once() {
    let app = spawn().await;
    let phone = "+12125550177";
    // No source_lead_id: the event has no dedupe key of its own, so only the webhook-id
    // keeps a repeat from being applied twice.
    let mut body = lead_with_consent(phone, "unused");
    body.as_object_mut().unwrap().remove("source_lead_id");
    let first = post_signed(&app, "/v1/events/leads", &body, "msg_replay", SECRET_A).await;
    assert_eq!(first.status(), 202);
    let first_body = first.bytes().await.unwrap();
    assert_eq!(app.twilio.wait_for(phone, 1).await.len(), 1);
    let timeline = app.wait_timeline(phone, "text_sent").await;

    // The sender's retry: same id and body, signed again a little later (a new timestamp).
    app.clock.advance(chrono::Duration::seconds(30));
    let again = post_signed(&app, "/v1/events/leads", &body, "msg_replay", SECRET_B).await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(again.bytes().await.unwrap(), first_body, "the same body");
    assert_eq!(app.timeline(phone).await, timeline, "applied once");

    // The same id with another body: the Idempotency-Key conflict answer, nothing changes.
    let mut other = body.clone();
    other["first_name"] = json!("Someone Else");
    let (status, code, msg) =
        error_of(post_signed(&app, "/v1/events/leads", &other, "msg_replay", SECRET_A).await).await;
    assert_eq!((status, code.as_str()), (422, "idempotency_key_reused"), "{msg}");
    assert!(msg.contains("webhook-id"), "{msg}");
    assert_eq!(app.timeline(phone).await, timeline);
    assert_eq!(app.lead(phone).await["first_name"], "Ana");

    // A replay after the tolerance is refused as stale, whatever was stored.
    let ts = now(&app) - 301;
    let raw = serde_json::to_vec(&body).unwrap();
    let sig = sign(SECRET_A, "msg_replay", ts, &raw);
    assert_eq!(post_standard(&app, "/v1/events/leads", &body, "msg_replay", ts, &sig).await.status(), 401);

    // The webhook-id and the Idempotency-Key are separate namespaces.
    let res = app
        .client
        .post(format!("{}/v1/events/leads", app.base))
        .header("Idempotency-Key", "msg_replay")
        .header("X-Leadline-Signature", leadline_signature(&raw, LEGACY_SECRET))
        .header("content-type", "application/json")
        .body(raw.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    assert!(res.headers().get("idempotent-replayed").is_none());

    // Another id with the same body is a new message: applied again.
    let count = app.timeline(phone).await.len();
    assert_eq!(post_signed(&app, "/v1/events/leads", &body, "msg_replay_2", SECRET_A).await.status(), 202);
    assert!(app.timeline(phone).await.len() > count, "a new webhook-id is a new event");
    app.stop().await;
}

#[tokio::test]
async fn signatures_the_legacy_header_still_works_next_to_standard_webhooks() {
    let app = spawn().await;
    let phone = "+12125550178";
    let body = lead_with_consent(phone, "SW-7");
    let raw = serde_json::to_vec(&body).unwrap();
    let post_legacy = |sig: Option<String>| {
        let mut req = app
            .client
            .post(format!("{}/v1/events/leads", app.base))
            .header("content-type", "application/json")
            .body(raw.clone());
        if let Some(sig) = sig {
            req = req.header("X-Leadline-Signature", sig);
        }
        req.send()
    };
    // Unsigned and wrongly signed: refused as before (403).
    for sig in [None, Some(leadline_signature(&raw, "wrong"))] {
        let (status, code, msg) = error_of(post_legacy(sig).await.unwrap()).await;
        assert_eq!((status, code.as_str()), (403, "invalid_signature"), "{msg}");
    }
    assert_eq!(post_legacy(Some(leadline_signature(&raw, LEGACY_SECRET))).await.unwrap().status(), 202);
    assert_eq!(lead_status(&app, phone).await, 200);

    // When the Standard Webhooks headers are present they are the ones checked: a valid
    // legacy signature does not rescue a bad webhook-signature.
    let other = lead_with_consent("+12125550179", "SW-8");
    let oraw = serde_json::to_vec(&other).unwrap();
    let res = app
        .client
        .post(format!("{}/v1/events/leads", app.base))
        .header("content-type", "application/json")
        .header("X-Leadline-Signature", leadline_signature(&oraw, LEGACY_SECRET))
        .header("webhook-id", "msg_mixed")
        .header("webhook-timestamp", now(&app).to_string())
        .header("webhook-signature", sign(SECRET_UNKNOWN, "msg_mixed", now(&app), &oraw))
        .body(oraw)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(lead_status(&app, "+12125550179").await, 404);
    app.stop().await;
}

#[tokio::test]
async fn signatures_with_only_one_kind_of_secret_the_other_is_refused_clearly() {
    // Only LEADLINE_WEBHOOK_SECRETS: unsigned and legacy-signed requests are refused.
    let app = TestApp::spawn_with_secrets(|_| {}, |sec| sec.webhook_secrets = vec![SECRET_A.into()]).await;
    let body = lead_with_consent("+12125550180", "SW-9");
    let raw = serde_json::to_vec(&body).unwrap();
    let (status, code, msg) = error_of(app.post_lead(&body).await).await;
    assert_eq!((status, code.as_str()), (403, "invalid_signature"), "{msg}");
    assert!(msg.contains("webhook-signature"), "{msg}");
    let res = app
        .client
        .post(format!("{}/v1/events/leads", app.base))
        .header("content-type", "application/json")
        .header("X-Leadline-Signature", leadline_signature(&raw, LEGACY_SECRET))
        .body(raw.clone())
        .send()
        .await
        .unwrap();
    let (status, _, msg) = error_of(res).await;
    assert_eq!(status, 403);
    assert!(msg.contains("LEADLINE_WEBHOOK_SECRET is not set"), "{msg}");
    assert_eq!(post_signed(&app, "/v1/events/leads", &body, "msg_only", SECRET_A).await.status(), 202);
    app.stop().await;

    // Only the legacy secret: Standard Webhooks headers are refused with a pointer to it.
    let app = TestApp::spawn_with_secrets(|_| {}, |sec| sec.webhook_secret = Some(LEGACY_SECRET.into())).await;
    let (status, code, msg) =
        error_of(post_signed(&app, "/v1/events/leads", &body, "msg_legacy_only", SECRET_A).await).await;
    assert_eq!((status, code.as_str()), (401, "invalid_signature"), "{msg}");
    assert!(msg.contains("LEADLINE_WEBHOOK_SECRETS is not set"), "{msg}");
    app.stop().await;
}

#[tokio::test]
async fn signatures_the_tolerance_comes_from_the_configuration() {
    let app = TestApp::spawn_with_secrets(
        |s| s.webhooks.inbound_tolerance_secs = 60,
        |sec| sec.webhook_secrets = vec![SECRET_A.into()],
    )
    .await;
    let body = lead_with_consent("+12125550181", "SW-10");
    let raw = serde_json::to_vec(&body).unwrap();
    let ts = now(&app) - 61;
    let sig = sign(SECRET_A, "msg_tolerance", ts, &raw);
    let (status, code, msg) =
        error_of(post_standard(&app, "/v1/events/leads", &body, "msg_tolerance", ts, &sig).await).await;
    assert_eq!((status, code.as_str()), (401, "webhook_timestamp_out_of_tolerance"), "{msg}");
    assert!(msg.contains("60 s"), "{msg}");
    app.stop().await;
}

#[tokio::test]
async fn signatures_malformed_secrets_refuse_to_start() {
    let twilio = super::fake_twilio::FakeTwilio::start().await;
    let dir = tempfile::tempdir().unwrap();
    for (i, bad) in ["not-a-whsec-secret", "whsec_***", "whsec_c2hvcnQ=", ""].into_iter().enumerate() {
        let settings = test_settings(&dir.path().join(i.to_string()), &twilio);
        let secrets = Secrets { webhook_secrets: vec![SECRET_A.into(), bad.into()], ..Secrets::default() };
        let clock = Arc::new(ManualClock::new(weekday_midday()));
        let err = match Application::build(settings, secrets, clock).await {
            Ok(_) => panic!("{bad:?} must be refused"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains("LEADLINE_WEBHOOK_SECRETS") && err.contains("entry 2 of 2"), "{err}");
        assert!(bad.len() < 6 || !err.contains(bad), "the secret is not printed: {err}");
    }
}
