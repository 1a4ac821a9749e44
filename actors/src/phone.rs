//! E.164 phone numbers: the identity of a lead.
//!
//! Parsing goes through the `phonenumber` crate (a port of Google's libphonenumber, whose metadata it
//! embeds) so that "(212) 555-0142", "212.555.0142", "12125550142" and "+1 212 555 0142" are the same lead.
//!
//! A number is never rewritten into a different number. The crate (0.3.10) strips national prefixes with
//! the metadata of the *default* region rather than of the number's own country, so with a US default it
//! removed a leading "1" (the NANP trunk prefix) from foreign numbers: `+49 151 12345678` came out as
//! `+49 5112345678`, another subscriber, and `+33 1 ...`, `+55 11 ...`, `+86 13x ...` became invalid and
//! were refused. Even without a default region it strips a leading "8" (the trunk prefix of Russia,
//! Kazakhstan, Belarus, Lithuania) from valid numbers such as `+7 800 ...`. So `Phone::parse` does not use
//! the crate's parser: it reads the digits itself, works out the international digit string, and checks
//! exactly those digits against libphonenumber's metadata (the crate's embedded copy). The only change it
//! ever makes is dropping a national prefix written after the country code ("+44 (0)20 ...") when the
//! digits with it are not a valid number.

use phonenumber::metadata::{Metadata, DATABASE};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A validated phone number in E.164 form (`+12125550142`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("'{0}' is not a phone number")]
    Unparseable(String),
    #[error("'{0}' is not a valid, dialable phone number")]
    Invalid(String),
}

/// Longest digit string accepted before parsing: a 3-digit international prefix plus 15 E.164 digits.
const MAX_INPUT_DIGITS: usize = 18;

/// What the input looks like once formatting is removed.
struct Scanned {
    /// The input started with `+` (after optional whitespace).
    plus: bool,
    /// Every digit of the input, in order, as ASCII.
    digits: String,
}

/// The ASCII value of a decimal digit in the scripts people paste phone numbers in (ASCII, full-width,
/// Arabic-Indic, Eastern Arabic-Indic).
fn digit_value(c: char) -> Option<char> {
    let base = match c {
        '0'..='9' => return Some(c),
        '\u{FF10}'..='\u{FF19}' => 0xFF10,
        '\u{0660}'..='\u{0669}' => 0x0660,
        '\u{06F0}'..='\u{06F9}' => 0x06F0,
        _ => return None,
    };
    char::from_digit(c as u32 - base, 10)
}

/// Formatting characters that may appear between the digits of a number.
fn is_formatting(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '.' | '(' | ')' | '/' | '\u{2010}'..='\u{2015}' | '\u{2212}')
}

/// Splits the input into an optional leading `+` and its digits. Letters (vanity numbers, "ext."), `;`,
/// `*`, `#` and the like are refused: a number with an extension cannot be texted, and a vanity spelling
/// is not what the lead typed as their number.
fn scan(input: &str) -> Option<Scanned> {
    let mut plus = false;
    let mut digits = String::new();
    for c in input.chars() {
        if let Some(d) = digit_value(c) {
            digits.push(d);
        } else if matches!(c, '+' | '\u{FF0B}') && !plus && digits.is_empty() {
            plus = true;
        } else if !is_formatting(c) {
            return None;
        }
    }
    (!digits.is_empty()).then_some(Scanned { plus, digits })
}

/// The international digit string (country code + national significant number, possibly still with a
/// national prefix) of a scanned input. `None` when it cannot be a number in international form.
///
/// - `+CC...` is international.
/// - `00CC...` and `011CC...` are international (ITU-T E.164 recommended prefix `00`; `011` is the NANP's).
///   NANP numbers never start with `0`, so this is not ambiguous with the default region.
/// - Anything else is a NANP number (the default region is the US): ten digits, or eleven starting with
///   the NANP national prefix `1`.
fn international_digits(s: &Scanned) -> Option<&str> {
    let d = s.digits.as_str();
    if s.plus {
        return (!d.starts_with('0')).then_some(d);
    }
    if let Some(rest) = d.strip_prefix("011").or_else(|| d.strip_prefix("00")) {
        return (!rest.starts_with('0')).then_some(rest);
    }
    None
}

/// The country metadata that applies to national significant number `nsn` of country code `cc`, chosen the
/// way libphonenumber does (the single region of the code, else the first region whose leading digits or
/// number patterns match). Unlike `PhoneNumber::metadata` of the crate this keeps leading zeros (Italy).
pub(crate) fn metadata_for(cc: u16, nsn: &str) -> Option<&'static Metadata> {
    let db: &'static phonenumber::metadata::Database = &DATABASE;
    let metas = db.by_code(&cc)?;
    if metas.len() == 1 {
        return metas.into_iter().next();
    }
    metas.into_iter().find(|m| match m.leading_digits() {
        Some(ld) => ld.find(nsn).is_some_and(|hit| hit.start() == 0),
        None => number_kind_matches(m, nsn),
    })
}

/// libphonenumber's validity test for one region: the general pattern and at least one number type match.
fn number_kind_matches(m: &Metadata, nsn: &str) -> bool {
    let d = m.descriptors();
    d.general().is_match(nsn)
        && [
            d.fixed_line(),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.shared_cost(),
            d.personal_number(),
            d.voip(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ]
        .into_iter()
        .flatten()
        .any(|desc| desc.is_match(nsn))
}

/// Whether country code `cc` with national significant number `nsn` (exactly these digits) is a valid
/// number according to libphonenumber's metadata.
fn is_valid_nsn(cc: u16, nsn: &str) -> bool {
    metadata_for(cc, nsn).is_some_and(|m| number_kind_matches(m, nsn))
}

/// Splits international digits into (country code, rest): E.164 country codes are prefix-free, 1-3 digits.
pub(crate) fn split_country_code(intl: &str) -> Option<(u16, &str)> {
    (1..=3).filter(|&n| n < intl.len()).find_map(|n| {
        let cc: u16 = intl[..n].parse().ok()?;
        DATABASE.by_code(&cc).map(|_| (cc, &intl[n..]))
    })
}

/// The E.164 digits of international digits `intl` (country code + national significant number, possibly
/// with a national prefix after the country code): `intl` itself when it is a valid number; else `intl`
/// without a national prefix `0` (or `1`) right after the country code when that is a valid number (the
/// "+44 (0)20 ..." spelling); else `None`. Validity is libphonenumber's (the region's general pattern and
/// one of its number-type patterns match), evaluated on exactly these digits.
fn e164_digits(intl: &str) -> Option<String> {
    let (cc, nsn) = split_country_code(intl)?;
    if is_valid_nsn(cc, nsn) {
        return Some(intl.to_string());
    }
    let rest = nsn.strip_prefix('0').or_else(|| nsn.strip_prefix('1'))?;
    let prefix = metadata_for(cc, rest)?.national_prefix()?;
    (nsn.strip_prefix(prefix) == Some(rest) && is_valid_nsn(cc, rest)).then(|| format!("{cc}{rest}"))
}

impl Phone {
    /// Parses and validates a number; numbers without a country code are read as US (NANP).
    ///
    /// Accepted forms: `+CC ...`, `00CC ...`, `011CC ...`, and NANP numbers of 10 digits or 11 digits
    /// starting with `1`, with any of the formatting characters space, `-`, `.`, `(`, `)`, `/`. The result
    /// is always the input's own digits (minus the international prefix, and minus a national prefix `0`
    /// written after the country code when the digits with it are not a valid number): a number is never
    /// rewritten into another one. Valid means valid by libphonenumber's metadata.
    pub fn parse(input: &str) -> Result<Phone, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        // Keep error messages short even for hostile input.
        let shown: String = trimmed.chars().take(40).collect();
        let scanned = scan(trimmed).ok_or_else(|| PhoneError::Unparseable(shown.clone()))?;
        if scanned.digits.len() > MAX_INPUT_DIGITS {
            return Err(PhoneError::Invalid(shown));
        }
        let nanp;
        let intl = match international_digits(&scanned) {
            Some(intl) => intl,
            None if scanned.plus => return Err(PhoneError::Invalid(shown)),
            None => {
                let d = scanned.digits.as_str();
                nanp = match d.len() {
                    10 => format!("1{d}"),
                    11 if d.starts_with('1') => d.to_string(),
                    _ => return Err(PhoneError::Invalid(shown)),
                };
                nanp.as_str()
            }
        };
        match e164_digits(intl) {
            Some(digits) => Ok(Phone(format!("+{digits}"))),
            None => Err(PhoneError::Invalid(shown)),
        }
    }

    /// The country calling code and national significant number, e.g. `(1, "2125550142")`. `None` for a
    /// stored string whose country code is unknown.
    pub fn split(&self) -> Option<(u16, &str)> {
        split_country_code(self.0.strip_prefix('+')?)
    }

    /// A number read back from our own storage keys: it was validated when it was written,
    /// so only its E.164 shape is checked (a full parse costs ~12 us, which an MLS fan-out
    /// paid once per interested lead). `None` if it does not look like E.164.
    pub fn from_stored(e164: &str) -> Option<Phone> {
        let digits = e164.strip_prefix('+')?;
        let ok = (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| Phone(e164.to_string()))
    }

    /// The E.164 string, e.g. `+12125550142`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A form safe for logs: `+1212***0142`.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Masks all but the first five and last four characters of a phone-like string.
pub fn mask(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    if chars.len() <= 9 {
        return "***".to_string();
    }
    let head: String = chars[..5].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}***{tail}")
}

/// A message id (`<phone>#<seq>`) safe for logs: `+1212***0142#3`.
pub fn mask_message_id(id: &str) -> String {
    match id.split_once('#') {
        Some((phone, seq)) => format!("{}#{seq}", mask(phone)),
        None => mask(id),
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Debug output is masked so that `?phone` in a log line never leaks a full number.
impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_of_one_number_are_the_same_lead() {
        let want = "+12125550142";
        for input in
            ["(212) 555-0142", "212.555.0142", "2125550142", "12125550142", "+1 212 555 0142", " +12125550142 "]
        {
            assert_eq!(Phone::parse(input).unwrap().as_str(), want, "{input}");
        }
    }

    #[test]
    fn rejects_non_numbers_and_invalid_numbers() {
        assert_eq!(Phone::parse(""), Err(PhoneError::Empty));
        assert!(matches!(Phone::parse("not a phone"), Err(PhoneError::Unparseable(_))));
        assert!(Phone::parse("123").is_err());
        assert!(Phone::parse("+1 212 155 0142").is_err(), "exchange cannot start with 1");
    }

    #[test]
    fn german_mobile_keeps_its_digits() {
        // With a US default region the crate stripped the NANP trunk prefix "1" from the German national
        // number 151 12345678 and stored +49 5112345678: another subscriber.
        for input in
            ["+49 151 12345678", "+4915112345678", "0049 151 12345678", "011 49 151 12345678", "+49 (0)151 12345678"]
        {
            assert_eq!(Phone::parse(input).map(|p| p.as_str().to_string()), Ok("+4915112345678".into()), "{input}");
        }
    }

    #[test]
    fn foreign_numbers_starting_with_one_are_accepted_unchanged() {
        // All of these were refused (or rewritten) before: their national number starts with "1".
        for (input, want) in [
            ("+33 1 23 45 67 89", "+33123456789"),
            ("+55 11 91234 5678", "+5511912345678"),
            ("+86 138 0013 8000", "+8613800138000"),
            ("+49 30 123456", "+4930123456"),
            ("+44 (0)20 7946 0958", "+442079460958"),
            ("+39 06 1234 5678", "+390612345678"),
        ] {
            assert_eq!(Phone::parse(input).map(|p| p.as_str().to_string()), Ok(want.to_string()), "{input}");
        }
    }

    #[test]
    fn never_stores_a_different_number() {
        // Old Mexican mobile form with the abolished "1" token: libphonenumber's metadata no longer knows
        // it, so it is refused instead of guessed.
        assert!(Phone::parse("+52 1 55 1234 5678").is_err());
        // A national number without a country code is NANP; a foreign national number is not guessed.
        assert!(Phone::parse("0151 12345678").is_err());
        assert!(Phone::parse("4915112345678").is_err());
    }

    #[test]
    fn refuses_extensions_letters_and_junk() {
        for input in [
            "212-555-0142 ext 5",
            "212-555-0142 x5",
            "1-800-FLOWERS",
            "tel:+12125550142",
            "+1 212 555 0142;",
            "++12125550142",
            "+0012125550142",
        ] {
            assert!(Phone::parse(input).is_err(), "{input}");
        }
        assert!(Phone::parse("1234567890123456789012").is_err());
    }

    #[test]
    fn full_width_and_arabic_indic_digits_are_digits() {
        assert_eq!(Phone::parse("＋１ ２１２ ５５５ ０１４２").unwrap().as_str(), "+12125550142");
        assert_eq!(Phone::parse("+١ ٢١٢ ٥٥٥ ٠١٤٢").unwrap().as_str(), "+12125550142");
    }

    #[test]
    fn fictional_555_01xx_numbers_parse() {
        for input in ["+12125550142", "+16465550183", "(415) 555-0100", "312-555-0199"] {
            assert!(Phone::parse(input).is_ok(), "{input}");
        }
    }

    #[test]
    fn splits_country_code() {
        assert_eq!(Phone::parse("+12125550142").unwrap().split(), Some((1, "2125550142")));
        assert_eq!(Phone::parse("+4915112345678").unwrap().split(), Some((49, "15112345678")));
        assert_eq!(Phone::parse("+390612345678").unwrap().split(), Some((39, "0612345678")));
    }

    #[test]
    fn masks_for_logs() {
        let p = Phone::parse("+12125550142").unwrap();
        assert_eq!(p.masked(), "+1212***0142");
        assert_eq!(format!("{p:?}"), "Phone(+1212***0142)");
    }
}
