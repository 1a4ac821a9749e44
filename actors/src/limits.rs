//! Length limits on the free-text fields that lead sources, MLS feeds and CRMs send.
//!
//! Every rule exists once, here: the HTTP edge refuses over-long fields with 422
//! `invalid_field` ([`check_name`], [`check_email`], [`check_address`]); the integrations
//! whose data must not be lost (Follow Up Boss people, RESO listings) shorten them instead
//! ([`clip`]); a long free-text lead message is kept, shortened and marked ([`clip_message`]).
//! Lengths are counted in characters (Unicode scalar values), not bytes. See docs/limits.md.

/// `first_name`, `last_name`.
pub const NAME_MAX_CHARS: usize = 100;
/// `email`: the longest address SMTP can carry (RFC 5321 section 4.5.3.1.3: a path is at
/// most 256 octets including the angle brackets; RFC 3696 erratum 1690).
pub const EMAIL_MAX_CHARS: usize = 254;
/// A listing's street address (`listing.address`, `address`).
pub const ADDRESS_MAX_CHARS: usize = 200;
/// A lead's free-text `message`: longer ones are kept up to this many characters and marked.
pub const MESSAGE_MAX_CHARS: usize = 1000;

/// What [`clip`] puts at the end of a shortened field. Three full stops rather than "…"
/// (U+2026): "…" is not in the GSM 03.38 alphabet, so one in a texted field would switch the
/// whole SMS to UCS-2 and cut each segment from 153 to 67 characters.
pub const ELLIPSIS: &str = "...";

/// A field over its limit (the HTTP edge answers 422 `invalid_field` with this message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` is {chars} characters long; at most {max} are accepted")]
pub struct TooLong {
    pub field: String,
    pub chars: usize,
    pub max: usize,
}

/// `Err` when `value` has more than `max` characters.
pub fn check(field: &str, value: Option<&str>, max: usize) -> Result<(), TooLong> {
    match value.map(|v| v.chars().count()) {
        Some(chars) if chars > max => Err(TooLong { field: field.to_string(), chars, max }),
        _ => Ok(()),
    }
}

pub fn check_name(field: &str, value: Option<&str>) -> Result<(), TooLong> {
    check(field, value, NAME_MAX_CHARS)
}

pub fn check_email(field: &str, value: Option<&str>) -> Result<(), TooLong> {
    check(field, value, EMAIL_MAX_CHARS)
}

pub fn check_address(field: &str, value: Option<&str>) -> Result<(), TooLong> {
    check(field, value, ADDRESS_MAX_CHARS)
}

/// `value` unchanged if it has at most `max` characters, else its first characters followed
/// by [`ELLIPSIS`], `max` characters in all.
pub fn clip(value: &str, max: usize) -> String {
    if value.chars().count() <= max {
        return value.to_string();
    }
    let keep = max.saturating_sub(ELLIPSIS.len());
    let head: String = value.chars().take(keep).collect();
    format!("{}{ELLIPSIS}", head.trim_end())
}

/// A lead's message, unchanged up to [`MESSAGE_MAX_CHARS`]; a longer one keeps its first
/// [`MESSAGE_MAX_CHARS`] characters and says how long it was, so no inquiry is refused for it.
pub fn clip_message(message: String) -> String {
    let chars = message.chars().count();
    if chars <= MESSAGE_MAX_CHARS {
        return message;
    }
    let head: String = message.chars().take(MESSAGE_MAX_CHARS).collect();
    format!("{head}… [truncated from {chars} characters]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_characters_not_bytes() {
        // 100 two-byte characters are 200 bytes but within the 100-character limit.
        let name = "é".repeat(NAME_MAX_CHARS);
        assert!(check_name("first_name", Some(&name)).is_ok());
        let e = check_name("first_name", Some(&format!("{name}x"))).unwrap_err();
        assert_eq!(e, TooLong { field: "first_name".into(), chars: 101, max: 100 });
        assert!(e.to_string().contains("`first_name`"));
        assert!(check_email("email", Some(&"a".repeat(254))).is_ok());
        assert!(check_email("email", Some(&"a".repeat(255))).is_err());
        assert!(check_address("address", Some(&"a".repeat(201))).is_err());
        assert!(check_address("address", None).is_ok());
    }

    #[test]
    fn clip_keeps_short_values_and_marks_long_ones() {
        assert_eq!(clip("Ana", 100), "Ana");
        assert_eq!(clip(&"ab ".repeat(100), 10), "ab ab a...");
        // Spaces before the cut are dropped.
        assert_eq!(clip("abcd    efgh", 10), "abcd...");
        let clipped = clip(&"ü".repeat(500), NAME_MAX_CHARS);
        assert_eq!(clipped.chars().count(), NAME_MAX_CHARS);
        assert!(clipped.ends_with(ELLIPSIS));
    }

    #[test]
    fn long_messages_are_kept_shortened_and_marked() {
        assert_eq!(clip_message("Is it available?".into()), "Is it available?");
        let kept = clip_message("x".repeat(5000));
        assert!(kept.starts_with(&"x".repeat(MESSAGE_MAX_CHARS)));
        assert!(kept.ends_with("… [truncated from 5000 characters]"), "{kept}");
        assert_eq!(kept.chars().filter(|c| *c == 'x').count(), MESSAGE_MAX_CHARS);
    }
}
