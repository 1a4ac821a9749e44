//! Numbers leadline must not text at all, whatever the lead's consent: numbers outside the allowed
//! countries and non-geographic NANP numbers. Pure; the compliance gate calls [`texting_check`].
//!
//! Rule ids (stable, for audit logs):
//! - `number.non_geographic`: a NANP area code that is not a geographic area (toll-free, premium-rate,
//!   personal communications services, ...). Checked before the country.
//! - `number.country_not_allowed`: the number's country is not in `[compliance] allowed_countries`.
//!
//! Sources: area codes and their classes are NANPA's public assignments (nanpa.com; for Canada the
//! Canadian Numbering Administrator, cnac.ca); the country of a non-NANP number, and of a NANP number
//! whose area code is not in `data/area_codes.csv`, comes from libphonenumber's metadata as embedded in
//! the `phonenumber` crate.
//!
//! The fictional numbers NANPA reserves for films and examples, exchange 555 with lines 0100-0199 in any
//! geographic area code (e.g. +12125550142), are not blocked by any rule here: tests use them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::phone::{metadata_for, Phone};
use crate::quiet_hours::{area_info, region_country, Country};

/// Rule id: the number's country is not allowed.
pub const RULE_COUNTRY_NOT_ALLOWED: &str = "number.country_not_allowed";
/// Rule id: a non-geographic NANP area code.
pub const RULE_NON_GEOGRAPHIC: &str = "number.non_geographic";

/// A country leadline can be configured to text (`[compliance] allowed_countries`).
///
/// Written `"US"` / `"CA"` in configuration; any case is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TextingCountry {
    /// The United States, including the US territories in the NANP: PR, VI, GU, MP, AS.
    US,
    /// Canada (opt-in).
    CA,
}

impl TextingCountry {
    /// Every supported value.
    pub const ALL: [TextingCountry; 2] = [TextingCountry::US, TextingCountry::CA];

    /// The configuration value, `"US"` or `"CA"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TextingCountry::US => "US",
            TextingCountry::CA => "CA",
        }
    }
}

impl fmt::Display for TextingCountry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TextingCountry {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TextingCountry::ALL.into_iter().find(|c| c.as_str().eq_ignore_ascii_case(s.trim())).ok_or_else(|| {
            format!("unsupported allowed_countries value {s:?}: only \"US\" (with its territories) and \"CA\" are supported")
        })
    }
}

impl Serialize for TextingCountry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TextingCountry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a number may not be texted at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberBlock {
    /// [`RULE_COUNTRY_NOT_ALLOWED`] or [`RULE_NON_GEOGRAPHIC`].
    pub rule: &'static str,
    /// Human-readable, names the country or the class of the area code. Contains no full number.
    pub reason: String,
}

/// Checks every value of `[compliance] allowed_countries` (any case). Only "US" and "CA" are supported.
pub fn validate_allowed(allowed: &[String]) -> Result<(), String> {
    allowed.iter().try_for_each(|v| v.parse::<TextingCountry>().map(|_| ()))
}

/// US territories with their own ISO code inside the NANP; texted under "US".
const US_TERRITORIES: [&str; 5] = ["PR", "VI", "GU", "MP", "AS"];

/// The class of a non-geographic NANP area code (NPA), or `None` for a geographic or unassigned code.
///
/// Per NANPA: N00 codes are easily recognizable codes reserved for non-geographic services (500 personal
/// communications, 600 Canadian non-geographic, 700 carrier services, 800 toll-free, 900 premium-rate;
/// 200/300/400 unassigned); toll-free is 800, 833, 844, 855, 866, 877, 888, with 822 and 880-887, 889
/// reserved for it; 5XX codes other than geographic area codes are personal communications services
/// (libphonenumber lists 500, 521-529, 532, 533, 544, 566, 577, 588); 456 is inbound international,
/// 710 the US government; 622 and 633 are Canadian non-geographic codes (CNAC).
///
/// 5XX is not a block of its own: 501-520, 530, 531, 534, 539-541, 551, 557, 559, 561-564, 567, 570-575,
/// 580, 582, 584-587 and others are geographic, and the 5XX rule defers to `data/area_codes.csv` for them.
pub fn nanp_non_geographic(npa: u16) -> Option<&'static str> {
    match npa {
        800 | 833 | 844 | 855 | 866 | 877 | 888 => Some("toll-free"),
        822 | 880..=887 | 889 => Some("reserved for toll-free"),
        900 => Some("premium-rate (900)"),
        456 => Some("inbound international services (456)"),
        600 | 622 | 633 => Some("Canadian non-geographic services"),
        700 => Some("carrier services (700)"),
        710 => Some("US government (710)"),
        200 | 300 | 400 => Some("reserved for non-geographic services (N00)"),
        500..=599 if npa == 500 || area_info(&format!("+1{npa}2000000")).is_none() => {
            Some("personal communications services (5XX)")
        }
        _ => None,
    }
}

/// The area code of a +1 number with ten national digits.
fn nanp_area_code(e164: &str) -> Option<u16> {
    let nsn = e164.strip_prefix("+1")?;
    if nsn.len() != 10 || !nsn.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    nsn[..3].parse().ok()
}

/// The ISO 3166 code of the number's country or territory, e.g. "US", "CA", "PR", "JM", "DE".
///
/// For +1 numbers the region of `data/area_codes.csv` decides: US states and DC give "US", the US
/// territories their own code ("PR", "VI", "GU", "MP", "AS", all texted under "US"), Canadian provinces
/// "CA". Area codes not in that table (the other NANP countries, or codes newer than the table) and
/// non-+1 numbers get libphonenumber's region. `None` for non-geographic NANP codes (shared by the whole
/// NANP), non-geographic international codes (+800, +881 ...) and numbers libphonenumber cannot place.
pub fn country_of(phone: &Phone) -> Option<&'static str> {
    let (cc, nsn) = phone.split()?;
    if cc == 1 {
        let npa = nanp_area_code(phone.as_str())?;
        if nanp_non_geographic(npa).is_some() {
            return None;
        }
        if let Some(info) = area_info(phone.as_str()) {
            return match region_country(info.region)? {
                Country::Canada => Some("CA"),
                Country::Us => Some(US_TERRITORIES.iter().copied().find(|t| *t == info.region).unwrap_or("US")),
            };
        }
    }
    let id = metadata_for(cc, nsn)?.id();
    // "001" is libphonenumber's pseudo-region for non-geographic entities (+800, +808, +870, +881 ...).
    (id != "001").then_some(id)
}

/// Which allowed-countries value a country code falls under.
fn texting_country(iso: &str) -> Option<TextingCountry> {
    match iso {
        "US" => Some(TextingCountry::US),
        t if US_TERRITORIES.contains(&t) => Some(TextingCountry::US),
        "CA" => Some(TextingCountry::CA),
        _ => None,
    }
}

/// `Ok(())` when leadline may text this number at all under `allowed` (config
/// `[compliance] allowed_countries`, default `["US"]`; values in any case, unsupported values ignored —
/// reject them at load time with [`validate_allowed`]).
///
/// For +1 numbers the non-geographic rule is checked first, then the country: "US" allows the states, DC
/// and the US territories, "CA" allows Canada; every other NANP country (e.g. Jamaica +1 876, the Bahamas
/// +1 242, the Dominican Republic +1 809) and every non-+1 number is `number.country_not_allowed`.
pub fn texting_check(phone: &Phone, allowed: &[String]) -> Result<(), NumberBlock> {
    let e164 = phone.as_str();
    if e164.starts_with("+1") {
        let Some(npa) = nanp_area_code(e164) else {
            return Err(NumberBlock {
                rule: RULE_COUNTRY_NOT_ALLOWED,
                reason: "+1 number without a 10-digit national number".to_string(),
            });
        };
        if let Some(class) = nanp_non_geographic(npa) {
            return Err(NumberBlock {
                rule: RULE_NON_GEOGRAPHIC,
                reason: format!("area code {npa} is non-geographic: {class}"),
            });
        }
    }
    let country = country_of(phone);
    let needed = country.and_then(texting_country);
    if let Some(needed) = needed {
        if allowed.iter().any(|a| a.trim().eq_ignore_ascii_case(needed.as_str())) {
            return Ok(());
        }
    }
    let allowed_list: Vec<&str> = allowed.iter().map(|a| a.trim()).collect();
    let what = match (country, needed) {
        (Some(iso), Some(TextingCountry::US)) if iso != "US" => format!("{iso} (a US territory, allowed by \"US\")"),
        (Some(iso), _) => iso.to_string(),
        (None, _) => match phone.split() {
            Some((1, _)) => format!("unknown NANP area code {}", e164.get(2..5).unwrap_or("?")),
            Some((cc, _)) => format!("unknown country (+{cc})"),
            None => "unknown country".to_string(),
        },
    };
    Err(NumberBlock {
        rule: RULE_COUNTRY_NOT_ALLOWED,
        reason: format!("number is in {what}; allowed_countries = {allowed_list:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(s: &str) -> Phone {
        Phone::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn us() -> Vec<String> {
        vec!["US".to_string()]
    }

    fn rule(p: &Phone, allowed: &[String]) -> Option<&'static str> {
        texting_check(p, allowed).err().map(|b| b.rule)
    }

    #[test]
    fn us_and_territories_allowed_under_us() {
        for s in [
            "+12125550142",
            "+16465550183",
            "+17875550100",
            "+13405550100",
            "+16715550100",
            "+16705550100",
            "+16845550100",
        ] {
            let p = Phone::from_stored(s).unwrap();
            assert_eq!(texting_check(&p, &us()), Ok(()), "{s}");
        }
        assert_eq!(country_of(&phone("+17875550100")), Some("PR"));
        assert_eq!(country_of(&phone("+12125550142")), Some("US"));
    }

    #[test]
    fn canada_is_opt_in() {
        let p = phone("+14165550142");
        assert_eq!(country_of(&p), Some("CA"));
        let block = texting_check(&p, &us()).unwrap_err();
        assert_eq!(block.rule, RULE_COUNTRY_NOT_ALLOWED);
        assert!(block.reason.contains("CA"), "{}", block.reason);
        assert_eq!(texting_check(&p, &["us".into(), "ca".into()]), Ok(()));
        assert_eq!(texting_check(&p, &[" CA ".into()]), Ok(()));
        // US numbers are not allowed by "CA" alone.
        assert_eq!(rule(&phone("+12125550142"), &["CA".into()]), Some(RULE_COUNTRY_NOT_ALLOWED));
    }

    #[test]
    fn other_nanp_countries_are_not_allowed() {
        let all: Vec<String> = vec!["US".into(), "CA".into()];
        for (s, iso) in [("+18762345678", "JM"), ("+12423570000", "BS"), ("+18092345678", "DO")] {
            let p = Phone::from_stored(s).unwrap();
            assert_eq!(country_of(&p), Some(iso), "{s}");
            let block = texting_check(&p, &all).unwrap_err();
            assert_eq!(block.rule, RULE_COUNTRY_NOT_ALLOWED, "{s}");
            assert!(block.reason.contains(iso), "{}", block.reason);
        }
    }

    #[test]
    fn non_nanp_numbers_are_not_allowed() {
        let p = phone("+4915112345678");
        assert_eq!(country_of(&p), Some("DE"));
        let block = texting_check(&p, &["US".into(), "CA".into()]).unwrap_err();
        assert_eq!(block.rule, RULE_COUNTRY_NOT_ALLOWED);
        assert!(block.reason.contains("DE"), "{}", block.reason);
        assert_eq!(country_of(&phone("+390612345678")), Some("IT"), "leading zero kept for the region lookup");
        assert_eq!(country_of(&phone("+447400123456")), Some("GB"));
    }

    #[test]
    fn non_geographic_codes_are_blocked_before_the_country() {
        let all: Vec<String> = vec!["US".into(), "CA".into()];
        for npa in [
            500, 521, 522, 523, 524, 525, 526, 527, 528, 529, 532, 533, 544, 566, 577, 588, 800, 833, 844, 855, 866,
            877, 888, 822, 880, 881, 882, 883, 884, 885, 886, 887, 889, 900, 456, 600, 622, 633, 700, 710,
        ] {
            let p = Phone::from_stored(&format!("+1{npa}2345678")).unwrap();
            let block = texting_check(&p, &all).unwrap_err();
            assert_eq!(block.rule, RULE_NON_GEOGRAPHIC, "{npa}");
            assert!(block.reason.contains(&npa.to_string()), "{}", block.reason);
            assert_eq!(country_of(&p), None, "{npa}");
        }
    }

    #[test]
    fn geographic_5xx_codes_are_not_non_geographic() {
        // 530 (California) and 531 (Nebraska) lie inside "521-533" but are geographic.
        for npa in [
            501, 502, 503, 504, 505, 507, 508, 509, 510, 512, 513, 514, 515, 516, 517, 518, 519, 520, 530, 531, 534,
            539, 540, 541, 551, 559, 561, 562, 563, 567, 570, 571, 573, 574, 575, 580, 585, 586, 587,
        ] {
            assert_eq!(nanp_non_geographic(npa), None, "{npa}");
        }
    }

    #[test]
    fn fictional_555_01xx_numbers_stay_usable() {
        for s in ["+12125550142", "+16465550183", "+13125550100", "+14155550199"] {
            assert_eq!(texting_check(&phone(s), &us()), Ok(()), "{s}");
        }
        // ... but a 555-01XX number in a non-geographic code is still non-geographic.
        let p = Phone::from_stored("+18005550142").unwrap();
        assert_eq!(rule(&p, &us()), Some(RULE_NON_GEOGRAPHIC));
    }

    #[test]
    fn malformed_stored_numbers_are_blocked() {
        let p = Phone::from_stored("+1212555014").unwrap();
        assert_eq!(rule(&p, &us()), Some(RULE_COUNTRY_NOT_ALLOWED));
        assert_eq!(rule(&phone("+12125550142"), &[]), Some(RULE_COUNTRY_NOT_ALLOWED), "nothing allowed");
        // 370 is not assigned (37X is reserved): no country, so not allowed.
        let unassigned = Phone::from_stored("+13702345678").unwrap();
        assert_eq!(country_of(&unassigned), None);
        let block = texting_check(&unassigned, &us()).unwrap_err();
        assert_eq!(block.rule, RULE_COUNTRY_NOT_ALLOWED);
        assert!(block.reason.contains("unknown NANP area code 370"), "{}", block.reason);
        let pr = texting_check(&phone("+17875550100"), &["CA".into()]).unwrap_err();
        assert_eq!(pr.reason, "number is in PR (a US territory, allowed by \"US\"); allowed_countries = [\"CA\"]");
    }

    #[test]
    fn allowed_values() {
        assert_eq!(validate_allowed(&["US".into(), "ca".into(), " Us ".into()]), Ok(()));
        let err = validate_allowed(&["US".into(), "MX".into()]).unwrap_err();
        assert!(err.contains("\"MX\"") && err.contains("US") && err.contains("CA"), "{err}");
        assert_eq!("ca".parse::<TextingCountry>(), Ok(TextingCountry::CA));
        let parsed: Vec<TextingCountry> = serde_json::from_str(r#"["us","CA"]"#).unwrap();
        assert_eq!(parsed, vec![TextingCountry::US, TextingCountry::CA]);
        assert_eq!(serde_json::to_string(&TextingCountry::CA).unwrap(), "\"CA\"");
        assert!(serde_json::from_str::<TextingCountry>("\"GB\"").is_err());
    }
}
