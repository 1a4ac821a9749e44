//! Conversation logic: follow-up sequences with a fake clock, hand-off, passivation.

use super::helpers::*;
use chrono::{Duration as Days, TimeZone, Utc};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn fast(s: &mut leadline::config::Settings) {
    s.scheduler.tick_ms = 20;
}

fn bodies(received: &[super::fake_twilio::Received]) -> Vec<String> {
    received.iter().map(|r| r.body().to_string()).collect()
}

#[tokio::test]
async fn no_reply_in_24h_gets_one_nudge_and_a_reply_cancels_the_rest() {
    let app = TestApp::spawn_with(fast).await;
    let phone = "+12125550501";
    assert_eq!(app.post_lead(&lead_with_consent(phone, "F-1")).await.status(), 202);
    assert_eq!(app.twilio.wait_for(phone, 1).await.len(), 1);
    let lead = app.lead(phone).await;
    assert_eq!(lead["status"], "CONTACTED_SMS");

    // 23 hours later: nothing yet.
    app.clock.advance(Days::hours(23));
    assert_eq!(app.twilio.settle(phone).await.len(), 1);
    // 24 hours after the first text: the nudge.
    app.clock.advance(Days::hours(1));
    let sent = app.twilio.wait_for(phone, 2).await;
    assert_eq!(sent.len(), 2, "{:?}", bodies(&sent));
    assert!(sent[1].body().contains("just checking in"), "{}", sent[1].body());
    let rules = kinds_and_rules(&app.timeline(phone).await);
    assert!(rules.contains(&("text_queued".into(), "sequence.follow_up.1".into())), "{rules:?}");

    // The lead replies: the last check-in (due 4 days after the first text) is cancelled.
    assert_eq!(app.inbound(phone, "Can we see it Saturday?", "SM-f1").await.status(), 200);
    app.clock.advance(Days::days(5));
    assert_eq!(app.twilio.settle(phone).await.len(), 2, "no automated text after a reply");
    let rules = kinds_and_rules(&app.timeline(phone).await);
    assert!(rules.contains(&("event".into(), "handoff.reply".into())), "{rules:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_crm_halt_cancels_the_nudge_and_a_freeze_holds_it() {
    let app = TestApp::spawn_with(fast).await;
    let (a, b) = ("+12125550502", "+12125550503");
    for (p, id) in [(a, "F-2"), (b, "F-3")] {
        assert_eq!(app.post_lead(&lead_with_consent(p, id)).await.status(), 202);
        assert_eq!(app.twilio.wait_for(p, 1).await.len(), 1);
    }
    let res = app.post_json("/v1/events/crm", &json!({"phone": a, "status": "Viewing Scheduled"})).await;
    assert!(res.status().is_success(), "{}", res.status());
    let res = app
        .admin_post(&format!("/v1/admin/leads/{}/freeze", urlencode(b)), Some(json!({"reason": "agent call"})))
        .await;
    assert_eq!(res.status(), 200);
    app.clock.advance(Days::days(5));
    assert_eq!(app.twilio.settle(a).await.len(), 1);
    assert_eq!(app.twilio.received_for(b).len(), 1);
    assert!(kinds_and_rules(&app.timeline(a).await).contains(&("event".into(), "crm.halt_followups".into())));
    assert!(kinds_and_rules(&app.timeline(b).await).contains(&("event".into(), "sequence.paused".into())));
    app.stop().await;
}

#[tokio::test]
async fn a_nudge_due_at_night_waits_for_the_morning_and_survives_a_restart() {
    let app = TestApp::spawn_with(|s| {
        fast(s);
        s.follow_ups.truncate(1);
        s.follow_ups[0].after_hours = 26;
    })
    .await;
    let phone = "+12125550504";
    // 20:30 in New York (01:30 UTC next day): still inside the federal window.
    app.clock.set(Utc.with_ymd_and_hms(2026, 11, 27, 1, 30, 0).unwrap());
    assert_eq!(app.post_lead(&lead_with_consent(phone, "F-4")).await.status(), 202);
    assert_eq!(app.twilio.wait_for(phone, 1).await.len(), 1);

    // The service stops; the nudge falls due (22:30 local) while it is down.
    let app = app.restart().await;
    app.clock.advance(Days::hours(26));
    assert_eq!(app.twilio.settle(phone).await.len(), 1, "not at 22:30 local");
    let timeline = app.wait_timeline(phone, "text_deferred").await;
    let deferred = timeline.iter().find(|e| e["kind"] == "text_deferred").expect("deferred");
    assert!(deferred["rule"].as_str().unwrap().starts_with("quiet_hours"), "{deferred}");
    let lead = app.lead(phone).await;
    assert_eq!(lead["scheduled"][0]["not_before"], "2026-11-28T13:00:00.000Z", "{lead}");

    // 08:00 local: it goes out, once.
    app.clock.set(Utc.with_ymd_and_hms(2026, 11, 28, 13, 0, 1).unwrap());
    assert_eq!(app.twilio.wait_for(phone, 2).await.len(), 2);
    assert_eq!(app.twilio.settle(phone).await.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn a_reply_notifies_the_agent_through_the_handoff_webhook() {
    // A tiny webhook receiver.
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = got.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(v);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let app = TestApp::spawn_with(|s| s.handoff.webhook_url = hook.clone()).await;
    let phone = "+12125550505";
    assert_eq!(app.post_lead(&lead_with_consent(phone, "F-5")).await.status(), 202);
    app.twilio.wait_for(phone, 1).await;
    assert_eq!(app.inbound(phone, "Is the basement finished?", "SM-f5").await.status(), 200);
    for _ in 0..250 {
        if !got.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["phone"], phone);
    assert_eq!(got[0]["reason"], "handoff.reply");
    assert!(got[0]["message"].as_str().unwrap().contains("basement"));
    // The conversation is readable in the admin API.
    let timeline = app.timeline(phone).await;
    assert!(timeline.iter().any(|e| e["detail"].as_str().unwrap_or("").contains("Is the basement finished?")));
    app.stop().await;
}

#[tokio::test]
async fn passivation_under_concurrent_messages_loses_nothing() {
    let app = TestApp::spawn_with(|s| s.actors.passivate_after_ms = 30).await;
    let phones: Vec<String> = (0..12).map(|i| format!("+1312555{:04}", 600 + i)).collect();
    for p in &phones {
        assert_eq!(app.post_lead(&json!({"source": "web", "phone": p})).await.status(), 202);
    }
    // Each lead gets a stream of replies with random gaps around the idle time, concurrently.
    let mut tasks = tokio::task::JoinSet::new();
    for (i, p) in phones.iter().enumerate() {
        let p = p.clone();
        let base = app.base.clone();
        let client = app.client.clone();
        tasks.spawn(async move {
            let mut acked = 0;
            for n in 0..15u64 {
                let gap = (n * 7 + i as u64 * 13) % 70; // 0..70 ms: straddles the 30 ms idle time
                tokio::time::sleep(Duration::from_millis(gap)).await;
                let sid = format!("SM-p-{i}-{n}");
                let form: Vec<(String, String)> =
                    [("MessageSid", sid.as_str()), ("From", p.as_str()), ("To", FROM), ("Body", &format!("msg {n}"))]
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                let sig = leadline::integrations::twilio::signature::twilio_signature(
                    &format!("{PUBLIC_URL}/v1/twilio/inbound"),
                    &form,
                    TWILIO_TOKEN,
                );
                let res = client
                    .post(format!("{base}/v1/twilio/inbound"))
                    .header("X-Twilio-Signature", sig)
                    .form(&form)
                    .send()
                    .await
                    .unwrap();
                if res.status() == 200 {
                    acked += 1;
                }
            }
            (p, acked)
        });
    }
    let mut total = 0;
    while let Some(r) = tasks.join_next().await {
        let (p, acked) = r.unwrap();
        assert_eq!(acked, 15, "every reply acknowledged");
        let inbound = app.timeline(&p).await.iter().filter(|e| e["rule"] == "event.inbound_text").count();
        assert_eq!(inbound, acked, "{p}: every acknowledged reply is on the timeline");
        total += acked;
    }
    assert_eq!(total, 12 * 15);
    // Idle actors were passivated (the counter moved) and re-activated on demand.
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let passivations: f64 = metrics
        .lines()
        .find(|l| l.starts_with("leadline_passivations_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(passivations > 0.0, "{metrics}");
    app.stop().await;
}

#[tokio::test]
async fn per_source_first_texts_and_crm_status_texts_come_from_config() {
    let app = TestApp::spawn_with(|s| {
        s.templates.first_contact_by_source.insert(
            "zillow".into(),
            "Hi {{ first_name }}, {{ brand }} here about {{ property }} you saw on Zillow. Msg freq varies. Msg & data rates may apply. Reply HELP for help, STOP to opt out."
                .into(),
        );
        s.templates.crm_status.insert("Nurture".into(), "{{ brand }}: still looking? Reply STOP to opt out.".into());
    })
    .await;
    let (z, w) = ("+12125550701", "+12125550702");
    assert_eq!(app.post_lead(&lead_with_consent(z, "S-1")).await.status(), 202);
    let mut web = lead_with_consent(w, "S-2");
    web["source"] = json!("website");
    assert_eq!(app.post_lead(&web).await.status(), 202);
    assert!(app.twilio.wait_for(z, 1).await[0].body().contains("you saw on Zillow"));
    assert!(
        app.twilio.wait_for(w, 1).await[0].body().contains("this is Acme Realty about 123 Main St. Questions?"),
        "the default for other sources"
    );

    let res = app.post_json("/v1/events/crm", &json!({"phone": w, "status": "nurture"})).await;
    assert!(res.status().is_success());
    let sent = app.twilio.wait_for(w, 2).await;
    assert_eq!(sent.len(), 2);
    assert!(sent[1].body().contains("still looking?"), "{}", sent[1].body());
    let rules = kinds_and_rules(&app.timeline(w).await);
    assert!(rules.contains(&("text_queued".into(), "crm.status.nurture".into())), "{rules:?}");
    app.stop().await;
}
