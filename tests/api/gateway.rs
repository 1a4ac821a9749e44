//! The gateway against a fake Twilio with injected faults: every requested text is accepted
//! by the provider exactly once or sits in dead letters with a reason; opt-outs that arrive
//! during retries win; rates are never exceeded (measured at the fake).

use super::fake_twilio::Reply;
use super::helpers::*;
use serde_json::Value;
use std::time::Duration;

async fn dead_letters(app: &TestApp) -> Vec<Value> {
    let res = app.admin_get("/v1/admin/dead-letters").await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    v["dead_letters"].as_array().unwrap().clone()
}

async fn wait_dead_letters(app: &TestApp, n: usize) -> Vec<Value> {
    for _ in 0..250 {
        let d = dead_letters(app).await;
        if d.len() >= n {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dead_letters(app).await
}

async fn wait_status(app: &TestApp, phone: &str, status: &str) -> Value {
    for _ in 0..250 {
        let lead = app.lead(phone).await;
        if lead["status"] == status {
            return lead;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.lead(phone).await
}

#[tokio::test]
async fn a_burst_of_429s_and_500s_is_retried_and_the_text_arrives_exactly_once() {
    let app = TestApp::spawn().await;
    let phone = "+12125550301";
    app.twilio.script([
        Reply::Error(429, 20429, "Too Many Requests"),
        Reply::Error(429, 20429, "Too Many Requests"),
        Reply::Error(500, 20500, "Internal Server Error"),
    ]);
    assert_eq!(app.post_lead(&lead_with_consent(phone, "R-1")).await.status(), 202);
    let timeline = app.wait_timeline(phone, "text_sent").await;
    assert!(timeline.iter().any(|e| e["kind"] == "text_sent"), "{timeline:?}");
    assert_eq!(app.twilio.settle(phone).await.len(), 1, "accepted exactly once");
    assert!(dead_letters(&app).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn exhausted_retries_go_to_dead_letters_and_an_operator_can_retry_or_discard_them() {
    let app = TestApp::spawn_with(|s| s.gateway.retry.max_attempts = 2).await;
    let phone = "+12125550302";
    app.twilio
        .script([Reply::Error(503, 20503, "Service Unavailable"), Reply::Error(503, 20503, "Service Unavailable")]);
    assert_eq!(app.post_lead(&lead_with_consent(phone, "R-2")).await.status(), 202);
    let dl = wait_dead_letters(&app, 1).await;
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0]["reason"], "provider.20503");
    assert!(dl[0]["detail"].as_str().unwrap().contains("after 2 attempts"), "{}", dl[0]);
    assert!(app.twilio.received_for(phone).is_empty());
    let timeline = app.wait_timeline(phone, "text_failed").await;
    assert!(kinds_and_rules(&timeline).contains(&("text_failed".into(), "provider.20503".into())));

    // Retry: the compliance gate runs again, then it is sent once.
    let id = dl[0]["id"].as_str().unwrap().to_string();
    let res = app
        .admin_post(&format!("/v1/admin/dead-letters/{}/retry", id.replace('+', "%2B").replace('#', "%23")), None)
        .await;
    assert_eq!(res.status(), 202);
    assert_eq!(app.twilio.wait_for(phone, 1).await.len(), 1);
    assert!(dead_letters(&app).await.is_empty());
    let again = app
        .admin_post(&format!("/v1/admin/dead-letters/{}/retry", id.replace('+', "%2B").replace('#', "%23")), None)
        .await;
    assert_eq!(again.status(), 404);
    let timeline = app.timeline(phone).await;
    let retried =
        timeline.iter().find(|e| e["rule"] == "admin.dead_letter_retry").expect("the retry is on the timeline");
    assert!(retried["detail"].as_str().unwrap().ends_with("(by operator admin-token)"), "{retried}");

    // Discard.
    let other = "+12125550303";
    app.twilio.script([Reply::Error(
        400,
        21606,
        "The From phone number is not a valid, SMS-capable inbound phone number",
    )]);
    assert_eq!(app.post_lead(&lead_with_consent(other, "R-3")).await.status(), 202);
    let dl = wait_dead_letters(&app, 1).await;
    assert_eq!(dl[0]["reason"], "provider.21606", "non-retryable: dead-lettered after one attempt");
    let url = format!(
        "{}/v1/admin/dead-letters/{}",
        app.base,
        dl[0]["id"].as_str().unwrap().replace('+', "%2B").replace('#', "%23")
    );
    let res = app.client.delete(&url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert!(dead_letters(&app).await.is_empty());
    let timeline = app.timeline(other).await;
    assert!(timeline.iter().any(|e| e["rule"] == "admin.dead_letter_discard"
        && e["detail"].as_str().unwrap_or("").ends_with("(by operator admin-token)")));
    app.stop().await;
}

#[tokio::test]
async fn a_timeout_after_sending_is_parked_as_in_doubt_never_resent() {
    let app = TestApp::spawn_with(|s| s.gateway.twilio.timeout_ms = 300).await;
    let phone = "+12125550304";
    app.twilio.script([Reply::Slow(Duration::from_millis(1500))]);
    assert_eq!(app.post_lead(&lead_with_consent(phone, "R-4")).await.status(), 202);
    let dl = wait_dead_letters(&app, 1).await;
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0]["reason"], "in_doubt");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.twilio.received_for(phone).len(), 1, "the provider got it once; we did not send it again");
    let timeline = app.timeline(phone).await;
    assert!(kinds_and_rules(&timeline).contains(&("text_failed".into(), "gateway.in_doubt".into())), "{timeline:?}");
    app.stop().await;
}

#[tokio::test]
async fn permanent_error_codes_are_classified() {
    let app = TestApp::spawn().await;
    let cases: [(&str, u32, &str, Option<&str>); 5] = [
        ("+12125550311", 21614, "UNDELIVERABLE", None),
        ("+12125550312", 21610, "OPT_OUT", None),
        // Our sender's setup is wrong: the first text never went out, so the lead stays NEW.
        ("+12125550313", 21408, "NEW", Some("configuration.21408")),
        ("+12125550314", 30034, "NEW", Some("configuration.30034")),
        ("+12125550315", 21211, "UNDELIVERABLE", None),
    ];
    for (phone, code, status, dl_reason) in cases {
        app.twilio.script([Reply::Error(400, code, "refused")]);
        assert_eq!(app.post_lead(&lead_with_consent(phone, &format!("P-{code}"))).await.status(), 202);
        let timeline = app.wait_timeline(phone, "text_failed").await;
        assert!(
            kinds_and_rules(&timeline).contains(&("text_failed".into(), format!("provider.{code}"))),
            "{code}: {timeline:?}"
        );
        assert_eq!(wait_status(&app, phone, status).await["status"], status, "code {code}");
        if let Some(reason) = dl_reason {
            let dl = dead_letters(&app).await;
            assert!(dl.iter().any(|d| d["reason"] == reason && d["phone"] == phone), "{code}: {dl:?}");
        }
    }
    // 21610 means the carrier saw STOP: no confirmation from us (it would be refused anyway).
    assert!(app.twilio.settle("+12125550312").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn an_opt_out_that_arrives_during_retries_wins() {
    let app = TestApp::spawn_with(|s| {
        s.gateway.retry.base_delay_ms = 300;
        s.gateway.retry.max_delay_ms = 300;
        s.gateway.retry.max_attempts = 10;
    })
    .await;
    let phone = "+12125550320";
    app.twilio.script((0..4).map(|_| Reply::Error(429, 20429, "Too Many Requests")));
    assert_eq!(app.post_lead(&lead_with_consent(phone, "R-5")).await.status(), 202);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(app.inbound(phone, "STOP", "SM-r5").await.status(), 200);
    // Wait past the retries' budget, then look at everything the provider ever got.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let sent_later = app.twilio.received_for(phone);
    assert_eq!(
        sent_later.len(),
        1,
        "only the opt-out confirmation: {:?}",
        sent_later.iter().map(|r| r.body()).collect::<Vec<_>>()
    );
    assert!(sent_later[0].body().contains("unsubscribed"));
    let timeline = app.wait_timeline(phone, "text_failed").await;
    assert!(kinds_and_rules(&timeline).contains(&("text_failed".into(), "opt_out".into())), "{timeline:?}");
    app.stop().await;
}

/// The daily cap holds when many texts wait at once: it is checked holding the sending turn
/// (a check before waiting let every waiting text through while the count was below the cap).
#[tokio::test]
async fn the_daily_cap_holds_when_texts_wait_together() {
    let app = TestApp::spawn_with(|s| s.gateway.limits.daily_cap = 2).await;
    let phones: Vec<String> = (0..5).map(|i| format!("+1212555{:04}", 450 + i)).collect();
    for (i, p) in phones.iter().enumerate() {
        assert_eq!(app.post_lead(&lead_with_consent(p, &format!("CAP-{i}"))).await.status(), 202);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.twilio.received().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.twilio.received().len(), 2, "two texts today, the other three wait for tomorrow");
    app.stop().await;
}

#[tokio::test]
async fn account_and_per_sender_rates_are_never_exceeded() {
    let senders = ["+12125550100", "+12125550101", "+12125550102"];
    let app = TestApp::spawn_with(|s| {
        s.gateway.limits.account_mps = std::num::NonZeroU32::new(4).unwrap();
        s.gateway.limits.sender_mps = std::num::NonZeroU32::new(1).unwrap();
        s.gateway.twilio.from_numbers = senders.iter().map(|s| s.to_string()).collect();
    })
    .await;
    let phones: Vec<String> = (0..9).map(|i| format!("+1212555{:04}", 400 + i)).collect();
    for (i, p) in phones.iter().enumerate() {
        assert_eq!(app.post_lead(&lead_with_consent(p, &format!("RATE-{i}"))).await.status(), 202);
    }
    for p in &phones {
        assert_eq!(app.twilio.wait_for(p, 1).await.len(), 1);
    }
    let all = app.twilio.received();
    assert_eq!(all.len(), 9);
    // Receive times include loopback jitter, so windows are checked with a 50 ms allowance.
    let jitter = Duration::from_millis(50);
    let mut times: Vec<_> = all.iter().map(|r| r.at).collect();
    times.sort();
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..].iter().filter(|u| u.duration_since(*t) < Duration::from_secs(1) - jitter).count();
        assert!(in_window <= 4, "account rate exceeded: {in_window} sends within one second");
    }
    for s in senders {
        let mut ts: Vec<_> = all.iter().filter(|r| r.field("From") == Some(s)).map(|r| r.at).collect();
        ts.sort();
        for w in ts.windows(2) {
            assert!(
                w[1].duration_since(w[0]) >= Duration::from_secs(1) - jitter,
                "sender {s} sent twice within a second"
            );
        }
    }
    // Sticky sender: a lead's next text comes from the same number.
    let first = &all[0];
    let lead_phone = first.to().to_string();
    assert_eq!(app.inbound(&lead_phone, "HELP", "SM-sticky").await.status(), 200);
    let texts = app.twilio.wait_for(&lead_phone, 2).await;
    assert_eq!(texts[1].field("From"), texts[0].field("From"));
    app.stop().await;
}

#[tokio::test]
async fn delivery_receipts_move_forward_only_and_flag_undeliverable_numbers() {
    let app = TestApp::spawn().await;
    let phone = "+12125550330";
    assert_eq!(app.post_lead(&lead_with_consent(phone, "D-1")).await.status(), 202);
    let sid = app.twilio.wait_for(phone, 1).await[0].sid.clone();
    app.wait_timeline(phone, "text_sent").await;
    assert_eq!(receipt(&app, &sid, "sent", None).await, 204);
    assert_eq!(receipt(&app, &sid, "delivered", None).await, 204);
    assert_eq!(receipt(&app, &sid, "delivered", None).await, 204, "duplicate receipt is harmless");
    assert_eq!(receipt(&app, &sid, "sending", None).await, 204, "a late sending after delivered");
    let deliveries: Vec<(String, String)> =
        kinds_and_rules(&app.timeline(phone).await).into_iter().filter(|(k, _)| k == "delivery").collect();
    assert_eq!(
        deliveries,
        vec![
            ("delivery".into(), "delivery.sent".into()),
            ("delivery".into(), "delivery.delivered".into()),
            ("delivery".into(), "delivery.stale".into())
        ]
    );
    assert_eq!(app.lead(phone).await["status"], "CONTACTED_SMS");

    // A forged receipt changes nothing.
    let url = format!("{}/v1/twilio/status", app.base);
    let forged = app
        .client
        .post(&url)
        .form(&[("MessageSid", sid.as_str()), ("MessageStatus", "undelivered"), ("ErrorCode", "30005")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    // 30005 (unknown destination) makes the number undeliverable.
    let other = "+12125550331";
    assert_eq!(app.post_lead(&lead_with_consent(other, "D-2")).await.status(), 202);
    let sid2 = app.twilio.wait_for(other, 1).await[0].sid.clone();
    app.wait_timeline(other, "text_sent").await;
    let p = [("MessageSid", sid2.as_str()), ("MessageStatus", "undelivered"), ("ErrorCode", "30005")];
    assert_eq!(app.twilio_webhook("/v1/twilio/status", &p).await.status(), 204);
    assert_eq!(app.lead(other).await["status"], "UNDELIVERABLE");
    // Unknown SIDs are acknowledged and ignored.
    let p = [("MessageSid", "SMnope"), ("MessageStatus", "delivered")];
    assert_eq!(app.twilio_webhook("/v1/twilio/status", &p).await.status(), 204);
    app.stop().await;
}

/// Posts a signed Twilio status callback; returns the HTTP status.
async fn receipt(app: &TestApp, sid: &str, status: &str, code: Option<&str>) -> u16 {
    let mut p = vec![("MessageSid", sid), ("MessageStatus", status), ("AccountSid", ACCOUNT_SID)];
    if let Some(c) = code {
        p.push(("ErrorCode", c));
    }
    app.twilio_webhook("/v1/twilio/status", &p).await.status().as_u16()
}

#[tokio::test]
async fn a_graceful_stop_sends_nothing_new_and_queued_texts_go_once_after_the_restart() {
    let app = TestApp::spawn_with(|s| s.gateway.limits.account_mps = std::num::NonZeroU32::new(2).unwrap()).await;
    let phones: Vec<String> = (0..10).map(|i| format!("+1212555{:04}", 700 + i)).collect();
    for (i, p) in phones.iter().enumerate() {
        assert_eq!(app.post_lead(&lead_with_consent(p, &format!("STOP-{i}"))).await.status(), 202);
    }
    app.twilio.wait_for(&phones[0], 1).await;
    let before_stop = app.twilio.received().len();
    let app = app.restart().await;
    // At most the one provider call already under way finished during the stop; the texts
    // still waiting for their turn were not sent during the grace period.
    let after_stop = app.twilio.received().len();
    assert!(after_stop <= before_stop + 1, "{before_stop} texts before the stop, {after_stop} after it");
    assert!(after_stop < phones.len(), "the test needs texts still queued at the stop");
    for p in &phones {
        assert_eq!(app.twilio.wait_for(p, 1).await.len(), 1, "{p} gets its first text");
    }
    for p in &phones {
        let timeline = app.wait_timeline(p, "text_sent").await;
        assert!(timeline.iter().any(|e| e["kind"] == "text_sent"), "{p}: {timeline:?}");
        assert_eq!(app.twilio.settle(p).await.len(), 1, "{p} texted exactly once");
    }
    app.stop().await;
}

#[tokio::test]
async fn texts_beyond_the_concurrent_send_limit_wait_their_turn_and_each_goes_once() {
    let app = TestApp::spawn_with(|s| {
        s.gateway.limits.max_concurrent_sends = 2;
        s.gateway.limits.account_mps = std::num::NonZeroU32::new(1000).unwrap();
        s.gateway.limits.sender_mps = std::num::NonZeroU32::new(1000).unwrap();
    })
    .await;
    let phones: Vec<String> = (0..12).map(|i| format!("+1212555{:04}", 800 + i)).collect();
    for (i, p) in phones.iter().enumerate() {
        assert_eq!(app.post_lead(&lead_with_consent(p, &format!("BACKLOG-{i}"))).await.status(), 202);
    }
    for p in &phones {
        assert_eq!(app.twilio.wait_for(p, 1).await.len(), 1, "{p} gets its first text");
        let timeline = app.wait_timeline(p, "text_sent").await;
        assert!(timeline.iter().any(|e| e["kind"] == "text_sent"), "{p}: {timeline:?}");
    }
    for p in &phones {
        assert_eq!(app.twilio.settle(p).await.len(), 1, "{p} texted exactly once");
    }
    app.stop().await;
}
