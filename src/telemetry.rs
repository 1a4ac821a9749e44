//! Logging: human-readable by default, JSON by config. `RUST_LOG` overrides the filter.
//! Phone numbers are masked at the call sites (`Phone::masked`) and secrets are never logged;
//! as a backstop, the log writer masks anything that still looks like a phone number, in any
//! common format. The writer also escapes control characters (newlines, carriage returns,
//! tabs, C0/C1 controls, Unicode line and paragraph separators, bidi controls) inside each
//! event, so a logged value can never start a forged log line or reorder what is displayed.

use crate::config::{LogFormat, LogSettings};
use std::io::Write;
use tracing_subscriber::{fmt, EnvFilter};

pub fn init(log: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.filter));
    // Colours only on a terminal: log files and log shippers get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    // Every line passes the redacting writer: a full phone number that reaches a log call
    // (a message id is `<phone>#<seq>`, a third-party crate logs a URL) is masked anyway.
    let escape = match log.format {
        LogFormat::Json => Escape::Json,
        LogFormat::Text if ansi => Escape::TextKeepColours,
        LogFormat::Text => Escape::Text,
    };
    let builder = fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(move || Redacting { inner: std::io::stdout(), escape });
    // try_init: a second call (tests) is a no-op instead of a panic.
    let _ = match log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// One Prometheus recorder per process (tests start many apps in one process): histograms
/// with buckets, every family described (`metrics_catalog`), the build-info gauge set, and a
/// thread that drains histogram samples into their buckets every few seconds, so memory stays
/// bounded when nobody scrapes.
pub fn metrics_handle() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = crate::metrics_catalog::prometheus_builder().build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            crate::metrics_catalog::describe();
            crate::metrics_catalog::record_build_info();
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new().name("leadline-metrics".into()).spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(5));
                upkeep.run_upkeep();
            });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start the metrics upkeep thread; histograms are drained on scrape only");
            }
            handle
        })
        .clone()
}

/// How the writer escapes control characters in a formatted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Text lines: `\n`, `\r`, `\t`, others as `\u{85}`.
    Text,
    /// Text lines on a terminal: as `Text`, but the formatter's colour sequences
    /// (`ESC [ digits ; ... m`) pass. tracing-subscriber already escapes ESC inside values.
    TextKeepColours,
    /// JSON lines: `\uXXXX` (valid inside a JSON string; the encoder already escaped C0).
    Json,
}

/// A writer that masks phone-number-like digit runs and escapes control characters in each
/// formatted log event. tracing-subscriber hands over one whole event per `write_all`, ending
/// in its own line terminator, which is kept.
struct Redacting<W> {
    inner: W,
    escape: Escape,
}

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write_all(&sanitize_event(buf, self.escape))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One formatted event, made safe for a log line: phone numbers masked, control characters
/// escaped except the final line terminator.
pub fn sanitize_event(event: &[u8], escape: Escape) -> std::borrow::Cow<'_, [u8]> {
    let redacted = redact_phone_numbers(event);
    match std::str::from_utf8(&redacted) {
        Ok(text) => match escape_controls(text, escape) {
            std::borrow::Cow::Borrowed(_) => redacted,
            std::borrow::Cow::Owned(s) => std::borrow::Cow::Owned(s.into_bytes()),
        },
        // The formatter writes UTF-8; should anything else arrive, escape the ASCII controls.
        Err(_) => {
            let (body, end) = split_terminator(&redacted);
            let mut out = Vec::with_capacity(redacted.len());
            for &b in body {
                if b.is_ascii_control() {
                    out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
                } else {
                    out.push(b);
                }
            }
            out.extend_from_slice(end);
            std::borrow::Cow::Owned(out)
        }
    }
}

fn split_terminator(event: &[u8]) -> (&[u8], &[u8]) {
    let cut = if event.ends_with(b"\n") { event.len() - 1 } else { event.len() };
    event.split_at(cut)
}

/// Characters that must not reach a log line raw: C0 and C1 controls and DEL, the Unicode line
/// and paragraph separators, and the bidi marks, embeddings, overrides and isolates.
fn must_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{061c}' | '\u{200e}' | '\u{200f}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Escapes every character `must_escape` names, except the event's final line terminator.
pub fn escape_controls(event: &str, escape: Escape) -> std::borrow::Cow<'_, str> {
    let body = event.strip_suffix('\n').unwrap_or(event);
    if !body.chars().any(must_escape) {
        return std::borrow::Cow::Borrowed(event);
    }
    let mut out = String::with_capacity(event.len() + 16);
    let mut rest = body;
    while let Some(c) = rest.chars().next() {
        if c == '\u{1b}' && escape == Escape::TextKeepColours {
            let sgr = colour_sequence_len(rest);
            if sgr > 0 {
                out.push_str(&rest[..sgr]);
                rest = &rest[sgr..];
                continue;
            }
        }
        if must_escape(c) {
            match (c, escape) {
                ('\n', _) => out.push_str("\\n"),
                ('\r', _) => out.push_str("\\r"),
                ('\t', _) => out.push_str("\\t"),
                (c, Escape::Json) => out.push_str(&format!("\\u{:04x}", c as u32)),
                (c, _) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            }
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out.push_str(&event[body.len()..]);
    std::borrow::Cow::Owned(out)
}

/// Length of a colour (SGR) sequence `ESC [ [0-9;]* m` at the start of `s`, or 0.
fn colour_sequence_len(s: &str) -> usize {
    let b = s.as_bytes();
    if b.len() < 3 || b[0] != 0x1b || b[1] != b'[' {
        return 0;
    }
    let params = b[2..].iter().take_while(|c| c.is_ascii_digit() || **c == b';').count();
    match b.get(2 + params) {
        Some(b'm') => 3 + params,
        _ => 0,
    }
}

/// Separators a written phone number may contain between digit groups: space, dot, dash and
/// parentheses, also percent-encoded (`%20`, `%2E`, `%2D`, `%28`, `%29`). Returns the token's
/// length and whether it is a parenthesis.
fn separator_at(line: &[u8], i: usize) -> Option<(usize, bool)> {
    match line.get(i)? {
        b' ' | b'.' | b'-' => Some((1, false)),
        b'(' | b')' => Some((1, true)),
        b'%' => {
            let hex = [*line.get(i + 1)?, line.get(i + 2)?.to_ascii_uppercase()];
            match &hex {
                b"20" | b"2E" | b"2D" => Some((3, false)),
                b"28" | b"29" => Some((3, true)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `+` or `%2B` at `i`: its length.
fn plus_at(line: &[u8], i: usize) -> usize {
    match line.get(i) {
        Some(b'+') => 1,
        Some(b'%') if line.get(i + 1) == Some(&b'2') && matches!(line.get(i + 2), Some(b'B' | b'b')) => 3,
        _ => 0,
    }
}

/// `(` or `%28` at `i`: its length.
fn open_paren_at(line: &[u8], i: usize) -> usize {
    match separator_at(line, i) {
        Some((1, true)) if line[i] == b'(' => 1,
        Some((3, true)) if line[i + 2] == b'8' => 3,
        _ => 0,
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether the byte before `i` glues a number at `i` to a word (`id42...`). An escape that
/// ends in a letter does not: percent (`%3D`), backslash (`\n`, `\u000a`, as Debug and JSON
/// write them) or a colour sequence (`ESC[0m`).
fn glued_before(line: &[u8], i: usize) -> bool {
    if i == 0 || !is_word(line[i - 1]) {
        return false;
    }
    let hex = |b: &u8| b.is_ascii_hexdigit();
    let percent = i >= 3 && line[i - 3] == b'%' && line[i - 2..i].iter().all(hex);
    let backslash = i >= 2 && line[i - 2] == b'\\' && matches!(line[i - 1], b'n' | b'r' | b't' | b'b' | b'f' | b'0');
    let unicode = i >= 6 && line[i - 6] == b'\\' && line[i - 5] == b'u' && line[i - 4..i].iter().all(hex);
    let colour = line[i - 1] == b'm' && {
        let params = line[..i - 1].iter().rev().take_while(|b| b.is_ascii_digit() || **b == b';').count();
        let k = i - 1 - params;
        k >= 2 && line[k - 1] == b'[' && line[k - 2] == 0x1b
    };
    !(percent || backslash || unicode || colour)
}

/// A candidate number: digit groups and the separators between them.
struct Run {
    /// (start, end) of each digit group.
    groups: Vec<(usize, usize)>,
    /// The first separator byte between groups 1 and 2 (`b'%'` for an encoded one), if any.
    first_sep: Option<u8>,
    only_dots: bool,
}

/// Reads digit groups from `i`: between two groups at most two separator tokens, at most one
/// of them not a parenthesis (`(646) 555-0183`, `646.555.0183`, `+1 646 555 0183`).
fn read_run(line: &[u8], mut i: usize) -> Run {
    let mut run = Run { groups: Vec::new(), first_sep: None, only_dots: true };
    loop {
        let start = i;
        while i < line.len() && line[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            break;
        }
        run.groups.push((start, i));
        let mut j = i;
        let (mut tokens, mut plain) = (0, 0);
        let mut seps = Vec::new();
        while tokens < 2 {
            match separator_at(line, j) {
                Some((n, paren)) if paren || plain == 0 => {
                    if !paren {
                        plain += 1;
                    }
                    seps.push(line[j]);
                    tokens += 1;
                    j += n;
                }
                _ => break,
            }
        }
        if tokens == 0 || !line.get(j).is_some_and(u8::is_ascii_digit) {
            break;
        }
        if run.groups.len() == 1 {
            run.first_sep = seps.first().copied();
        }
        if seps.iter().any(|&s| s != b'.') {
            run.only_dots = false;
        }
        i = j;
    }
    run
}

/// Whether `groups` (a prefix of a run) reads as a phone number: 10 to 15 digits in at most
/// six groups, and not a date (`2026-11-27 08`), an IPv4 address or a decimal fraction.
fn is_phone_like(groups: &[(usize, usize)], run: &Run) -> bool {
    let lens: Vec<usize> = groups.iter().map(|(s, e)| e - s).collect();
    let digits: usize = lens.iter().sum();
    if !(10..=15).contains(&digits) || lens.len() > 6 {
        return false;
    }
    if lens.len() >= 3 && lens[0] == 4 && lens[1] == 2 && run.first_sep == Some(b'-') {
        return false;
    }
    if lens.len() > 1
        && run.only_dots
        && (lens.len() == 4 && lens.iter().all(|&n| n <= 3) || lens.iter().any(|&n| n > 4))
    {
        return false;
    }
    true
}

/// Masks phone numbers written in any common form: a run of 10 to 15 digits that stands alone
/// (not glued to a word or part of a longer number), in up to six groups separated by a
/// space, dot, dash or parentheses (also percent-encoded), with an optional leading `+` or
/// `%2B`. `+12125550142`, `%2B12125550142` and `+1 212 555 0142` become `+1212***0142` like
/// `Phone::masked`; `2125550142`, `(212) 555-0142` and `212.555.0142` become `***0142`.
/// Dates, IPv4 addresses, decimal fractions, ids and hashes are left alone.
pub fn redact_phone_numbers(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < line.len() {
        let plus = plus_at(line, i);
        let paren = if plus == 0 { open_paren_at(line, i) } else { 0 };
        let first = i + plus + paren;
        // A `+` starts a number wherever it stands; a digit or `(` only after a non-word.
        let candidate = line.get(first).is_some_and(u8::is_ascii_digit) && (plus > 0 || !glued_before(line, i));
        if !candidate {
            i += 1;
            continue;
        }
        let run = read_run(line, first);
        // The longest prefix of whole groups that can be a number (two numbers may follow
        // each other, separated by a space).
        let mut matched = None;
        for k in (1..=run.groups.len()).rev() {
            let end = run.groups[k - 1].1;
            let glued = line.get(end).is_some_and(|&b| is_word(b));
            if !glued && is_phone_like(&run.groups[..k], &run) {
                matched = Some(k);
                break;
            }
        }
        let first_group_end = run.groups.first().map_or(first + 1, |g| g.1);
        let Some(k) = matched else {
            i = first_group_end;
            continue;
        };
        let digits: Vec<u8> = run.groups[..k].iter().flat_map(|&(s, e)| line[s..e].iter().copied()).collect();
        let end = run.groups[k - 1].1;
        let buf = out.get_or_insert_with(|| Vec::with_capacity(line.len()));
        buf.extend_from_slice(&line[copied..i]);
        if plus > 0 {
            buf.push(b'+');
            buf.extend_from_slice(&digits[..4]);
        }
        buf.extend_from_slice(b"***");
        buf.extend_from_slice(&digits[digits.len() - 4..]);
        copied = end;
        i = end;
    }
    match out {
        None => std::borrow::Cow::Borrowed(line),
        Some(mut buf) => {
            buf.extend_from_slice(&line[copied..]);
            std::borrow::Cow::Owned(buf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{escape_controls, redact_phone_numbers, sanitize_event, Escape};

    fn r(s: &str) -> String {
        String::from_utf8(redact_phone_numbers(s.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn phone_numbers_are_masked_in_any_form() {
        assert_eq!(r("id=+12125550161#1 attempts=1"), "id=+1212***0161#1 attempts=1");
        assert_eq!(r("path=/v1/admin/leads/%2B12125550161/timeline"), "path=/v1/admin/leads/+1212***0161/timeline");
        assert_eq!(r("to 2125550161."), "to ***0161.");
        assert_eq!(r("\"+447946095812\""), "\"+4479***5812\"");
        assert_eq!(r("a +12125550161 and +13125550162"), "a +1212***0161 and +1312***0162");
    }

    #[test]
    fn other_numbers_are_left_alone() {
        for s in [
            "2026-11-27T08:35:57.268530Z",
            "SM00000000000000000000000000000042",
            "lsn 123456789",
            "sha 1234567890abcdef",
            "+1212***0161",
            "n=1234567890123456",
        ] {
            assert_eq!(r(s), s);
        }
    }

    #[test]
    fn formatted_numbers_are_masked() {
        for (raw, masked) in [
            ("path=/v1/admin/leads/646-555-0183", "path=/v1/admin/leads/***0183"),
            ("path=/v1/admin/leads/%2B16465550183", "path=/v1/admin/leads/+1646***0183"),
            ("path=/v1/admin/leads/%2B1%20646%20555%200183/x", "path=/v1/admin/leads/+1646***0183/x"),
            ("path=/v1/admin/leads/%28646%29%20555-0183", "path=/v1/admin/leads/***0183"),
            ("phone=(646) 555-0183 x", "phone=***0183 x"),
            ("phone=646.555.0183", "phone=***0183"),
            ("phone=\"+1 646 555 0183\"", "phone=\"+1646***0183\""),
            ("+1 (646) 555-0183", "+1646***0183"),
            ("1-646-555-0183.", "***0183."),
            ("+44 20 7946 0958", "+4420***0958"),
            ("+33 6 12 34 56 78", "+3361***5678"),
            ("2125550161 3125550162", "***0161 ***0162"),
            ("q=%3D2125550161", "q=%3D***0161"),
            ("first_name=\"Ana\\n2125550161\"", "first_name=\"Ana\\n***0161\""),
            ("\"status\":\"x\\u000a2125550161\"", "\"status\":\"x\\u000a***0161\""),
            ("phone\u{1b}[0m\u{1b}[2m=\u{1b}[0m2125550161", "phone\u{1b}[0m\u{1b}[2m=\u{1b}[0m***0161"),
        ] {
            assert_eq!(r(raw), masked, "{raw}");
        }
    }

    #[test]
    fn dates_addresses_and_fractions_are_not_numbers() {
        for s in [
            "at 2026-11-27 08:30:00",
            "peer=192.168.100.200:8080",
            "v=1.2.3",
            "took 12 ms",
            "0 0 0 0 0 0 0 0 0 0 0 0",
            "x(646) 555-018",
            "ratio=0.1234",
        ] {
            assert_eq!(r(s), s);
        }
    }

    fn text(s: &str, escape: Escape) -> String {
        escape_controls(s, escape).into_owned()
    }

    #[test]
    fn control_characters_are_escaped_but_not_the_line_terminator() {
        let forged = "INFO crm: CRM status change status=nurture\nERROR fake line\n";
        assert_eq!(text(forged, Escape::Text), "INFO crm: CRM status change status=nurture\\nERROR fake line\n");
        assert_eq!(text("a\rb\tc\u{7}d\u{7f}e\u{85}f\n", Escape::Text), "a\\rb\\tc\\u{7}d\\u{7f}e\\u{85}f\n");
        assert_eq!(
            text("a\u{2028}b\u{2029}c\u{202e}d\u{2066}e\u{200f}\n", Escape::Text),
            "a\\u{2028}b\\u{2029}c\\u{202e}d\\u{2066}e\\u{200f}\n"
        );
        assert_eq!(text("{\"m\":\"a\u{2028}b\u{85}\"}\n", Escape::Json), "{\"m\":\"a\\u2028b\\u0085\"}\n");
        // Colours pass on a terminal only; any other escape sequence is escaped.
        let coloured = "\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m x\u{1b}[2Ky\n";
        assert_eq!(
            text(coloured, Escape::TextKeepColours),
            "\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m x\\u{1b}[2Ky\n"
        );
        assert!(!text(coloured, Escape::Text).contains('\u{1b}'));
        // Nothing to escape: the line is passed as it is.
        assert!(matches!(escape_controls("plain line\n", Escape::Text), std::borrow::Cow::Borrowed(_)));
        assert_eq!(text("no terminator\n\n", Escape::Text), "no terminator\\n\n");
    }

    #[test]
    fn events_are_masked_then_escaped() {
        let event = "WARN x: bad phone=(646) 555-0183\r\nERROR forged\n".as_bytes();
        let out = String::from_utf8(sanitize_event(event, Escape::Text).into_owned()).unwrap();
        assert_eq!(out, "WARN x: bad phone=***0183\\r\\nERROR forged\n");
        assert_eq!(out.lines().count(), 1);
    }
}
