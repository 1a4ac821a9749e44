//! Paged lists: `GET /v1/admin/suppressions` and `GET /v1/admin/dead-letters` take
//! `cursor` + `limit` like the lead list, and say where the next page starts.

use super::helpers::*;
use serde_json::{json, Value};

#[tokio::test]
async fn the_suppression_list_comes_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    let numbers = ["+12125550171", "+12125550172", "+13055550173", "+12125550174", "+12125550175"];
    for n in numbers {
        let res = app
            .client
            .put(format!("{}/v1/admin/suppressions/{}", app.base, urlencode(n)))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"list": "internal_dnc", "reason": "asked"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for page in 0.. {
        let v: Value = app
            .admin_get(&format!("/v1/admin/suppressions?limit=2&cursor={}", urlencode(&cursor)))
            .await
            .json()
            .await
            .unwrap();
        assert!(v["count"].as_u64().unwrap() <= 2);
        seen.extend(v["suppressions"].as_array().unwrap().iter().map(|s| s["phone"].as_str().unwrap().to_string()));
        match v["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
        assert!(page < 5, "paging ends");
    }
    let mut expected: Vec<String> = numbers.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(seen, expected, "every number once, in order");

    // Search by digits; without `limit` everything fits in the default page.
    let v: Value = app.admin_get("/v1/admin/suppressions?q=305").await.json().await.unwrap();
    assert_eq!(v["count"], 1);
    assert_eq!(v["suppressions"][0]["phone"], "+13055550173");
    assert!(v["next_cursor"].is_null());
    let v: Value = app.admin_get("/v1/admin/suppressions").await.json().await.unwrap();
    assert_eq!(v["count"], 5);

    for bad in ["limit=0", "limit=1001", "cursor=nonsense"] {
        let res = app.admin_get(&format!("/v1/admin/suppressions?{bad}")).await;
        assert_eq!(res.status(), 400, "{bad}");
    }
    let res = app.admin_get("/v1/admin/dead-letters?limit=0").await;
    assert_eq!(res.status(), 400);
    let v: Value = app.admin_get("/v1/admin/dead-letters?limit=10").await.json().await.unwrap();
    assert_eq!(v["count"], 0);
    assert!(v["next_cursor"].is_null());
    app.stop().await;
}

#[tokio::test]
async fn leads_newest_first_with_date_filters() {
    let app = TestApp::spawn().await;
    // Three leads on three days (the clock starts 2026-11-26 13:00 in New York).
    let phones = ["+12125550181", "+12125550182", "+12125550183"];
    for (i, p) in phones.iter().enumerate() {
        if i > 0 {
            app.clock.advance(chrono::Duration::days(1));
        }
        assert_eq!(app.post_lead(&lead_with_consent(p, &format!("pg-{i}"))).await.status(), 202);
    }
    let list = |q: &str| {
        let q = q.to_string();
        let app = &app;
        async move {
            let v: Value = app.admin_get(&format!("/v1/admin/leads?{q}")).await.json().await.unwrap();
            let phones: Vec<String> =
                v["leads"].as_array().unwrap().iter().map(|l| l["phone"].as_str().unwrap().to_string()).collect();
            (phones, v["next_cursor"].as_str().map(str::to_string))
        }
    };
    // The API keeps phone order by default; `sort=newest` is newest first, paged.
    assert_eq!(list("").await.0, phones);
    let (first, next) = list("sort=newest&limit=2").await;
    assert_eq!(first, [phones[2], phones[1]]);
    let next = next.expect("a second page");
    let (second, end) = list(&format!("sort=newest&limit=2&cursor={}", next.replace('+', "%2B"))).await;
    assert_eq!((second, end), (vec![phones[0].to_string()], None));
    // Dates are days in [admin] time_zone (New York), both ends included.
    assert_eq!(list("created_from=2026-11-27").await.0, [phones[1], phones[2]]);
    assert_eq!(list("created_to=2026-11-27").await.0, [phones[0], phones[1]]);
    assert_eq!(list("created_from=2026-11-27&created_to=2026-11-27").await.0, [phones[1]]);
    // Last activity moves with follow-ups the scheduler fires, so only its bounds are exact here.
    assert_eq!(list("active_from=2026-11-26").await.0, phones);
    assert!(list("active_to=2026-11-25").await.0.is_empty());
    assert!(list("active_from=2026-12-01T00:00:00Z").await.0.is_empty());
    for bad in ["created_from=yesterday", "sort=oldest", "sort=newest&cursor=%2B12125550181"] {
        assert_eq!(app.admin_get(&format!("/v1/admin/leads?{bad}")).await.status(), 400, "{bad}");
    }
    app.stop().await;
}
