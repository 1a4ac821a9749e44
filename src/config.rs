//! Configuration: the shipped `config.toml` is compiled in as the defaults, the file given
//! with `--config` is layered on top, then `LEADLINE__*` environment variables. Secrets come
//! only from the environment. Unknown keys are errors, so a typo cannot silently disable a rule.

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use leadline_actors::actors::gateway::RetryPolicy;
use leadline_actors::actors::pacer::SendLimits;
use leadline_actors::classify::ClassifierConfig;
use leadline_actors::policy::{ComplianceSettings, CrmSettings, DeliverySettings, PolicySettings, TemplateSources};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
    pub log: LogSettings,
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    pub path: PathBuf,
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

/// Secrets, from the environment only. `Debug` never prints them.
#[derive(Clone, Default)]
pub struct Secrets {
    pub admin_token: Option<String>,
    pub twilio_auth_token: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .field("twilio_auth_token", &self.twilio_auth_token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Secrets {
    pub fn from_env() -> Secrets {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Secrets { admin_token: get("LEADLINE_ADMIN_TOKEN"), twilio_auth_token: get("TWILIO_AUTH_TOKEN") }
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
        if self.server.max_body_bytes == 0 {
            return bad("server.max_body_bytes must be greater than 0".into());
        }
        if !matches!(self.server.public_url.scheme(), "http" | "https") {
            return bad(format!("server.public_url must be http or https, got {}", self.server.public_url));
        }
        for n in &self.gateway.twilio.from_numbers {
            if let Err(e) = leadline_actors::Phone::parse(n) {
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

    /// What the decision core's policy is built from.
    pub fn policy_settings(&self) -> PolicySettings {
        PolicySettings {
            brand: self.brand.name.clone(),
            support: self.brand.support.clone(),
            templates: self.templates.clone(),
            classifier: self.classifier.clone(),
            compliance: self.compliance.clone(),
            crm: self.crm.clone(),
            delivery: self.delivery.clone(),
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
        let built_in = leadline_actors::policy::Policy::default_templates();
        assert_eq!(serde_json::to_value(&s.templates).unwrap(), serde_json::to_value(&built_in).unwrap());
        assert!(leadline_actors::policy::Policy::new(s.policy_settings()).is_ok());
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
