//! SMS segment counting (GSM-7 vs UCS-2).
//!
//! A message is sent as GSM-7 when every character is in the GSM 03.38 default alphabet or its
//! extension table; otherwise the whole message is sent as UCS-2 (UTF-16).
//!
//! * GSM-7: basic characters cost 1 septet, extension characters (`^ { } \ [ ~ ] | €` and form
//!   feed) cost 2 (escape + character). Up to 160 septets fit in one segment; longer messages
//!   are split into concatenated segments of 153 septets, and an escape sequence is never split
//!   across a boundary.
//! * UCS-2: up to 70 UTF-16 code units fit in one segment; longer messages are split into
//!   segments of 67 code units, and a surrogate pair is never split across a boundary.
//!
//! No national language shift tables and no "smart encoding" substitutions are applied: a
//! curly quote (`“ ” ‘ ’`), an `á` or an emoji forces UCS-2, exactly as the carrier would see
//! the text we hand over. Use [`non_gsm_chars`] to tell template authors what to replace.
//!
//! The empty message counts as 0 units and **0 segments** (encoded as GSM-7): there is nothing
//! to send, and callers should reject empty bodies before sending rather than bill for them.

/// Character encoding the message will be sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Encoding {
    /// GSM 03.38 7-bit default alphabet (with extension table).
    Gsm7,
    /// UCS-2 / UTF-16.
    Ucs2,
}

/// Result of [`count`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Encoding the message will be sent in.
    pub encoding: Encoding,
    /// Septets for GSM-7 (extension chars count 2), UTF-16 code units for UCS-2.
    pub units: usize,
    /// Number of SMS segments (0 for the empty message).
    pub segments: usize,
}

/// Septets in a single-segment GSM-7 message.
const GSM7_SINGLE: usize = 160;
/// Septets per segment of a concatenated GSM-7 message (7 septets go to the UDH).
const GSM7_MULTI: usize = 153;
/// UTF-16 code units in a single-segment UCS-2 message.
const UCS2_SINGLE: usize = 70;
/// UTF-16 code units per segment of a concatenated UCS-2 message.
const UCS2_MULTI: usize = 67;

/// Counts the encoding, units and segments `text` will be sent as.
pub fn count(text: &str) -> SegmentInfo {
    if text.is_empty() {
        return SegmentInfo { encoding: Encoding::Gsm7, units: 0, segments: 0 };
    }
    if text.chars().all(|c| gsm7_septets(c).is_some()) {
        let sizes = text.chars().map(|c| gsm7_septets(c).unwrap_or(2));
        segment_info(Encoding::Gsm7, sizes, GSM7_SINGLE, GSM7_MULTI)
    } else {
        let sizes = text.chars().map(char::len_utf16);
        segment_info(Encoding::Ucs2, sizes, UCS2_SINGLE, UCS2_MULTI)
    }
}

/// The characters that are not representable in GSM-7 (and so force UCS-2), each listed once,
/// in order of first appearance. Empty when the text is GSM-7.
pub fn non_gsm_chars(text: &str) -> Vec<char> {
    let mut out: Vec<char> = Vec::new();
    for c in text.chars() {
        if gsm7_septets(c).is_none() && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// Totals the units and packs them greedily into segments, never splitting a multi-unit
/// character (GSM-7 escape sequence or UTF-16 surrogate pair) across a boundary.
fn segment_info(
    encoding: Encoding,
    sizes: impl Iterator<Item = usize> + Clone,
    single: usize,
    per_segment: usize,
) -> SegmentInfo {
    let units: usize = sizes.clone().sum();
    let segments = if units == 0 {
        0
    } else if units <= single {
        1
    } else {
        let mut segments = 1;
        let mut used = 0;
        for size in sizes {
            if used + size > per_segment {
                segments += 1;
                used = 0;
            }
            used += size;
        }
        segments
    };
    SegmentInfo { encoding, units, segments }
}

/// Septets needed for `c` in GSM-7: 1 for the default alphabet, 2 for the extension table,
/// `None` if it is not representable.
fn gsm7_septets(c: char) -> Option<usize> {
    match c {
        // 0x00-0x0F
        '@' | '£' | '$' | '¥' | 'è' | 'é' | 'ù' | 'ì' | 'ò' | 'Ç' | '\n' | 'Ø' | 'ø' | '\r' | 'Å'
        | 'å'
        // 0x10-0x1F (0x1B is the escape to the extension table)
        | '\u{0394}' // Δ
        | '_'
        | '\u{03A6}' // Φ
        | '\u{0393}' // Γ
        | '\u{039B}' // Λ
        | '\u{03A9}' // Ω
        | '\u{03A0}' // Π
        | '\u{03A8}' // Ψ
        | '\u{03A3}' // Σ
        | '\u{0398}' // Θ
        | '\u{039E}' // Ξ
        | 'Æ' | 'æ' | 'ß' | 'É'
        // 0x20-0x3F
        | ' ' | '!' | '"' | '#' | '¤' | '%' | '&' | '\'' | '(' | ')' | '*' | '+' | ',' | '-'
        | '.' | '/' | '0'..='9' | ':' | ';' | '<' | '=' | '>' | '?'
        // 0x40-0x5F
        | '¡' | 'A'..='Z' | 'Ä' | 'Ö' | 'Ñ' | 'Ü' | '§'
        // 0x60-0x7F
        | '¿' | 'a'..='z' | 'ä' | 'ö' | 'ñ' | 'ü' | 'à' => Some(1),
        // Extension table (escape + character).
        '\u{000C}' | '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' | '€' => Some(2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(encoding: Encoding, units: usize, segments: usize) -> SegmentInfo {
        SegmentInfo { encoding, units, segments }
    }

    fn rep(s: &str, n: usize) -> String {
        s.repeat(n)
    }

    #[test]
    fn alphabet_sizes() {
        let mut basic = 0;
        let mut ext = 0;
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            match gsm7_septets(c) {
                Some(1) => basic += 1,
                Some(2) => ext += 1,
                Some(_) => panic!("unexpected size for {c:?}"),
                None => {}
            }
        }
        // 128 code points minus the escape (0x1B); 9 printable extension chars + form feed.
        assert_eq!(basic, 127);
        assert_eq!(ext, 10);
    }

    #[test]
    fn empty_is_zero_segments() {
        assert_eq!(count(""), info(Encoding::Gsm7, 0, 0));
        assert!(non_gsm_chars("").is_empty());
    }

    #[test]
    fn gsm7_lengths() {
        assert_eq!(count("a"), info(Encoding::Gsm7, 1, 1));
        assert_eq!(count(&rep("a", 160)), info(Encoding::Gsm7, 160, 1));
        assert_eq!(count(&rep("a", 161)), info(Encoding::Gsm7, 161, 2));
        assert_eq!(count(&rep("a", 306)), info(Encoding::Gsm7, 306, 2));
        assert_eq!(count(&rep("a", 307)), info(Encoding::Gsm7, 307, 3));
        assert_eq!(count(&rep("a", 459)), info(Encoding::Gsm7, 459, 3));
        assert_eq!(count(&rep("a", 460)), info(Encoding::Gsm7, 460, 4));
    }

    #[test]
    fn gsm7_extension_chars_count_two() {
        assert_eq!(count(&rep("€", 80)), info(Encoding::Gsm7, 160, 1));
        assert_eq!(count(&rep("€", 81)), info(Encoding::Gsm7, 162, 2));
        assert_eq!(count("^{}\\[~]|€\u{000C}"), info(Encoding::Gsm7, 20, 1));
        assert_eq!(count(&format!("{}€", rep("a", 158))), info(Encoding::Gsm7, 160, 1));
        assert_eq!(count(&format!("{}€", rep("a", 159))), info(Encoding::Gsm7, 161, 2));
    }

    #[test]
    fn gsm7_escape_not_split_at_boundary() {
        // 152 + [2] + 152 = 306 septets: ceil(306/153) would say 2, but the € cannot straddle
        // the boundary, so it moves to segment 2 (2 + 151 = 153) and one 'a' spills into a 3rd.
        let text = format!("{}€{}", rep("a", 152), rep("a", 152));
        assert_eq!(count(&text), info(Encoding::Gsm7, 306, 3));
        // 153 + [2] + 151 = 306 septets: the € starts segment 2 cleanly -> 2 segments.
        let text = format!("{}€{}", rep("a", 153), rep("a", 151));
        assert_eq!(count(&text), info(Encoding::Gsm7, 306, 2));
        // 153 € = 306 septets: 76 per segment (152 septets) -> 3 segments.
        assert_eq!(count(&rep("€", 153)), info(Encoding::Gsm7, 306, 3));
    }

    #[test]
    fn gsm7_accented_and_greek_and_controls() {
        let text = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ ¤¡ÄÖÑÜ§¿äöñüà";
        let n = text.chars().count();
        assert_eq!(count(text), info(Encoding::Gsm7, n, 1));
        assert!(non_gsm_chars(text).is_empty());
        // é (0x05) is GSM-7 ...
        assert_eq!(count(&rep("é", 70)), info(Encoding::Gsm7, 70, 1));
    }

    #[test]
    fn not_gsm7() {
        // ... but á is not.
        assert_eq!(count("á"), info(Encoding::Ucs2, 1, 1));
        assert_eq!(non_gsm_chars("cómo está"), vec!['ó', 'á']);
        // Lower-case ç (only upper-case Ç is in the table), backtick, tab, NBSP, Ohm sign.
        for c in ['ç', '`', '\t', '\u{00A0}', '\u{2126}', '\u{001B}', '\0', 'Ê'] {
            assert_eq!(count(&c.to_string()).encoding, Encoding::Ucs2, "{c:?}");
        }
    }

    #[test]
    fn curly_quotes_force_ucs2() {
        let text = "Hi Jane, it’s Bob. Reply “STOP” to opt out.";
        let result = count(text);
        assert_eq!(result.encoding, Encoding::Ucs2);
        assert_eq!(result.units, text.chars().count());
        assert_eq!(non_gsm_chars(text), vec!['’', '“', '”']);
        // The straight-quote version is GSM-7.
        let straight = "Hi Jane, it's Bob. Reply \"STOP\" to opt out.";
        assert_eq!(count(straight).encoding, Encoding::Gsm7);
        assert!(non_gsm_chars(straight).is_empty());
        for c in ['‘', '’', '“', '”', '–', '—', '…'] {
            assert_eq!(count(&c.to_string()).encoding, Encoding::Ucs2, "{c:?}");
        }
    }

    #[test]
    fn one_emoji_turns_message_ucs2() {
        let text = format!("{}😀", rep("a", 100));
        assert_eq!(count(&text), info(Encoding::Ucs2, 102, 2));
        assert_eq!(non_gsm_chars(&text), vec!['😀']);
        // Extension chars are single UTF-16 units once in UCS-2.
        assert_eq!(count("€á"), info(Encoding::Ucs2, 2, 1));
    }

    #[test]
    fn ucs2_lengths() {
        assert_eq!(count(&rep("á", 70)), info(Encoding::Ucs2, 70, 1));
        assert_eq!(count(&rep("á", 71)), info(Encoding::Ucs2, 71, 2));
        assert_eq!(count(&rep("á", 134)), info(Encoding::Ucs2, 134, 2));
        assert_eq!(count(&rep("á", 135)), info(Encoding::Ucs2, 135, 3));
        assert_eq!(count(&rep("á", 201)), info(Encoding::Ucs2, 201, 3));
        assert_eq!(count(&rep("á", 202)), info(Encoding::Ucs2, 202, 4));
    }

    #[test]
    fn ucs2_surrogate_pair_not_split_at_boundary() {
        // 35 emoji = 70 units: one segment.
        assert_eq!(count(&rep("😀", 35)), info(Encoding::Ucs2, 70, 1));
        // 36 emoji = 72 units: 33 pairs (66 units) per segment -> 2.
        assert_eq!(count(&rep("😀", 36)), info(Encoding::Ucs2, 72, 2));
        // 67 emoji = 134 units: ceil(134/67) would be 2, but 33 per segment -> 3.
        assert_eq!(count(&rep("😀", 67)), info(Encoding::Ucs2, 134, 3));
        // 66 + [2] + 66 = 134 units: the emoji moves to segment 2, one 'á' spills to a 3rd.
        let text = format!("{}😀{}", rep("á", 66), rep("á", 66));
        assert_eq!(count(&text), info(Encoding::Ucs2, 134, 3));
        // 67 + [2] + 65 = 134 units: the emoji starts segment 2 cleanly -> 2.
        let text = format!("{}😀{}", rep("á", 67), rep("á", 65));
        assert_eq!(count(&text), info(Encoding::Ucs2, 134, 2));
    }

    #[test]
    fn non_gsm_chars_dedup_in_order() {
        assert_eq!(non_gsm_chars("a😀b“😀”c😀"), vec!['😀', '“', '”']);
        assert!(non_gsm_chars("plain text 123 {€}").is_empty());
    }

    #[test]
    fn encoding_serde_round_trip() {
        let json = serde_json::to_string(&Encoding::Gsm7).unwrap();
        assert_eq!(json, "\"Gsm7\"");
        let back: Encoding = serde_json::from_str("\"Ucs2\"").unwrap();
        assert_eq!(back, Encoding::Ucs2);
    }

    #[test]
    fn units_match_definitions() {
        for text in ["hello", "x€y", "á😀b", "“quoted”", "\u{000C}", "😀😀😀"] {
            let result = count(text);
            match result.encoding {
                Encoding::Gsm7 => {
                    let expected: usize = text.chars().filter_map(gsm7_septets).sum();
                    assert_eq!(result.units, expected, "{text:?}");
                }
                Encoding::Ucs2 => {
                    assert_eq!(result.units, text.encode_utf16().count(), "{text:?}");
                }
            }
        }
    }
}
