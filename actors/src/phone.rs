//! E.164 phone numbers: the identity of a lead.
//!
//! Parsing goes through the `phonenumber` crate (a port of libphonenumber) so that
//! "(212) 555-0142", "212.555.0142", "12125550142" and "+1 212 555 0142" are the same lead.

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

impl Phone {
    /// Parses and validates a number; numbers without a country code are read as US (NANP).
    pub fn parse(input: &str) -> Result<Phone, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        // Keep error messages short even for hostile input.
        let shown: String = trimmed.chars().take(40).collect();
        let parsed = phonenumber::parse(Some(phonenumber::country::Id::US), trimmed)
            .map_err(|_| PhoneError::Unparseable(shown.clone()))?;
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneError::Invalid(shown));
        }
        Ok(Phone(parsed.format().mode(phonenumber::Mode::E164).to_string()))
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
    fn masks_for_logs() {
        let p = Phone::parse("+12125550142").unwrap();
        assert_eq!(p.masked(), "+1212***0142");
        assert_eq!(format!("{p:?}"), "Phone(+1212***0142)");
    }
}
