//! The API's contract, as an integrator meets it: media types, error shapes, query
//! validation, authentication challenges, and real replies checked against the schemas the
//! served OpenAPI document gives for them.

use super::helpers::{lead_with_consent, urlencode, TestApp, ADMIN_TOKEN};
use serde_json::{json, Value};

/// `(status, error.code, error.message)` of an error reply; panics if it is not our JSON shape.
async fn error_reply(res: reqwest::Response) -> (u16, String, String) {
    let status = res.status().as_u16();
    let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body: Value = res.json().await.unwrap_or_else(|e| panic!("{status}: not JSON ({ct}): {e}"));
    let code = body["error"]["code"].as_str().unwrap_or_else(|| panic!("no error.code in {body}")).to_string();
    let message = body["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(ct.starts_with("application/json"), "{status} {code}: content-type {ct}");
    (status, code, message)
}

#[tokio::test]
async fn json_endpoints_refuse_other_media_types_with_415() {
    let app = TestApp::spawn().await;
    let body = lead_with_consent("+12125550140", "CT-1").to_string();
    let post = |ct: Option<&str>| {
        let req = app.client.post(format!("{}/v1/events/leads", app.base)).body(body.clone());
        match ct {
            Some(ct) => req.header("content-type", ct),
            None => req,
        }
        .send()
    };
    for ct in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let (status, code, message) = error_reply(post(ct).await.unwrap()).await;
        assert_eq!((status, code.as_str()), (415, "unsupported_media_type"), "{ct:?}");
        assert!(message.contains("application/json"), "{message}");
    }
    // JSON with parameters, or a +json type, is JSON.
    assert_eq!(post(Some("application/json; charset=utf-8")).await.unwrap().status(), 202);
    let other = lead_with_consent("+12125550141", "CT-2").to_string();
    let res = app
        .client
        .post(format!("{}/v1/events/leads", app.base))
        .header("content-type", "application/vnd.leadline+json")
        .body(other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);

    // A command whose body is optional takes no body without a Content-Type, but a body
    // must be JSON.
    let freeze = format!("{}/v1/admin/leads/{}/freeze", app.base, urlencode("+12125550140"));
    let res = app.client.post(&freeze).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .post(&freeze)
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "text/plain")
        .body(r#"{"reason": "x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(error_reply(res).await.1, "unsupported_media_type");
    app.stop().await;
}

#[tokio::test]
async fn bodies_are_json_objects_and_errors_name_the_field() {
    let app = TestApp::spawn().await;
    let post = |body: &'static str| {
        app.client
            .post(format!("{}/v1/events/leads", app.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let (status, code, _) = error_reply(post(r#"{"source": "zillow", "phone": "#).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (400, "malformed_json"));
    // An array is not the documented object (serde alone would read it field by field).
    let (status, code, message) = error_reply(post(r#"["zillow", "+12125550142"]"#).await.unwrap()).await;
    assert_eq!((status, code.as_str(), message.as_str()), (422, "invalid_body", "the body must be a JSON object"));
    let (status, code, message) = error_reply(
        post(r#"{"source": "zillow", "phone": "+12125550142", "listing": {"price": "cheap"}}"#).await.unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (422, "invalid_body"));
    assert!(message.starts_with("`listing.price`:"), "{message}");
    let (_, code, message) = error_reply(post(r#"{"phone": "+12125550142"}"#).await.unwrap()).await;
    assert_eq!(code, "invalid_body");
    assert!(message.contains("missing field `source`"), "{message}");
    app.stop().await;
}

#[tokio::test]
async fn query_errors_are_json_400s_and_limits_are_enforced() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post_lead(&lead_with_consent("+12125550143", "Q-1")).await.status(), 202);
    let timeline = format!("/v1/admin/leads/{}/timeline", urlencode("+12125550143"));
    for query in ["limit=abc", "limit=0", "limit=1001", "after=-1", "colour=red"] {
        let (status, code, message) = error_reply(app.admin_get(&format!("{timeline}?{query}")).await).await;
        assert_eq!((status, code.as_str()), (400, "invalid_query"), "{query}: {message}");
    }
    let res = app.admin_get(&format!("{timeline}?limit=1000&after=0")).await;
    assert_eq!(res.status(), 200);
    let (status, code, _) = error_reply(app.admin_get("/v1/admin/leads?limit=201").await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_query"));
    let (status, code, _) = error_reply(app.admin_get("/v1/admin/suppressions?lists=x").await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_query"));
    app.stop().await;
}

#[tokio::test]
async fn a_401_says_how_to_authenticate() {
    let app = TestApp::spawn().await;
    for auth in [None, Some("wrong")] {
        let req = app.client.get(format!("{}/v1/admin/stats", app.base));
        let req = match auth {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let res = req.send().await.unwrap();
        let challenge = res.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        assert!(challenge.starts_with("Bearer"), "{auth:?}: WWW-Authenticate = {challenge:?}");
        assert_eq!(error_reply(res).await.1, "unauthorized");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_lead_and_the_consent_export_show_the_same_consent_rows() {
    let app = TestApp::spawn().await;
    let phone = "+12125550144";
    assert_eq!(app.post_lead(&lead_with_consent(phone, "CH-1")).await.status(), 202);
    assert_eq!(app.inbound(phone, "STOP", "SM-CH-1").await.status(), 200);
    let lead = app.lead(phone).await;
    let export: Value =
        app.admin_get(&format!("/v1/admin/leads/{}/consent", urlencode(phone))).await.json().await.unwrap();
    assert_eq!(lead["consent_history"], export["history"]);
    let events: Vec<&str> =
        export["history"].as_array().unwrap().iter().map(|r| r["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["granted", "revoked"]);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------
// Real replies against their documented schemas
// ---------------------------------------------------------------------------------------

/// Resolves a `$ref` into the document's components.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            let target = &doc["components"]["schemas"][name];
            assert!(target.is_object(), "dangling reference {r}");
            resolve(doc, target)
        }
        None => schema,
    }
}

fn type_matches(ty: &str, v: &Value) -> bool {
    match ty {
        "null" => v.is_null(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    }
}

/// Checks `v` against `schema`: types, enums, required properties, array items, and (the
/// drift this test is for) no property the schema does not declare. Returns the problems.
fn check(doc: &Value, schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        // `#[serde(flatten)]`: the parts together describe one object.
        let mut merged = json!({"type": "object", "properties": {}, "required": []});
        for part in all {
            let part = resolve(doc, part);
            for (k, p) in part["properties"].as_object().into_iter().flatten() {
                merged["properties"][k] = p.clone();
            }
            for r in part["required"].as_array().into_iter().flatten() {
                merged["required"].as_array_mut().unwrap().push(r.clone());
            }
        }
        return check(doc, &merged, v, at, out);
    }
    if let Some(any) = schema.get("oneOf").or(schema.get("anyOf")).and_then(Value::as_array) {
        let fits = any.iter().any(|s| {
            let mut errs = Vec::new();
            check(doc, s, v, at, &mut errs);
            errs.is_empty()
        });
        if !fits {
            out.push(format!("{at}: {v} fits none of the alternatives"));
        }
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() && !types.iter().any(|t| type_matches(t, v)) {
        out.push(format!("{at}: {v} is not of type {types:?}"));
        return;
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        if !v.is_null() && !values.contains(v) {
            out.push(format!("{at}: {v} is not one of {values:?}"));
        }
    }
    if let (Some(obj), Some(props)) = (v.as_object(), schema.get("properties").and_then(Value::as_object)) {
        for r in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !obj.contains_key(r) {
                out.push(format!("{at}: required property `{r}` is missing"));
            }
        }
        for (k, val) in obj {
            match props.get(k) {
                Some(p) => check(doc, p, val, &format!("{at}.{k}"), out),
                None => out.push(format!("{at}: property `{k}` is not in the schema")),
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            check(doc, items, item, &format!("{at}[{i}]"), out);
        }
    }
}

/// The schema the document gives for `method path` answering `status` as JSON.
fn response_schema<'a>(doc: &'a Value, method: &str, path: &str, status: u16) -> &'a Value {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is not documented");
    let schema = &op["responses"][status.to_string()]["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{method} {path} documents no JSON reply for {status}");
    schema
}

#[tokio::test]
async fn real_replies_match_their_documented_schemas() {
    let app = TestApp::spawn().await;
    let doc: Value =
        app.client.get(format!("{}/v1/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
    let phone = "+12125550145";
    let enc = urlencode(phone);
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut expect = |method: &str, path: &str, status: u16, reply: &Value| {
        check(
            &doc,
            response_schema(&doc, method, path, status),
            reply,
            &format!("{method} {path} {status}"),
            &mut problems,
        );
        checked += 1;
    };

    // Events and the lead they make.
    let res = app.post_lead(&lead_with_consent(phone, "SCH-1")).await;
    assert_eq!(res.status(), 202);
    expect("post", "/v1/events/leads", 202, &res.json().await.unwrap());
    let res = app
        .post_json(
            "/v1/events/crm",
            &json!({"phone": phone, "status": "Active Client", "listing_id": "MLS-9", "listing_action": "saved"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    expect("post", "/v1/events/crm", 202, &res.json().await.unwrap());
    let res =
        app.post_json("/v1/events/interest", &json!({"phone": phone, "listing_id": "MLS-8", "how": "viewed"})).await;
    assert_eq!(res.status(), 202);
    expect("post", "/v1/events/interest", 202, &res.json().await.unwrap());
    let res = app
        .post_json("/v1/events/mls", &json!({"listing_id": "MLS-9", "change": "price_drop", "new_price": 400000}))
        .await;
    assert_eq!(res.status(), 202);
    expect("post", "/v1/events/mls", 202, &res.json().await.unwrap());
    app.twilio.settle(phone).await;

    // The admin API.
    let res = app.admin_get(&format!("/v1/admin/leads/{enc}")).await;
    expect("get", "/v1/admin/leads/{phone}", 200, &res.json().await.unwrap());
    let res = app.admin_get(&format!("/v1/admin/leads/{enc}/timeline?limit=3")).await;
    expect("get", "/v1/admin/leads/{phone}/timeline", 200, &res.json().await.unwrap());
    let res = app.admin_get("/v1/admin/leads?limit=5").await;
    expect("get", "/v1/admin/leads", 200, &res.json().await.unwrap());
    let res = app.admin_get("/v1/admin/stats").await;
    expect("get", "/v1/admin/stats", 200, &res.json().await.unwrap());
    let res = app.admin_post(&format!("/v1/admin/leads/{enc}/freeze"), Some(json!({"reason": "call"}))).await;
    expect("post", "/v1/admin/leads/{phone}/freeze", 200, &res.json().await.unwrap());
    let res =
        app.admin_post(&format!("/v1/admin/leads/{enc}/opt-out"), Some(json!({"reason": "asked by email"}))).await;
    expect("post", "/v1/admin/leads/{phone}/opt-out", 200, &res.json().await.unwrap());
    let res = app.admin_get(&format!("/v1/admin/leads/{enc}/consent")).await;
    expect("get", "/v1/admin/leads/{phone}/consent", 200, &res.json().await.unwrap());
    let res = app.admin_get("/v1/admin/dead-letters").await;
    expect("get", "/v1/admin/dead-letters", 200, &res.json().await.unwrap());

    // The suppression list.
    let other = urlencode("+12125550146");
    let put = |body: Value| {
        app.client
            .put(format!("{}/v1/admin/suppressions/{other}", app.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    let res = put(json!({"list": "litigator"})).await.unwrap();
    assert_eq!(res.status(), 201);
    expect("put", "/v1/admin/suppressions/{phone}", 201, &res.json().await.unwrap());
    let res = put(json!({"reason": "asked twice"})).await.unwrap();
    assert_eq!(res.status(), 200);
    expect("put", "/v1/admin/suppressions/{phone}", 200, &res.json().await.unwrap());
    let res = app.admin_get(&format!("/v1/admin/suppressions/{other}")).await;
    expect("get", "/v1/admin/suppressions/{phone}", 200, &res.json().await.unwrap());
    let res = app.admin_get("/v1/admin/suppressions").await;
    expect("get", "/v1/admin/suppressions", 200, &res.json().await.unwrap());
    let res = app
        .client
        .delete(format!("{}/v1/admin/suppressions/{other}", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    expect("delete", "/v1/admin/suppressions/{phone}", 200, &res.json().await.unwrap());

    // Health and errors.
    let res = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
    expect("get", "/healthz", 200, &res.json().await.unwrap());
    let res = app.client.get(format!("{}/readyz", app.base)).send().await.unwrap();
    expect("get", "/readyz", 200, &res.json().await.unwrap());
    let res = app.admin_get("/v1/admin/leads/%2B12125550199").await;
    assert_eq!(res.status(), 404);
    expect("get", "/v1/admin/leads/{phone}", 404, &res.json().await.unwrap());
    let res = app.post_json("/v1/events/leads", &json!({"source": "x", "phone": "12"})).await;
    assert_eq!(res.status(), 422);
    expect("post", "/v1/events/leads", 422, &res.json().await.unwrap());

    // The checker itself finds drift.
    let mut found = Vec::new();
    let applied = response_schema(&doc, "post", "/v1/events/leads", 202);
    check(
        &doc,
        applied,
        &json!({"phone": "+1", "status": "NEW", "duplicate": false, "decisions": [], "extra": 1}),
        "probe",
        &mut found,
    );
    check(
        &doc,
        applied,
        &json!({"phone": "+1", "status": "LOST", "duplicate": false, "decisions": []}),
        "probe",
        &mut found,
    );
    check(&doc, applied, &json!({"phone": "+1", "status": "NEW", "decisions": []}), "probe", &mut found);
    assert_eq!(found.len(), 3, "{found:?}");

    assert!(problems.is_empty(), "{checked} replies checked: {problems:#?}");
    assert_eq!(checked, 21);
    app.stop().await;
}
