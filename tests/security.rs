//! Security checks against the real binary:
//! - per-IP rate limiting (429 JSON + Retry-After) on webhook and admin routes, not health;
//! - the whole-request deadline (a stalled body upload gets 503 JSON);
//! - the body limit on every route that takes a body (413 JSON, nothing changes);
//! - forged signatures on every signed endpoint: 403, nothing changes; wrong admin token: 401;
//! - replays (same Twilio MessageSid, same status callback, same lead, same Idempotency-Key):
//!   no second effect;
//! - with debug logs on, stderr never contains a full phone number or a secret;
//! - hostile values (newlines, carriage returns, tabs, line separators, bidi overrides) and
//!   phone numbers in any written form cannot forge a log line or leak a number (text and JSON).

mod support;

use leadline::integrations::followupboss::signature::fub_signature;
use leadline::integrations::signature::leadline_signature;
use leadline::integrations::twilio::signature::twilio_signature;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::fake_twilio::{FakeTwilio, Reply};
use support::server::{
    base_env, lead_body, urlencode, Server, ACCOUNT_SID, ADMIN_TOKEN, FROM, PUBLIC_URL, TWILIO_TOKEN, WEBHOOK_SECRET,
};

const FUB_KEY: &str = "sec-fub-system-key-77aa";

struct Setup {
    _dir: tempfile::TempDir,
    work: PathBuf,
    env: Vec<(String, String)>,
}

fn setup(fake: &FakeTwilio, extra: &[(&str, &str)]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().to_path_buf();
    let mut env = base_env(&work.join("data"), &fake.base_url);
    env.push(("FUB_SYSTEM_KEY".into(), FUB_KEY.into()));
    for (k, v) in extra {
        env.retain(|(key, _)| key != k);
        env.push((k.to_string(), v.to_string()));
    }
    Setup { _dir: dir, work, env }
}

async fn json_of(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_per_ip_answers_429_with_the_json_error_shape() {
    let fake = FakeTwilio::start().await;
    let s = setup(
        &fake,
        &[("LEADLINE__SERVER__RATE_LIMIT_PER_IP_PER_SEC", "5"), ("LEADLINE__SERVER__RATE_LIMIT_BURST", "5")],
    );
    let server = Server::start(&s.work, &s.env).await;
    let c = &server.client;
    tokio::time::sleep(Duration::from_millis(1100)).await; // the start-up health checks used some quota
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..20 {
        let res = c.admin_get("/v1/admin/dead-letters").await.unwrap();
        statuses.push(res.status().as_u16());
        if res.status() == 429 && limited.is_none() {
            let retry_after = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
            limited = Some((retry_after, res.json::<Value>().await.unwrap()));
        }
    }
    assert_eq!(&statuses[..5], &[200; 5], "the burst is allowed: {statuses:?}");
    let (retry_after, body) = limited.expect("requests past the burst are limited");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
    // Webhooks share the per-IP budget; health checks are never limited.
    let res = c.inbound("+12125550141", "hi", "SMrl1").await.unwrap();
    assert_eq!(res.status(), 429);
    for _ in 0..20 {
        assert_eq!(c.http.get(format!("{}/healthz", c.base)).send().await.unwrap().status(), 200);
    }
    // The budget refills.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(c.admin_get("/v1/admin/dead-letters").await.unwrap().status(), 200);
    println!("rate limit 5/s burst 5: statuses {statuses:?}");
    assert!(server.terminate().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_hits_the_request_deadline() {
    let fake = FakeTwilio::start().await;
    let s = setup(&fake, &[("LEADLINE__SERVER__REQUEST_TIMEOUT_MS", "400")]);
    let server = Server::start(&s.work, &s.env).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    // Headers promise 200 bytes; 10 arrive, then nothing (slow-loris).
    let started = Instant::now();
    let raw = tokio::task::spawn_blocking(move || {
        let mut sock = std::net::TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            sock,
            "POST /v1/events/leads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"source\":"
        )
        .unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(n) = sock.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.ends_with(b"}") {
                break;
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
    .await
    .unwrap();
    let took = started.elapsed();
    assert!(raw.starts_with("HTTP/1.1 503"), "{raw}");
    assert!(raw.contains("\"request_timeout\""), "{raw}");
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    println!("stalled upload answered 503 request_timeout after {took:?}");
    assert!(server.terminate().await);
}

/// Every route that takes a request body, with what it needs to get past authentication.
fn body_routes() -> Vec<(&'static str, String)> {
    let p = urlencode("+12125550142");
    vec![
        ("POST", "/v1/events/leads".into()),
        ("POST", "/v1/events/crm".into()),
        ("POST", "/v1/events/interest".into()),
        ("POST", "/v1/events/mls".into()),
        ("POST", "/v1/webhooks/realtor".into()),
        ("POST", "/v1/webhooks/zillow".into()),
        ("POST", "/v1/webhooks/webform".into()),
        ("POST", "/v1/webhooks/followupboss".into()),
        ("POST", "/v1/twilio/inbound".into()),
        ("POST", "/v1/twilio/status".into()),
        ("POST", format!("/v1/admin/leads/{p}/freeze")),
        ("POST", format!("/v1/admin/leads/{p}/unfreeze")),
        ("POST", "/v1/admin/dead-letters/x/retry".into()),
        ("PUT", format!("/v1/admin/suppressions/{p}")),
        ("POST", "/admin/login".into()),
        ("POST", "/admin/logout".into()),
        ("POST", format!("/admin/leads/{p}/freeze")),
        ("POST", format!("/admin/leads/{p}/unfreeze")),
        ("POST", "/admin/dead-letters/x/retry".into()),
        ("POST", "/admin/dead-letters/x/discard".into()),
        ("POST", "/no/such/route".into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_limit_applies_on_every_route() {
    let fake = FakeTwilio::start().await;
    let s = setup(&fake, &[("LEADLINE__SERVER__MAX_BODY_BYTES", "2048")]);
    let server = Server::start(&s.work, &s.env).await;
    let c = &server.client;
    let phone = "+12125550142";
    let big = format!("{{\"source\":\"zillow\",\"phone\":\"{phone}\",\"message\":\"{}\"}}", "x".repeat(4000));
    for (method, path) in body_routes() {
        let url = format!("{}{path}", c.base);
        let req = if method == "PUT" { c.http.put(&url) } else { c.http.post(&url) };
        let res = req
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/json")
            .header("x-leadline-signature", leadline_signature(big.as_bytes(), WEBHOOK_SECRET))
            .body(big.clone())
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(res).await;
        assert_eq!(status, 413, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "body_too_large", "{method} {path}: {body}");
    }
    // Without a Content-Length (chunked), the routes that read a body stop at the limit too.
    let addr = server.base.trim_start_matches("http://").to_string();
    for path in ["/v1/events/leads", "/v1/events/mls", "/v1/webhooks/zillow", "/v1/twilio/inbound"] {
        let (addr, path) = (addr.clone(), path.to_string());
        let raw = tokio::task::spawn_blocking(move || chunked_post(&addr, &path, 8, 1024)).await.unwrap();
        assert!(raw.starts_with("HTTP/1.1 413"), "chunked {raw}");
        assert!(raw.contains("body_too_large"), "chunked {raw}");
    }
    assert!(c.lead(phone).await.is_none(), "an oversized body changed nothing");
    assert!(fake.received().is_empty());
    assert!(server.terminate().await);
}

/// A chunked POST (no Content-Length) of `n` chunks of `size` bytes over a raw socket;
/// returns the raw response.
fn chunked_post(addr: &str, path: &str, n: usize, size: usize) -> String {
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let _ = sock.write_all(head.as_bytes());
    for _ in 0..n {
        let _ = write!(sock, "{size:x}\r\n{}\r\n", " ".repeat(size));
    }
    let _ = sock.write_all(b"0\r\n\r\n");
    let mut buf = Vec::new();
    let _ = sock.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_signatures_are_refused_and_change_nothing() {
    let fake = FakeTwilio::start().await;
    let s = setup(&fake, &[]);
    let server = Server::start(&s.work, &s.env).await;
    let c = &server.client;
    let phone = "+12125550177";
    let lead = lead_body(phone, "FORGED-1", "SEC-1", "Eve");
    let post = |path: &str, body: Vec<u8>, header: Option<(&'static str, String)>| {
        let mut req = c.http.post(format!("{}{path}", c.base)).header("content-type", "application/json").body(body);
        if let Some((k, v)) = header {
            req = req.header(k, v);
        }
        req.send()
    };
    let mut checked = 0;
    // X-Leadline-Signature: /v1/events/* and the lead-source adapters.
    let events: [(&str, Value); 7] = [
        ("/v1/events/leads", lead.clone()),
        ("/v1/events/crm", json!({"phone": phone, "status": "closed"})),
        ("/v1/events/interest", json!({"phone": phone, "listing_id": "SEC-1", "how": "saved"})),
        ("/v1/events/mls", json!({"listing_id": "SEC-1", "change": "price_drop", "new_price": 1})),
        ("/v1/webhooks/realtor", json!({"lead_id": "R1", "contact": {"phone": phone}})),
        ("/v1/webhooks/zillow", json!({"phone": phone, "name": "Eve"})),
        ("/v1/webhooks/webform", json!({})),
    ];
    for (path, body) in &events {
        let raw = serde_json::to_vec(body).unwrap();
        let forged = leadline_signature(&raw, "not-the-secret");
        let tampered = leadline_signature(b"{\"tampered\":true}", WEBHOOK_SECRET);
        for header in [None, Some(("x-leadline-signature", forged)), Some(("x-leadline-signature", tampered))] {
            let (status, err) = json_of(post(path, raw.clone(), header).await.unwrap()).await;
            assert_eq!(status, 403, "{path}: {err}");
            assert_eq!(err["error"]["code"], "invalid_signature");
            checked += 1;
        }
    }
    // The adapters' URL key: one for another source, or made with another secret.
    let zillow_key_for_realtor = leadline::http::webhooks::signed::url_key(WEBHOOK_SECRET, "zillow");
    let other_secret_key = leadline::http::webhooks::signed::url_key("not-the-secret", "realtor");
    for key in [zillow_key_for_realtor, other_secret_key] {
        let body = serde_json::to_vec(&json!({"lead_id": "R1", "contact": {"phone": phone}})).unwrap();
        let (status, _) = json_of(post(&format!("/v1/webhooks/realtor?key={key}"), body, None).await.unwrap()).await;
        assert_eq!(status, 403);
        checked += 1;
    }
    // FUB-Signature.
    let fub = serde_json::to_vec(&json!({"eventId": "e1", "event": "peopleCreated", "resourceIds": [1]})).unwrap();
    for sig in ["", "00", &fub_signature(&fub, "not-the-key"), &fub_signature(b"{}", FUB_KEY)] {
        let header = (!sig.is_empty()).then(|| ("fub-signature", sig.to_string()));
        let (status, _) = json_of(post("/v1/webhooks/followupboss", fub.clone(), header).await.unwrap()).await;
        assert_eq!(status, 403, "FUB signature {sig:?}");
        checked += 1;
    }
    // X-Twilio-Signature: wrong token, tampered field, other URL, missing.
    let form =
        [("MessageSid", "SMforged1"), ("AccountSid", ACCOUNT_SID), ("From", phone), ("To", FROM), ("Body", "STOP")];
    let owned: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    for path in ["/v1/twilio/inbound", "/v1/twilio/status"] {
        let url = format!("{PUBLIC_URL}{path}");
        let mut tampered = owned.clone();
        tampered[4].1 = "START".into();
        let sigs = [
            Some(twilio_signature(&url, &owned, "not-the-token")),
            Some(twilio_signature(&url, &tampered, TWILIO_TOKEN)),
            Some(twilio_signature("https://evil.example.com/v1/twilio/inbound", &owned, TWILIO_TOKEN)),
            None,
        ];
        for sig in sigs {
            let mut req = c.http.post(format!("{}{path}", c.base)).form(&owned);
            if let Some(sig) = sig {
                req = req.header("x-twilio-signature", sig);
            }
            let (status, err) = json_of(req.send().await.unwrap()).await;
            assert_eq!(status, 403, "{path}: {err}");
            checked += 1;
        }
    }
    // The admin API without the right bearer token.
    for token in ["", "wrong", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]] {
        let res = c
            .http
            .post(format!("{}/v1/admin/leads/{}/freeze", c.base, urlencode(phone)))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        checked += 1;
    }
    // Nothing happened.
    assert!(c.lead(phone).await.is_none(), "a forged request created the lead");
    let stats = c.admin_json("/v1/admin/leads").await.unwrap();
    assert_eq!(stats["leads"].as_array().map(Vec::len).unwrap_or(0), 0, "{stats}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fake.received().is_empty(), "a forged request caused a text");
    println!("forged or unsigned requests refused: {checked}");
    assert!(server.terminate().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_requests_have_no_second_effect() {
    let fake = FakeTwilio::start().await;
    let s = setup(&fake, &[]);
    let server = Server::start(&s.work, &s.env).await;
    let c = &server.client;
    let phone = "+12125550188";
    let lead = lead_body(phone, "REPLAY-1", "SEC-2", "Ana");
    assert_eq!(c.post_event("/v1/events/leads", &lead).await.unwrap().status(), 202);
    let first = fake.wait_for(phone, 1).await;
    assert_eq!(first.len(), 1);
    let len_after = |t: &Vec<Value>| t.len();

    // Let the send outcome land on the timeline first (it arrives after the provider replied).
    for _ in 0..200 {
        if c.timeline(phone).await.iter().any(|e| e["kind"] == "text_sent") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // The same lead delivered again (same source and source id): acknowledged as a duplicate.
    let before = c.timeline(phone).await;
    let (status, body) = json_of(c.post_event("/v1/events/leads", &lead).await.unwrap()).await;
    assert_eq!((status, body["duplicate"].as_bool()), (202, Some(true)), "{body}");
    assert_eq!(len_after(&c.timeline(phone).await), before.len());

    // Twilio re-delivers an inbound message (same MessageSid, same signature): applied once.
    for _ in 0..3 {
        assert_eq!(c.inbound(phone, "Can I see it Saturday?", "SMreplay1").await.unwrap().status(), 200);
    }
    let t = c.timeline(phone).await;
    let n = t.iter().filter(|e| e["detail"].as_str().is_some_and(|d| d.contains("Can I see it Saturday?"))).count();
    assert_eq!(n, 1, "a replayed inbound text was applied {n} times");

    // A status callback replayed: one delivery entry.
    let params = [("MessageSid", first[0].sid.as_str()), ("MessageStatus", "delivered"), ("AccountSid", ACCOUNT_SID)];
    for _ in 0..3 {
        assert_eq!(c.twilio("/v1/twilio/status", &params).await.unwrap().status(), 204);
    }
    let t = c.timeline(phone).await;
    let n = t.iter().filter(|e| e["kind"] == "delivery").count();
    assert_eq!(n, 1, "a replayed status callback was applied {n} times");

    // STOP replayed: one opt-out, one confirmation.
    for _ in 0..3 {
        assert_eq!(c.inbound(phone, "STOP", "SMreplay2").await.unwrap().status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let got = fake.received_for(phone);
    let confirmations = got.iter().filter(|r| r.body().contains("unsubscribed")).count();
    assert_eq!(confirmations, 1, "{got:?}");
    let t = c.timeline(phone).await;
    assert_eq!(t.iter().filter(|e| e["detail"].as_str().is_some_and(|d| d.contains("\"STOP\""))).count(), 1);
    assert!(!t.iter().any(|e| e["rule"] == "opt_out.already"), "the replay was seen as a second STOP");

    // Idempotency-Key: the stored response comes back, the handler does not run again.
    let crm = json!({"phone": phone, "status": "nurture"});
    let raw = serde_json::to_vec(&crm).unwrap();
    let send = || {
        c.http
            .post(format!("{}/v1/events/crm", c.base))
            .header("content-type", "application/json")
            .header("idempotency-key", "crm-replay-1")
            .header("x-leadline-signature", leadline_signature(&raw, WEBHOOK_SECRET))
            .body(raw.clone())
            .send()
    };
    let first_crm = send().await.unwrap();
    assert_eq!(first_crm.status(), 202);
    let before = c.timeline(phone).await.len();
    let again = send().await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(c.timeline(phone).await.len(), before);
    assert!(server.terminate().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_never_contain_full_phone_numbers_or_secrets() {
    let fake = FakeTwilio::start().await;
    let s = setup(&fake, &[("LEADLINE__LOG__FILTER", "debug")]);
    let server = Server::start(&s.work, &s.env).await;
    let c = server.client.clone();
    let phones = ["+12125550161", "+13125550162", "+14155550163", "+16175550164", "+12065550165"];
    // A capture whose first text fails permanently (dead letter), the others succeed.
    fake.script([Reply::Error(400, 21606, "The From phone number is not a valid, SMS-capable number")]);
    for (i, p) in phones.iter().enumerate() {
        assert_eq!(
            c.post_event("/v1/events/leads", &lead_body(p, &format!("LOG-{i}"), "LOG-1", "Ana"))
                .await
                .unwrap()
                .status(),
            202
        );
    }
    for p in &phones {
        fake.wait_for_within(p, 1, Duration::from_secs(5)).await;
    }
    let [a, b, cc, d, e] = phones;
    // Every kind of input that carries a phone number or a secret.
    c.inbound(a, "Is it still available?", "SMlog1").await.unwrap();
    c.inbound(b, "HELP", "SMlog2").await.unwrap();
    c.inbound(cc, "STOP", "SMlog3").await.unwrap();
    c.inbound(cc, "START", "SMlog4").await.unwrap();
    c.inbound(d, "please stop texting me", "SMlog5").await.unwrap();
    c.inbound(e, "hello", "SMlog6").await.unwrap(); // unknown lead? no: captured above
    c.inbound("+17025550166", "who is this", "SMlog7").await.unwrap(); // a number we never captured
    c.post_event("/v1/events/crm", &json!({"phone": a, "status": "viewing_scheduled", "agent": "Jo"})).await.unwrap();
    c.post_event("/v1/events/interest", &json!({"phone": b, "listing_id": "LOG-2", "how": "saved"})).await.unwrap();
    c.post_event("/v1/events/mls", &json!({"listing_id": "LOG-1", "change": "price_drop", "new_price": 400000}))
        .await
        .unwrap();
    let zillow = json!({"phone": "(212) 555-0167", "name": "Zed Z", "listingId": "LOG-1"});
    let key = leadline::http::webhooks::signed::url_key(WEBHOOK_SECRET, "zillow");
    c.http.post(format!("{}/v1/webhooks/zillow?key={key}", c.base)).json(&zillow).send().await.unwrap();
    c.http
        .post(format!("{}/v1/webhooks/webform", c.base))
        .header("x-leadline-signature", leadline_signature(b"phone=212.555.0168&consent=on", WEBHOOK_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("phone=212.555.0168&consent=on")
        .send()
        .await
        .unwrap();
    for p in &phones {
        c.lead(p).await;
        c.timeline(p).await;
        c.admin_get(&format!("/v1/admin/leads/{}/consent", urlencode(p))).await.unwrap();
        c.admin_get(&format!("/v1/admin/leads/{}", &p[1..])).await.unwrap();
    }
    c.http
        .post(format!("{}/v1/admin/leads/{}/freeze", c.base, urlencode(a)))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"reason": "log test"}))
        .send()
        .await
        .unwrap();
    c.http
        .put(format!("{}/v1/admin/suppressions/{}", c.base, urlencode(e)))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"list": "internal_dnc"}))
        .send()
        .await
        .unwrap();
    c.admin_get(&format!("/v1/admin/leads?phone={}", urlencode(a))).await.unwrap();
    for dl in c.dead_letters().await {
        let id = dl["id"].as_str().unwrap().replace('+', "%2B").replace('#', "%23");
        c.http
            .post(format!("{}/v1/admin/dead-letters/{id}/retry", c.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
    }
    // The admin page: sign-in with the token in the form, a lead page.
    let form = format!("token={ADMIN_TOKEN}&next=%2Fadmin");
    c.http
        .post(format!("{}/admin/login", c.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    c.http.get(format!("{}/admin/leads/{}", c.base, urlencode(a))).send().await.unwrap();
    // Forged and malformed requests are logged as refusals.
    c.http.post(format!("{}/v1/twilio/inbound", c.base)).form(&[("From", a), ("Body", "STOP")]).send().await.unwrap();
    c.post_event("/v1/events/leads", &json!({"source": "x", "phone": "+1 212 555 01"})).await.unwrap();
    let status = [("MessageSid", "SMunknown"), ("MessageStatus", "undelivered"), ("ErrorCode", "30003"), ("To", a)];
    c.twilio("/v1/twilio/status", &status).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(server.terminate().await);
    let log = strip_ansi(&std::fs::read_to_string(server_stderr(&s)).unwrap());
    assert!(log.contains("DEBUG"), "debug logging was on");
    let mut secrets: Vec<String> =
        [ADMIN_TOKEN, TWILIO_TOKEN, WEBHOOK_SECRET, FUB_KEY, key.as_str()].iter().map(|s| s.to_string()).collect();
    secrets.push(leadline_signature(b"phone=212.555.0168&consent=on", WEBHOOK_SECRET));
    let mut numbers: Vec<String> = phones.iter().map(|p| p[2..].to_string()).collect(); // 10 digits: every form
    numbers.extend(["7025550166", "2125550167", "2125550168", "555-0167", "555.0168"].map(String::from));
    let mut leaks = Vec::new();
    for (i, line) in log.lines().enumerate() {
        for n in numbers.iter().chain(secrets.iter()) {
            if line.contains(n.as_str()) {
                leaks.push(format!("line {}: contains {n}: {line}", i + 1));
            }
        }
    }
    println!("debug log: {} lines, {} bytes; leaks: {}", log.lines().count(), log.len(), leaks.len());
    assert!(leaks.is_empty(), "the log leaks:\n{}", leaks.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_cannot_forge_log_lines_or_leak_formatted_numbers() {
    let fake = FakeTwilio::start().await;
    for format in ["text", "json"] {
        let s = setup(&fake, &[("LEADLINE__LOG__FILTER", "debug"), ("LEADLINE__LOG__FORMAT", format)]);
        let server = Server::start(&s.work, &s.env).await;
        let c = server.client.clone();
        let phone = "+16465550183";
        let res =
            c.post_event("/v1/events/leads", &lead_body(phone, "FORGE-1", "FORGE-1", "Ana\rINFO forged name")).await;
        assert_eq!(res.unwrap().status(), 202);
        let crm =
            json!({"phone": phone, "status": "nurture\nERROR fake line", "source": "crm\u{2028}WARN sep\u{202e}rev"});
        assert_eq!(c.post_event("/v1/events/crm", &crm).await.unwrap().status(), 202);
        // An adapter logs an unparseable timestamp as it came, at debug level.
        let zillow = json!({"phone": "(646) 555-0199", "firstName": "Zed", "listingId": "FORGE-1",
                            "timestamp": "yesterday\r\nWARN forged (646) 555-0183\tend"});
        let key = leadline::http::webhooks::signed::url_key(WEBHOOK_SECRET, "zillow");
        c.http.post(format!("{}/v1/webhooks/zillow?key={key}", c.base)).json(&zillow).send().await.unwrap();
        // Request paths with the number in every common form (the request span logs the path).
        for path in [
            "646-555-0183",
            "%2B16465550183",
            "(646)%20555-0183",
            "%28646%29%20555-0183",
            "646.555.0183",
            "%2B1%20646%20555%200183",
            "1-646-555-0183",
        ] {
            c.admin_get(&format!("/v1/admin/leads/{path}")).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(server.terminate().await);
        let log = strip_ansi(&std::fs::read_to_string(server_stderr(&s)).unwrap());
        let lines: Vec<&str> = log.lines().collect();
        assert!(log.contains("DEBUG"), "debug logging was on");
        let mut problems = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            // Every line is one event: JSON, or text starting with the formatter's timestamp.
            let ok_start = if format == "json" {
                serde_json::from_str::<Value>(line).is_ok()
            } else {
                let b = line.as_bytes();
                b.len() > 20 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[10] == b'T'
            };
            if !ok_start {
                problems.push(format!("line {}: not an event of its own: {line}", i + 1));
            }
            let raw_control = line.chars().find(|c| {
                c.is_control()
                    || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
            });
            if let Some(c) = raw_control {
                problems.push(format!("line {}: raw {c:?}: {line}", i + 1));
            }
            for n in [
                "6465550183",
                "6465550199",
                "646-555",
                "646.555",
                "646 555",
                "646) 555",
                "646)%20555",
                "646%29%20555",
                "646%20555",
                "555-01",
                "555.01",
                "555 01",
                "555%2001",
            ] {
                if line.contains(n) {
                    problems.push(format!("line {}: contains {n}: {line}", i + 1));
                }
            }
        }
        // The hostile values are there, escaped, inside their own event.
        let forged_status =
            if format == "json" { r"nurture\nERROR fake line" } else { r"status=nurture\nERROR fake line" };
        assert!(log.contains(forged_status), "the CRM status is logged, escaped:\n{log}");
        let forged_ts = r"yesterday\r\nWARN forged ***0183\tend";
        assert!(log.contains(forged_ts), "the adapter's timestamp is logged, escaped and masked:\n{log}");
        if format == "text" {
            assert!(log.contains(r"crm\u{2028}WARN sep\u{202e}rev"), "separators are escaped:\n{log}");
        } else {
            assert!(log.contains(r"crm\u2028WARN sep\u202erev"), "separators are escaped:\n{log}");
        }
        let masked_paths = lines.iter().filter(|l| l.contains("/v1/admin/leads/+1646***0183")).count();
        println!(
            "{format} log: {} lines, {} bytes; {masked_paths} lines with a masked admin path; problems: {}",
            lines.len(),
            log.len(),
            problems.len()
        );
        assert!(problems.is_empty(), "{format} log:\n{}", problems.join("\n"));
    }
}

fn server_stderr(s: &Setup) -> PathBuf {
    std::fs::read_dir(&s.work)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("stderr-")))
        .unwrap()
}

/// Removes ANSI colour sequences (ESC [ ... letter), so a number split by one is still found.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
