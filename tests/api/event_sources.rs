//! Event sources end to end: the RESO poller against a fake RESO Web API server, the MLS
//! push, CRM and interest events, Follow Up Boss against a fake FUB API, the lead-source
//! adapters, Idempotency-Key and signed webhooks.

use super::helpers::*;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use leadline::config::Secrets;
use leadline::http::webhooks::signed::url_key;
use leadline::integrations::followupboss::signature::fub_signature;
use leadline::integrations::signature::leadline_signature;
use leadline::startup::Application;
use leadline_core::clock::ManualClock;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn error_of(res: reqwest::Response) -> (u16, String, String) {
    let status = res.status().as_u16();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    (status, v["error"]["code"].as_str().unwrap_or("").into(), v["error"]["message"].as_str().unwrap_or("").into())
}

fn lead_on(phone: &str, id: &str, listing: &str, address: &str, consent: bool) -> Value {
    let mut v = lead_with_consent(phone, id);
    v["listing"] = json!({"id": listing, "address": address, "price": 450000});
    if !consent {
        v.as_object_mut().unwrap().remove("consent");
    }
    v
}

fn rules(timeline: &[Value]) -> Vec<String> {
    timeline
        .iter()
        .map(|e| format!("{}:{}", e["kind"].as_str().unwrap_or(""), e["rule"].as_str().unwrap_or("")))
        .collect()
}

async fn start_server(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

// ------------------------------------------------------------------------------------------
// A fake RESO Web API: OAuth2 client credentials, `$filter=ModificationTimestamp gt <ts>`,
// `$top`, and `@odata.nextLink` paging over a snapshot (`$skiptoken`), like a replication
// endpoint: oldest first, no `$orderby`, no `$skip`.
// ------------------------------------------------------------------------------------------

const RESO_ACCESS_TOKEN: &str = "reso-access-1";

/// One GET: the decoded query pairs and the Authorization header.
type ResoRequest = (Vec<(String, String)>, Option<String>);

#[derive(Default)]
struct ResoInner {
    base: String,
    listings: Vec<Value>,
    snapshots: HashMap<u64, Vec<Value>>,
    next_cursor: u64,
    requests: Vec<ResoRequest>,
    token_requests: usize,
    fail_next: VecDeque<u16>,
}

#[derive(Clone)]
struct FakeReso {
    base: String,
    inner: Arc<Mutex<ResoInner>>,
}

fn listing(key: &str, price: u64, status: &str, address: &str, modified: &str) -> Value {
    json!({"ListingKey": key, "ListPrice": price, "StandardStatus": status, "UnparsedAddress": address,
           "ModificationTimestamp": modified})
}

impl FakeReso {
    async fn start(listings: Vec<Value>) -> FakeReso {
        let inner = Arc::new(Mutex::new(ResoInner { listings, ..ResoInner::default() }));
        let app = Router::new()
            .route("/token", post(reso_token))
            .route("/odata/Property", get(reso_property))
            .with_state(inner.clone());
        let base = start_server(app).await;
        inner.lock().unwrap().base = base.clone();
        FakeReso { base, inner }
    }

    /// Replaces (or adds) a listing, as an MLS edit would.
    fn upsert(&self, record: Value) {
        let mut inner = self.inner.lock().unwrap();
        let key = record["ListingKey"].clone();
        inner.listings.retain(|l| l["ListingKey"] != key);
        inner.listings.push(record);
    }

    fn requests(&self) -> Vec<ResoRequest> {
        self.inner.lock().unwrap().requests.clone()
    }
}

fn query_value<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

async fn reso_token(State(inner): State<Arc<Mutex<ResoInner>>>, body: String) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    inner.lock().unwrap().token_requests += 1;
    let ok = form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && form.get("client_id").map(String::as_str) == Some("leadline-test")
        && form.get("client_secret").map(String::as_str) == Some("reso-client-secret");
    if !ok {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    Json(json!({"access_token": RESO_ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600})).into_response()
}

async fn reso_property(
    State(inner): State<Arc<Mutex<ResoInner>>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect();
    let auth = headers.get("authorization").and_then(|h| h.to_str().ok()).map(str::to_string);
    let mut inner = inner.lock().unwrap();
    inner.requests.push((q.clone(), auth.clone()));
    if let Some(status) = inner.fail_next.pop_front() {
        let mut res = (StatusCode::from_u16(status).unwrap(), "slow down").into_response();
        res.headers_mut().insert("retry-after", "0".parse().unwrap());
        return res;
    }
    if auth.as_deref() != Some(&format!("Bearer {RESO_ACCESS_TOKEN}")) {
        return (StatusCode::UNAUTHORIZED, "bad token").into_response();
    }
    let (cursor, offset, top) = match query_value(&q, "$skiptoken") {
        Some(token) => {
            let parts: Vec<u64> = token.split(':').map(|p| p.parse().unwrap()).collect();
            (parts[0], parts[1] as usize, parts[2] as usize)
        }
        None => {
            let filter = query_value(&q, "$filter").expect("a $filter");
            let since = filter.strip_prefix("ModificationTimestamp gt ").expect("filter on ModificationTimestamp");
            let since = chrono::DateTime::parse_from_rfc3339(since).expect("an OData DateTimeOffset");
            let mut matching: Vec<Value> = inner
                .listings
                .iter()
                .filter(|l| {
                    chrono::DateTime::parse_from_rfc3339(l["ModificationTimestamp"].as_str().unwrap()).unwrap() > since
                })
                .cloned()
                .collect();
            matching.sort_by(|a, b| {
                let ka = (a["ModificationTimestamp"].as_str().unwrap(), a["ListingKey"].as_str().unwrap());
                let kb = (b["ModificationTimestamp"].as_str().unwrap(), b["ListingKey"].as_str().unwrap());
                ka.cmp(&kb)
            });
            inner.next_cursor += 1;
            let cursor = inner.next_cursor;
            inner.snapshots.insert(cursor, matching);
            let top = query_value(&q, "$top").map(|t| t.parse().unwrap()).unwrap_or(100);
            (cursor, 0, top)
        }
    };
    let all = inner.snapshots[&cursor].clone();
    let page: Vec<Value> = all.iter().skip(offset).take(top).cloned().collect();
    let mut body = json!({"@odata.context": format!("{}/odata/$metadata#Property", inner.base), "value": page});
    if offset + top < all.len() {
        body["@odata.nextLink"] =
            json!(format!("{}/odata/Property?$skiptoken={cursor}:{}:{top}", inner.base, offset + top));
    }
    Json(body).into_response()
}

#[tokio::test]
async fn the_reso_poller_fans_changes_out_to_exactly_the_eligible_leads_once_each() {
    let reso = FakeReso::start(vec![
        listing("L1", 450000, "Active", "1 Elm St", "2026-11-26T10:00:00Z"),
        listing("L2", 300000, "Active", "2 Oak Ave", "2026-11-26T10:00:01Z"),
        listing("L3", 600000, "Pending", "3 Pine Rd", "2026-11-26T10:00:02Z"),
        // Two records share the newest timestamp: the watermark boundary.
        listing("L4", 200000, "Active", "4 Birch Ln", "2026-11-26T10:00:03Z"),
        listing("L5", 350000, "Active Under Contract", "5 Cedar Ct", "2026-11-26T10:00:03Z"),
    ])
    .await;
    // A 429 on the very first request: backed off and retried.
    reso.inner.lock().unwrap().fail_next.push_back(429);
    let reso_base = reso.base.clone();
    let app = TestApp::spawn_with_secrets(
        |s| {
            let r = &mut s.integrations.reso;
            r.enabled = true;
            r.base_url = format!("{reso_base}/odata");
            r.interval_secs = 3600; // the test polls explicitly
            r.page_size = 2;
            r.token_url = format!("{reso_base}/token");
            r.client_id = "leadline-test".into();
            r.retry_base_ms = 10;
            r.max_backoff_secs = 1;
        },
        |sec| sec.reso_client_secret = Some("reso-client-secret".into()),
    )
    .await;

    // Leads watching L1: A and E with consent, B without consent, C opted out. D watches L3.
    let (a, b, c, d, e) = ("+12125550101", "+12125550102", "+12125550103", "+12125550104", "+13125550105");
    for (phone, id, listing_id, address, consent) in [
        (a, "R-A", "L1", "1 Elm St", true),
        (b, "R-B", "L1", "1 Elm St", false),
        (c, "R-C", "L1", "1 Elm St", true),
        (d, "R-D", "L3", "3 Pine Rd", true),
        (e, "R-E", "L1", "1 Elm St", true),
    ] {
        assert_eq!(app.post_lead(&lead_on(phone, id, listing_id, address, consent)).await.status(), 202);
    }
    for phone in [a, c, d, e] {
        assert_eq!(app.twilio.wait_for(phone, 1).await.len(), 1, "first contact to {phone}");
    }
    assert_eq!(app.inbound(c, "STOP", "SM-reso-c").await.status(), 200);
    assert_eq!(app.twilio.wait_for(c, 2).await.len(), 2, "C's opt-out confirmation");

    // Poll 1: the initial sync records every listing as a baseline and emits nothing.
    let first = app.reso_poll().await.expect("poll 1");
    assert_eq!((first.pages, first.records, first.changes), (3, 5, 0), "{first:?}");
    assert_eq!(first.watermark.unwrap().rfc3339(), "2026-11-26T10:00:03.000Z");

    // Between polls: L1's price drops, L3 is back on the market, L5's status is re-spelled
    // (not a change), L2 is touched without a price or status change.
    reso.upsert(listing("L1", 425000, "Active", "1 Elm St", "2026-11-26T11:00:00Z"));
    reso.upsert(listing("L3", 600000, "Active", "3 Pine Rd", "2026-11-26T11:00:00Z"));
    reso.upsert(listing("L5", 350000, "ActiveUnderContract", "5 Cedar Ct", "2026-11-26T11:00:01Z"));
    reso.upsert(listing("L2", 300000, "Active", "2 Oak Ave", "2026-11-26T11:00:02Z"));
    let second = app.reso_poll().await.expect("poll 2");
    // L4 is re-read at the boundary (overlap) and emits nothing; L1 and L3 changed.
    assert_eq!((second.records, second.changes), (5, 2), "{second:?}");
    assert_eq!(second.lead_events, 5, "4 leads watch L1, 1 watches L3: {second:?}");
    assert_eq!(second.watermark.unwrap().rfc3339(), "2026-11-26T11:00:02.000Z");

    let a_texts = app.twilio.wait_for(a, 2).await;
    assert_eq!(a_texts.len(), 2);
    assert!(a_texts[1].body().contains("price drop on 1 Elm St"), "{}", a_texts[1].body());
    assert!(a_texts[1].body().contains("$425,000") && a_texts[1].body().contains("$450,000"), "{}", a_texts[1].body());
    assert_eq!(app.twilio.wait_for(e, 2).await.len(), 2);
    let d_texts = app.twilio.wait_for(d, 2).await;
    assert_eq!(d_texts.len(), 2);
    assert!(d_texts[1].body().contains("back on the market"), "{}", d_texts[1].body());

    // Poll 3: nothing new; the boundary record (L2) is re-read and emits nothing.
    let third = app.reso_poll().await.expect("poll 3");
    assert_eq!((third.records, third.changes, third.lead_events), (1, 0, 0), "{third:?}");

    // Exactly the eligible leads were texted, once per change.
    assert_eq!(app.twilio.settle(a).await.len(), 2);
    assert_eq!(app.twilio.received_for(e).len(), 2);
    assert_eq!(app.twilio.received_for(d).len(), 2);
    assert!(app.twilio.received_for(b).is_empty(), "B has no consent");
    assert_eq!(app.twilio.received_for(c).len(), 2, "C got nothing after the opt-out confirmation");
    assert!(rules(&app.timeline(b).await).contains(&"text_blocked:consent.missing".to_string()));
    let c_rules = rules(&app.timeline(c).await);
    assert!(c_rules.contains(&"event:event.listing_changed".to_string()), "{c_rules:?}");
    assert!(c_rules.contains(&"text_blocked:opt_out".to_string()), "{c_rules:?}");

    // The wire: OAuth2 token fetched once and sent as a bearer; $filter on the watermark
    // minus the overlap; $select; next links followed; never $orderby or $skip.
    let requests = reso.requests();
    assert_eq!(reso.inner.lock().unwrap().token_requests, 1);
    assert!(requests.iter().all(|(_, auth)| auth.as_deref() == Some("Bearer reso-access-1")));
    let filters: Vec<&str> = requests.iter().filter_map(|(q, _)| query_value(q, "$filter")).collect();
    assert_eq!(
        filters,
        vec![
            "ModificationTimestamp gt 1969-12-31T23:59:59.000Z", // the 429
            "ModificationTimestamp gt 1969-12-31T23:59:59.000Z",
            "ModificationTimestamp gt 2026-11-26T10:00:02.000Z",
            "ModificationTimestamp gt 2026-11-26T11:00:01.000Z",
        ]
    );
    let first_pages: Vec<_> = requests.iter().filter(|(q, _)| query_value(q, "$filter").is_some()).collect();
    assert!(first_pages.iter().all(|(q, _)| query_value(q, "$select")
        == Some("ListingKey,ListPrice,StandardStatus,UnparsedAddress,ModificationTimestamp")
        && query_value(q, "$top") == Some("2")));
    assert_eq!(requests.iter().filter(|(q, _)| query_value(q, "$skiptoken").is_some()).count(), 4);
    assert!(requests.iter().all(|(q, _)| q.iter().all(|(k, _)| k != "$orderby" && k != "$skip")));

    // The watermark and the last seen listings survive a restart: nothing is re-emitted.
    let app = app.restart().await;
    let after = app.reso_poll().await.expect("poll after restart");
    assert_eq!((after.records, after.changes), (1, 0), "{after:?}");
    assert_eq!(app.twilio.settle(a).await.len(), 2);

    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("leadline_reso_polls_total"), "{metrics}");
    assert!(metrics.contains("leadline_reso_changes_total{change=\"price_drop\"}"), "{metrics}");
    app.stop().await;
}

#[tokio::test]
async fn a_reso_server_that_keeps_failing_fails_the_poll_without_moving_the_watermark() {
    let reso = FakeReso::start(vec![listing("L1", 450000, "Active", "1 Elm St", "2026-11-26T10:00:00Z")]).await;
    let reso_base = reso.base.clone();
    let app = TestApp::spawn_with_secrets(
        |s| {
            let r = &mut s.integrations.reso;
            r.enabled = true;
            r.base_url = format!("{reso_base}/odata");
            r.interval_secs = 3600;
            r.retry_base_ms = 5;
            r.max_attempts = 3;
        },
        |sec| sec.reso_token = Some(RESO_ACCESS_TOKEN.into()),
    )
    .await;
    reso.inner.lock().unwrap().fail_next.extend([503, 502, 500]);
    let err = app.reso_poll().await.expect_err("three 5xx in a row");
    assert!(err.to_string().contains("gave up after 3 attempts"), "{err}");
    assert_eq!(reso.requests().len(), 3);
    // The next poll starts from scratch (no watermark was stored) and succeeds.
    let ok = app.reso_poll().await.expect("the server recovered");
    assert_eq!((ok.records, ok.changes), (1, 0));
    let filters: Vec<String> =
        reso.requests().iter().filter_map(|(q, _)| query_value(q, "$filter").map(str::to_string)).collect();
    assert!(filters.iter().all(|f| f == "ModificationTimestamp gt 1969-12-31T23:59:59.000Z"), "{filters:?}");
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("leadline_reso_errors_total"), "{metrics}");
    app.stop().await;
}

// ------------------------------------------------------------------------------------------
// MLS push, CRM and interest events.
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_mls_push_reaches_every_watching_lead_once_and_a_redelivery_is_a_duplicate() {
    let app = TestApp::spawn().await;
    let (a, b) = ("+12125550111", "+12125550112");
    assert_eq!(app.post_lead(&lead_on(a, "M-A", "L9", "9 Oak Ave", true)).await.status(), 202);
    // B asked about another listing and saved L9 on the website.
    assert_eq!(app.post_lead(&lead_on(b, "M-B", "L8", "8 Ash St", true)).await.status(), 202);
    let res = app.post_json("/v1/events/interest", &json!({"phone": b, "listing_id": "L9", "how": "saved"})).await;
    assert_eq!(res.status(), 202);
    assert_eq!(app.lead(b).await["interests"], json!(["L8", "L9"]));
    app.twilio.wait_for(a, 1).await;
    app.twilio.wait_for(b, 1).await;

    let change = json!({"listing_id": "L9", "change": "price_drop", "address": "9 Oak Ave",
                        "old_price": 500000, "new_price": 475000, "occurred_at": "2026-11-26T17:30:00Z"});
    let res = app.post_json("/v1/events/mls", &change).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"listing_id": "L9", "change": "price_drop", "leads": 2, "applied": 2, "duplicates": 0}));
    // The sender retries the same change: nobody gets it twice.
    let res = app.post_json("/v1/events/mls", &change).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["leads"].as_u64(), body["applied"].as_u64(), body["duplicates"].as_u64()),
        (Some(2), Some(0), Some(2))
    );

    for phone in [a, b] {
        let texts = app.twilio.wait_for(phone, 2).await;
        assert!(texts[1].body().contains("$475,000"), "{}", texts[1].body());
        assert_eq!(app.twilio.settle(phone).await.len(), 2, "one alert for {phone}");
    }
    assert_eq!(app.lead(a).await["last_property"], "9 Oak Ave");

    // Nobody watches L404: accepted, nothing to do.
    let res = app.post_json("/v1/events/mls", &json!({"listing_id": "L404", "change": "back_on_market"})).await;
    assert_eq!(res.status(), 202);
    assert_eq!(res.json::<Value>().await.unwrap()["leads"], 0);

    // Bad bodies: 4xx naming the problem, nothing applied.
    let (s, code, msg) =
        error_of(app.post_json("/v1/events/mls", &json!({"listing_id": "L9", "change": "sold"})).await).await;
    assert_eq!((s, code.as_str()), (422, "invalid_field"));
    for allowed in ["price_drop", "price_increase", "status_change", "back_on_market", "new_listing"] {
        assert!(msg.contains(allowed), "{msg}");
    }
    let (s, code, msg) =
        error_of(app.post_json("/v1/events/mls", &json!({"listing_id": "L9", "change": "price_drop"})).await).await;
    assert_eq!((s, code.as_str()), (422, "missing_field"), "{msg}");
    assert!(msg.contains("new_price"), "{msg}");
    let (s, _, msg) = error_of(app.post_json("/v1/events/mls", &json!({"change": "price_drop"})).await).await;
    assert_eq!(s, 422);
    assert!(msg.contains("listing_id"), "{msg}");
    let bad = json!({"listing_id": "L9", "change": "price_drop", "old_price": 400000, "new_price": 475000});
    assert_eq!(app.post_json("/v1/events/mls", &bad).await.status(), 422);
    assert_eq!(app.twilio.settle(a).await.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn a_crm_halt_all_status_blocks_a_later_price_drop_and_the_timeline_says_why() {
    let app = TestApp::spawn().await;
    let phone = "+12125550121";
    assert_eq!(app.post_lead(&lead_on(phone, "C-1", "L7", "7 Elm St", true)).await.status(), 202);
    app.twilio.wait_for(phone, 1).await;

    // The CRM closes the lead and records a saved listing.
    let crm = json!({"phone": "(212) 555-0121", "status": "Closed", "source": "followupboss", "agent": "Jo Agent",
                     "occurred_at": "2026-11-26T17:00:00Z", "listing_id": "L6", "listing_action": "saved"});
    let res = app.post_json("/v1/events/crm", &crm).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["phone"], phone);
    assert!(body["interest"].is_object(), "{body}");
    let lead = app.lead(phone).await;
    assert_eq!(lead["crm_status"], "Closed");
    assert_eq!(lead["interests"], json!(["L7", "L6"]));
    // A re-delivered CRM change (same occurred_at) is applied once.
    let again: Value = app.post_json("/v1/events/crm", &crm).await.json().await.unwrap();
    assert_eq!(again["duplicate"], true);

    let drop = json!({"listing_id": "L7", "change": "price_drop", "old_price": 450000, "new_price": 440000});
    let res = app.post_json("/v1/events/mls", &drop).await;
    assert_eq!(res.status(), 202);
    assert_eq!(res.json::<Value>().await.unwrap()["applied"], 1);
    assert_eq!(app.twilio.settle(phone).await.len(), 1, "no alert after the CRM closed the lead");
    let r = rules(&app.timeline(phone).await);
    assert!(r.contains(&"event:crm.halt_all".to_string()), "{r:?}");
    assert!(r.contains(&"text_blocked:crm.halt_all".to_string()), "{r:?}");

    // A CRM event for a phone leadline has never seen creates the lead (without consent).
    let res = app.post_json("/v1/events/crm", &json!({"phone": "+13125550122", "status": "nurture"})).await;
    assert_eq!(res.status(), 202);
    let fresh = app.lead("+13125550122").await;
    assert_eq!((fresh["status"].as_str(), fresh["crm_status"].as_str()), (Some("NEW"), Some("nurture")));

    // Validation: every problem is a 422, nothing applied.
    for (bad, needle) in [
        (json!({"phone": phone, "status": "  "}), "status"),
        (json!({"phone": phone, "status": "x", "listing_id": "L1"}), "listing_action"),
        (json!({"phone": phone, "status": "x", "listing_id": "L1", "listing_action": "bought"}), "saved"),
        (json!({"phone": "12", "status": "x"}), "phone"),
        (json!({"status": "x"}), "phone"),
    ] {
        let (s, _, msg) = error_of(app.post_json("/v1/events/crm", &bad).await).await;
        assert_eq!(s, 422, "{bad}");
        assert!(msg.contains(needle) || needle == "phone", "{bad}: {msg}");
    }
    let (s, _, msg) =
        error_of(app.post_json("/v1/events/interest", &json!({"phone": phone, "listing_id": "L1"})).await).await;
    assert_eq!(s, 422);
    assert!(msg.contains("how"), "{msg}");
    assert_eq!(app.lead(phone).await["crm_status"], "Closed");
    app.stop().await;
}

// ------------------------------------------------------------------------------------------
// Follow Up Boss, against a fake FUB API.
// ------------------------------------------------------------------------------------------

const FUB_SYSTEM_KEY: &str = "fub-system-key-1";
const FUB_API_KEY: &str = "fub-api-key-1";

#[derive(Default)]
struct FubInner {
    people: HashMap<String, Value>,
    /// (path and query, Authorization header, X-System-Key header)
    requests: Vec<(String, Option<String>, Option<String>)>,
}

type FubState = Arc<Mutex<FubInner>>;

fn record_fub(inner: &FubState, what: String, headers: &HeaderMap) {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    inner.lock().unwrap().requests.push((what, h("authorization"), h("x-system-key")));
}

async fn fub_person(State(inner): State<FubState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    record_fub(&inner, format!("/v1/people/{id}"), &headers);
    match inner.lock().unwrap().people.get(&id) {
        Some(p) => Json(p.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "no such person").into_response(),
    }
}

async fn fub_people(State(inner): State<FubState>, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    let q = q.unwrap_or_default();
    record_fub(&inner, format!("/v1/people?{q}"), &headers);
    let ids: Vec<String> = form_urlencoded::parse(q.as_bytes())
        .filter(|(k, _)| k == "id")
        .flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
        .collect();
    let inner = inner.lock().unwrap();
    let people: Vec<Value> = ids.iter().filter_map(|id| inner.people.get(id).cloned()).collect();
    Json(json!({"_metadata": {"collection": "people", "total": people.len()}, "people": people})).into_response()
}

fn fub_person_json(id: u64, stage: &str) -> Value {
    json!({"id": id, "created": "2026-11-26T17:55:00Z", "firstName": "Dana", "lastName": "Lee", "stage": stage,
           "source": "Zillow", "assignedTo": "Jo Agent",
           "emails": [{"value": "dana@example.com", "type": "home", "isPrimary": 1}],
           "phones": [{"value": "(646) 555-0131", "type": "mobile", "isPrimary": 1}]})
}

async fn fub_hook(app: &TestApp, body: &Value, key: Option<&str>) -> reqwest::Response {
    let raw = serde_json::to_vec(body).unwrap();
    let mut req = app
        .client
        .post(format!("{}/v1/webhooks/followupboss", app.base))
        .header("content-type", "application/json")
        .body(raw.clone());
    if let Some(key) = key {
        req = req.header("FUB-Signature", fub_signature(&raw, key));
    }
    req.send().await.unwrap()
}

async fn wait_lead(app: &TestApp, phone: &str, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..250 {
        let res = app.admin_get(&format!("/v1/admin/leads/{}", urlencode(phone))).await;
        if res.status() == 200 {
            let v: Value = res.json().await.unwrap();
            if pred(&v) {
                return v;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("lead {phone} never reached the expected state");
}

#[tokio::test]
async fn follow_up_boss_webhooks_are_verified_deduplicated_and_fetched_from_the_api() {
    let fub: FubState = Arc::default();
    fub.lock().unwrap().people.insert("101".into(), fub_person_json(101, "Lead"));
    let fub_base = start_server(
        Router::new()
            .route("/v1/people", get(fub_people))
            .route("/v1/people/{id}", get(fub_person))
            .with_state(fub.clone()),
    )
    .await;
    let app = TestApp::spawn_with_secrets(
        |s| {
            s.integrations.followupboss.api_base = fub_base.parse().unwrap();
            s.integrations.followupboss.retry_base_ms = 10;
        },
        |sec| {
            sec.fub_system_key = Some(FUB_SYSTEM_KEY.into());
            sec.fub_api_key = Some(FUB_API_KEY.into());
        },
    )
    .await;
    let phone = "+16465550131";
    let created = json!({"eventId": "evt-1", "eventCreated": "2026-11-26T17:55:01Z", "event": "peopleCreated",
                         "resourceIds": [101], "uri": "https://api.followupboss.com/v1/people?id=101"});

    // Unsigned and forged notifications are refused and change nothing.
    let (s, code, msg) = error_of(fub_hook(&app, &created, None).await).await;
    assert_eq!((s, code.as_str()), (403, "invalid_signature"), "{msg}");
    let (s, code, _) = error_of(fub_hook(&app, &created, Some("not-the-key")).await).await;
    assert_eq!((s, code.as_str()), (403, "invalid_signature"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(fub.lock().unwrap().requests.is_empty(), "nothing fetched for a forged notification");
    assert_eq!(app.admin_get(&format!("/v1/admin/leads/{}", urlencode(phone))).await.status(), 404);

    // A signed peopleCreated: 202 at once, then the person is fetched and becomes a lead.
    let res = fub_hook(&app, &created, Some(FUB_SYSTEM_KEY)).await;
    assert_eq!(res.status(), 202);
    let ack: Value = res.json().await.unwrap();
    assert_eq!((ack["event_id"].as_str(), ack["accepted"].as_bool()), (Some("evt-1"), Some(true)));
    let lead = wait_lead(&app, phone, |l| l["crm_status"] == "Lead").await;
    assert_eq!(lead["source"], "followupboss");
    assert_eq!(lead["source_lead_id"], "101");
    assert_eq!((lead["first_name"].as_str(), lead["last_name"].as_str()), (Some("Dana"), Some("Lee")));
    assert_eq!(lead["email"], "dana@example.com");
    assert_eq!(lead["status"], "NEW");
    // No consent record: stored, never texted automatically.
    assert!(rules(&app.timeline(phone).await).contains(&"text_blocked:consent.missing".to_string()));
    assert!(app.twilio.settle(phone).await.is_empty());
    {
        let requests = fub.lock().unwrap().requests.clone();
        assert_eq!(requests.len(), 1, "{requests:?}");
        let (path, auth, system_key) = &requests[0];
        assert_eq!(path, "/v1/people?id=101", "the uri's path and query, on the configured api_base");
        let basic = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{FUB_API_KEY}:"));
        assert_eq!(auth.as_deref(), Some(format!("Basic {basic}").as_str()));
        assert_eq!(system_key.as_deref(), Some(FUB_SYSTEM_KEY));
    }

    // FUB re-sends the same event: acknowledged as a duplicate, not fetched again.
    let res = fub_hook(&app, &created, Some(FUB_SYSTEM_KEY)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["duplicate"], true);

    // The stage changes in FUB: peopleStageUpdated -> a CRM change that halts everything.
    fub.lock().unwrap().people.insert("101".into(), fub_person_json(101, "Closed"));
    let staged = json!({"eventId": "evt-2", "event": "peopleStageUpdated", "resourceIds": [101]});
    assert_eq!(fub_hook(&app, &staged, Some(FUB_SYSTEM_KEY)).await.status(), 202);
    let lead = wait_lead(&app, phone, |l| l["crm_status"] == "Closed").await;
    assert_eq!(lead["source_lead_id"], "101");
    assert!(rules(&app.timeline(phone).await).contains(&"event:crm.halt_all".to_string()));
    assert_eq!(fub.lock().unwrap().requests.last().unwrap().0, "/v1/people/101");

    // Events leadline does not act on are acknowledged and ignored.
    let other = json!({"eventId": "evt-3", "event": "notesCreated", "resourceIds": [5]});
    let res = fub_hook(&app, &other, Some(FUB_SYSTEM_KEY)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["ignored"], true);
    app.stop().await;

    // Without FUB_SYSTEM_KEY every notification is refused, with a message that says why.
    let bare = TestApp::spawn().await;
    let (s, code, msg) = error_of(fub_hook(&bare, &created, Some(FUB_SYSTEM_KEY)).await).await;
    assert_eq!((s, code.as_str()), (403, "invalid_signature"));
    assert!(msg.contains("FUB_SYSTEM_KEY"), "{msg}");
    bare.stop().await;
}

// ------------------------------------------------------------------------------------------
// Lead-source adapters.
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn lead_source_adapters_map_real_shaped_payloads_onto_leads() {
    let app = TestApp::spawn().await;

    // Realtor.com-style (Lead Delivery / Connections Plus field names).
    let realtor = json!({
        "lead_id": "RDC-778899", "role": "buyer",
        "contact": {"first_name": "Maya", "last_name": "Chen", "email": "maya@example.com", "phone": "212-555-0141"},
        "property": {"listing_url": "https://www.realtor.com/realestateandhomes-detail/1-Main-St",
                     "address": "1 Main St", "city": "New York", "state": "NY", "zip_code": "10001",
                     "mls_id": "RLS-1001", "mls_name": "REBNY", "listing_status": "active", "list_price": 899000},
        "finance_info": {"pre_approved": true, "financing_type": "conventional"},
        "source": "listing_page", "message": "Can I tour Saturday?", "is_likely_to_transact": true,
        "probability_to_transact": 0.7, "timestamp": "2026-11-26T17:58:00Z"
    });
    let res = app.post_json("/v1/webhooks/realtor", &realtor).await;
    assert_eq!(res.status(), 202);
    let lead = app.lead("+12125550141").await;
    assert_eq!(lead["source"], "realtor");
    assert_eq!(lead["source_lead_id"], "RDC-778899");
    assert_eq!((lead["first_name"].as_str(), lead["email"].as_str()), (Some("Maya"), Some("maya@example.com")));
    assert_eq!(lead["interests"], json!(["RLS-1001"]));
    assert_eq!(lead["last_property"], "1 Main St, New York, NY 10001");
    assert_eq!(lead["status"], "NEW", "portal leads carry no consent: not texted");
    assert!(rules(&app.timeline("+12125550141").await).contains(&"text_blocked:consent.missing".to_string()));
    // The same lead delivered again is a duplicate (source + lead_id).
    let again: Value = app.post_json("/v1/webhooks/realtor", &realtor).await.json().await.unwrap();
    assert_eq!(again["duplicate"], true);
    // The nested variant.
    let nested = json!({"Lead": {
        "lead_info": {"lead_id": "RDC-2", "lead_consumer_info":
            {"first_name": "Omar", "last_name": "Diaz", "email": "omar@example.com", "phone": "(212) 555-0143"}},
        "lead_property_info": {"property_price": 525000, "property_street_address": "12 Hill Rd",
            "property_city": "Albany", "property_state_code": "NY", "property_zip": "12203", "property_mls_id": "RLS-2002"}}});
    assert_eq!(app.post_json("/v1/webhooks/realtor", &nested).await.status(), 202);
    let lead = app.lead("+12125550143").await;
    assert_eq!((lead["first_name"].as_str(), lead["interests"][0].as_str()), (Some("Omar"), Some("RLS-2002")));
    let (s, code, msg) =
        error_of(app.post_json("/v1/webhooks/realtor", &json!({"contact": {"first_name": "X"}})).await).await;
    assert_eq!((s, code.as_str()), (422, "missing_field"));
    assert!(msg.contains("lead_id") && msg.contains("contact.phone"), "{msg}");

    // Zillow-style lead post.
    let zillow = json!({
        "name": "Priya Natarajan", "email": "priya@example.com", "phone": "2125550144",
        "listingStreet": "50 W 34th St", "listingUnit": "12B", "listingCity": "New York", "listingState": "NY",
        "listingPostalCode": "10001", "numBedrooms": "2", "moveInDate": "2027-01-01",
        "message": "I'd like to schedule a viewing.", "leadType": "tourRequest", "listingId": "ZL-3003"
    });
    assert_eq!(app.post_json("/v1/webhooks/zillow", &zillow).await.status(), 202);
    let lead = app.lead("+12125550144").await;
    assert_eq!((lead["first_name"].as_str(), lead["last_name"].as_str()), (Some("Priya"), Some("Natarajan")));
    assert_eq!(lead["source"], "zillow");
    assert_eq!(lead["last_property"], "50 W 34th St #12B, New York, NY 10001");
    assert_eq!(lead["interests"], json!(["ZL-3003"]));
    let (s, _, msg) = error_of(app.post_json("/v1/webhooks/zillow", &json!({"name": "No Phone"})).await).await;
    assert_eq!(s, 422);
    assert!(msg.contains("phone"), "{msg}");

    // A plain web form with the consent checkbox ticked: consent recorded, lead texted.
    let form = [
        ("first_name", "Lena"),
        ("last_name", "Park"),
        ("phone", "212.555.0145"),
        ("email", "lena@example.com"),
        ("message", "Is the open house still on?"),
        ("listing_id", "WEB-44"),
        ("listing_address", "44 River St"),
        ("consent", "on"),
        ("consent_text", "By checking this box I agree to receive automated texts from Acme Realty ..."),
        ("page_url", "https://acme-realty.example/listings/44"),
    ];
    let res = app
        .client
        .post(format!("{}/v1/webhooks/webform", app.base))
        .header("X-Forwarded-For", "198.51.100.7, 10.0.0.1")
        .header("User-Agent", "Mozilla/5.0 (test)")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let lead = app.lead("+12125550145").await;
    assert_eq!(lead["source"], "webform");
    assert_eq!(lead["consent"]["ip"], "198.51.100.7");
    assert_eq!(lead["consent"]["user_agent"], "Mozilla/5.0 (test)");
    assert_eq!(lead["consent"]["source_url"], "https://acme-realty.example/listings/44");
    assert_eq!(lead["consent"]["granted_at"], "2026-11-26T18:00:00.000Z", "defaults to the app clock");
    let sent = app.twilio.wait_for("+12125550145", 1).await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0].body().contains("44 River St"), "{}", sent[0].body());

    // Unticked: stored without consent, not texted; the IP falls back to the socket.
    let res = app
        .client
        .post(format!("{}/v1/webhooks/webform", app.base))
        .form(&[("phone", "2125550146"), ("consent_text", "..."), ("page_url", "https://acme-realty.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    assert_eq!(app.lead("+12125550146").await["consent"], Value::Null);
    let res = app
        .client
        .post(format!("{}/v1/webhooks/webform", app.base))
        .form(&[("phone", "2125550147"), ("consent", "yes"), ("page_url", "https://acme-realty.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    assert_eq!(app.lead("+12125550147").await["consent"]["ip"], "127.0.0.1");
    assert!(app.twilio.settle("+12125550146").await.is_empty());

    // Web form errors: JSON instead of a form, no phone, a bad consent_at.
    let res = app.post_json("/v1/webhooks/webform", &json!({"phone": "2125550148"})).await;
    assert_eq!(res.status(), 415);
    let res = app.client.post(format!("{}/v1/webhooks/webform", app.base)).form(&[("email", "x@example.com")]).send();
    let (s, _, msg) = error_of(res.await.unwrap()).await;
    assert_eq!(s, 422);
    assert!(msg.contains("phone"), "{msg}");
    let res = app
        .client
        .post(format!("{}/v1/webhooks/webform", app.base))
        .form(&[("phone", "2125550148"), ("consent", "true"), ("consent_at", "yesterday")])
        .send();
    let (s, _, msg) = error_of(res.await.unwrap()).await;
    assert_eq!(s, 422);
    assert!(msg.contains("consent_at"), "{msg}");
    assert_eq!(app.admin_get("/v1/admin/leads/%2B12125550148").await.status(), 404);
    app.stop().await;
}

// ------------------------------------------------------------------------------------------
// Idempotency-Key and signatures.
// ------------------------------------------------------------------------------------------

async fn post_with_key(app: &TestApp, path: &str, key: &str, body: &Value) -> reqwest::Response {
    app.client.post(format!("{}{path}", app.base)).header("Idempotency-Key", key).json(body).send().await.unwrap()
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_response_and_refuses_a_different_body() {
    let app = TestApp::spawn().await;
    let phone = "+12125550151";
    let body = lead_with_consent(phone, "IK-1");
    let first = post_with_key(&app, "/v1/events/leads", "key-1", &body).await;
    assert_eq!(first.status(), 202);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_body = first.text().await.unwrap();

    let replay = post_with_key(&app, "/v1/events/leads", "key-1", &body).await;
    assert_eq!(replay.status(), 202);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.text().await.unwrap(), first_body, "the very same body");
    assert_eq!(app.twilio.settle(phone).await.len(), 1, "one first text");

    // The same key for a different request.
    let mut other = body.clone();
    other["first_name"] = json!("Someone Else");
    let (s, code, _) = error_of(post_with_key(&app, "/v1/events/leads", "key-1", &other).await).await;
    assert_eq!((s, code.as_str()), (422, "idempotency_key_reused"));
    let (s, code, _) = error_of(post_with_key(&app, "/v1/events/crm", "key-1", &body).await).await;
    assert_eq!((s, code.as_str()), (422, "idempotency_key_reused"), "another endpoint is another request");
    assert_eq!(app.lead(phone).await["first_name"], "Ana");

    // A 4xx is replayed too; the key covers the MLS endpoint as well.
    let bad = json!({"listing_id": "L1", "change": "nope"});
    assert_eq!(post_with_key(&app, "/v1/events/mls", "key-2", &bad).await.status(), 422);
    let again = post_with_key(&app, "/v1/events/mls", "key-2", &bad).await;
    assert_eq!((again.status().as_u16(), again.headers()["idempotent-replayed"].to_str().unwrap()), (422, "true"));
    let change = json!({"listing_id": "MLS-123", "change": "price_drop", "new_price": 440000});
    let res: Value = post_with_key(&app, "/v1/events/mls", "key-3", &change).await.json().await.unwrap();
    assert_eq!(res["applied"], 1);
    let res = post_with_key(&app, "/v1/events/mls", "key-3", &change).await;
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(res.json::<Value>().await.unwrap()["applied"], 1, "the first answer, not a new fan-out");

    // An unusable key is a 400.
    let res = post_with_key(&app, "/v1/events/leads", &"k".repeat(300), &body).await;
    assert_eq!(error_of(res).await.1, "invalid_idempotency_key");

    // Keys expire after idempotency.ttl_hours (72): then the key is free again.
    app.clock.advance(chrono::Duration::hours(73));
    let later = json!({"source": "website", "phone": "+12125550152"});
    assert_eq!(post_with_key(&app, "/v1/events/leads", "key-1", &later).await.status(), 202);
    assert_eq!(app.lead("+12125550152").await["status"], "NEW");
    app.stop().await;
}

const WEBHOOK_SECRET: &str = "whsec-test-1";

async fn post_signed(app: &TestApp, path: &str, body: &Value, signature: Option<String>) -> reqwest::Response {
    let raw = serde_json::to_vec(body).unwrap();
    let mut req =
        app.client.post(format!("{}{path}", app.base)).header("content-type", "application/json").body(raw.clone());
    if let Some(sig) = signature {
        req = req.header("X-Leadline-Signature", sig);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn with_a_webhook_secret_every_event_must_be_signed() {
    let app = TestApp::spawn_with_secrets(|_| {}, |sec| sec.webhook_secret = Some(WEBHOOK_SECRET.into())).await;
    let phone = "+12125550161";
    let body = lead_with_consent(phone, "SIG-1");
    let raw = serde_json::to_vec(&body).unwrap();

    for sig in [None, Some(leadline_signature(&raw, "wrong-secret")), Some("sha256=zz".into())] {
        let (s, code, msg) = error_of(post_signed(&app, "/v1/events/leads", &body, sig).await).await;
        assert_eq!((s, code.as_str()), (403, "invalid_signature"), "{msg}");
    }
    let crm = json!({"phone": phone, "status": "closed"});
    assert_eq!(post_signed(&app, "/v1/events/crm", &crm, None).await.status(), 403);
    let mls = json!({"listing_id": "MLS-123", "change": "price_drop", "new_price": 1});
    assert_eq!(post_signed(&app, "/v1/events/mls", &mls, None).await.status(), 403);
    assert_eq!(app.admin_get(&format!("/v1/admin/leads/{}", urlencode(phone))).await.status(), 404, "nothing changed");
    assert!(app.twilio.settle(phone).await.is_empty());

    // A forged request with an Idempotency-Key does not poison the key.
    let forged = app
        .client
        .post(format!("{}/v1/events/leads", app.base))
        .header("Idempotency-Key", "sig-key")
        .header("X-Leadline-Signature", leadline_signature(&raw, "wrong-secret"))
        .header("content-type", "application/json")
        .body(raw.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    let signed = app
        .client
        .post(format!("{}/v1/events/leads", app.base))
        .header("Idempotency-Key", "sig-key")
        .header("X-Leadline-Signature", leadline_signature(&raw, WEBHOOK_SECRET))
        .header("content-type", "application/json")
        .body(raw.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 202);
    assert!(signed.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.twilio.wait_for(phone, 1).await.len(), 1);

    // Adapters: the signature, or the per-source URL key; another source's key is refused.
    let zillow = json!({"name": "Kim Ray", "phone": "2125550162", "leadId": "Z-SIG"});
    assert_eq!(app.post_json("/v1/webhooks/zillow", &zillow).await.status(), 403);
    let wrong = format!("/v1/webhooks/zillow?key={}", url_key(WEBHOOK_SECRET, "realtor"));
    assert_eq!(app.post_json(&wrong, &zillow).await.status(), 403);
    let right = format!("/v1/webhooks/zillow?key={}", url_key(WEBHOOK_SECRET, "zillow"));
    assert_eq!(app.post_json(&right, &zillow).await.status(), 202);
    let zraw = serde_json::to_vec(&zillow).unwrap();
    let sig = leadline_signature(&zraw, WEBHOOK_SECRET);
    assert_eq!(post_signed(&app, "/v1/webhooks/zillow", &zillow, Some(sig)).await.status(), 202);
    // Unprotected routes are unaffected.
    assert_eq!(app.client.get(format!("{}/healthz", app.base)).send().await.unwrap().status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn serve_refuses_a_public_bind_without_a_webhook_secret_unless_allowed() {
    let twilio = super::fake_twilio::FakeTwilio::start().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = || Arc::new(ManualClock::new(weekday_midday()));
    let base_secrets = || Secrets {
        admin_token: Some(ADMIN_TOKEN.into()),
        twilio_auth_token: Some(TWILIO_TOKEN.into()),
        ..Secrets::default()
    };
    let public = |sub: &str| {
        let mut s = test_settings(&dir.path().join(sub), &twilio);
        s.server.bind = "0.0.0.0:0".parse().unwrap();
        s
    };

    let err = match Application::build(public("a"), base_secrets(), clock()).await {
        Ok(_) => panic!("a public bind without a secret must be refused"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("LEADLINE_WEBHOOK_SECRET") && err.contains("server.allow_unsigned_webhooks"), "{err}");

    let mut allowed = public("b");
    allowed.server.allow_unsigned_webhooks = true;
    Application::build(allowed, base_secrets(), clock()).await.expect("explicitly allowed").stop().await.unwrap();

    let secrets = Secrets { webhook_secret: Some(WEBHOOK_SECRET.into()), ..base_secrets() };
    Application::build(public("c"), secrets, clock()).await.expect("with a secret").stop().await.unwrap();
}
