//! What the brokerage configured: brand, templates and rule settings. Built once at
//! start-up (templates are compiled and checked then) and shared read-only by every actor.

use crate::classify::ClassifierConfig;
use crate::quiet_hours::QuietHoursPolicy;
use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

/// What to do with an automated text over the rolling 24-hour cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OverCap {
    /// Wait until the oldest text in the window is 24 hours old.
    Defer,
    /// Do not send it at all.
    Drop,
}

/// `[compliance]` in config.toml: the rules that vary by law and by brokerage.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComplianceSettings {
    /// Consent older than this no longer counts (18 months by default).
    pub consent_max_age_days: i64,
    /// Automated texts per lead per rolling 24 hours, everywhere (states may be stricter).
    pub max_automated_per_24h: u32,
    pub over_cap: OverCap,
    /// Recipient-local allowed hours: federal window plus state rules.
    pub quiet_hours: QuietHoursPolicy,
}

impl Default for ComplianceSettings {
    fn default() -> Self {
        ComplianceSettings {
            consent_max_age_days: 548,
            max_automated_per_24h: 3,
            over_cap: OverCap::Defer,
            quiet_hours: QuietHoursPolicy::default(),
        }
    }
}

/// Everything a `Policy` is built from.
#[derive(Debug, Clone)]
pub struct PolicySettings {
    pub brand: String,
    pub support: String,
    pub templates: TemplateSources,
    pub classifier: ClassifierConfig,
    pub compliance: ComplianceSettings,
}

/// The texts leadline can send, by template name.
pub const TEMPLATE_NAMES: [&str; 4] = ["first_contact", "opt_out_confirmation", "opt_in_confirmation", "help"];

/// Template sources, as in `[templates]` of config.toml.
#[derive(Debug, Clone, serde::Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSources {
    pub first_contact: String,
    pub opt_out_confirmation: String,
    pub opt_in_confirmation: String,
    pub help: String,
}

/// Variables a template may use.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateVars<'a> {
    pub brand: &'a str,
    pub support: &'a str,
    pub first_name: Option<&'a str>,
    pub property: Option<&'a str>,
}

#[derive(Debug)]
pub struct Policy {
    pub brand: String,
    pub support: String,
    pub classifier: ClassifierConfig,
    pub compliance: ComplianceSettings,
    templates: Environment<'static>,
}

#[derive(Debug, thiserror::Error)]
#[error("{name}: {message}")]
pub struct TemplateError {
    pub name: String,
    pub message: String,
}

impl Policy {
    /// Compiles and test-renders every template; an unknown variable or a first message
    /// without opt-out instructions is an error here rather than a surprise at 9pm.
    pub fn new(settings: PolicySettings) -> Result<Policy, TemplateError> {
        let PolicySettings { brand, support, templates: sources, classifier, compliance } = settings;
        let problems = compliance.quiet_hours.validate();
        if !problems.is_empty() {
            return Err(TemplateError { name: "compliance.quiet_hours".into(), message: problems.join("; ") });
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let pairs = [
            ("first_contact", sources.first_contact),
            ("opt_out_confirmation", sources.opt_out_confirmation),
            ("opt_in_confirmation", sources.opt_in_confirmation),
            ("help", sources.help),
        ];
        for (name, src) in pairs {
            env.add_template_owned(name, src)
                .map_err(|e| TemplateError { name: format!("templates.{name}"), message: e.to_string() })?;
        }
        let policy = Policy { brand, support, classifier, compliance, templates: env };
        let sample = TemplateVars {
            brand: &policy.brand,
            support: &policy.support,
            first_name: Some("Ana"),
            property: Some("123 Main St"),
        };
        for name in TEMPLATE_NAMES {
            let text = policy.render(name, &sample)?;
            if matches!(name, "first_contact" | "help") && !text.to_lowercase().contains("stop") {
                return Err(TemplateError {
                    name: format!("templates.{name}"),
                    message: "must tell the lead how to opt out (e.g. \"Reply STOP to opt out\")".into(),
                });
            }
        }
        Ok(policy)
    }

    pub fn render(&self, name: &str, vars: &TemplateVars<'_>) -> Result<String, TemplateError> {
        let err = |e: minijinja::Error| TemplateError { name: format!("templates.{name}"), message: e.to_string() };
        let tmpl = self.templates.get_template(name).map_err(err)?;
        let text = tmpl.render(vars).map_err(err)?;
        Ok(text.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    /// The built-in templates, used by tests and as config.toml's defaults.
    pub fn default_templates() -> TemplateSources {
        TemplateSources {
            first_contact: "Hi{% if first_name %} {{ first_name }}{% endif %}, this is {{ brand }}{% if property %} about {{ property }}{% endif %}. Thanks for your inquiry! Any questions I can answer? Reply STOP to opt out.".into(),
            opt_out_confirmation: "{{ brand }}: you are unsubscribed and will receive no further messages. Reply START to resubscribe.".into(),
            opt_in_confirmation: "{{ brand }}: you are subscribed again. Msg frequency varies. Msg & data rates may apply. Reply HELP for help, STOP to opt out.".into(),
            help: "{{ brand }}: real-estate updates about homes you asked about. Msg frequency varies. Msg & data rates may apply. Support: {{ support }}. Reply STOP to opt out.".into(),
        }
    }

    /// A policy with the built-in templates (tests, simulations).
    pub fn with_defaults(brand: &str) -> Policy {
        match Policy::new(PolicySettings {
            brand: brand.into(),
            support: "support@example.com".into(),
            templates: Policy::default_templates(),
            classifier: ClassifierConfig::default(),
            compliance: ComplianceSettings::default(),
        }) {
            Ok(p) => p,
            Err(e) => panic!("built-in templates must compile: {e}"),
        }
    }
}
