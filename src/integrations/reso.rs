//! RESO Web API poller: finds price and status changes on MLS listings and fans each change
//! out to the leads watching that listing ([`crate::app::listings::apply`]).
//!
//! Runs inside `serve` when `[integrations.reso] enabled = true`, every `interval_secs`
//! (the first poll runs `interval_secs` after start-up; polls never overlap). One poll:
//!
//! 1. `GET {base_url}/{resource}?$filter=ModificationTimestamp gt <watermark − overlap_secs>
//!    &$select=ListingKey,ListPrice,StandardStatus,UnparsedAddress,ModificationTimestamp
//!    [&$top=page_size]`, then every `@odata.nextLink` verbatim (never `$orderby`/`$skip`,
//!    which replication endpoints do not support). A next link to another host is refused
//!    (the bearer token would go with it).
//! 2. Each record is compared with the last seen `{price, status, modification timestamp}` of
//!    its `ListingKey` (`meta` key `reso:listing:<key>`): a status change wins (returning to
//!    `Active` from Pending/ActiveUnderContract/Withdrawn/Expired/Canceled/Hold is
//!    `back_on_market`, anything else `status_change`), else a price change (`price_drop`,
//!    `price_increase`). Statuses are normalised to `StandardStatus` names ("Active Under
//!    Contract" == "ActiveUnderContract"). A record whose price and status did not change
//!    (e.g. one re-read at the boundary timestamp because of the overlap) emits nothing; a
//!    record older than the last one seen for its key is ignored. A listing seen for the first
//!    time emits nothing during the initial sync, and `new_listing` (if Active/ComingSoon)
//!    afterwards.
//! 3. The page's changes are fanned out; only when every lead acknowledged them are the
//!    page's listings and the watermark (`reso:watermark`, the newest `ModificationTimestamp`
//!    seen) stored and flushed. If a fan-out is incomplete the poll stops; the next poll
//!    re-reads the page and the per-lead dedupe keys (which include the record's
//!    `ModificationTimestamp`) keep leads that already got the change from getting it twice.
//!    Servers return replication pages oldest first; the overlap window absorbs timestamp
//!    ties and small reorderings.
//!
//! HTTP 429 and 5xx (and network errors) are retried with the shared backoff
//! ([`crate::integrations::retry`]: `retry_base_ms` doubling, full jitter, at least
//! `Retry-After`, at most `max_backoff_secs`) up to `max_attempts` times per request; then the poll fails and the next one starts over from
//! the stored watermark. Auth: `RESO_TOKEN` as a static bearer token, or OAuth2 client
//! credentials (`token_url`, `client_id`, `RESO_CLIENT_SECRET`, optional `scope`).
//!
//! Metrics: `leadline_reso_polls_total`, `leadline_reso_changes_total{change}`,
//! `leadline_reso_errors_total`.

use crate::app::listings::{self, normalize_status};
use crate::app::App;
use crate::config::{ResoSettings, Secrets};
use crate::integrations::error_chain;
use crate::integrations::retry::{self, Backoff};
use anyhow::{anyhow, bail, Context};
use leadline_core::model::{ListingChange, ListingChangeKind};
use leadline_core::Ts;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub const WATERMARK_KEY: &str = "reso:watermark";
pub const SELECT: &str = "ListingKey,ListPrice,StandardStatus,UnparsedAddress,ModificationTimestamp";

/// Statuses from which a return to `Active` is "back on market".
const BACK_ON_MARKET_FROM: [&str; 6] = ["Pending", "ActiveUnderContract", "Withdrawn", "Expired", "Canceled", "Hold"];

/// The meta key of a listing's last seen state.
pub fn listing_key(listing_key: &str) -> String {
    format!("reso:listing:{listing_key}")
}

/// What the poller remembers about a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenListing {
    pub price: Option<u64>,
    pub status: Option<String>,
    pub modified: Option<Ts>,
}

impl leadline_core::codec::Record for SeenListing {
    const KIND: &'static str = "reso_seen_listing";
    const VERSION: u8 = 1;
}

/// One `Property` record, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: String,
    pub price: Option<u64>,
    pub status: Option<String>,
    pub address: Option<String>,
    pub modified: Option<Ts>,
}

fn parse_ts(raw: &str) -> Option<Ts> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Some(Ts::from(t.with_timezone(&chrono::Utc)));
    }
    // Some servers omit the offset; RESO timestamps are UTC.
    chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|n| Ts::from(n.and_utc()))
}

pub fn parse_record(v: &Value) -> Option<Record> {
    let key = match v.get("ListingKey")? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    if key.is_empty() {
        return None;
    }
    let price = match v.get("ListPrice") {
        Some(Value::Number(n)) => n.as_f64().filter(|p| p.is_finite() && *p >= 0.0).map(|p| p.round() as u64),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok().filter(|p| *p >= 0.0).map(|p| p.round() as u64),
        _ => None,
    };
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    Some(Record {
        key,
        price,
        status: text("StandardStatus").map(normalize_status),
        // Cut, not dropped: the listing change still reaches the leads (docs/limits.md).
        address: text("UnparsedAddress")
            .map(|a| leadline_core::limits::clip(a, leadline_core::limits::ADDRESS_MAX_CHARS)),
        modified: text("ModificationTimestamp").and_then(parse_ts),
    })
}

/// The change between the last seen state and a record, if any (see the module note).
pub fn detect(prev: Option<&SeenListing>, cur: &Record, initial_sync: bool) -> Option<ListingChange> {
    let Some(p) = prev else {
        let listed = matches!(cur.status.as_deref(), Some("Active" | "ComingSoon"));
        return (!initial_sync && listed).then(|| ListingChange {
            listing_id: cur.key.clone(),
            change: ListingChangeKind::NewListing,
            address: cur.address.clone(),
            old_price: None,
            new_price: cur.price,
            old_status: None,
            new_status: cur.status.clone(),
        });
    };
    let change = |kind| ListingChange {
        listing_id: cur.key.clone(),
        change: kind,
        address: cur.address.clone(),
        old_price: p.price,
        new_price: cur.price.or(p.price),
        old_status: p.status.clone(),
        new_status: cur.status.clone().or_else(|| p.status.clone()),
    };
    if let (Some(old), Some(new)) = (p.status.as_deref(), cur.status.as_deref()) {
        if old != new {
            let back = new == "Active" && BACK_ON_MARKET_FROM.contains(&old);
            return Some(change(if back { ListingChangeKind::BackOnMarket } else { ListingChangeKind::StatusChange }));
        }
    }
    match (p.price, cur.price) {
        (Some(old), Some(new)) if new < old => Some(change(ListingChangeKind::PriceDrop)),
        (Some(old), Some(new)) if new > old => Some(change(ListingChangeKind::PriceIncrease)),
        _ => None,
    }
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    pub pages: usize,
    pub records: usize,
    /// Changes detected and fanned out.
    pub changes: usize,
    /// Lead events applied by those fan-outs (duplicates not counted).
    pub lead_events: usize,
    pub watermark: Option<Ts>,
}

type PollReply = oneshot::Sender<Result<PollReport, String>>;

/// The running poller: stop it with [`ResoHandle::stop`], or poll at once with [`ResoHandle::poll_now`].
pub struct ResoHandle {
    task: JoinHandle<()>,
    trigger: mpsc::Sender<PollReply>,
}

impl ResoHandle {
    /// Runs a poll now (after the one in progress, if any) and returns its result.
    pub async fn poll_now(&self) -> Result<PollReport, String> {
        let (tx, rx) = oneshot::channel();
        self.trigger.send(tx).await.map_err(|_| "the RESO poller is not running".to_string())?;
        rx.await.map_err(|_| "the RESO poller stopped".to_string())?
    }

    /// Stops the poller. Safe at any point: a page's state is only stored after its changes
    /// were fanned out, so an interrupted page is simply read again after the restart.
    pub fn stop(self) {
        self.task.abort();
    }
}

enum Auth {
    Bearer(String),
    ClientCredentials { token_url: String, client_id: String, client_secret: String, scope: Option<String> },
}

struct Poller {
    app: App,
    cfg: ResoSettings,
    auth: Auth,
    token: Option<(String, Instant)>,
    http: reqwest::Client,
}

/// Starts the poller if `integrations.reso.enabled`.
pub fn start(app: App, secrets: &Secrets) -> anyhow::Result<Option<ResoHandle>> {
    let cfg = app.settings.integrations.reso.clone();
    if !cfg.enabled {
        return Ok(None);
    }
    let auth = if let Some(token) = secrets.reso_token.clone() {
        Auth::Bearer(token)
    } else if let (false, false, Some(secret)) =
        (cfg.token_url.trim().is_empty(), cfg.client_id.trim().is_empty(), secrets.reso_client_secret.clone())
    {
        Auth::ClientCredentials {
            token_url: cfg.token_url.trim().to_string(),
            client_id: cfg.client_id.trim().to_string(),
            client_secret: secret,
            scope: Some(cfg.scope.trim().to_string()).filter(|s| !s.is_empty()),
        }
    } else {
        bail!(
            "integrations.reso.enabled = true needs credentials: RESO_TOKEN (a bearer token), or \
             integrations.reso.token_url + integrations.reso.client_id and RESO_CLIENT_SECRET (OAuth2 client credentials)"
        );
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(cfg.timeout_ms.max(1)))
        .build()
        .context("cannot build the RESO HTTP client")?;
    let interval = Duration::from_secs(cfg.interval_secs.max(1));
    let mut poller = Poller { app, cfg, auth, token: None, http };
    let (trigger, mut requests) = mpsc::channel::<PollReply>(8);
    let task = tokio::spawn(async move {
        tracing::info!(every_secs = interval.as_secs(), "RESO poller started");
        let mut next = Instant::now() + interval;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {
                    let _ = poller.poll().await;
                    next = Instant::now() + interval;
                }
                request = requests.recv() => match request {
                    Some(reply) => {
                        let _ = reply.send(poller.poll().await);
                    }
                    None => break,
                },
            }
        }
    });
    Ok(Some(ResoHandle { task, trigger }))
}

/// Percent-encodes everything but RFC 3986 unreserved characters (spaces become `%20`,
/// which every OData server reads; `+` is not safe in `$filter`).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The first page's URL for changes after `since`.
pub fn first_url(cfg: &ResoSettings, since: Ts) -> String {
    let filter = format!("ModificationTimestamp gt {}", since.rfc3339());
    let mut url = format!(
        "{}/{}?$filter={}&$select={}",
        cfg.base_url.trim_end_matches('/'),
        cfg.resource.trim_matches('/'),
        encode(&filter),
        encode(SELECT)
    );
    if cfg.page_size > 0 {
        url.push_str(&format!("&$top={}", cfg.page_size));
    }
    url
}

fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme() && a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

impl Poller {
    async fn poll(&mut self) -> Result<PollReport, String> {
        metrics::counter!("leadline_reso_polls_total").increment(1);
        match self.poll_pages().await {
            Ok(r) => {
                tracing::info!(
                    pages = r.pages,
                    records = r.records,
                    changes = r.changes,
                    lead_events = r.lead_events,
                    watermark = ?r.watermark,
                    "RESO poll done"
                );
                Ok(r)
            }
            Err(e) => {
                metrics::counter!("leadline_reso_errors_total").increment(1);
                tracing::error!(error = %format!("{e:#}"), "RESO poll failed; the next poll resumes from the stored watermark");
                Err(format!("{e:#}"))
            }
        }
    }

    async fn poll_pages(&mut self) -> anyhow::Result<PollReport> {
        let store = self.app.store.clone();
        let stored: Option<Ts> = store.meta_get(WATERMARK_KEY)?;
        let initial_sync = stored.is_none();
        let start = match stored {
            Some(w) => w,
            None => parse_ts(self.cfg.initial_watermark.trim())
                .ok_or_else(|| anyhow!("integrations.reso.initial_watermark is not an RFC 3339 timestamp"))?,
        };
        let since = Ts::from(start.0 - chrono::Duration::seconds(self.cfg.overlap_secs as i64));
        let mut report = PollReport { watermark: stored, ..PollReport::default() };
        let mut url = first_url(&self.cfg, since);
        let origin = url::Url::parse(&url).context("integrations.reso.base_url is not a URL")?;
        loop {
            let page = self.get_json(&url).await?;
            let records = page
                .get("value")
                .and_then(Value::as_array)
                .ok_or_else(|| anyhow!("{url}: the answer has no `value` array"))?;
            let mut updates: HashMap<String, SeenListing> = HashMap::new();
            let mut changes: Vec<(ListingChange, Option<Ts>)> = Vec::new();
            let mut page_max: Option<Ts> = None;
            for v in records {
                let Some(rec) = parse_record(v) else {
                    tracing::warn!("RESO record without a ListingKey; skipped");
                    continue;
                };
                report.records += 1;
                page_max = page_max.max(rec.modified);
                let prev = match updates.get(&rec.key) {
                    Some(s) => Some(s.clone()),
                    None => store.meta_get::<SeenListing>(&listing_key(&rec.key))?,
                };
                if let (Some(seen), Some(now)) = (prev.as_ref().and_then(|p| p.modified), rec.modified) {
                    if now < seen {
                        continue; // an older version than the one already processed
                    }
                }
                if let Some(change) = detect(prev.as_ref(), &rec, initial_sync) {
                    changes.push((change, rec.modified));
                }
                let merged = SeenListing {
                    price: rec.price.or(prev.as_ref().and_then(|p| p.price)),
                    status: rec.status.clone().or_else(|| prev.as_ref().and_then(|p| p.status.clone())),
                    modified: rec.modified.or(prev.as_ref().and_then(|p| p.modified)),
                };
                updates.insert(rec.key.clone(), merged);
            }
            for (change, at) in &changes {
                let fanned = listings::apply(&self.app, change, *at, "reso").await?;
                if !fanned.complete() {
                    bail!(
                        "listing {} ({}): {} of {} leads did not acknowledge ({}); the page is read again next poll",
                        change.listing_id,
                        change.change.as_str(),
                        fanned.failed,
                        fanned.leads,
                        fanned.first_error.unwrap_or_default()
                    );
                }
                metrics::counter!("leadline_reso_changes_total", "change" => change.change.as_str()).increment(1);
                tracing::info!(
                    listing = %change.listing_id,
                    change = change.change.as_str(),
                    leads = fanned.leads,
                    applied = fanned.applied,
                    "MLS change fanned out"
                );
                report.changes += 1;
                report.lead_events += fanned.applied;
            }
            // Only now is the page done: remember its listings and move the watermark.
            for (key, seen) in &updates {
                store.meta_put(&listing_key(key), seen)?;
            }
            if let Some(newest) = page_max.filter(|m| Some(*m) > report.watermark) {
                report.watermark = Some(newest);
                store.meta_put(WATERMARK_KEY, &newest)?;
            }
            store.flush().await?;
            report.pages += 1;
            let Some(next) = page.get("@odata.nextLink").and_then(Value::as_str).filter(|n| !n.is_empty()) else {
                break;
            };
            let next_url = url::Url::parse(&url).and_then(|u| u.join(next)).context("invalid @odata.nextLink")?;
            if !same_origin(&origin, &next_url) {
                bail!("@odata.nextLink points to another host ({}); refusing to send the token there", next_url);
            }
            // Verbatim when absolute (the usual case); a relative link is resolved.
            let next = if url::Url::parse(next).is_ok() { next.to_string() } else { next_url.to_string() };
            if next == url {
                bail!("@odata.nextLink repeats the current page ({next})");
            }
            url = next;
        }
        Ok(report)
    }

    async fn bearer(&mut self) -> anyhow::Result<String> {
        let (token_url, client_id, client_secret, scope) = match &self.auth {
            Auth::Bearer(t) => return Ok(t.clone()),
            Auth::ClientCredentials { token_url, client_id, client_secret, scope } => {
                (token_url.clone(), client_id.clone(), client_secret.clone(), scope.clone())
            }
        };
        if let Some((token, until)) = &self.token {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", client_id),
            ("client_secret", client_secret),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let res = self
            .http
            .post(&token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| anyhow!("RESO token request failed: {}", error_chain(&e)))?;
        let status = res.status();
        if !status.is_success() {
            bail!("RESO token endpoint answered HTTP {status} (check client_id and RESO_CLIENT_SECRET)");
        }
        let t: TokenResponse = res.json().await.context("RESO token answer is not a token")?;
        // Refresh a minute early; without expires_in, keep it for 10 minutes.
        let life = t.expires_in.unwrap_or(600).saturating_sub(60).max(1);
        self.token = Some((t.access_token.clone(), Instant::now() + Duration::from_secs(life)));
        Ok(t.access_token)
    }

    /// `retry_base_ms` doubling, at most `max_backoff_secs` (at least one second).
    fn backoff(&self) -> Backoff {
        Backoff::new(
            Duration::from_millis(self.cfg.retry_base_ms),
            Duration::from_secs(self.cfg.max_backoff_secs.max(1)),
        )
    }

    async fn get_json(&mut self, url: &str) -> anyhow::Result<Value> {
        let max_attempts = self.cfg.max_attempts.max(1);
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let token = self.bearer().await?;
            let sent = self.http.get(url).bearer_auth(token).header("Accept", "application/json").send().await;
            let (why, retry_after) = match sent {
                Err(e) => (format!("GET {url}: {}", error_chain(&e)), None),
                Ok(res) => {
                    let status = res.status();
                    if status.is_success() {
                        return res.json().await.with_context(|| format!("GET {url}: the answer is not JSON"));
                    }
                    if status == reqwest::StatusCode::UNAUTHORIZED
                        && matches!(self.auth, Auth::ClientCredentials { .. })
                        && !refreshed
                    {
                        // The token may have been revoked early: get a new one, once.
                        self.token = None;
                        refreshed = true;
                        attempt -= 1;
                        continue;
                    }
                    if status.as_u16() != 429 && !status.is_server_error() {
                        let body: String = res.text().await.unwrap_or_default().chars().take(300).collect();
                        bail!("GET {url}: HTTP {status}: {body}");
                    }
                    (format!("GET {url}: HTTP {status}"), retry::retry_after(res.headers()))
                }
            };
            if attempt >= max_attempts {
                bail!("{why} (gave up after {attempt} attempts)");
            }
            let delay = self.backoff().delay(attempt, retry_after);
            tracing::warn!(attempt, delay_ms = delay.as_millis() as u64, error = %why, "RESO request failed; backing off");
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str, price: Option<u64>, status: Option<&str>) -> Record {
        Record { key: key.into(), price, status: status.map(normalize_status), address: None, modified: None }
    }

    fn seen(price: Option<u64>, status: Option<&str>) -> SeenListing {
        SeenListing { price, status: status.map(str::to_string), modified: None }
    }

    #[test]
    fn statuses_are_normalised_to_standard_names() {
        assert_eq!(normalize_status("Active Under Contract"), "ActiveUnderContract");
        assert_eq!(normalize_status("active_under_contract"), "ActiveUnderContract");
        assert_eq!(normalize_status("ActiveUnderContract"), "ActiveUnderContract");
        assert_eq!(normalize_status(" pending "), "Pending");
        assert_eq!(normalize_status("Cancelled"), "Canceled");
        assert_eq!(normalize_status("Coming Soon"), "ComingSoon");
        assert_eq!(normalize_status("Temp Off Market"), "Temp Off Market");
    }

    #[test]
    fn detects_each_kind_of_change() {
        let kind = |prev: SeenListing, cur: Record| detect(Some(&prev), &cur, false).map(|c| c.change);
        use ListingChangeKind::*;
        assert_eq!(kind(seen(Some(500), Some("Active")), rec("A", Some(450), Some("Active"))), Some(PriceDrop));
        assert_eq!(kind(seen(Some(500), Some("Active")), rec("A", Some(550), Some("Active"))), Some(PriceIncrease));
        assert_eq!(kind(seen(Some(500), Some("Active")), rec("A", Some(500), Some("Pending"))), Some(StatusChange));
        for from in ["Pending", "ActiveUnderContract", "Withdrawn", "Expired", "Canceled", "Hold"] {
            assert_eq!(
                kind(seen(Some(5), Some(from)), rec("A", Some(5), Some("Active"))),
                Some(BackOnMarket),
                "{from}"
            );
        }
        assert_eq!(kind(seen(Some(5), Some("Closed")), rec("A", Some(5), Some("Active"))), Some(StatusChange));
        assert_eq!(kind(seen(Some(5), Some("ComingSoon")), rec("A", Some(5), Some("Active"))), Some(StatusChange));
        // The spelling of a status is not a change.
        assert_eq!(
            kind(seen(Some(5), Some("ActiveUnderContract")), rec("A", Some(5), Some("Active Under Contract"))),
            None
        );
        assert_eq!(kind(seen(Some(5), Some("Active")), rec("A", Some(5), Some("Active"))), None);
        assert_eq!(kind(seen(Some(5), Some("Active")), rec("A", None, None)), None);
        // A status change wins over a simultaneous price change, and carries both prices.
        let c = detect(Some(&seen(Some(500), Some("Pending"))), &rec("A", Some(480), Some("Active")), false).unwrap();
        assert_eq!((c.change, c.old_price, c.new_price), (BackOnMarket, Some(500), Some(480)));
    }

    #[test]
    fn first_sight_is_a_baseline_during_the_initial_sync_and_a_new_listing_after() {
        let r = rec("N", Some(300), Some("Active"));
        assert_eq!(detect(None, &r, true), None);
        assert_eq!(detect(None, &r, false).map(|c| c.change), Some(ListingChangeKind::NewListing));
        assert_eq!(detect(None, &rec("N", Some(300), Some("Closed")), false), None);
    }

    #[test]
    fn records_parse_with_numbers_strings_and_missing_fields() {
        let v = serde_json::json!({"ListingKey": 123, "ListPrice": 450000.0, "StandardStatus": "Active Under Contract",
            "UnparsedAddress": "1 Elm St", "ModificationTimestamp": "2026-11-26T17:00:00.123456Z"});
        let r = parse_record(&v).unwrap();
        assert_eq!(r.key, "123");
        assert_eq!(r.price, Some(450000));
        assert_eq!(r.status.as_deref(), Some("ActiveUnderContract"));
        assert_eq!(r.modified.unwrap().rfc3339(), "2026-11-26T17:00:00.123Z");
        assert!(parse_record(&serde_json::json!({"ListPrice": 1})).is_none());
    }

    #[test]
    fn an_over_long_address_is_cut_and_the_record_kept() {
        let long = "7 Very Long Avenue ".repeat(300);
        let r = parse_record(&serde_json::json!({"ListingKey": "L1", "UnparsedAddress": long})).unwrap();
        let address = r.address.unwrap();
        assert!(address.chars().count() <= leadline_core::limits::ADDRESS_MAX_CHARS);
        assert!(address.starts_with("7 Very Long Avenue 7") && address.ends_with("..."), "{address}");
    }

    #[test]
    fn the_first_url_filters_on_the_watermark_and_never_orders_or_skips() {
        let mut cfg = crate::config::Settings::defaults().unwrap().integrations.reso;
        cfg.base_url = "https://mls.example.com/odata/".into();
        cfg.page_size = 100;
        let since = parse_ts("2026-11-26T17:00:00Z").unwrap();
        let url = first_url(&cfg, since);
        assert_eq!(
            url,
            "https://mls.example.com/odata/Property?$filter=ModificationTimestamp%20gt%202026-11-26T17%3A00%3A00.000Z\
             &$select=ListingKey%2CListPrice%2CStandardStatus%2CUnparsedAddress%2CModificationTimestamp&$top=100"
        );
        assert!(!url.contains("orderby") && !url.contains("skip"));
    }
}
