//! `GET /v1/openapi.json`: a valid OpenAPI 3.1 document that lists exactly the routes the
//! router serves.
//!
//! The router registers each route with its operation (`http::routes`, utoipa-axum), so the
//! document is generated from the route list itself. Here:
//! - the document's operations must equal [`ROUTES`], the public contract that integrations
//!   depend on, minus [`UNDOCUMENTED`], both directions (a route removed or renamed fails);
//! - a request to every documented operation must reach a route: never the router's 404
//!   `no such route`, its 405 `method_not_allowed`, or the admin page's own 404.

use super::helpers::{TestApp, ADMIN_TOKEN};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Every route the router serves: (method, path in axum syntax), the public contract.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/v1/openapi.json"),
    ("POST", "/v1/twilio/inbound"),
    ("POST", "/v1/twilio/status"),
    ("POST", "/v1/events/leads"),
    ("POST", "/v1/events/crm"),
    ("POST", "/v1/events/interest"),
    ("POST", "/v1/events/mls"),
    ("POST", "/v1/webhooks/realtor"),
    ("POST", "/v1/webhooks/zillow"),
    ("POST", "/v1/webhooks/webform"),
    ("POST", "/v1/webhooks/followupboss"),
    ("GET", "/v1/admin/leads"),
    ("GET", "/v1/admin/stats"),
    ("GET", "/v1/admin/leads/{phone}"),
    ("GET", "/v1/admin/leads/{phone}/timeline"),
    ("POST", "/v1/admin/leads/{phone}/freeze"),
    ("POST", "/v1/admin/leads/{phone}/unfreeze"),
    ("POST", "/v1/admin/leads/{phone}/opt-out"),
    ("GET", "/v1/admin/leads/{phone}/consent"),
    ("GET", "/v1/admin/suppressions"),
    ("POST", "/v1/admin/suppressions/import"),
    ("GET", "/v1/admin/suppressions/{phone}"),
    ("PUT", "/v1/admin/suppressions/{phone}"),
    ("DELETE", "/v1/admin/suppressions/{phone}"),
    ("GET", "/v1/admin/dead-letters"),
    ("POST", "/v1/admin/dead-letters/{id}/retry"),
    ("DELETE", "/v1/admin/dead-letters/{id}"),
    ("GET", "/v1/admin/webhooks/deliveries"),
    ("POST", "/v1/admin/webhooks/deliveries/{id}/replay"),
    ("POST", "/v1/admin/webhooks/test"),
    ("GET", "/v1/admin/fub/writes"),
    ("POST", "/v1/admin/fub/writes/{id}/replay"),
    ("POST", "/v1/admin/backup"),
    ("POST", "/v1/admin/leads/{phone}/messages"),
    ("GET", "/v1/admin/operators"),
    ("POST", "/v1/admin/operators"),
    ("GET", "/v1/admin/operators/{name}"),
    ("PATCH", "/v1/admin/operators/{name}"),
    ("DELETE", "/v1/admin/operators/{name}"),
    ("POST", "/v1/admin/operators/{name}/tokens"),
    ("DELETE", "/v1/admin/operators/{name}/tokens/{token_id}"),
    // The HTML admin pages (listed briefly in the document, tag `admin-ui`).
    ("GET", "/admin"),
    ("GET", "/admin/"),
    ("GET", "/admin/login"),
    ("POST", "/admin/login"),
    ("GET", "/admin/logout"),
    ("POST", "/admin/logout"),
    ("GET", "/admin/leads"),
    ("GET", "/admin/leads/{phone}"),
    ("GET", "/admin/leads/{phone}/freeze"),
    ("POST", "/admin/leads/{phone}/freeze"),
    ("GET", "/admin/leads/{phone}/unfreeze"),
    ("POST", "/admin/leads/{phone}/unfreeze"),
    ("GET", "/admin/leads/{phone}/reply"),
    ("POST", "/admin/leads/{phone}/reply"),
    ("GET", "/admin/operators"),
    ("GET", "/admin/suppressions"),
    ("POST", "/admin/suppressions"),
    ("GET", "/admin/suppressions/import"),
    ("POST", "/admin/suppressions/import"),
    ("GET", "/admin/suppressions/upload"),
    ("POST", "/admin/suppressions/upload"),
    ("GET", "/admin/suppressions/uploads/{id}"),
    ("GET", "/admin/suppressions/{phone}/remove"),
    ("POST", "/admin/suppressions/{phone}/remove"),
    ("GET", "/admin/leads/{phone}/opt-out"),
    ("POST", "/admin/leads/{phone}/opt-out"),
    ("GET", "/admin/leads/{phone}/consent.csv"),
    ("POST", "/admin/operators"),
    ("GET", "/admin/operators/{name}/revoke"),
    ("POST", "/admin/operators/{name}/revoke"),
    ("GET", "/admin/operators/{name}/token"),
    ("POST", "/admin/operators/{name}/token"),
    ("GET", "/admin/operators/{name}/role"),
    ("POST", "/admin/operators/{name}/role"),
    ("GET", "/admin/operators/{name}/password"),
    ("POST", "/admin/operators/{name}/password"),
    ("GET", "/admin/dead-letters"),
    ("GET", "/admin/integrations"),
    ("GET", "/admin/dead-letters/{id}/retry"),
    ("POST", "/admin/dead-letters/{id}/retry"),
    ("GET", "/admin/dead-letters/{id}/discard"),
    ("POST", "/admin/dead-letters/{id}/discard"),
    ("GET", "/admin/{*rest}"),
    ("POST", "/admin/{*rest}"),
];

/// Served but deliberately not in the document (the document's description says so).
const UNDOCUMENTED: &[(&str, &str)] = &[
    // The admin page's own "not found" for any other path under /admin.
    ("GET", "/admin/{*rest}"),
    ("POST", "/admin/{*rest}"),
];

const HTTP_METHODS: [&str; 8] = ["get", "post", "put", "delete", "patch", "head", "options", "trace"];

fn set(routes: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    routes.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect()
}

/// The (METHOD, path) of every operation in a document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in HTTP_METHODS {
            if item.get(m).is_some() {
                out.insert((m.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    out
}

fn assert_same(
    what: &str,
    left_name: &str,
    left: &BTreeSet<(String, String)>,
    right_name: &str,
    right: &BTreeSet<(String, String)>,
) {
    let only_left: Vec<_> = left.difference(right).collect();
    let only_right: Vec<_> = right.difference(left).collect();
    assert!(
        only_left.is_empty() && only_right.is_empty(),
        "{what}: in {left_name} but not in {right_name}: {only_left:?}; in {right_name} but not in {left_name}: {only_right:?}"
    );
}

async fn fetch_document(app: &TestApp) -> Value {
    // No Authorization header: the document is public.
    let res = app.client.get(format!("{}/v1/openapi.json", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(ct.starts_with("application/json"), "content-type {ct}");
    res.json().await.expect("the document is JSON")
}

fn component<'a>(doc: &'a Value, reference: &Value) -> &'a Value {
    let r = reference["$ref"].as_str().unwrap_or_else(|| panic!("expected a $ref, got {reference}"));
    let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected $ref {r}"));
    &doc["components"]["schemas"][name]
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn security_names(op: &Value) -> BTreeSet<String> {
    op["security"].as_array().into_iter().flatten().flat_map(|r| r.as_object().unwrap().keys().cloned()).collect()
}

#[tokio::test]
async fn openapi_document_is_valid_openapi_3_1() {
    let app = TestApp::spawn().await;
    let doc = fetch_document(&app).await;
    let served = serde_json::to_string(&doc).unwrap();

    // It parses as OpenAPI 3.1 (oas3's typed model: paths, operations, parameters, bodies,
    // responses, components and security schemes).
    let spec = oas3::from_json(&served).expect("the document deserialises as an OpenAPI 3.1 spec");
    let version = spec.validate_version().expect("a supported OpenAPI version");
    assert_eq!((version.major, version.minor), (3, 1), "OpenAPI {version}");
    assert_eq!(spec.info.title, "leadline");
    assert!(
        spec.info.description.as_deref().unwrap_or("").contains("/admin"),
        "the description explains the admin pages"
    );
    let mut ids = BTreeSet::new();
    for (path, method, op) in spec.operations() {
        let id = op.operation_id.clone().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id.clone()), "operationId {id} is used twice");
        assert!(!op.tags.is_empty(), "{method} {path} has no tag");
        let responses = op.responses(&spec);
        assert!(!responses.is_empty(), "{method} {path} documents no response");
        op.parameters(&spec).unwrap_or_else(|e| panic!("{method} {path}: parameters do not resolve: {e}"));
        op.request_body(&spec).unwrap_or_else(|e| panic!("{method} {path}: request body does not resolve: {e}"));
        // Every `{param}` in the path is a documented path parameter.
        for name in path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))) {
            let p = op
                .parameter(name, &spec)
                .unwrap()
                .unwrap_or_else(|| panic!("{method} {path}: `{name}` not documented"));
            assert_eq!(p.location, oas3::spec::ParameterIn::Path, "{method} {path}: `{name}`");
        }
    }
    let components = spec.components.as_ref().expect("components");
    for (name, schema) in &components.schemas {
        schema.resolve(&spec).unwrap_or_else(|e| panic!("schema {name} does not resolve: {e}"));
    }

    // Every $ref points at a component that exists.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(doc["components"]["schemas"].get(name).is_some(), "dangling $ref {r}");
    }

    // Security schemes: bearer for the admin API, the three signature headers as apiKey.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["admin_bearer"]["type"], "http");
    assert_eq!(schemes["admin_bearer"]["scheme"], "bearer");
    for (name, header) in [
        ("twilio_signature", "X-Twilio-Signature"),
        ("leadline_signature", "X-Leadline-Signature"),
        ("fub_signature", "FUB-Signature"),
        ("webhook_id", "webhook-id"),
        ("webhook_timestamp", "webhook-timestamp"),
        ("webhook_signature", "webhook-signature"),
    ] {
        assert_eq!(schemes[name]["type"], "apiKey", "{name}");
        assert_eq!(schemes[name]["in"], "header", "{name}");
        assert_eq!(schemes[name]["name"], header, "{name}");
    }
    let ops: BTreeMap<(String, String), &Value> = documented(&doc)
        .into_iter()
        .map(|(m, p)| {
            let op = &doc["paths"][&p][m.to_ascii_lowercase()];
            ((m, p), op)
        })
        .collect();
    let op = |m: &str, p: &str| *ops.get(&(m.to_string(), p.to_string())).unwrap_or_else(|| panic!("{m} {p} missing"));
    for ((m, p), o) in &ops {
        let security = security_names(o);
        if p.starts_with("/v1/admin") {
            assert_eq!(security, BTreeSet::from(["admin_bearer".to_string()]), "{m} {p}");
            assert!(o["responses"].get("401").is_some(), "{m} {p} documents 401");
        }
        if p.starts_with("/v1/twilio/") {
            assert_eq!(security, BTreeSet::from(["twilio_signature".to_string()]), "{m} {p}");
        }
        if p.starts_with("/v1/events/") {
            assert!(security.contains("leadline_signature"), "{m} {p}");
            let body = &o["requestBody"]["content"]["application/json"]["schema"];
            assert!(component(&doc, body)["properties"].is_object(), "{m} {p} has a JSON body schema");
        }
        if p.starts_with("/v1/events/")
            || ["/v1/webhooks/realtor", "/v1/webhooks/zillow", "/v1/webhooks/webform"].contains(&p.as_str())
        {
            // Standard Webhooks: one requirement with all three headers, next to the legacy one.
            let standard = o["security"].as_array().into_iter().flatten().any(|r| {
                let keys: BTreeSet<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
                keys == BTreeSet::from(["webhook_id", "webhook_timestamp", "webhook_signature"])
            });
            assert!(standard && security.contains("leadline_signature"), "{m} {p}: {security:?}");
            assert!(o["responses"].get("401").is_some(), "{m} {p} documents 401");
            let params = o["parameters"].as_array().unwrap_or_else(|| panic!("{m} {p} has parameters"));
            let key = params
                .iter()
                .find(|q| q["name"] == "Idempotency-Key")
                .unwrap_or_else(|| panic!("{m} {p}: Idempotency-Key"));
            assert_eq!(
                (&key["in"], &key["required"], &key["schema"]["type"]),
                (&"header".into(), &false.into(), &"string".into()),
                "{m} {p}"
            );
        }
        if matches!(p.as_str(), "/healthz" | "/readyz" | "/metrics" | "/v1/openapi.json") {
            assert!(security.is_empty(), "{m} {p} is public");
        }
        // JSON errors use the shared error shape.
        for (status, response) in o["responses"].as_object().unwrap() {
            if status.starts_with('4') && !p.starts_with("/admin") {
                let schema = &response["content"]["application/json"]["schema"];
                assert_eq!(schema["$ref"], "#/components/schemas/ErrorBody", "{m} {p} {status}");
            }
        }
    }
    assert_eq!(security_names(op("POST", "/v1/webhooks/followupboss")), BTreeSet::from(["fub_signature".into()]));

    // Twilio webhooks are forms, with Twilio's field names.
    for (path, fields) in [
        ("/v1/twilio/inbound", &["From", "Body", "MessageSid", "To", "AccountSid"][..]),
        ("/v1/twilio/status", &["MessageSid", "MessageStatus", "ErrorCode"][..]),
    ] {
        let body = &op("POST", path)["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
        let props = &component(&doc, body)["properties"];
        for f in fields {
            assert!(props.get(*f).is_some(), "{path}: form field {f}");
        }
    }
    let inbound = component(
        &doc,
        &op("POST", "/v1/twilio/inbound")["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"],
    );
    assert_eq!(inbound["required"], serde_json::json!(["From"]));
    let webform =
        &op("POST", "/v1/webhooks/webform")["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
    assert!(component(&doc, webform)["properties"]["consent"].is_object());
    for path in ["/v1/webhooks/realtor", "/v1/webhooks/zillow", "/v1/webhooks/followupboss"] {
        assert!(op("POST", path)["requestBody"]["content"]["application/json"]["schema"].is_object(), "{path}");
    }

    // The contract's lead body and its required fields.
    let lead = component(&doc, &op("POST", "/v1/events/leads")["requestBody"]["content"]["application/json"]["schema"]);
    assert_eq!(lead["required"], serde_json::json!(["source", "phone"]));
    for f in ["source_lead_id", "first_name", "last_name", "email", "listing", "message", "consent", "occurred_at"] {
        assert!(lead["properties"].get(f).is_some(), "lead body field {f}");
    }

    // Enumerations mirror the code.
    let kinds: Vec<&str> = doc["components"]["schemas"]["ListingChangeKind"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(kinds, leadline::app::listings::CHANGE_KINDS);
    let statuses = doc["components"]["schemas"]["LeadStatus"]["enum"].as_array().unwrap();
    assert_eq!(statuses.len(), 5);
    for s in statuses {
        let s = s.as_str().unwrap();
        let parsed = leadline::app::search::parse_status(s).unwrap_or_else(|| panic!("status {s}"));
        assert_eq!(parsed.as_str(), s);
    }

    // The consent export offers JSON and CSV.
    let consent = &op("GET", "/v1/admin/leads/{phone}/consent")["responses"]["200"]["content"];
    assert!(consent.get("application/json").is_some() && consent.get("text/csv").is_some());
    app.stop().await;
}

#[tokio::test]
async fn openapi_lists_exactly_the_routes_of_the_router() {
    let listed = set(ROUTES);
    assert_eq!(listed.len(), ROUTES.len(), "ROUTES has duplicates");

    let undocumented = set(UNDOCUMENTED);
    assert!(undocumented.is_subset(&listed), "UNDOCUMENTED must be routes");
    let expected: BTreeSet<_> = listed.difference(&undocumented).cloned().collect();

    let app = TestApp::spawn().await;
    let doc = fetch_document(&app).await;
    assert_same(
        "documented operations",
        "ROUTES (less UNDOCUMENTED)",
        &expected,
        "/v1/openapi.json",
        &documented(&doc),
    );
    app.stop().await;
}

/// Whether a response is one of the router's "there is no such route" answers.
async fn misses_every_route(res: reqwest::Response) -> Option<String> {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let code = json["error"]["code"].as_str().unwrap_or("");
    let message = json["error"]["message"].as_str().unwrap_or("");
    match status {
        404 if code == "not_found" && message == "no such route" => Some("404 no such route".into()),
        405 if code == "method_not_allowed" => Some("405 method not allowed".into()),
        404 if text.contains("There is no admin page at this address") => Some("the admin page's 404".into()),
        _ => None,
    }
}

#[tokio::test]
async fn openapi_every_documented_operation_reaches_a_route() {
    let app = TestApp::spawn_with(|s| s.server.rate_limit_per_ip_per_sec = 0).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let send = |method: &str, path: &str| {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        client.request(method, format!("{}{path}", app.base)).bearer_auth(ADMIN_TOKEN).send()
    };

    // The detector itself: unknown paths and methods are recognised.
    assert!(misses_every_route(send("GET", "/v1/no-such-route").await.unwrap()).await.is_some());
    assert!(misses_every_route(send("DELETE", "/v1/events/leads").await.unwrap()).await.is_some());
    assert!(misses_every_route(send("GET", "/admin/no-such-page").await.unwrap()).await.is_some());

    let doc = fetch_document(&app).await;
    let mut probed = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let methods = HTTP_METHODS.map(|m| (m.to_ascii_uppercase(), item.get(m).is_some()));
        // Path parameters get a value no handler accepts, so nothing is changed.
        let concrete: String = path
            .split('/')
            .map(|s| if s.starts_with('{') && s.ends_with('}') { "probe" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for (method, _) in methods.iter().filter(|(_, present)| *present) {
            let res = send(method.as_str(), &concrete).await.unwrap();
            if let Some(why) = misses_every_route(res).await {
                panic!("documented {method} {path} is not served ({method} {concrete} -> {why})");
            }
            probed += 1;
        }
    }
    assert_eq!(probed, ROUTES.len() - UNDOCUMENTED.len(), "every documented operation was probed");
    app.stop().await;
}
