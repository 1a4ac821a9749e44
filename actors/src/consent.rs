//! Which consent records count as prior express written consent for *this* seller.
//!
//! The TCPA's "prior express written consent" (47 CFR 64.1200(f)(9)) is an agreement that
//! names the seller it authorises. A record naming another business does not authorise our
//! texts, and neither does a record without the disclosure the lead agreed to. So a grant
//! counts only when it carries the fields the brokerage requires (`[compliance.consent]
//! required`) and names one of the brokerage's names (`[brand] name` and `legal_names`):
//! its `seller` field when given, otherwise its disclosure text. Portal and CRM sources
//! whose forms carry consent naming the brokerage can be *declared* per source
//! (`[compliance.sources.<source>]`); such leads are recorded as "declared by source policy".

use crate::model::ConsentRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Rule ids (stable: recorded on the audit timeline).
pub const RULE_MISSING: &str = "consent.missing";
pub const RULE_INCOMPLETE: &str = "consent.incomplete";
pub const RULE_WRONG_SELLER: &str = "consent.wrong_seller";
pub const RULE_SELLER_UNNAMED: &str = "consent.seller_unnamed";
pub const RULE_DECLARED: &str = "consent.declared";
pub const RULE_DECLARATION_WITHDRAWN: &str = "consent.declaration_withdrawn";
pub const RULE_RENEWED: &str = "consent.renewed";

/// A field of a consent record that the brokerage can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentField {
    GrantedAt,
    SourceUrl,
    Disclosure,
    Ip,
    UserAgent,
    Seller,
}

impl ConsentField {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentField::GrantedAt => "granted_at",
            ConsentField::SourceUrl => "source_url",
            ConsentField::Disclosure => "disclosure",
            ConsentField::Ip => "ip",
            ConsentField::UserAgent => "user_agent",
            ConsentField::Seller => "seller",
        }
    }

    fn present(self, r: &ConsentRecord) -> bool {
        let filled = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        match self {
            ConsentField::GrantedAt => r.granted_at.is_some(),
            ConsentField::SourceUrl => filled(&r.source_url),
            ConsentField::Disclosure => filled(&r.disclosure),
            ConsentField::Ip => filled(&r.ip),
            ConsentField::UserAgent => filled(&r.user_agent),
            ConsentField::Seller => filled(&r.seller),
        }
    }
}

/// `[compliance.consent]`: what a lead's own consent record must carry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsentRequirements {
    pub required: Vec<ConsentField>,
}

impl Default for ConsentRequirements {
    fn default() -> Self {
        ConsentRequirements {
            required: vec![ConsentField::GrantedAt, ConsentField::SourceUrl, ConsentField::Disclosure],
        }
    }
}

impl ConsentRequirements {
    /// The required fields this record lacks (in the configured order).
    pub fn missing(&self, record: &ConsentRecord) -> Vec<&'static str> {
        self.required.iter().filter(|f| !f.present(record)).map(|f| f.as_str()).collect()
    }
}

/// How a lead source's consent is established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceConsent {
    /// Every lead needs its own consent record (the default for any source).
    Required,
    /// The brokerage declares that this source's form carries consent naming it.
    Declared,
}

/// `[compliance.sources.<source>]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourcePolicy {
    pub consent: SourceConsent,
    /// The consent wording the source's form shows (must name the brokerage).
    #[serde(default)]
    pub disclosure: String,
}

/// Per-source policies, keyed by lowercased source name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(from = "BTreeMap<String, SourcePolicy>", into = "BTreeMap<String, SourcePolicy>")]
pub struct SourcePolicies(BTreeMap<String, SourcePolicy>);

impl From<BTreeMap<String, SourcePolicy>> for SourcePolicies {
    fn from(map: BTreeMap<String, SourcePolicy>) -> Self {
        SourcePolicies(map.into_iter().map(|(k, v)| (source_key(&k), v)).collect())
    }
}

impl From<SourcePolicies> for BTreeMap<String, SourcePolicy> {
    fn from(p: SourcePolicies) -> Self {
        p.0
    }
}

impl SourcePolicies {
    /// The declared disclosure of `source`, if the brokerage declared consent for it.
    pub fn declared(&self, source: &str) -> Option<&str> {
        self.0.get(&source_key(source)).filter(|p| p.consent == SourceConsent::Declared).map(|p| p.disclosure.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &SourcePolicy)> {
        self.0.iter()
    }
}

fn source_key(source: &str) -> String {
    source.trim().to_lowercase()
}

/// The names under which the brokerage collects consent: the brand and its legal names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SellerNames {
    /// (as configured, normalised for matching)
    names: Vec<(String, String)>,
}

/// Corporate suffixes that a disclosure or a `seller` field may leave out.
const SUFFIXES: &[&str] =
    &["llc", "l l c", "inc", "incorporated", "co", "corp", "corporation", "ltd", "lp", "llp", "pllc"];

impl SellerNames {
    pub fn new(brand: &str, legal_names: &[String]) -> SellerNames {
        let names = std::iter::once(brand)
            .chain(legal_names.iter().map(String::as_str))
            .map(|n| (n.trim().to_string(), name_key(n)))
            .filter(|(_, key)| !key.is_empty())
            .collect();
        SellerNames { names }
    }

    /// Whether a consent's `seller` is one of our names.
    pub fn is_ours(&self, seller: &str) -> bool {
        let key = name_key(seller);
        self.names.iter().any(|(_, ours)| *ours == key)
    }

    /// The first of our names that the text mentions (as whole words).
    pub fn named_in(&self, text: &str) -> Option<&str> {
        let padded = format!(" {} ", words(text));
        self.names.iter().find(|(_, key)| padded.contains(&format!(" {key} "))).map(|(name, _)| name.as_str())
    }

    pub fn display(&self) -> String {
        self.names.iter().map(|(n, _)| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
    }
}

/// Lowercase words separated by single spaces, punctuation dropped.
fn words(text: &str) -> String {
    let spaced: String =
        text.chars().map(|c| if c.is_alphanumeric() || c == '&' { c.to_ascii_lowercase() } else { ' ' }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A name for comparison: its words without a trailing corporate suffix.
fn name_key(name: &str) -> String {
    let mut key = words(name);
    for suffix in SUFFIXES {
        if let Some(stripped) = key.strip_suffix(suffix).and_then(|k| k.strip_suffix(' ')) {
            key = stripped.to_string();
            break;
        }
    }
    key
}

/// Why a grant does not authorise our automated texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: &'static str,
    pub reason: String,
}

/// Does this grant authorise texts from us? Checks the required fields (for a lead's own
/// record) and that the record names one of our names. Age and future dates are checked
/// by the caller (they depend on the clock).
pub fn check_grant(
    record: &ConsentRecord,
    declared: bool,
    required: &ConsentRequirements,
    names: &SellerNames,
) -> Result<(), Refusal> {
    if !declared {
        let missing = required.missing(record);
        if !missing.is_empty() {
            return Err(Refusal {
                rule: RULE_INCOMPLETE,
                reason: format!("the consent record lacks {}", missing.join(", ")),
            });
        }
    }
    check_seller(record, names)
}

/// The seller a consent names must be us: its `seller` when given, else its disclosure.
pub fn check_seller(record: &ConsentRecord, names: &SellerNames) -> Result<(), Refusal> {
    if let Some(seller) = record.seller.as_deref().filter(|s| !s.trim().is_empty()) {
        if names.is_ours(seller) {
            return Ok(());
        }
        return Err(Refusal {
            rule: RULE_WRONG_SELLER,
            reason: format!("the consent names \"{seller}\", not this brokerage ({})", names.display()),
        });
    }
    match record.disclosure.as_deref() {
        Some(text) if names.named_in(text).is_some() => Ok(()),
        _ => Err(Refusal {
            rule: RULE_SELLER_UNNAMED,
            reason: format!("the consent names no seller and its disclosure does not name {}", names.display()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ts::Ts;

    fn record(seller: Option<&str>, disclosure: Option<&str>) -> ConsentRecord {
        ConsentRecord {
            granted_at: Some(Ts::from(chrono::DateTime::UNIX_EPOCH)),
            source_url: Some("https://acme.example/form".into()),
            disclosure: disclosure.map(str::to_string),
            disclosure_sha256: None,
            ip: None,
            user_agent: None,
            seller: seller.map(str::to_string),
            captured_from: None,
            recorded_at: Ts::from(chrono::DateTime::UNIX_EPOCH),
        }
    }

    fn names() -> SellerNames {
        SellerNames::new("Acme Realty", &["Acme Realty Group LLC".into(), "Jane Doe Homes".into()])
    }

    #[test]
    fn the_seller_field_must_be_one_of_our_names() {
        let ok = |s| check_seller(&record(Some(s), None), &names());
        assert!(ok("Acme Realty").is_ok());
        assert!(ok("ACME REALTY, LLC").is_ok(), "case, punctuation and a corporate suffix do not matter");
        assert!(ok("Acme Realty Group").is_ok());
        assert_eq!(ok("Zillow Group").unwrap_err().rule, RULE_WRONG_SELLER);
        assert_eq!(ok("Acme").unwrap_err().rule, RULE_WRONG_SELLER, "a prefix is another name");
    }

    #[test]
    fn without_a_seller_the_disclosure_must_name_us() {
        let ok = |d| check_seller(&record(None, Some(d)), &names());
        assert!(ok("I agree to receive automated texts from Acme Realty.").is_ok());
        assert!(ok("...texts from JANE DOE HOMES about homes").is_ok());
        assert_eq!(ok("I agree to receive texts from our partners").unwrap_err().rule, RULE_SELLER_UNNAMED);
        assert_eq!(ok("texts from Acme Realtyx").unwrap_err().rule, RULE_SELLER_UNNAMED, "whole words only");
        assert_eq!(check_seller(&record(None, None), &names()).unwrap_err().rule, RULE_SELLER_UNNAMED);
    }

    #[test]
    fn required_fields_are_named_when_missing() {
        let mut r = record(None, Some("texts from Acme Realty"));
        r.source_url = None;
        let e = check_grant(&r, false, &ConsentRequirements::default(), &names()).unwrap_err();
        assert_eq!(e.rule, RULE_INCOMPLETE);
        assert!(e.reason.contains("source_url"), "{}", e.reason);
        assert!(check_grant(&r, true, &ConsentRequirements::default(), &names()).is_ok(), "declared by policy");
    }

    #[test]
    fn source_policies_match_sources_case_insensitively() {
        let mut map = BTreeMap::new();
        map.insert(
            "Zillow".to_string(),
            SourcePolicy { consent: SourceConsent::Declared, disclosure: "texts from Acme Realty".into() },
        );
        map.insert("crm".to_string(), SourcePolicy { consent: SourceConsent::Required, disclosure: String::new() });
        let p = SourcePolicies::from(map);
        assert_eq!(p.declared(" zillow "), Some("texts from Acme Realty"));
        assert_eq!(p.declared("crm"), None);
        assert_eq!(p.declared("web"), None);
    }
}
