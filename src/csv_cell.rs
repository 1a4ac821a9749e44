//! Spreadsheet-safe CSV cells, for every CSV leadline writes (the consent export and the
//! suppression list export).
//!
//! Spreadsheets (Excel, LibreOffice Calc, Google Sheets) run a cell that starts with `=`,
//! `+`, `-` or `@` as a formula, and skip a leading tab or carriage return before doing so.
//! Lead sources and lead replies put text of their own into these files (consent disclosure,
//! user agent, source URL, suppression reasons), so a value such as `=HYPERLINK(...)` would
//! run on the operator's machine when the export is opened. Following OWASP's "CSV Injection"
//! page (<https://owasp.org/www-community/attacks/CSV_Injection>), a cell starting with one
//! of `=`, `+`, `-`, `@`, tab (0x09) or carriage return (0x0D) is written with a single quote
//! `'` in front, which spreadsheets show as text; CSV quoting (RFC 4180) is applied on top by
//! the `csv` writer as usual.
//!
//! Two kinds of value are left as they are because a spreadsheet reads them as numbers, not
//! formulas: plain decimal numbers (`-12.5`, `+3`) and E.164 phone numbers (`+12125550142`).
//!
//! The JSON exports are not escaped: they are the verbatim evidence, and `disclosure_sha256`
//! is always the SHA-256 of the original disclosure text.

use std::borrow::Cow;

/// First characters that make a spreadsheet read a cell as a formula.
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// The cell as it goes into a CSV file: `'` + `value` when a spreadsheet would run `value` as
/// a formula, else `value` unchanged. The one rule every CSV writer in leadline uses.
pub fn escape(value: &str) -> Cow<'_, str> {
    match value.chars().next() {
        Some(c) if FORMULA_START.contains(&c) && !is_plain_number(value) => Cow::Owned(format!("'{value}")),
        _ => Cow::Borrowed(value),
    }
}

/// The original value of a cell [`escape`] wrote: the leading `'` is removed only when the
/// cell is exactly what `escape` makes of the rest (so a value that really starts with `'`
/// followed by ordinary text is kept). Used when leadline reads its own export back in.
pub fn unescape(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if matches!(escape(rest), Cow::Owned(ref escaped) if escaped == cell) => rest,
        _ => cell,
    }
}

/// Writes one CSV record, each field through [`escape`].
pub fn write_record<W: std::io::Write>(w: &mut csv::Writer<W>, fields: &[&str]) -> csv::Result<()> {
    w.write_record(fields.iter().map(|f| escape(f).into_owned()))
}

/// An optional sign, ASCII digits and at most one decimal point, with at least one digit:
/// a number, never a formula. E.164 phone numbers (`+` and up to 15 digits) are of this form.
fn is_plain_number(value: &str) -> bool {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (!int.is_empty() || !frac.is_empty()) && all_digits(int) && all_digits(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_quoted() {
        for v in [
            "=HYPERLINK(\"https://evil.example\",\"x\")",
            "=cmd|' /C calc'!A0",
            "+cmd",
            "-2+3",
            "@SUM(1)",
            "\tx",
            "\r=1",
            "-",
            "+",
            "=",
            "+1 212 555 0142",
            "-1e5",
            "+.",
        ] {
            assert_eq!(escape(v), format!("'{v}"), "{v:?}");
            assert_eq!(unescape(&escape(v)), v, "{v:?} round trip");
        }
    }

    #[test]
    fn numbers_phones_and_ordinary_text_are_untouched() {
        for v in [
            "-12.5",
            "+3",
            "-.5",
            "12",
            "+12125550142",
            "+442071838750",
            "",
            "plain text",
            " =1+1",
            "https://agent.example.com/l/1",
            "2026-11-26T14:03:00.000Z",
            "a=b",
        ] {
            assert!(matches!(escape(v), Cow::Borrowed(_)), "{v:?}");
            assert_eq!(unescape(v), v, "{v:?}");
        }
    }

    #[test]
    fn unescape_only_removes_the_quote_escape_added() {
        // Not escaped again; read back, a value that really started with `'=` loses its quote.
        assert!(matches!(escape("'=1+1"), Cow::Borrowed(_)));
        assert_eq!(unescape("'=1+1"), "=1+1");
        assert_eq!(unescape("'hello"), "'hello");
        assert_eq!(unescape("'+12125550142"), "'+12125550142", "escape never quotes a phone number");
        assert_eq!(unescape("''=1"), "''=1");
    }

    #[test]
    fn records_are_escaped_and_csv_quoted() {
        let mut w = csv::Writer::from_writer(Vec::new());
        write_record(&mut w, &["+12125550142", "=1+1", "-12.5", "=A1,\"x\""]).unwrap();
        let out = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(out, "+12125550142,'=1+1,-12.5,\"'=A1,\"\"x\"\"\"\n");
    }
}
