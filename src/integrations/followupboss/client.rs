//! The Follow Up Boss People API: `GET {api_base}/v1/people...` with the API key as the Basic
//! auth user (<https://docs.followupboss.com/reference/requests-and-responses>), reading the
//! people a notification names.

use super::payload::{PendingEvent, Person};
use crate::app::App;
use crate::integrations::error_chain;
use crate::integrations::retry;
use serde_json::Value;
use std::sync::OnceLock;
use std::time::Duration;

/// Why a step of the worker failed, and whether trying again may help.
#[derive(Debug)]
pub struct Failure {
    pub retryable: bool,
    pub message: String,
    /// FUB's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
}

impl Failure {
    pub fn retry(message: impl Into<String>) -> Self {
        Failure { retryable: true, message: message.into(), retry_after: None }
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        Failure { retryable: false, message: message.into(), retry_after: None }
    }
}

fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

/// The URLs to GET: the notification's `uri` path and query on the configured `api_base`
/// (the API key is only ever sent to `api_base`), else `/v1/people/{id}` per resource id.
pub fn people_urls(api_base: &url::Url, ev: &PendingEvent) -> Vec<String> {
    let base = api_base.as_str().trim_end_matches('/');
    let from_uri =
        ev.uri.as_deref().and_then(|u| url::Url::parse(u).ok()).filter(|u| u.path().starts_with("/v1/people"));
    match from_uri {
        Some(u) => vec![match u.query() {
            Some(q) => format!("{base}{}?{q}", u.path()),
            None => format!("{base}{}", u.path()),
        }],
        None => ev
            .resource_ids
            .iter()
            .filter(|id| id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .map(|id| format!("{base}/v1/people/{id}"))
            .collect(),
    }
}

/// Fetches the people of a notification. A person FUB no longer has (404) is skipped.
pub async fn fetch_people(app: &App, ev: &PendingEvent) -> Result<Vec<Person>, Failure> {
    let cfg = &app.settings.integrations.followupboss;
    let api_key = app.secrets.fub_api_key.clone().ok_or_else(|| Failure::permanent("FUB_API_KEY is not set"))?;
    let mut people = Vec::new();
    for url in people_urls(&cfg.api_base, ev) {
        let mut req = http()
            .get(&url)
            .basic_auth(&api_key, Some(""))
            .header("Accept", "application/json")
            .header("X-System", &cfg.system_name)
            .timeout(Duration::from_millis(cfg.timeout_ms));
        if let Some(key) = app.secrets.fub_system_key.as_deref() {
            req = req.header("X-System-Key", key);
        }
        let res = req.send().await.map_err(|e| Failure::retry(format!("GET {url}: {}", error_chain(&e))))?;
        let status = res.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            tracing::warn!(%url, "Follow Up Boss person not found (deleted?); skipped");
            continue;
        }
        if status.as_u16() == 429 || status.is_server_error() {
            let mut f = Failure::retry(format!("GET {url}: HTTP {status}"));
            f.retry_after = retry::retry_after(res.headers());
            return Err(f);
        }
        if !status.is_success() {
            return Err(Failure::permanent(format!("GET {url}: HTTP {status} (check FUB_API_KEY)")));
        }
        let body: Value = res.json().await.map_err(|e| Failure::permanent(format!("GET {url}: not JSON: {e}")))?;
        match body {
            Value::Object(mut page) => match page.remove("people") {
                Some(Value::Array(list)) => people.extend(list.into_iter().map(Person::from_value)),
                _ if page.contains_key("id") => people.push(Person::from_value(Value::Object(page))),
                _ => return Err(Failure::permanent(format!("GET {url}: neither a person nor a list of people"))),
            },
            _ => return Err(Failure::permanent(format!("GET {url}: neither a person nor a list of people"))),
        }
    }
    Ok(people)
}
