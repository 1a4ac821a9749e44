//! Bad input gets a clear 4xx JSON error and changes nothing.

use super::helpers::*;
use serde_json::{json, Value};

async fn error_of(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().unwrap_or("<no error.code>").to_string();
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "error message present: {body}");
    (status, code)
}

#[tokio::test]
async fn bad_lead_bodies_get_the_right_4xx() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1/events/leads", app.base);
    let raw = |body: &'static str| app.client.post(&url).header("content-type", "application/json").body(body).send();

    assert_eq!(error_of(raw("{not json").await.unwrap()).await, (400, "malformed_json".into()));
    assert_eq!(error_of(raw("").await.unwrap()).await, (400, "malformed_json".into()));
    assert_eq!(error_of(raw(r#"{"phone": "2125550142"}"#).await.unwrap()).await, (422, "invalid_body".into()));
    assert_eq!(error_of(raw(r#"{"source": "zillow", "phone": 5}"#).await.unwrap()).await, (422, "invalid_body".into()));
    let (status, code) = error_of(app.post_lead(&json!({"source": "zillow", "phone": "555"})).await).await;
    assert_eq!((status, code.as_str()), (422, "invalid_phone"));
    let (status, code) = error_of(app.post_lead(&json!({"source": " ", "phone": "2125550142"})).await).await;
    assert_eq!((status, code.as_str()), (422, "invalid_field"));
    let bad_time = json!({"source": "z", "phone": "2125550142", "consent": {"granted_at": "yesterday"}});
    assert_eq!(error_of(app.post_lead(&bad_time).await).await, (422, "invalid_body".into()));

    let huge = json!({"source": "zillow", "phone": "2125550142", "message": "x".repeat(20_000)});
    assert_eq!(error_of(app.post_lead(&huge).await).await, (413, "body_too_large".into()));

    // None of that created a lead.
    assert_eq!(app.admin_get("/v1/admin/leads/2125550142").await.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn forged_or_missing_twilio_signatures_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let phone = "+12125550177";
    assert_eq!(app.post_lead(&lead_with_consent(phone, "Z-sig")).await.status(), 202);
    app.twilio.wait_for(phone, 1).await;
    let before = app.timeline(phone).await.len();

    let form = [("MessageSid", "SM-forged"), ("From", phone), ("To", FROM), ("Body", "STOP")];
    let url = format!("{}/v1/twilio/inbound", app.base);
    let unsigned = app.client.post(&url).form(&form).send().await.unwrap();
    assert_eq!(error_of(unsigned).await, (403, "invalid_signature".into()));
    let forged = app
        .client
        .post(&url)
        .header("X-Twilio-Signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(forged).await, (403, "invalid_signature".into()));

    // A valid signature over different parameters (tampered body) is refused too.
    let owned: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let sig = leadline::integrations::twilio::signature::twilio_signature(
        &format!("{PUBLIC_URL}/v1/twilio/inbound"),
        &owned,
        TWILIO_TOKEN,
    );
    let tampered = [("MessageSid", "SM-forged"), ("From", phone), ("To", FROM), ("Body", "yes")];
    let res = app.client.post(&url).header("X-Twilio-Signature", sig).form(&tampered).send().await.unwrap();
    assert_eq!(res.status(), 403);

    assert_eq!(app.lead(phone).await["status"], "CONTACTED_SMS");
    assert_eq!(app.timeline(phone).await.len(), before);
    app.stop().await;
}

#[tokio::test]
async fn admin_api_needs_the_bearer_token_and_unknown_leads_are_404() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1/admin/leads/%2B12125550142", app.base);
    let none = app.client.get(&url).send().await.unwrap();
    assert_eq!(error_of(none).await, (401, "unauthorized".into()));
    let wrong = app.client.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(error_of(wrong).await, (401, "unauthorized".into()));
    assert_eq!(error_of(app.admin_get("/v1/admin/leads/%2B12125550142").await).await, (404, "not_found".into()));
    assert_eq!(error_of(app.admin_get("/v1/admin/leads/not-a-phone").await).await, (422, "invalid_phone".into()));
    assert_eq!(
        error_of(app.admin_post("/v1/admin/leads/2125550142/freeze", None).await).await,
        (404, "not_found".into())
    );

    let health = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    for name in ["leadline_leads_stored", "leadline_store_size_bytes", "leadline_http_request_duration_seconds"] {
        assert!(metrics.contains(name), "{name} missing from /metrics:\n{metrics}");
    }
    // Route templates, never raw paths with phone numbers.
    assert!(metrics.contains("route=\"/v1/admin/leads/{phone}\""), "{metrics}");
    assert!(!metrics.contains("2125550142"), "a phone number leaked into metrics");
    app.stop().await;
}

#[tokio::test]
async fn an_operator_can_record_an_opt_out_given_by_phone() {
    let app = TestApp::spawn().await;
    let phone = "+12125550188";
    assert_eq!(app.post_lead(&lead_with_consent(phone, "OPT-1")).await.status(), 202);
    assert_eq!(app.twilio.wait_for(phone, 1).await.len(), 1);
    let path = format!("/v1/admin/leads/{}/opt-out", urlencode(phone));
    let res = app.admin_post(&path, Some(json!({"reason": "called the office", "bogus": 1}))).await;
    assert_eq!(error_of(res).await, (422, "invalid_body".into()));
    let res = app.admin_post(&path, Some(json!({"reason": "called the office"}))).await;
    assert_eq!(res.status(), 200);
    let lead: Value = res.json().await.unwrap();
    assert_eq!(lead["status"], "OPT_OUT");
    let revoked = lead["consent_history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((&revoked["event"], &revoked["rule"]), (&json!("revoked"), &json!("admin.opt_out")), "{revoked}");
    // No confirmation unless asked for, and nothing automated afterwards.
    assert_eq!(app.post_lead(&lead_with_consent(phone, "OPT-2")).await.status(), 202);
    assert_eq!(app.twilio.settle(phone).await.len(), 1);
    app.stop().await;
}

/// The error code and message of a 4xx.
async fn error_and_message(res: reqwest::Response) -> (u16, String, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().unwrap_or("").to_string();
    let message = body["error"]["message"].as_str().unwrap_or("").to_string();
    (status, code, message)
}

#[tokio::test]
async fn over_long_fields_are_refused_with_422_naming_the_field_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let phone = "+12125550160";
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut lead = lead_with_consent(phone, "LONG-1");
        edit(&mut lead);
        lead
    };
    let cases: [(&str, Value); 4] = [
        ("first_name", with(&|l| l["first_name"] = json!("A".repeat(3000)))),
        ("last_name", with(&|l| l["last_name"] = json!("R".repeat(101)))),
        ("email", with(&|l| l["email"] = json!(format!("{}@example.com", "a".repeat(250))))),
        ("listing.address", with(&|l| l["listing"]["address"] = json!("9".repeat(201)))),
    ];
    for (field, lead) in cases {
        let (status, code, message) = error_and_message(app.post_lead(&lead).await).await;
        assert_eq!((status, code.as_str()), (422, "invalid_field"), "{field}: {message}");
        assert!(message.contains(&format!("`{field}`")), "{field}: {message}");
    }
    // Characters, not bytes: 100 two-byte characters are accepted.
    let (status, _, message) =
        error_and_message(app.post_lead(&with(&|l| l["first_name"] = json!("é".repeat(100)))).await).await;
    assert_eq!(status, 202, "{message}");
    assert_eq!(app.lead(phone).await["first_name"], "é".repeat(100));

    // The adapters share the rule: a web form's listing address, a Zillow-style name.
    let other = "+12125550161";
    let form = [("phone", other), ("first_name", "Ana"), ("listing_address", &"9".repeat(201))];
    let res = app.client.post(format!("{}/v1/webhooks/webform", app.base)).form(&form).send().await.unwrap();
    let (status, code, message) = error_and_message(res).await;
    assert_eq!((status, code.as_str()), (422, "invalid_field"));
    assert!(message.contains("`listing.address`"), "{message}");
    let zillow = json!({"phone": other, "name": format!("{} Ruiz", "A".repeat(101)), "leadId": "Z-long"});
    let (status, code, message) = error_and_message(app.post_json("/v1/webhooks/zillow", &zillow).await).await;
    assert_eq!((status, code.as_str()), (422, "invalid_field"));
    assert!(message.contains("`first_name`"), "{message}");

    // MLS, CRM and interest bodies: `address`.
    let long = "9".repeat(201);
    let bodies = [
        ("/v1/events/mls", json!({"listing_id": "MLS-123", "change": "new_listing", "address": long})),
        ("/v1/events/crm", json!({"phone": other, "status": "nurture", "address": long})),
        ("/v1/events/interest", json!({"phone": other, "listing_id": "MLS-123", "how": "saved", "address": long})),
    ];
    for (path, body) in bodies {
        let (status, code, message) = error_and_message(app.post_json(path, &body).await).await;
        assert_eq!((status, code.as_str()), (422, "invalid_field"), "{path}: {message}");
        assert!(message.contains("`address`"), "{path}: {message}");
    }
    assert_eq!(app.admin_get(&format!("/v1/admin/leads/{}", urlencode(other))).await.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn a_3000_character_first_name_is_refused_and_nothing_is_texted() {
    let app = TestApp::spawn().await;
    let phone = "+12125550162";
    let mut lead = lead_with_consent(phone, "LONG-2");
    lead["first_name"] = json!("A".repeat(3000));
    let (status, code, message) = error_and_message(app.post_lead(&lead).await).await;
    assert_eq!((status, code.as_str()), (422, "invalid_field"));
    assert!(message.contains("`first_name`") && message.contains("3000"), "{message}");
    assert_eq!(app.admin_get(&format!("/v1/admin/leads/{}", urlencode(phone))).await.status(), 404);
    assert!(app.twilio.settle(phone).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_200_character_address_is_texted_within_max_segments_and_a_long_message_is_kept_marked() {
    let app = TestApp::spawn().await;
    let phone = "+12125550163";
    let address = "1234 Long Meadow Road, Springfield ".repeat(6).chars().take(200).collect::<String>();
    assert_eq!(address.chars().count(), 200);
    let mut lead = lead_with_consent(phone, "LONG-3");
    lead["listing"]["address"] = json!(address);
    lead["message"] = json!("Is it available? ".repeat(300));
    assert_eq!(app.post_lead(&lead).await.status(), 202);
    let received = app.twilio.wait_for(phone, 1).await;
    assert_eq!(received.len(), 1);
    let body = received[0].body();
    let max = app.settings.delivery.max_segments as usize;
    let segments = leadline_core::segments::count(body).segments;
    assert!(segments <= max, "{segments} segments (max {max}): {body}");
    assert!(body.starts_with("Hi Ana, this is Acme Realty about 1234 Long Meadow Road"), "{body}");

    // The 5,100-character message is on the timeline, cut to 1,000 characters and marked.
    let timeline = app.timeline(phone).await;
    let captured = timeline.iter().find(|e| e["rule"] == "event.lead_captured").expect("lead_captured entry");
    let detail = captured["detail"].as_str().unwrap_or("");
    assert!(detail.contains("… [truncated from 5100 characters]"), "{detail}");
    assert!(detail.chars().count() < 1100, "{} characters", detail.chars().count());
    app.stop().await;
}
