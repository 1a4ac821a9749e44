//! Compliance records for legal defence and the do-not-contact list: the consent export
//! (JSON and CSV, shared by the admin API and `leadline consent export`) and the
//! suppression list's operations. The decision core blocks automated texts to a listed
//! number (rule `suppression.<list>`) and the gateway re-checks the list just before sending.

use super::views::{ConsentRow, SuppressionList, SuppressionPut, SuppressionRemoved, SuppressionView};
use super::{App, AppError};
use leadline_core::model::Suppression;
use leadline_core::{Phone, Ts};

/// The CSV columns of a consent export, in order (also the JSON field names of a row).
pub const CONSENT_COLUMNS: [&str; 13] = [
    "phone",
    "event",
    "at",
    "granted_at",
    "source_url",
    "disclosure",
    "disclosure_sha256",
    "ip",
    "user_agent",
    "seller",
    "captured_from",
    "rule",
    "evidence",
];

impl ConsentRow {
    /// The row's values in [`CONSENT_COLUMNS`] order, as text (absent values are empty).
    pub fn cells(&self) -> [String; 13] {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        [
            self.phone.clone(),
            self.event.to_string(),
            self.at.to_string(),
            self.granted_at.map(|t| t.to_string()).unwrap_or_default(),
            text(&self.source_url),
            text(&self.disclosure),
            text(&self.disclosure_sha256),
            text(&self.ip),
            text(&self.user_agent),
            text(&self.seller),
            text(&self.captured_from),
            text(&self.rule),
            text(&self.evidence),
        ]
    }
}

/// The consent export as CSV (RFC 4180, header row first, even when the history is empty).
/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or carriage return
/// first) starts with `'` ([`crate::csv_cell::escape`]); the JSON export is the verbatim
/// evidence, and `disclosure_sha256` is the hash of the original disclosure text.
pub fn consent_csv(rows: &[ConsentRow]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    crate::csv_cell::write_record(&mut w, &CONSENT_COLUMNS)?;
    for row in rows {
        let cells = row.cells();
        let fields: Vec<&str> = cells.iter().map(String::as_str).collect();
        crate::csv_cell::write_record(&mut w, &fields)?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// The list a suppression goes on when none is named.
pub const DEFAULT_ADMIN_LIST: &str = "admin";
/// Longest accepted list name and reason.
pub const MAX_LIST_NAME: usize = 64;
pub const MAX_REASON: usize = 1000;

/// A list name is 1 to 64 characters of `[a-z0-9_]` (it becomes part of the rule
/// `suppression.<list>` on the timeline).
pub fn check_list_name(list: &str) -> Result<(), String> {
    if list.is_empty() {
        return Err("`list` must not be empty".into());
    }
    if list.len() > MAX_LIST_NAME {
        return Err(format!("`list` must be at most {MAX_LIST_NAME} characters"));
    }
    if !list.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        let shown: String = list.chars().take(MAX_LIST_NAME).collect();
        return Err(format!("`list` must contain only a-z, 0-9 and _ (got '{shown}')"));
    }
    Ok(())
}

/// A reason is trimmed; an empty one is none.
pub fn clean_reason(reason: Option<&str>) -> Result<Option<String>, String> {
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) if r.chars().count() > MAX_REASON => Err(format!("`reason` must be at most {MAX_REASON} characters")),
        other => Ok(other.map(str::to_string)),
    }
}

/// The listed numbers, optionally of one list only.
pub fn suppressions(
    app: &App,
    list: Option<&str>,
    q: Option<&str>,
    after: Option<&Phone>,
    limit: usize,
) -> Result<SuppressionList, AppError> {
    // `q`: digits the number contains (formatting ignored), e.g. an area code or the last four.
    let digits: String = q.unwrap_or("").chars().filter(char::is_ascii_digit).collect();
    let keep = |number: &str, s: &Suppression| {
        list.is_none_or(|l| s.list == l) && (digits.is_empty() || number.contains(digits.as_str()))
    };
    // One more than asked: whether there is a next page.
    let mut page = app.store.suppression_page(after.map(Phone::as_str), limit.saturating_add(1), keep)?;
    let more = page.len() > limit;
    page.truncate(limit);
    let suppressions: Vec<SuppressionView> = page.iter().map(|(p, s)| SuppressionView::new(p, s)).collect();
    let next_cursor = if more { page.last().map(|(p, _)| p.clone()) } else { None };
    Ok(SuppressionList { count: suppressions.len(), suppressions, next_cursor })
}

/// One number's entry (`raw`: E.164 or digits).
pub fn suppression(app: &App, raw: &str) -> Result<SuppressionView, AppError> {
    let phone = Phone::parse(raw)?;
    match app.store.suppression(&phone)? {
        Some(s) => Ok(SuppressionView::new(&phone, &s)),
        None => Err(AppError::NotFound(format!("{phone} is not on the suppression list"))),
    }
}

/// Puts a number on a list (default [`DEFAULT_ADMIN_LIST`]), replacing its entry if it had
/// one (`previous`). The number need not be a known lead: lists are often loaded before
/// the leads arrive.
pub async fn suppress(
    app: &App,
    raw: &str,
    list: Option<String>,
    reason: Option<String>,
    operator: &str,
) -> Result<SuppressionPut, AppError> {
    let phone = Phone::parse(raw)?;
    let list = list.unwrap_or_else(|| DEFAULT_ADMIN_LIST.to_string());
    check_list_name(&list).map_err(AppError::field)?;
    let reason = clean_reason(reason.as_deref()).map_err(AppError::field)?;
    let previous = app.store.suppression(&phone)?;
    let entry = Suppression { list, reason, added_at: Ts::from(app.clock.now()) };
    // In cluster mode the store publishes it to the log; answered once this node applied it.
    app.store.suppress(&phone, &entry).await?;
    tracing::info!(phone = %phone.masked(), list = %entry.list, operator = %operator, "number suppressed");
    let detail = format!(
        "number put on the {} list ({}): nothing automated and no reply goes to it",
        entry.list,
        entry.reason.as_deref().unwrap_or("no reason given")
    );
    super::leads::note_operator_action(app, &phone, operator, "admin.suppressed", detail).await;
    Ok(SuppressionPut {
        entry: SuppressionView::new(&phone, &entry),
        previous: previous.map(|p| SuppressionView::new(&phone, &p)),
    })
}

/// Takes a number off the list; the entry it had.
pub async fn unsuppress(
    app: &App,
    raw: &str,
    operator: &str,
    why: Option<&str>,
) -> Result<SuppressionRemoved, AppError> {
    let phone = Phone::parse(raw)?;
    let Some(entry) = app.store.suppression(&phone)? else {
        return Err(AppError::NotFound(format!("{phone} is not on the suppression list")));
    };
    app.store.unsuppress(&phone).await?;
    tracing::info!(phone = %phone.masked(), list = %entry.list, operator = %operator, "number removed from the suppression list");
    let detail = format!("number taken off the {} list ({})", entry.list, why.unwrap_or("no reason given"));
    super::leads::note_operator_action(app, &phone, operator, "admin.unsuppressed", detail).await;
    Ok(SuppressionRemoved { removed: SuppressionView::new(&phone, &entry), phone })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_names() {
        for ok in ["admin", "litigator", "internal_dnc", "list_2"] {
            assert_eq!(check_list_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "Litigator", "bad-list", "a b", " admin", "dnc!", &"x".repeat(65)] {
            assert!(check_list_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn csv_has_a_header_even_without_rows_and_quotes_what_needs_quoting() {
        assert_eq!(String::from_utf8(consent_csv(&[]).unwrap()).unwrap(), CONSENT_COLUMNS.join(",") + "\n");
        let row = ConsentRow {
            phone: "+12125550142".into(),
            event: "revoked",
            at: Ts::from_millis(0).unwrap(),
            granted_at: None,
            source_url: None,
            disclosure: None,
            disclosure_sha256: None,
            ip: None,
            user_agent: None,
            seller: None,
            captured_from: None,
            rule: Some("opt_out.keyword".into()),
            evidence: Some("stop, \"please\"\nnow".into()),
        };
        let out = String::from_utf8(consent_csv(&[row]).unwrap()).unwrap();
        let line = out.lines().nth(1).unwrap();
        assert!(line.starts_with("+12125550142,revoked,1970-01-01T00:00:00.000Z,,,,,,,,,opt_out.keyword,"), "{out}");
        assert!(out.ends_with("\"stop, \"\"please\"\"\nnow\"\n"), "{out}");
    }
}
