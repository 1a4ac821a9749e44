//! Configuration: the shipped `config.toml` is compiled in as the defaults, the file given
//! with `--config` is layered on top, then `LEADLINE__*` environment variables. Secrets come
//! only from the environment. Unknown keys are errors, so a typo cannot silently disable a rule.

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use leadline_core::actors::gateway::RetryPolicy;
use leadline_core::actors::pacer::SendLimits;
use leadline_core::classify::ClassifierConfig;
use leadline_core::policy::{
    ComplianceSettings, CrmSettings, DeliverySettings, FollowUpStep, PolicySettings, TemplateSources,
};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The largest `server.max_connections` accepted (far above what one process's file
/// descriptors allow).
pub const MAX_CONNECTIONS_LIMIT: usize = 1_000_000;

/// The shipped config.toml: every key's default.
pub const DEFAULT_CONFIG: &str = include_str!("../config.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub storage: StorageSettings,
    pub gateway: GatewaySettings,
    pub twilio_webhooks: TwilioWebhookSettings,
    pub brand: BrandSettings,
    pub templates: TemplateSources,
    pub classifier: ClassifierConfig,
    pub compliance: ComplianceSettings,
    pub crm: CrmSettings,
    pub delivery: DeliverySettings,
    pub scheduler: SchedulerSettings,
    pub follow_ups: Vec<FollowUpStep>,
    pub actors: ActorSettings,
    pub handoff: HandoffSettings,
    pub log: LogSettings,
    pub idempotency: IdempotencySettings,
    pub integrations: IntegrationSettings,
    pub webhooks: WebhookSettings,
    pub cluster: ClusterSettings,
    pub admin: AdminSettings,
}

/// `[cluster]`: cluster mode on NATS JetStream (src/cluster/, docs/cluster.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    pub enabled: bool,
    /// Comma-separated seed URLs (`nats://`, `tls://`).
    pub nats_url: String,
    /// This node's name in leases and `leadline cluster status`; empty: host name + bind port.
    pub node_id: String,
    /// Subjects of the event log: recorded on first start, fixed for the deployment.
    pub partitions: u32,
    /// JetStream replicas of the log and the buckets.
    pub replicas: usize,
    /// The gateway lease and partition ownership: the holder renews the lease and every node
    /// its heartbeat every third of this; another node takes the lease, or a node's
    /// partitions, over when it saw no renewal for this long.
    pub lease_ms: u64,
    /// Log compaction: the gateway lease holder snapshots every shared record once the log
    /// has grown by this many entries since the last snapshot, and older entries are purged
    /// (a new node starts from the snapshot). 0: never (the log is kept for ever).
    pub snapshot_every: u64,
}

/// `[admin]`: the admin page.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// The brokerage's IANA time zone: the admin page shows times in it (and each lead's own
    /// local time beside it). Checked at start-up.
    pub time_zone: String,
    /// The largest CSV upload the do-not-contact page takes (its route's body limit).
    pub upload_max_bytes: usize,
}

impl AdminSettings {
    /// The zone (validated by `Settings::validate`; New York if it somehow is not one).
    pub fn zone(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::America::New_York)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorSettings {
    /// A lead actor idle this long stops; its next message re-activates it from its snapshot.
    pub passivate_after_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffSettings {
    /// Where hand-off notifications are POSTed (JSON, signed with LEADLINE_WEBHOOK_SECRET
    /// when set). Empty: notifications are only on the timeline.
    pub webhook_url: String,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSettings {
    /// How often the durable timers are checked.
    pub tick_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub bind: SocketAddr,
    pub public_url: url::Url,
    pub max_body_bytes: usize,
    pub event_timeout_ms: u64,
    pub shutdown_grace_ms: u64,
    /// Allow serving `/v1/events/*` without `LEADLINE_WEBHOOK_SECRET` on a non-loopback address.
    pub allow_unsigned_webhooks: bool,
    /// Requests per second per client IP on the webhook and admin routes; 0 = no limit.
    pub rate_limit_per_ip_per_sec: u32,
    /// Requests one IP may send at once above the rate (0 = same as the rate).
    pub rate_limit_burst: u32,
    /// Deadline for a whole request (reading the body and handling it); then 503.
    pub request_timeout_ms: u64,
    /// A connection that has not sent a complete request head (request line and headers)
    /// this long after it opened, or after its previous response, is closed.
    pub header_read_timeout_ms: u64,
    /// Connections served at once; further ones wait in the listen backlog until one closes.
    pub max_connections: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    pub path: PathBuf,
    pub durability: leadline_core::storage::Durability,
    pub flush_linger_us: u64,
    pub cache_capacity_mb: u64,
}

impl StorageSettings {
    pub fn store_options(&self) -> leadline_core::storage::StoreOptions {
        leadline_core::storage::StoreOptions {
            durability: self.durability,
            flush_linger: std::time::Duration::from_micros(self.flush_linger_us),
            cache_capacity: self.cache_capacity_mb * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ProviderKind {
    #[serde(rename = "dry-run")]
    DryRun,
    #[serde(rename = "twilio")]
    Twilio,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    pub provider: ProviderKind,
    pub limits: SendLimits,
    pub retry: RetryPolicy,
    pub twilio: TwilioSettings,
    pub dry_run: DryRunSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioSettings {
    pub api_base: url::Url,
    pub account_sid: String,
    pub from_numbers: Vec<String>,
    /// Send through a Messaging Service instead of `from_numbers` (Twilio picks the number).
    pub messaging_service_sid: String,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRunSettings {
    pub record_file: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioWebhookSettings {
    pub verify_signatures: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandSettings {
    pub name: String,
    pub support: String,
    /// Legal names (besides `name`) that consent records may name as the seller.
    #[serde(default)]
    pub legal_names: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdempotencySettings {
    /// How long an `Idempotency-Key` (and an event's dedupe key) is remembered.
    pub ttl_hours: u64,
}

/// Signed inbound webhooks (`/v1/events/*`, the lead-source adapters).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// A Standard Webhooks request is refused (401) when its `webhook-timestamp` is more
    /// than this many seconds before or after the clock.
    pub inbound_tolerance_secs: u64,
    /// Outbound event webhooks (`[[webhooks.subscriptions]]`; or the whole list in
    /// `LEADLINE__WEBHOOKS__SUBSCRIPTIONS`). Empty: no events are derived or queued.
    pub subscriptions: Vec<SubscriptionSettings>,
    /// How outbound events are delivered.
    pub delivery: EventDeliverySettings,
}

/// One outbound event webhook subscriber.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSettings {
    /// Where events are POSTed (http or https).
    pub url: String,
    /// Event types (`text.sent`, `lead.opted_out`, ...; `*` = all of them).
    pub events: Vec<String>,
    /// Standard Webhooks secret(s), `whsec_...`; several (separated by spaces or commas)
    /// during a rotation: every delivery is signed with each.
    #[serde(default)]
    pub secret: String,
    /// The name of an environment variable holding the secret(s) instead of `secret`.
    #[serde(default)]
    pub secret_env: String,
}

impl std::fmt::Debug for SubscriptionSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionSettings")
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &if self.secret.trim().is_empty() { "<unset>" } else { "<set>" })
            .field("secret_env", &self.secret_env)
            .finish()
    }
}

impl SubscriptionSettings {
    /// The secrets: `secret`, else the variable `secret_env` names (read through `env`);
    /// split at spaces and commas.
    pub fn secrets(&self, env: impl Fn(&str) -> Option<String>) -> Result<Vec<String>, String> {
        let raw = if !self.secret.trim().is_empty() {
            self.secret.clone()
        } else if !self.secret_env.trim().is_empty() {
            env(self.secret_env.trim()).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                format!(
                    "webhooks.subscriptions ({}): secret_env names {}, which is not set",
                    self.url,
                    self.secret_env.trim()
                )
            })?
        } else {
            return Err(format!(
                "webhooks.subscriptions ({}): set secret (a Standard Webhooks whsec_... secret) or secret_env",
                self.url
            ));
        };
        Ok(raw.split([' ', ',']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
    }
}

/// Delivery of outbound events: per attempt timeout, retries with backoff, then dead.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventDeliverySettings {
    pub timeout_ms: u64,
    /// Attempts per event and subscription before it becomes a dead delivery.
    pub max_attempts: u32,
    /// The first retry waits up to this long; doubles on every attempt (full jitter, at
    /// least the subscriber's `Retry-After`, at most `max_backoff_secs`).
    pub retry_base_ms: u64,
    pub max_backoff_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationSettings {
    pub followupboss: FollowUpBossSettings,
    pub reso: ResoSettings,
}

/// Follow Up Boss API (people are fetched after a webhook). Keys: `FUB_SYSTEM_KEY`, `FUB_API_KEY`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUpBossSettings {
    pub api_base: url::Url,
    /// Sent as `X-System` (the name your FUB system key is registered under).
    pub system_name: String,
    pub timeout_ms: u64,
    /// Attempts per notification after the acknowledgement (network errors, 429, 5xx).
    pub max_attempts: u32,
    /// Longest wait before the first retry; doubles on every attempt (full jitter, at least
    /// FUB's `Retry-After`, at most `integrations::followupboss::worker::MAX_BACKOFF`).
    pub retry_base_ms: u64,
    pub writeback: FubWritebackSettings,
}

/// Follow Up Boss write-back (with `FUB_API_KEY` set): texts sent and replies received are
/// logged on the lead's FUB person (`POST /v1/textMessages`), an opt-out tags it (and sets
/// a stage), a hand-off adds a note.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FubWritebackSettings {
    pub enabled: bool,
    /// Added to the person on an opt-out (merged with its tags); empty: no tag.
    pub opt_out_tag: String,
    /// The stage the person moves to on an opt-out; empty: the stage is left alone.
    pub opt_out_stage: String,
    /// Attempts per write (network errors, 429, 5xx) before it is dead (admin view).
    pub max_attempts: u32,
    /// A lead with no FUB person is sent to FUB as a lead (`POST /v1/events`, which FUB
    /// de-duplicates by phone) and then linked; off: such leads are skipped.
    pub create_people: bool,
}

/// RESO Web API poller. Credentials: `RESO_TOKEN`, or `token_url` + `client_id` + `RESO_CLIENT_SECRET`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResoSettings {
    pub enabled: bool,
    /// The OData service root, e.g. `https://api.mlsgrid.com/v2`.
    pub base_url: String,
    pub resource: String,
    pub interval_secs: u64,
    /// `$top`; 0 = the server's default page size.
    pub page_size: u32,
    /// Re-read this many seconds before the watermark (timestamp ties; re-reads emit nothing).
    pub overlap_secs: u64,
    /// Where the first sync starts when no watermark is stored (RFC 3339).
    pub initial_watermark: String,
    pub token_url: String,
    pub client_id: String,
    pub scope: String,
    pub timeout_ms: u64,
    pub max_attempts: u32,
    /// Longest wait before the first retry; doubles on every attempt (full jitter, at least
    /// the server's `Retry-After`, at most `max_backoff_secs`).
    pub retry_base_ms: u64,
    pub max_backoff_secs: u64,
}

/// Secrets, from the environment only. `Debug` never prints them.
#[derive(Clone, Default)]
pub struct Secrets {
    pub admin_token: Option<String>,
    pub twilio_auth_token: Option<String>,
    /// `LEADLINE_WEBHOOK_SECRET` (legacy): signs `/v1/events/*` (X-Leadline-Signature).
    pub webhook_secret: Option<String>,
    /// `LEADLINE_WEBHOOK_SECRETS`: Standard Webhooks secrets (`whsec_...`, comma-separated in
    /// the variable; several during a rotation). Start-up refuses malformed ones
    /// (`integrations::standard_webhooks::parse_secrets`).
    pub webhook_secrets: Vec<String>,
    /// `FUB_SYSTEM_KEY`: verifies Follow Up Boss webhooks (FUB-Signature).
    pub fub_system_key: Option<String>,
    /// `FUB_API_KEY`: reads people from the Follow Up Boss API.
    pub fub_api_key: Option<String>,
    /// `RESO_TOKEN`: static bearer token for the RESO Web API.
    pub reso_token: Option<String>,
    /// `RESO_CLIENT_SECRET`: OAuth2 client secret for the RESO Web API.
    pub reso_client_secret: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .field("twilio_auth_token", &self.twilio_auth_token.as_ref().map(|_| "<set>"))
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "<set>"))
            .field("webhook_secrets", &format_args!("<{} set>", self.webhook_secrets.len()))
            .field("fub_system_key", &self.fub_system_key.as_ref().map(|_| "<set>"))
            .field("fub_api_key", &self.fub_api_key.as_ref().map(|_| "<set>"))
            .field("reso_token", &self.reso_token.as_ref().map(|_| "<set>"))
            .field("reso_client_secret", &self.reso_client_secret.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Secrets {
    pub fn from_env() -> Secrets {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Secrets {
            admin_token: get("LEADLINE_ADMIN_TOKEN"),
            twilio_auth_token: get("TWILIO_AUTH_TOKEN"),
            webhook_secret: get("LEADLINE_WEBHOOK_SECRET"),
            webhook_secrets: get("LEADLINE_WEBHOOK_SECRETS").map(|v| split_secrets(&v)).unwrap_or_default(),
            fub_system_key: get("FUB_SYSTEM_KEY"),
            fub_api_key: get("FUB_API_KEY"),
            reso_token: get("RESO_TOKEN"),
            reso_client_secret: get("RESO_CLIENT_SECRET"),
        }
    }
}

/// `LEADLINE_WEBHOOK_SECRETS`: the comma-separated entries, trimmed. An empty entry is kept
/// (as "") so start-up names it as malformed rather than silently skipping it.
pub fn split_secrets(value: &str) -> Vec<String> {
    value.split(',').map(|s| s.trim().to_string()).collect()
}

impl Secrets {
    /// Whether any webhook secret (legacy or Standard Webhooks) is set: then every request
    /// to `/v1/events/*` and the lead-source adapters must be signed.
    pub fn signs_webhooks(&self) -> bool {
        self.webhook_secret.is_some() || !self.webhook_secrets.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Built-in defaults, then `path` (if given), then `LEADLINE__*` variables.
    pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut fig = Figment::from(Toml::string(DEFAULT_CONFIG));
        if let Some(path) = path {
            if !path.exists() {
                return Err(ConfigError::Missing(path.to_path_buf()));
            }
            fig = fig.merge(Toml::file_exact(path));
        }
        Self::from_figment(fig.merge(Env::prefixed("LEADLINE__").split("__")))
    }

    /// What every command reads: `--config` if given (it must exist), else `./config.toml` if
    /// it exists in the working directory, else only the built-in defaults; then `LEADLINE__*`.
    pub fn load_for_command(config: Option<&Path>) -> Result<Settings, ConfigError> {
        let local = Path::new("config.toml");
        Self::load(config.or(local.exists().then_some(local)))
    }

    /// Only the built-in defaults (tests build on this).
    pub fn defaults() -> Result<Settings, ConfigError> {
        Self::from_figment(Figment::from(Toml::string(DEFAULT_CONFIG)))
    }

    fn from_figment(fig: Figment) -> Result<Settings, ConfigError> {
        let mut s: Settings = fig.extract().map_err(|e| {
            // figment names the key ("for key `server.bind`"); show every error, one per line.
            ConfigError::Invalid(e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))
        })?;
        if let Ok(sid) = std::env::var("TWILIO_ACCOUNT_SID") {
            if !sid.trim().is_empty() {
                s.gateway.twilio.account_sid = sid;
            }
        }
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        self.validate_integrations().map_err(ConfigError::Invalid)?;
        if self.admin.time_zone.parse::<chrono_tz::Tz>().is_err() {
            return bad(format!(
                "admin.time_zone must be an IANA time zone such as America/New_York, got '{}'",
                self.admin.time_zone
            ));
        }
        if self.gateway.limits.max_concurrent_sends == 0 {
            return bad("gateway.limits.max_concurrent_sends must be greater than 0".into());
        }
        if self.cluster.enabled {
            if !(1..=4096).contains(&self.cluster.partitions) {
                return bad(format!("cluster.partitions must be 1 to 4096, got {}", self.cluster.partitions));
            }
            if !(1..=5).contains(&self.cluster.replicas) {
                return bad(format!("cluster.replicas must be 1 to 5, got {}", self.cluster.replicas));
            }
            if self.cluster.lease_ms < 500 {
                return bad(format!("cluster.lease_ms must be at least 500, got {}", self.cluster.lease_ms));
            }
            if self.cluster.nats_url.trim().is_empty() {
                return bad("cluster.nats_url must name at least one NATS server".into());
            }
        }
        if self.storage.flush_linger_us > 100_000 {
            return bad(format!(
                "storage.flush_linger_us must be at most 100000 (0.1 s), got {}",
                self.storage.flush_linger_us
            ));
        }
        if self.storage.cache_capacity_mb == 0 {
            return bad("storage.cache_capacity_mb must be greater than 0".into());
        }
        if self.server.request_timeout_ms == 0 {
            return bad("server.request_timeout_ms must be greater than 0".into());
        }
        if self.server.header_read_timeout_ms == 0 {
            return bad("server.header_read_timeout_ms must be greater than 0".into());
        }
        if !(1..=MAX_CONNECTIONS_LIMIT).contains(&self.server.max_connections) {
            return bad(format!(
                "server.max_connections must be between 1 and {MAX_CONNECTIONS_LIMIT}, got {}",
                self.server.max_connections
            ));
        }
        if self.server.max_body_bytes == 0 {
            return bad("server.max_body_bytes must be greater than 0".into());
        }
        if !matches!(self.server.public_url.scheme(), "http" | "https") {
            return bad(format!("server.public_url must be http or https, got {}", self.server.public_url));
        }
        for n in &self.gateway.twilio.from_numbers {
            if let Err(e) = leadline_core::Phone::parse(n) {
                return bad(format!("gateway.twilio.from_numbers: {e}"));
            }
        }
        if self.gateway.provider == ProviderKind::Twilio {
            if self.gateway.twilio.account_sid.trim().is_empty() {
                return bad(
                    "gateway.twilio.account_sid (or TWILIO_ACCOUNT_SID) is required when gateway.provider = \"twilio\""
                        .into(),
                );
            }
            let t = &self.gateway.twilio;
            if t.from_numbers.is_empty() && t.messaging_service_sid.trim().is_empty() {
                return bad(
                    "gateway.twilio.from_numbers (or messaging_service_sid) is required when gateway.provider = \"twilio\""
                        .into(),
                );
            }
        }
        Ok(())
    }

    fn validate_integrations(&self) -> Result<(), String> {
        if self.idempotency.ttl_hours == 0 {
            return Err("idempotency.ttl_hours must be greater than 0".into());
        }
        let tolerance = self.webhooks.inbound_tolerance_secs;
        // A webhook-id must be remembered for as long as a captured request could still pass
        // the timestamp check (tolerance before and after), or it could be replayed.
        if tolerance == 0 || tolerance.saturating_mul(2) >= self.idempotency.ttl_hours.saturating_mul(3600) {
            return Err(format!(
                "webhooks.inbound_tolerance_secs must be greater than 0 and less than half of \
                 idempotency.ttl_hours ({} h, which is how long a webhook-id is remembered), got {tolerance}",
                self.idempotency.ttl_hours
            ));
        }
        self.validate_subscriptions()?;
        let f = &self.integrations.followupboss;
        if !matches!(f.api_base.scheme(), "http" | "https") {
            return Err(format!("integrations.followupboss.api_base must be http or https, got {}", f.api_base));
        }
        let r = &self.integrations.reso;
        if chrono::DateTime::parse_from_rfc3339(r.initial_watermark.trim()).is_err() {
            return Err(format!(
                "integrations.reso.initial_watermark must be an RFC 3339 timestamp, got '{}'",
                r.initial_watermark
            ));
        }
        if r.enabled {
            let web = url::Url::parse(r.base_url.trim()).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !web {
                let why = "integrations.reso.base_url must be an http(s) URL when integrations.reso.enabled = true";
                return Err(format!("{why}, got '{}'", r.base_url));
            }
            if r.resource.trim().is_empty() {
                return Err("integrations.reso.resource must not be empty".into());
            }
            if r.interval_secs == 0 {
                return Err("integrations.reso.interval_secs must be greater than 0".into());
            }
            if !r.token_url.trim().is_empty() && url::Url::parse(r.token_url.trim()).is_err() {
                return Err(format!("integrations.reso.token_url is not a URL: '{}'", r.token_url));
            }
        }
        Ok(())
    }

    fn validate_subscriptions(&self) -> Result<(), String> {
        let d = &self.webhooks.delivery;
        if d.max_attempts == 0 || d.timeout_ms == 0 || d.retry_base_ms == 0 || d.max_backoff_secs == 0 {
            return Err("webhooks.delivery: timeout_ms, max_attempts, retry_base_ms and max_backoff_secs must be greater than 0".into());
        }
        let mut urls = std::collections::HashSet::new();
        for s in &self.webhooks.subscriptions {
            let web = url::Url::parse(s.url.trim()).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !web {
                return Err(format!("webhooks.subscriptions: url must be an http(s) URL, got '{}'", s.url));
            }
            if !urls.insert(s.url.trim().to_string()) {
                return Err(format!("webhooks.subscriptions: {} is listed twice (one subscription per URL)", s.url));
            }
            if s.events.is_empty() {
                return Err(format!("webhooks.subscriptions ({}): events must not be empty", s.url));
            }
            let known = |e: &str| e == "*" || leadline_core::lead_events::EVENT_TYPES.contains(&e);
            if let Some(bad) = s.events.iter().find(|e| !known(e.as_str())) {
                return Err(format!(
                    "webhooks.subscriptions ({}): unknown event type '{bad}' (known: {}, or * for all)",
                    s.url,
                    leadline_core::lead_events::EVENT_TYPES.join(", ")
                ));
            }
            if s.secret.trim().is_empty() && s.secret_env.trim().is_empty() {
                return Err(format!(
                    "webhooks.subscriptions ({}): set secret (a Standard Webhooks whsec_... secret) or secret_env",
                    s.url
                ));
            }
        }
        Ok(())
    }

    /// What the decision core's policy is built from.
    pub fn policy_settings(&self) -> PolicySettings {
        PolicySettings {
            brand: self.brand.name.clone(),
            legal_names: self.brand.legal_names.clone(),
            support: self.brand.support.clone(),
            templates: self.templates.clone(),
            classifier: self.classifier.clone(),
            compliance: self.compliance.clone(),
            crm: self.crm.clone(),
            delivery: self.delivery.clone(),
            follow_ups: self.follow_ups.clone(),
        }
    }

    /// Where the dry-run provider writes.
    pub fn dry_run_file(&self) -> PathBuf {
        if self.gateway.dry_run.record_file.is_absolute() {
            self.gateway.dry_run.record_file.clone()
        } else {
            self.storage.path.join(&self.gateway.dry_run.record_file)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_config_is_valid_and_its_templates_match_the_built_in_ones() {
        let s = Settings::defaults().unwrap();
        let built_in = leadline_core::policy::Policy::default_templates();
        assert_eq!(serde_json::to_value(&s.templates).unwrap(), serde_json::to_value(&built_in).unwrap());
        assert!(leadline_core::policy::Policy::new(s.policy_settings()).is_ok());
    }

    #[test]
    fn sled_cache_capacity_reaches_the_store_and_must_be_positive() {
        let s = Settings::defaults().unwrap();
        assert_eq!(s.storage.store_options().cache_capacity, leadline_core::storage::DEFAULT_CACHE_BYTES);
        let fig = Figment::from(Toml::string(DEFAULT_CONFIG)).merge(Toml::string("[storage]\ncache_capacity_mb = 64"));
        assert_eq!(Settings::from_figment(fig).unwrap().storage.store_options().cache_capacity, 64 << 20);
        let fig = Figment::from(Toml::string(DEFAULT_CONFIG)).merge(Toml::string("[storage]\ncache_capacity_mb = 0"));
        let err = Settings::from_figment(fig).unwrap_err().to_string();
        assert!(err.contains("cache_capacity_mb"), "{err}");
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let fig =
            Figment::from(Toml::string(DEFAULT_CONFIG)).merge(Toml::string("[server]\nmax_body_bytes = \"lots\""));
        let err = Settings::from_figment(fig).unwrap_err().to_string();
        assert!(err.contains("server.max_body_bytes"), "{err}");
        let fig = Figment::from(Toml::string(DEFAULT_CONFIG)).merge(Toml::string("[gateway]\nprovidr = \"x\""));
        let err = Settings::from_figment(fig).unwrap_err().to_string();
        assert!(err.contains("providr"), "{err}");
        for (toml, key) in [
            ("[server]\nheader_read_timeout_ms = 0", "server.header_read_timeout_ms"),
            ("[server]\nmax_connections = 0", "server.max_connections"),
            ("[server]\nmax_connections = 2000000", "server.max_connections"),
        ] {
            let fig = Figment::from(Toml::string(DEFAULT_CONFIG)).merge(Toml::string(toml));
            let err = Settings::from_figment(fig).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own signature
    fn environment_overrides_any_key_including_lists() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LEADLINE__SERVER__BIND", "0.0.0.0:9999");
            jail.set_env("LEADLINE__GATEWAY__TWILIO__FROM_NUMBERS", r#"["+12125550100"]"#);
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.server.bind.port(), 9999);
            assert_eq!(s.gateway.twilio.from_numbers, vec!["+12125550100".to_string()]);
            Ok(())
        });
    }
}

#[cfg(test)]
mod blackout_config_tests {
    use super::*;

    #[test]
    fn blackouts_take_quoted_dates_and_toml_date_literals() {
        for dates in ["from = \"2026-12-01\"\nto = \"2026-12-03\"", "from = 2026-12-01\nto = 2026-12-03"] {
            let extra = format!("[[compliance.blackouts]]\nstates = [\"FL\"]\n{dates}\n");
            let fig = Figment::from(Toml::string(DEFAULT_CONFIG)).merge(Toml::string(&extra));
            let s = Settings::from_figment(fig).unwrap_or_else(|e| panic!("{dates}: {e}"));
            let b = &s.compliance.blackouts[0];
            assert_eq!(b.from.to_string(), "2026-12-01");
            assert_eq!(b.to.to_string(), "2026-12-03");
        }
    }
}

#[cfg(test)]
mod webhook_config_tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own signature
    fn subscriptions_come_from_toml_or_from_one_environment_variable() {
        assert!(Settings::defaults().unwrap().webhooks.subscriptions.is_empty());
        let toml = format!(
            "[[webhooks.subscriptions]]\nurl = \"https://hooks.example.com/a\"\nevents = [\"text.sent\", \"lead.opted_out\"]\nsecret = \"{SECRET}\"\n\n[[webhooks.subscriptions]]\nurl = \"https://hooks.example.com/b\"\nevents = [\"*\"]\nsecret_env = \"HOOK_B_SECRET\"\n"
        );
        let fig = Figment::from(Toml::string(DEFAULT_CONFIG)).merge(Toml::string(&toml));
        let s = Settings::from_figment(fig).unwrap();
        assert_eq!(s.webhooks.subscriptions.len(), 2);
        assert_eq!(s.webhooks.subscriptions[0].secrets(|_| None).unwrap(), [SECRET]);
        let b = &s.webhooks.subscriptions[1];
        let env = |k: &str| (k == "HOOK_B_SECRET").then(|| format!("{SECRET}, {SECRET}x"));
        assert_eq!(b.secrets(env).unwrap(), [SECRET.to_string(), format!("{SECRET}x")]);
        assert!(b.secrets(|_| None).unwrap_err().contains("HOOK_B_SECRET"));
        assert!(!format!("{s:?}").contains(SECRET), "Debug prints no secret");

        figment::Jail::expect_with(|jail| {
            let value = format!(
                r#"[{{url = "https://hooks.example.com/env", events = ["text.sent", "lead.replied"], secret = "{SECRET}"}}]"#
            );
            jail.set_env("LEADLINE__WEBHOOKS__SUBSCRIPTIONS", value);
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            let sub = &s.webhooks.subscriptions[0];
            assert_eq!(sub.url, "https://hooks.example.com/env");
            assert_eq!(sub.events, ["text.sent", "lead.replied"]);
            assert_eq!(sub.secrets(|_| None).unwrap(), [SECRET]);
            Ok(())
        });
    }

    #[test]
    fn a_bad_subscription_is_refused_with_its_reason() {
        for (extra, why) in [
            ("url = \"ftp://x\"\nevents = [\"*\"]\nsecret = \"s\"", "http(s) URL"),
            ("url = \"https://x\"\nevents = []\nsecret = \"s\"", "events must not be empty"),
            ("url = \"https://x\"\nevents = [\"text.snt\"]\nsecret = \"s\"", "unknown event type 'text.snt'"),
            ("url = \"https://x\"\nevents = [\"*\"]", "set secret"),
        ] {
            let toml = format!("[[webhooks.subscriptions]]\n{extra}\n");
            let fig = Figment::from(Toml::string(DEFAULT_CONFIG)).merge(Toml::string(&toml));
            let err = Settings::from_figment(fig).unwrap_err().to_string();
            assert!(err.contains(why), "{extra}: {err}");
        }
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own signature
    fn inbound_tolerance_defaults_to_300_and_the_environment_overrides_it() {
        assert_eq!(Settings::defaults().unwrap().webhooks.inbound_tolerance_secs, 300);
        figment::Jail::expect_with(|jail| {
            jail.set_env("LEADLINE__WEBHOOKS__INBOUND_TOLERANCE_SECS", "60");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.webhooks.inbound_tolerance_secs, 60);
            Ok(())
        });
    }

    #[test]
    fn inbound_tolerance_must_be_positive_and_shorter_than_the_replay_memory() {
        for toml in [
            "[webhooks]\ninbound_tolerance_secs = 0",
            // 2 x 36 h = the whole 72 h a webhook-id is remembered.
            "[webhooks]\ninbound_tolerance_secs = 129600",
            "[idempotency]\nttl_hours = 1\n[webhooks]\ninbound_tolerance_secs = 1800",
        ] {
            let fig = Figment::from(Toml::string(DEFAULT_CONFIG)).merge(Toml::string(toml));
            let err = Settings::from_figment(fig).unwrap_err().to_string();
            assert!(err.contains("webhooks.inbound_tolerance_secs"), "{toml}: {err}");
        }
        let fig = Figment::from(Toml::string(DEFAULT_CONFIG))
            .merge(Toml::string("[idempotency]\nttl_hours = 1\n[webhooks]\ninbound_tolerance_secs = 1799"));
        assert_eq!(Settings::from_figment(fig).unwrap().webhooks.inbound_tolerance_secs, 1799);
    }

    #[test]
    fn webhook_secrets_split_at_commas_and_never_print() {
        assert_eq!(split_secrets(" whsec_a , whsec_b"), vec!["whsec_a".to_string(), "whsec_b".to_string()]);
        assert_eq!(split_secrets("whsec_a,"), vec!["whsec_a".to_string(), String::new()], "kept, so start-up names it");
        let s = Secrets { webhook_secrets: split_secrets("whsec_topsecret"), ..Secrets::default() };
        assert!(s.signs_webhooks());
        assert!(!format!("{s:?}").contains("topsecret"));
        assert!(!Secrets::default().signs_webhooks());
    }
}
