//! `/metrics` for an on-call person: HELP on every family, latency histograms with buckets,
//! process and build-info metrics, bounded label values, and gauges that stay true.
//!
//! All apps of this test binary share one Prometheus recorder (one per process), so these
//! tests look for what their own requests must have added, and never for exact counts of
//! families other tests also touch.

use super::fake_twilio::Reply;
use super::helpers::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

async fn scrape(app: &TestApp) -> String {
    let res = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

/// `# TYPE` lines: family name -> type.
fn types(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| (name.to_string(), kind.trim().to_string()))
        .collect()
}

/// The value of an unlabelled sample.
fn value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Every value of `label` on the samples of `family`.
fn label_values(text: &str, family: &str, label: &str) -> BTreeSet<String> {
    let needle = format!("{label}=\"");
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(family))
        .filter_map(|l| {
            let rest = &l[l.find(&needle)? + needle.len()..];
            Some(rest[..rest.find('"')?].to_string())
        })
        .collect()
}

#[tokio::test]
async fn every_family_has_help_and_latencies_are_histograms_with_buckets() {
    let app = TestApp::spawn().await;
    // Some traffic, so that HTTP, event, decision, flush and gateway families exist.
    assert_eq!(app.client.get(format!("{}/healthz", app.base)).send().await.unwrap().status(), 200);
    let phone = "+12125550391";
    assert_eq!(app.post_lead(&lead_with_consent(phone, "M-1")).await.status(), 202);
    app.wait_timeline(phone, "text_sent").await;
    let text = scrape(&app).await;

    let types = types(&text);
    assert!(types.len() > 20, "{text}");
    let helped: BTreeSet<&str> =
        text.lines().filter_map(|l| l.strip_prefix("# HELP ")).filter_map(|l| l.split(' ').next()).collect();
    let missing: Vec<&String> = types.keys().filter(|name| !helped.contains(name.as_str())).collect();
    assert!(missing.is_empty(), "families without # HELP: {missing:?}");
    // Every sample belongs to a family with a # TYPE (and so a # HELP).
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let name = line.split(['{', ' ']).next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s).filter(|f| types.get(*f).is_some_and(|t| t == "histogram" || t == "summary"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample without # TYPE: {line}");
    }

    // Latencies are histograms with buckets, never summaries.
    for family in ["leadline_http_request_duration_seconds", "leadline_flush_seconds", "leadline_gateway_wait_seconds"]
    {
        assert_eq!(types.get(family).map(String::as_str), Some("histogram"), "{family}");
    }
    assert!(!types.values().any(|t| t == "summary"), "{text}");
    assert!(!text.contains("quantile=\""), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("leadline_http_request_duration_seconds_bucket{")
            && l.contains("route=\"/healthz\"")
            && l.contains("le=\"0.005\"")),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("leadline_flush_seconds_bucket{le=\"10\"}")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("leadline_gateway_wait_seconds_bucket{") && l.contains("le=\"3600\"")));

    // Build info and process metrics.
    let build = format!("leadline_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
    assert!(text.lines().any(|l| l == build), "{build} missing:\n{text}");
    if cfg!(target_os = "linux") {
        for name in ["process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds"] {
            assert!(value(&text, name).is_some_and(|v| v > 0.0), "{name} missing or zero:\n{text}");
        }
        assert!(value(&text, "process_cpu_seconds_total").is_some(), "{text}");
    }
    assert_eq!(value(&text, "leadline_ready"), Some(1.0), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn made_up_methods_and_sources_add_no_label_values() {
    let app = TestApp::spawn().await;
    for i in 1..=50 {
        let method = reqwest::Method::from_bytes(format!("FOO{i}").as_bytes()).unwrap();
        let res = app.client.request(method, format!("{}/healthz", app.base)).send().await.unwrap();
        assert!(res.status().is_client_error(), "FOO{i}: {}", res.status());
    }
    let odd = reqwest::Method::from_bytes(b"BAR").unwrap();
    app.client.request(odd, format!("{}/no/such/route/{}", app.base, 7)).send().await.unwrap();
    // A lead whose caller-supplied source is not a known one.
    let phone = "+12125550392";
    let mut lead = lead_with_consent(phone, "M-2");
    lead["source"] = "made-up-source-4711".into();
    // 202: applied, so its event is counted.
    assert_eq!(app.post_lead(&lead).await.status(), 202);

    let text = scrape(&app).await;
    let methods = label_values(&text, "leadline_http_request_duration_seconds", "method");
    let known: BTreeSet<String> =
        ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "other"].iter().map(|m| m.to_string()).collect();
    assert!(methods.contains("other"), "{methods:?}");
    assert!(methods.is_subset(&known), "unbounded method labels: {:?}", methods.difference(&known).collect::<Vec<_>>());
    assert!(!text.contains("FOO"), "a made-up method reached /metrics");
    let routes = label_values(&text, "leadline_http_request_duration_seconds", "route");
    assert!(routes.contains("unmatched"), "{routes:?}");
    assert!(!routes.iter().any(|r| r.contains("no/such")), "{routes:?}");

    let sources = label_values(&text, "leadline_events_total", "source");
    assert!(sources.contains("other"), "{sources:?}");
    assert!(!text.contains("made-up-source"), "a caller's source reached /metrics");
    app.stop().await;
}

#[tokio::test]
async fn the_dead_letter_gauge_drops_after_a_discard() {
    let app = TestApp::spawn().await;
    let phone = "+12125550393";
    // Not retryable: dead-lettered after one attempt.
    app.twilio.script([Reply::Error(
        400,
        21606,
        "The From phone number is not a valid, SMS-capable inbound phone number",
    )]);
    assert_eq!(app.post_lead(&lead_with_consent(phone, "M-3")).await.status(), 202);
    let mut id = None;
    for _ in 0..250 {
        let v: serde_json::Value = app.admin_get("/v1/admin/dead-letters").await.json().await.unwrap();
        if let Some(dl) = v["dead_letters"].as_array().and_then(|a| a.first()) {
            id = dl["id"].as_str().map(str::to_string);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let id = id.expect("a dead letter");
    assert_eq!(value(&scrape(&app).await, "leadline_dead_letters"), Some(1.0));

    let url = format!("{}/v1/admin/dead-letters/{}", app.base, id.replace('+', "%2B").replace('#', "%23"));
    let res = app.client.delete(&url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(value(&scrape(&app).await, "leadline_dead_letters"), Some(0.0));
    app.stop().await;
}

/// Every metric name used at a call site (`counter!("...")`, `gauge!`, `histogram!`, in this
/// crate and in leadline-core) is described in src/metrics_catalog.rs and listed in
/// docs/metrics.md; so HELP cannot go missing for a family no test happens to emit.
#[test]
fn every_metric_name_in_the_source_is_described_and_documented() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut used = BTreeSet::new();
    let mut stack = vec![root.join("src"), root.join("actors/src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("metrics_catalog.rs") {
                let code = std::fs::read_to_string(&path).unwrap();
                for mac in ["counter!(", "gauge!(", "histogram!("] {
                    for (at, _) in code.match_indices(mac) {
                        let rest = code[at + mac.len()..].trim_start();
                        if let Some(lit) = rest.strip_prefix('"') {
                            used.insert(lit[..lit.find('"').unwrap()].to_string());
                        }
                    }
                }
            }
        }
    }
    assert!(used.len() >= 40, "the scan found too few names: {used:?}");
    let catalog = std::fs::read_to_string(root.join("src/metrics_catalog.rs")).unwrap();
    let docs = std::fs::read_to_string(root.join("docs/metrics.md")).unwrap();
    for name in &used {
        assert!(catalog.contains(&format!("\"{name}\"")), "{name} has no describe_* in src/metrics_catalog.rs");
        assert!(docs.contains(&format!("`{name}`")), "{name} is not listed in docs/metrics.md");
    }

    // The dashboard and the alert rules query only families that exist (a typo there is a
    // silently empty panel or an alert that never fires).
    for file in ["docs/grafana-dashboard.json", "docs/alerts.yml"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let mut referenced = BTreeSet::new();
        for prefix in ["leadline_", "process_"] {
            for (at, _) in text.match_indices(prefix) {
                if at > 0 && text.as_bytes()[at - 1].is_ascii_alphanumeric() {
                    continue;
                }
                let name: String = text[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                    .collect();
                let family = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(&name);
                referenced.insert(family.to_string());
            }
        }
        assert!(referenced.len() >= 5, "{file}: {referenced:?}");
        for family in &referenced {
            assert!(
                docs.contains(&format!("`{family}`")),
                "{file} queries {family}, which docs/metrics.md does not list"
            );
        }
    }
}
