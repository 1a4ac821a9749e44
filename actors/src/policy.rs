//! What the brokerage configured: brand, templates and rule settings. Built once at
//! start-up (templates are compiled and checked then) and shared read-only by every actor.

use crate::classify::ClassifierConfig;
use crate::consent::{ConsentRequirements, SellerNames, SourcePolicies};
use crate::content;
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
    /// Countries whose numbers may be texted (`US` includes the US territories in the +1
    /// plan; `CA` is opt-in). Other numbers are stored but never texted.
    pub allowed_countries: Vec<String>,
    /// What a lead's own consent record must carry.
    pub consent: ConsentRequirements,
    /// Per-source consent policy (`[compliance.sources.<source>]`).
    pub sources: SourcePolicies,
    /// The first text of each source must also state message frequency, "Msg & data rates
    /// may apply" and HELP (CTIA Messaging Principles and Best Practices, 5.1.2).
    pub require_ctia_disclosures: bool,
    /// Operator-declared blackout dates per state (`[[compliance.blackouts]]`), e.g. a state of emergency.
    pub blackouts: Vec<crate::quiet_hours::Blackout>,
}

impl Default for ComplianceSettings {
    fn default() -> Self {
        ComplianceSettings {
            consent_max_age_days: 548,
            max_automated_per_24h: 3,
            over_cap: OverCap::Defer,
            quiet_hours: QuietHoursPolicy::default(),
            allowed_countries: vec!["US".into()],
            consent: ConsentRequirements::default(),
            sources: SourcePolicies::default(),
            require_ctia_disclosures: true,
            blackouts: Vec::new(),
        }
    }
}

/// One step of the follow-up sequence (`[[follow_ups]]` in config.toml).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUpStep {
    /// Hours after the first text (not after the previous step).
    pub after_hours: u32,
    /// minijinja template, same variables as the first text.
    pub template: String,
}

/// Everything a `Policy` is built from.
#[derive(Debug, Clone)]
pub struct PolicySettings {
    pub brand: String,
    /// The brokerage's legal names (besides `brand`) that consent records may name.
    pub legal_names: Vec<String>,
    pub support: String,
    pub templates: TemplateSources,
    pub classifier: ClassifierConfig,
    pub compliance: ComplianceSettings,
    pub crm: CrmSettings,
    pub delivery: DeliverySettings,
    pub follow_ups: Vec<FollowUpStep>,
}

impl PolicySettings {
    /// The built-in templates and rules under `brand` (tests, simulations).
    pub fn built_in(brand: &str) -> PolicySettings {
        PolicySettings {
            brand: brand.into(),
            legal_names: Vec::new(),
            support: "support@example.com".into(),
            templates: Policy::default_templates(),
            classifier: ClassifierConfig::default(),
            compliance: ComplianceSettings::default(),
            crm: CrmSettings::default(),
            delivery: DeliverySettings::default(),
            follow_ups: Policy::default_follow_ups(),
        }
    }
}

/// Template sources, as in `[templates]` of config.toml. An empty template means "send
/// nothing for this trigger" (allowed for the listing alerts only).
#[derive(Debug, Clone, serde::Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSources {
    pub first_contact: String,
    pub opt_out_confirmation: String,
    pub opt_in_confirmation: String,
    pub help: String,
    pub listing_price_drop: String,
    pub listing_price_increase: String,
    pub listing_under_contract: String,
    pub listing_status_change: String,
    pub listing_back_on_market: String,
    pub listing_new: String,
    /// First texts per lead source (`source` of the lead), instead of `first_contact`.
    #[serde(default)]
    pub first_contact_by_source: std::collections::BTreeMap<String, String>,
    /// A text sent when the CRM moves a lead to this status (e.g. `nurture`), through the gate.
    #[serde(default)]
    pub crm_status: std::collections::BTreeMap<String, String>,
}

impl TemplateSources {
    /// The per-source and per-CRM-status templates, under their registered names.
    fn keyed(&self) -> Vec<(String, String)> {
        let by_source = self.first_contact_by_source.iter().map(|(k, v)| (first_contact_template(k), v.clone()));
        let by_status = self.crm_status.iter().map(|(k, v)| (crm_template(k), v.clone()));
        by_source.chain(by_status).collect()
    }

    fn named(self) -> [(&'static str, String); 10] {
        [
            ("first_contact", self.first_contact),
            ("opt_out_confirmation", self.opt_out_confirmation),
            ("opt_in_confirmation", self.opt_in_confirmation),
            ("help", self.help),
            ("listing_price_drop", self.listing_price_drop),
            ("listing_price_increase", self.listing_price_increase),
            ("listing_under_contract", self.listing_under_contract),
            ("listing_status_change", self.listing_status_change),
            ("listing_back_on_market", self.listing_back_on_market),
            ("listing_new", self.listing_new),
        ]
    }
}

/// Templates that may be left empty to disable that trigger.
const OPTIONAL_TEMPLATES: [&str; 6] = [
    "listing_price_drop",
    "listing_price_increase",
    "listing_under_contract",
    "listing_status_change",
    "listing_back_on_market",
    "listing_new",
];

/// Templates that answer the lead (required replies); every other template is automated.
const REPLY_TEMPLATES: [&str; 3] = ["opt_out_confirmation", "opt_in_confirmation", "help"];

/// Where a template is configured, for error messages: `first_contact.zillow` ->
/// `templates.first_contact_by_source.zillow`, `follow_up_1` -> `follow_ups[0].template`.
fn template_key(name: &str) -> String {
    if let Some(source) = name.strip_prefix("first_contact.") {
        return format!("templates.first_contact_by_source.{source}");
    }
    if let Some(status) = name.strip_prefix("crm.") {
        return format!("templates.crm_status.{status}");
    }
    if let Some(n) = name.strip_prefix("follow_up_").and_then(|n| n.parse::<usize>().ok()) {
        return format!("follow_ups[{}].template", n.saturating_sub(1));
    }
    format!("templates.{name}")
}

/// A declared source must say what its form discloses, and that text must name us.
fn check_source_policies(compliance: &ComplianceSettings, names: &SellerNames) -> Result<(), TemplateError> {
    for (source, p) in compliance.sources.iter() {
        if p.consent != crate::consent::SourceConsent::Declared {
            continue;
        }
        if names.named_in(&p.disclosure).is_none() {
            return Err(TemplateError {
                name: format!("compliance.sources.{source}.disclosure"),
                message: format!(
                    "a declared source's disclosure must be the consent wording its form shows, naming the brokerage ({})",
                    names.display()
                ),
            });
        }
    }
    Ok(())
}

fn check_allowed_countries(allowed: &[String]) -> Result<(), TemplateError> {
    crate::numbers::validate_allowed(allowed)
        .map_err(|message| TemplateError { name: "compliance.allowed_countries".into(), message })
}

/// Variables a template may use. Prices are already formatted for people ("$450,000").
#[derive(Debug, Clone, Default, Serialize)]
pub struct TemplateVars<'a> {
    pub brand: &'a str,
    pub support: &'a str,
    pub first_name: Option<&'a str>,
    pub agent: Option<&'a str>,
    /// The property the conversation is about (address, or listing id if no address).
    pub property: Option<&'a str>,
    pub old_price: Option<String>,
    pub new_price: Option<String>,
    /// Human form of the listing's new status ("under contract").
    pub status: Option<String>,
}

/// `[crm]`: which CRM statuses change automation (matched case-insensitively, spaces and
/// dashes read as underscores).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrmSettings {
    /// Stop follow-up sequences (a person is on it), listing alerts still go.
    pub halt_followups: Vec<String>,
    /// Stop every automated text.
    pub halt_all: Vec<String>,
    /// Hand the lead back to automation (an ENGAGED lead becomes CONTACTED_SMS).
    pub resume: Vec<String>,
    /// Put the number on the suppression list (only an operator's removal lifts it).
    pub suppress_on: Vec<String>,
}

impl Default for CrmSettings {
    fn default() -> Self {
        let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect();
        CrmSettings {
            halt_followups: v(&["contacted", "viewing_scheduled", "appointment_set"]),
            halt_all: v(&["closed", "do_not_contact", "dnc", "trash", "archived"]),
            resume: v(&["nurture"]),
            suppress_on: v(&["do_not_contact", "dnc"]),
        }
    }
}

/// CRM status as compared: lowercase, spaces and dashes as underscores.
pub fn crm_key(status: &str) -> String {
    status.trim().to_lowercase().replace([' ', '-'], "_")
}

impl CrmSettings {
    fn has(list: &[String], status: &str) -> bool {
        let key = crm_key(status);
        list.iter().any(|s| crm_key(s) == key)
    }
    pub fn halts_all(&self, status: &str) -> bool {
        Self::has(&self.halt_all, status)
    }
    pub fn halts_followups(&self, status: &str) -> bool {
        Self::has(&self.halt_followups, status)
    }
    pub fn resumes(&self, status: &str) -> bool {
        Self::has(&self.resume, status)
    }
    pub fn suppresses(&self, status: &str) -> bool {
        Self::has(&self.suppress_on, status)
    }
}

/// `[delivery]`: how delivery receipts change a lead.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliverySettings {
    /// After this many unreachable-handset receipts in a row (`ReceiptFailure::Unreachable`)
    /// the number is UNDELIVERABLE.
    pub unreachable_limit: u32,
    /// A template that renders to more SMS segments than this stops start-up.
    pub max_segments: u32,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings { unreachable_limit: 3, max_segments: 3 }
    }
}

/// The template of the first text for leads from `source` (lowercased).
pub fn first_contact_template(source: &str) -> String {
    format!("first_contact.{}", source.trim().to_lowercase())
}

/// The template sent when the CRM moves a lead to `status`.
pub fn crm_template(status: &str) -> String {
    format!("crm.{}", crm_key(status))
}

/// The template name of follow-up step `i`.
pub fn follow_up_template(i: usize) -> String {
    format!("follow_up_{}", i + 1)
}

/// Formats whole dollars for people: 450000 -> "$450,000".
pub fn money(dollars: u64) -> String {
    let digits = dollars.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("${out}")
}

#[derive(Debug)]
pub struct Policy {
    pub brand: String,
    /// The brand and the legal names a consent record may name.
    pub seller_names: SellerNames,
    pub support: String,
    pub classifier: ClassifierConfig,
    pub compliance: ComplianceSettings,
    pub crm: CrmSettings,
    pub delivery: DeliverySettings,
    /// Step delays of the follow-up sequence, in order; templates are `follow_up_<n>`.
    pub follow_ups: Vec<chrono::Duration>,
    templates: Environment<'static>,
    /// Optional templates configured as empty (trigger disabled).
    disabled: Vec<&'static str>,
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
        let PolicySettings {
            brand,
            legal_names,
            support,
            templates: sources,
            classifier,
            compliance,
            crm,
            delivery,
            follow_ups,
        } = settings;
        let mut last_hours = 0;
        for (i, step) in follow_ups.iter().enumerate() {
            if step.after_hours <= last_hours {
                return Err(TemplateError {
                    name: format!("follow_ups[{i}].after_hours"),
                    message: "steps must be in increasing order of after_hours, after 0".into(),
                });
            }
            last_hours = step.after_hours;
        }
        let problems = compliance.quiet_hours.validate();
        if !problems.is_empty() {
            return Err(TemplateError { name: "compliance.quiet_hours".into(), message: problems.join("; ") });
        }
        let problems = crate::quiet_hours::validate_blackouts(&compliance.blackouts);
        if !problems.is_empty() {
            return Err(TemplateError { name: "compliance.blackouts".into(), message: problems.join("; ") });
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut disabled = Vec::new();
        let keyed = sources.keyed();
        for (name, src) in &keyed {
            env.add_template_owned(name.clone(), src.clone())
                .map_err(|e| TemplateError { name: format!("templates.{name}"), message: e.to_string() })?;
        }
        for (name, src) in sources.named() {
            if src.trim().is_empty() {
                if !OPTIONAL_TEMPLATES.contains(&name) {
                    return Err(TemplateError {
                        name: format!("templates.{name}"),
                        message: "must not be empty".into(),
                    });
                }
                disabled.push(name);
                continue;
            }
            env.add_template_owned(name, src)
                .map_err(|e| TemplateError { name: format!("templates.{name}"), message: e.to_string() })?;
        }
        for (i, step) in follow_ups.iter().enumerate() {
            env.add_template_owned(follow_up_template(i), step.template.clone())
                .map_err(|e| TemplateError { name: format!("follow_ups[{i}].template"), message: e.to_string() })?;
        }
        let steps = follow_ups.iter().map(|s| chrono::Duration::hours(i64::from(s.after_hours))).collect();
        let seller_names = SellerNames::new(&brand, &legal_names);
        check_source_policies(&compliance, &seller_names)?;
        check_allowed_countries(&compliance.allowed_countries)?;
        let policy = Policy {
            brand,
            seller_names,
            support,
            classifier,
            compliance,
            crm,
            delivery,
            follow_ups: steps,
            templates: env,
            disabled,
        };
        let sample = TemplateVars {
            brand: &policy.brand,
            support: &policy.support,
            first_name: Some("Ana"),
            agent: Some("Sam Agent"),
            property: Some("123 Main St"),
            old_price: Some(money(450_000)),
            new_price: Some(money(425_000)),
            status: Some("under contract".into()),
        };
        let names: Vec<String> = Policy::default_templates()
            .named()
            .into_iter()
            .map(|(n, _)| n.to_string())
            .chain((0..follow_ups.len()).map(follow_up_template))
            .chain(keyed.iter().map(|(n, _)| n.clone()))
            .collect();
        let every_automated_text_needs_opt_out = policy.allows_country("CA");
        for name in &names {
            let name = name.as_str();
            let Some(text) = policy.render(name, &sample)? else { continue };
            let err = |message: String| TemplateError { name: template_key(name), message };
            let first_text = name == "first_contact" || name.starts_with("first_contact.");
            let automated = !REPLY_TEMPLATES.contains(&name);
            if (first_text || name == "help" || (every_automated_text_needs_opt_out && automated))
                && !content::has_opt_out_instructions(&text)
            {
                let why = if every_automated_text_needs_opt_out && !first_text && name != "help" {
                    " (Canada's CASL requires it in every commercial text, and allowed_countries includes CA)"
                } else {
                    ""
                };
                return Err(err(format!("must tell the lead how to opt out (e.g. \"Reply STOP to opt out\"){why}")));
            }
            if first_text {
                let missing = content::missing_first_text_disclosures(
                    &text,
                    &policy.seller_names,
                    policy.compliance.require_ctia_disclosures,
                );
                if !missing.is_empty() {
                    return Err(err(format!(
                        "the first text must {} (CTIA Messaging Principles 5.1.2; set compliance.require_ctia_disclosures = false to check only the brand and opt-out line): \"{text}\"",
                        missing.join(", ")
                    )));
                }
            }
            let segments = crate::segments::count(&text).segments;
            let max = policy.delivery.max_segments as usize;
            if segments > max {
                return Err(TemplateError {
                    name: template_key(name),
                    message: format!(
                        "renders to {segments} SMS segments (delivery.max_segments = {max}); carriers bill and filter long texts: \"{text}\""
                    ),
                });
            }
        }
        Ok(policy)
    }

    /// Whether numbers of this country (ISO code) may be texted.
    pub fn allows_country(&self, code: &str) -> bool {
        self.compliance.allowed_countries.iter().any(|c| c.eq_ignore_ascii_case(code))
    }

    /// Whether a template with this name was configured.
    pub fn has_template(&self, name: &str) -> bool {
        self.templates.get_template(name).is_ok()
    }

    /// Renders a template; `None` when the brokerage disabled this trigger (empty template).
    pub fn render(&self, name: &str, vars: &TemplateVars<'_>) -> Result<Option<String>, TemplateError> {
        if self.disabled.contains(&name) {
            return Ok(None);
        }
        let err = |e: minijinja::Error| TemplateError { name: format!("templates.{name}"), message: e.to_string() };
        let tmpl = self.templates.get_template(name).map_err(err)?;
        let text = tmpl.render(vars).map_err(err)?;
        Ok(Some(text.split_whitespace().collect::<Vec<_>>().join(" ")))
    }

    /// The built-in templates, used by tests and as config.toml's defaults.
    pub fn default_templates() -> TemplateSources {
        TemplateSources {
            first_contact: "Hi{% if first_name %} {{ first_name }}{% endif %}, this is {{ brand }}{% if property %} about {{ property }}{% endif %}. Questions? Msg frequency varies. Msg & data rates may apply. Reply HELP for help, STOP to opt out.".into(),
            opt_out_confirmation: "{{ brand }}: you are unsubscribed and will receive no further messages. Reply START to resubscribe.".into(),
            opt_in_confirmation: "{{ brand }}: you are subscribed again. Msg frequency varies. Msg & data rates may apply. Reply HELP for help, STOP to opt out.".into(),
            help: "{{ brand }}: real-estate updates about homes you asked about. Msg frequency varies. Msg & data rates may apply. Support: {{ support }}. Reply STOP to opt out.".into(),
            listing_price_drop: "{{ brand }}: price drop on {{ property }}: now {{ new_price }}{% if old_price %} (was {{ old_price }}){% endif %}. Want to see it? Reply STOP to opt out.".into(),
            listing_price_increase: "".into(),
            listing_under_contract: "{{ brand }}: {{ property }} just went {{ status }}. Want similar homes? Reply STOP to opt out.".into(),
            listing_status_change: "".into(),
            listing_back_on_market: "{{ brand }}: {{ property }} is back on the market{% if new_price %} at {{ new_price }}{% endif %}. Want to see it? Reply STOP to opt out.".into(),
            listing_new: "".into(),
            first_contact_by_source: Default::default(),
            crm_status: Default::default(),
        }
    }

    /// The built-in sequence: a nudge 24 h after the first text, a last check-in 3 days later.
    pub fn default_follow_ups() -> Vec<FollowUpStep> {
        vec![
            FollowUpStep {
                after_hours: 24,
                template: "Hi{% if first_name %} {{ first_name }}{% endif %}, just checking in{% if property %} about {{ property }}{% endif %}. Happy to answer questions or set up a showing. - {{ brand }}. Reply STOP to opt out.".into(),
            },
            FollowUpStep {
                after_hours: 96,
                template: "{{ brand }}: still looking? Reply anytime and we'll help. Reply STOP to opt out.".into(),
            },
        ]
    }

    /// A policy with the built-in templates (tests, simulations).
    pub fn with_defaults(brand: &str) -> Policy {
        match Policy::new(PolicySettings::built_in(brand)) {
            Ok(p) => p,
            Err(e) => panic!("built-in templates must compile: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_formatted_for_people() {
        assert_eq!(money(0), "$0");
        assert_eq!(money(999), "$999");
        assert_eq!(money(1_000), "$1,000");
        assert_eq!(money(450_000), "$450,000");
        assert_eq!(money(12_345_678), "$12,345,678");
    }

    #[test]
    fn crm_statuses_match_loosely() {
        let crm = CrmSettings::default();
        assert!(crm.halts_all("Do Not Contact"));
        assert!(crm.halts_followups("viewing-scheduled"));
        assert!(!crm.halts_all("nurture"));
        assert!(crm.resumes("NURTURE"));
    }

    #[test]
    fn templates_are_checked_at_start_up() {
        let settings = |t: TemplateSources| PolicySettings { templates: t, ..PolicySettings::built_in("Acme") };
        let mut t = Policy::default_templates();
        t.first_contact = "Hi {{ nmae }}".into();
        let e = Policy::new(settings(t)).unwrap_err();
        assert_eq!(e.name, "templates.first_contact");

        let mut t = Policy::default_templates();
        t.first_contact = "Hi from {{ brand }}".into();
        assert!(Policy::new(settings(t)).unwrap_err().message.contains("opt out"));

        let mut t = Policy::default_templates();
        t.listing_price_drop = "x".repeat(500) + " STOP";
        assert!(Policy::new(settings(t)).unwrap_err().message.contains("segments"));

        let mut t = Policy::default_templates();
        t.help = "".into();
        assert!(Policy::new(settings(t)).unwrap_err().message.contains("empty"));
    }

    fn defaults() -> PolicySettings {
        PolicySettings { legal_names: vec!["Acme Realty Group LLC".into()], ..PolicySettings::built_in("Acme Realty") }
    }

    #[test]
    fn the_first_text_must_carry_the_ctia_disclosures_unless_the_flag_is_off() {
        let mut s = defaults();
        s.templates.first_contact = "Hi {{ first_name }}, this is {{ brand }}. Reply STOP to opt out.".into();
        let e = Policy::new(s.clone()).unwrap_err();
        assert_eq!(e.name, "templates.first_contact");
        assert!(e.message.contains("Msg & data rates may apply"), "{}", e.message);
        s.compliance.require_ctia_disclosures = false;
        assert!(Policy::new(s.clone()).is_ok());
        s.templates.first_contact = "Hi {{ first_name }}! Reply STOP to opt out.".into();
        assert!(Policy::new(s.clone()).unwrap_err().message.contains("identify the brokerage"));
        let mut s = defaults();
        s.templates
            .first_contact_by_source
            .insert("zillow".into(), "Hi from {{ brand }}. Reply STOP to opt out.".into());
        assert_eq!(Policy::new(s).unwrap_err().name, "templates.first_contact_by_source.zillow");
    }

    #[test]
    fn allowing_canada_requires_an_opt_out_line_in_every_automated_template() {
        let mut s = defaults();
        s.compliance.allowed_countries = vec!["US".into(), "ca".into()];
        assert!(Policy::new(s.clone()).is_ok(), "the shipped templates carry one");
        s.follow_ups[0].template = "Hi {{ brand }} here, still looking?".into();
        let e = Policy::new(s.clone()).unwrap_err();
        assert_eq!(e.name, "follow_ups[0].template");
        assert!(e.message.contains("CASL"), "{}", e.message);
        s.compliance.allowed_countries = vec!["US".into()];
        assert!(Policy::new(s).is_ok(), "US only: follow-ups need no opt-out line");
    }

    #[test]
    fn countries_and_declared_sources_are_checked_at_start_up() {
        let mut s = defaults();
        s.compliance.allowed_countries = vec!["MX".into()];
        assert_eq!(Policy::new(s).unwrap_err().name, "compliance.allowed_countries");
        let mut s = defaults();
        let mut map = std::collections::BTreeMap::new();
        let declared = |d: &str| crate::consent::SourcePolicy {
            consent: crate::consent::SourceConsent::Declared,
            disclosure: d.into(),
        };
        map.insert("zillow".to_string(), declared("I agree to texts from partners."));
        s.compliance.sources = map.clone().into();
        assert_eq!(Policy::new(s.clone()).unwrap_err().name, "compliance.sources.zillow.disclosure");
        map.insert("zillow".to_string(), declared("I agree to texts from Acme Realty Group."));
        s.compliance.sources = map.into();
        assert!(Policy::new(s).is_ok());
    }
}
