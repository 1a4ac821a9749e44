//! The admin lead list/search (`GET /v1/admin/leads`) and stats (`GET /v1/admin/stats`).

use super::helpers::*;
use serde_json::{json, Value};

const A: &str = "+12125550101"; // Ana Ruiz, zillow, MLS-123, consent: CONTACTED_SMS
const B: &str = "+12125550102"; // Bob Stone, realtor, MLS-9, no consent: NEW
const C: &str = "+12125550103"; // Carla Ruiz, zillow, MLS-123, then STOP: OPT_OUT
const D: &str = "+12125550104"; // Dan Park, web, MLS-7, frozen
const E: &str = "+12125550105"; // Eve Moss, zillow, no consent, CRM "Closed"

fn lead(phone: &str, first: &str, last: &str, source: &str, listing: &str, consent: bool) -> Value {
    let mut body = lead_with_consent(phone, &format!("S-{phone}"));
    body["first_name"] = json!(first);
    body["last_name"] = json!(last);
    body["source"] = json!(source);
    body["listing"]["id"] = json!(listing);
    if !consent {
        body.as_object_mut().unwrap().remove("consent");
    }
    body
}

async fn five_leads() -> TestApp {
    let app = TestApp::spawn().await;
    for body in [
        lead(A, "Ana", "Ruiz", "zillow", "MLS-123", true),
        lead(B, "Bob", "Stone", "realtor", "MLS-9", false),
        lead(C, "Carla", "Ruiz", "zillow", "MLS-123", true),
        lead(D, "Dan", "Park", "web", "MLS-7", true),
        lead(E, "Eve", "Moss", "zillow", "MLS-8", false),
    ] {
        let res = app.post_lead(&body).await;
        assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    }
    assert_eq!(app.inbound(C, "STOP", "SM-search-1").await.status(), 200);
    // Dan's first text reaches the provider before he is frozen (a freeze that overtakes it
    // cancels it, and a lead whose first text was never sent stays NEW).
    app.wait_timeline(D, "text_sent").await;
    let res = app
        .admin_post(&format!("/v1/admin/leads/{}/freeze", urlencode(D)), Some(json!({"reason": "agent call"})))
        .await;
    assert_eq!(res.status(), 200);
    let res = app.post_json("/v1/events/crm", &json!({"phone": E, "status": "Closed"})).await;
    assert!(res.status().is_success(), "{}", res.status());
    app
}

async fn search(app: &TestApp, query: &str) -> (Vec<String>, Value) {
    let res = app.admin_get(&format!("/v1/admin/leads?{query}")).await;
    assert_eq!(res.status(), 200, "{query}");
    let v: Value = res.json().await.unwrap();
    let phones = v["leads"].as_array().unwrap().iter().map(|l| l["phone"].as_str().unwrap().to_string()).collect();
    (phones, v)
}

#[tokio::test]
async fn admin_search_filters_by_every_criterion() {
    let app = five_leads().await;

    let (all, v) = search(&app, "").await;
    assert_eq!(all, [A, B, C, D, E], "every lead, in phone order");
    assert_eq!(v["next_cursor"], Value::Null);
    let ana = &v["leads"][0];
    assert_eq!(ana["status"], "CONTACTED_SMS");
    assert_eq!(ana["first_name"], "Ana");
    assert_eq!(ana["interests"], json!(["MLS-123"]));
    assert_eq!(ana["frozen"], false);

    let cases: &[(&str, &[&str])] = &[
        ("status=OPT_OUT", &[C]),
        ("status=new", &[B, E]),
        ("status=CONTACTED_SMS", &[A, D]),
        ("frozen=true", &[D]),
        ("frozen=false", &[A, B, C, E]),
        ("crm_status=closed", &[E]),
        ("source=REALTOR", &[B]),
        ("source=zillow", &[A, C, E]),
        ("listing=MLS-123", &[A, C]),
        ("listing=MLS-404", &[]),
        ("q=ruiz", &[A, C]),
        ("q=ANA", &[A]),
        ("q=carla%20ruiz", &[C]),
        ("q=%28212%29%20555-0103", &[C]),
        ("q=0104", &[D]),
        ("q=nobody", &[]),
        ("q=ruiz&status=CONTACTED_SMS", &[A]),
        ("q=&status=&frozen=&source=", &[A, B, C, D, E]),
    ];
    for (query, expected) in cases {
        let (found, v) = search(&app, query).await;
        assert_eq!(found, *expected, "{query}");
        assert_eq!(v["next_cursor"], Value::Null, "{query}");
    }

    let (_, v) = search(&app, "frozen=true").await;
    assert_eq!(v["leads"][0]["frozen_reason"], "agent call");
    app.stop().await;
}

#[tokio::test]
async fn admin_search_pages_with_a_cursor() {
    let app = five_leads().await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=2&cursor={}", urlencode(c)),
            None => "limit=2".to_string(),
        };
        let (phones, v) = search(&app, &query).await;
        assert!(phones.len() <= 2);
        seen.extend(phones.clone());
        pages += 1;
        match v["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(Some(next), phones.last().map(String::as_str), "the cursor is the last phone returned");
                cursor = Some(next.to_string());
            }
            None => break,
        }
        assert!(pages < 10, "paging must end");
    }
    assert_eq!(seen, [A, B, C, D, E], "every lead exactly once, in phone order");
    assert_eq!(pages, 3);

    // A cursor in plain digits works too, and a filter pages over matches only.
    let (phones, v) = search(&app, "source=zillow&limit=1&cursor=12125550101").await;
    assert_eq!(phones, [C]);
    assert_eq!(v["next_cursor"], C);
    let (phones, v) = search(&app, &format!("source=zillow&limit=1&cursor={}", urlencode(C))).await;
    assert_eq!(phones, [E]);
    assert_eq!(v["next_cursor"], Value::Null, "nothing after the last lead");

    // The largest page the schema allows.
    let (phones, _) = search(&app, "limit=200").await;
    assert_eq!(phones.len(), 5);
    app.stop().await;
}

#[tokio::test]
async fn admin_search_rejects_bad_parameters_and_needs_the_token() {
    let app = TestApp::spawn().await;
    let res = app.client.get(format!("{}/v1/admin/leads", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = app.client.get(format!("{}/v1/admin/leads", app.base)).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = app.client.get(format!("{}/v1/admin/stats", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 401);

    for (query, code) in [
        ("status=LOST", "invalid_query"),
        ("frozen=maybe", "invalid_query"),
        ("limit=0", "invalid_query"),
        ("limit=201", "invalid_query"),
        ("limit=100000000", "invalid_query"),
        ("limit=ten", "invalid_query"),
        ("cursor=not-a-phone", "invalid_cursor"),
        ("colour=red", "invalid_query"),
    ] {
        let res = app.admin_get(&format!("/v1/admin/leads?{query}")).await;
        assert_eq!(res.status(), 400, "{query}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{query}: {v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }

    let (phones, v) = search(&app, "").await;
    assert!(phones.is_empty());
    assert_eq!(v["next_cursor"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn admin_stats_counts_leads_actors_dead_letters_and_timers() {
    let app = TestApp::spawn().await;
    let res = app.admin_get("/v1/admin/stats").await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["leads_stored"], 0);
    assert_eq!(v["dead_letters"], 0);
    assert!(v["live_lead_actors"].is_u64(), "{v}");
    assert!(v["timers_scheduled"].is_u64(), "{v}");

    assert_eq!(app.post_lead(&lead(A, "Ana", "Ruiz", "zillow", "MLS-123", true)).await.status(), 202);
    assert_eq!(app.post_lead(&lead(B, "Bob", "Stone", "zillow", "MLS-9", false)).await.status(), 202);
    let v: Value = app.admin_get("/v1/admin/stats").await.json().await.unwrap();
    assert_eq!(v["leads_stored"], 2);
    assert!(v["live_lead_actors"].as_u64().unwrap() >= 1, "the leads just written are live: {v}");
    assert_eq!(v["dead_letters"], 0);
    app.stop().await;
}

/// The admin web page without a browser: sign-in cookie, CSRF, and readable error pages.
#[tokio::test]
async fn admin_page_sessions_csrf_and_error_pages() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post_lead(&lead(A, "Ana", "Ruiz", "zillow", "MLS-123", true)).await.status(), 202);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let url = |p: &str| format!("{}{p}", app.base);

    // Not signed in: pages redirect to the sign-in form, forms are refused.
    let res = http.get(url("/admin")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/admin/login?next=%2Fadmin");
    let res =
        http.post(url(&format!("/admin/leads/{}/freeze", urlencode(A)))).form(&[("reason", "x")]).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("Please sign in again"));

    // A wrong token: 401 with the form again; the right one: a session cookie, not the token.
    let res = http.post(url("/admin/login")).form(&[("token", "wrong")]).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("set-cookie").is_none());
    let res = http
        .post(url("/admin/login"))
        .form(&[("token", ADMIN_TOKEN), ("next", "/admin/leads?q=ana")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/admin/leads?q=ana");
    let set_cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    assert!(!set_cookie.contains(ADMIN_TOKEN));
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let get = |p: String| http.get(url(&p)).header("cookie", &cookie).send();

    // An open redirect is not possible.
    let res = http
        .post(url("/admin/login"))
        .form(&[("token", ADMIN_TOKEN), ("next", "https://evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["location"], "/admin");

    let res = get("/admin/leads?q=ana".into()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = res.text().await.unwrap();
    assert!(html.contains("Ana Ruiz"));

    // Errors are pages with a 4xx, never a 500.
    for (path, status, text) in [
        ("/admin/leads?status=LOST".to_string(), 400, "unknown status"),
        ("/admin/leads/%2B12125559999".to_string(), 404, "no lead with phone"),
        ("/admin/leads/not-a-phone".to_string(), 422, "not a phone number"),
        ("/admin/no-such-page".to_string(), 404, "no admin page"),
    ] {
        let res = get(path.clone()).await.unwrap();
        assert_eq!(res.status(), status, "{path}");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
        let body = res.text().await.unwrap();
        assert!(body.contains(text), "{path}: {body}");
    }

    // A form without the CSRF token is refused and changes nothing.
    let freeze = url(&format!("/admin/leads/{}/freeze", urlencode(A)));
    let res = http.post(&freeze).header("cookie", &cookie).form(&[("reason", "x")]).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let res =
        http.post(&freeze).header("cookie", &cookie).form(&[("reason", "x"), ("csrf", "forged")]).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(app.lead(A).await["frozen"], false);
    let res = http.post(&freeze).header("cookie", &cookie).body(vec![b'a'; 64 * 1024]).send().await.unwrap();
    assert_eq!(res.status(), 413);

    // With the token from the page: frozen, through the same path as the JSON API.
    let html = get(format!("/admin/leads/{}", urlencode(A))).await.unwrap().text().await.unwrap();
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let res = http
        .post(&freeze)
        .header("cookie", &cookie)
        .form(&[("reason", "<b>call first</b>"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let lead = app.lead(A).await;
    assert_eq!(lead["frozen"], true);
    assert_eq!(lead["frozen_reason"], "<b>call first</b>");
    let html = get(format!("/admin/leads/{}?done=frozen", urlencode(A))).await.unwrap().text().await.unwrap();
    assert!(html.contains("&lt;b&gt;call first&lt;"), "the reason is escaped");
    assert!(!html.contains("<b>call first"));

    // A dead letter that does not exist: a readable 404.
    let res = http
        .post(url("/admin/dead-letters/nope/discard"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("no dead letter"));

    // Signing out clears the cookie.
    let res = http.post(url("/admin/logout")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(res.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    app.stop().await;
}
