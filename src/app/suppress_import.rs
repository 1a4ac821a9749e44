//! Importing numbers onto the do-not-contact list in bulk: the CSV format (`parse_import`)
//! and the batched write (`store_rows`: one durable write per [`IMPORT_CHUNK`] rows), shared
//! by `leadline suppress import` (offline), `POST /v1/admin/suppressions/import` and the
//! admin page's suppression list.

use super::compliance::{check_list_name, clean_reason};
use leadline_core::model::Suppression;
use leadline_core::storage::{Store, StoreError};
use leadline_core::{Phone, Ts};

/// The list an import uses when neither the caller nor a `list` column names one.
pub const DEFAULT_IMPORT_LIST: &str = "internal_dnc";

/// One usable line of an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub line: u64,
    pub phone: Phone,
    pub reason: Option<String>,
    pub list: String,
}

/// The parsed import file: usable rows, and skipped lines with why.
#[derive(Debug, Default)]
pub struct ImportPlan {
    pub rows: Vec<ImportRow>,
    pub skipped: Vec<(u64, String)>,
}

/// Reads an import CSV. `list_flag` wins over a `list` column; `fallback_reason` is used for
/// rows without a reason.
pub fn parse_import(data: &[u8], list_flag: Option<&str>, fallback_reason: &str) -> Result<ImportPlan, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(data);
    let mut plan = ImportPlan::default();
    // Column positions: phone, reason, list.
    let mut cols: (usize, Option<usize>, Option<usize>) = (0, Some(1), None);
    let mut first = true;
    // csv's own line numbers do not count blank and comment lines, so count them here.
    let (mut counted_to, mut line) = (0usize, 1u64);
    for record in reader.byte_records() {
        let record = record.map_err(|e| format!("cannot read the CSV: {e}"))?;
        let start = record.position().map(|p| p.byte() as usize).unwrap_or(counted_to).clamp(counted_to, data.len());
        (counted_to, line) = record_line(data, counted_to, line, start);
        let field = |i: Option<usize>| {
            i.and_then(|i| record.get(i))
                .map(|b| String::from_utf8_lossy(b).trim_start_matches('\u{feff}').trim().to_string())
        };
        if std::mem::take(&mut first) {
            let names: Vec<String> = (0..record.len()).filter_map(|i| field(Some(i))).collect();
            if names.first().is_some_and(|n| n.eq_ignore_ascii_case("phone")) {
                let find = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
                cols = (0, find("reason"), find("list"));
                continue;
            }
        }
        let raw = field(Some(cols.0)).unwrap_or_default();
        if raw.is_empty() && record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue; // a blank line
        }
        let phone = match Phone::parse(&raw) {
            Ok(p) => p,
            Err(e) => {
                plan.skipped.push((line, e.to_string()));
                continue;
            }
        };
        let list = match list_flag {
            Some(l) => l.to_string(),
            None => field(cols.2).filter(|l| !l.is_empty()).unwrap_or_else(|| DEFAULT_IMPORT_LIST.to_string()),
        };
        if let Err(e) = check_list_name(&list) {
            plan.skipped.push((line, e));
            continue;
        }
        // A reason from `suppress export` may carry the formula escape's `'`: not part of it.
        let reason = match clean_reason(field(cols.1).as_deref().map(crate::csv_cell::unescape)) {
            Ok(r) => r.or_else(|| Some(fallback_reason.to_string())),
            Err(e) => {
                plan.skipped.push((line, e));
                continue;
            }
        };
        plan.rows.push(ImportRow { line, phone, reason, list });
    }
    Ok(plan)
}

/// The line a record starts on. `pos`/`line` is a position already counted; csv reports a
/// record as starting where it began skipping the blank and comment lines before it.
fn record_line(data: &[u8], mut pos: usize, mut line: u64, start: usize) -> (usize, u64) {
    line += data[pos..start].iter().filter(|b| **b == b'\n').count() as u64;
    pos = start;
    loop {
        let rest = &data[pos..];
        let skip = if rest.starts_with(b"\n") {
            1
        } else if rest.starts_with(b"\r\n") {
            2
        } else if rest.starts_with(b"#") {
            rest.iter().position(|b| *b == b'\n').map_or(rest.len(), |i| i + 1)
        } else {
            break;
        };
        pos += skip;
        line += 1;
    }
    (pos, line)
}

/// Rows per durable write in `suppress import` (and between two progress lines).
pub const IMPORT_CHUNK: usize = 5_000;

/// Stores the rows, [`IMPORT_CHUNK`] per durable write (`Store::suppress_many`), calling
/// `progress(done, total)` after each; returns how many numbers were already listed (and
/// were updated).
pub async fn store_rows(
    store: &Store,
    rows: &[ImportRow],
    now: Ts,
    mut progress: impl FnMut(usize, usize),
) -> Result<usize, StoreError> {
    let total = rows.len();
    let mut replaced = 0usize;
    let mut done = 0usize;
    for chunk in rows.chunks(IMPORT_CHUNK) {
        let mut entries = Vec::with_capacity(chunk.len());
        for row in chunk {
            if store.suppression(&row.phone)?.is_some() {
                replaced += 1;
            }
            let entry = Suppression { list: row.list.clone(), reason: row.reason.clone(), added_at: now };
            entries.push((row.phone.clone(), entry));
        }
        store.suppress_many(&entries).await?;
        done += chunk.len();
        progress(done, total);
    }
    Ok(replaced)
}

/// Imports an uploaded CSV (the API's upload): parsed like `leadline suppress import`,
/// stored in batches.
pub async fn import(
    app: &super::App,
    operator: &str,
    data: &[u8],
    list: Option<&str>,
) -> Result<super::views::SuppressionImport, super::AppError> {
    let plan = plan(operator, data, list)?;
    let now = Ts::from(app.clock.now());
    let mut batches = 0usize;
    let already_listed = store_rows(&app.store, &plan.rows, now, |_, _| batches += 1).await?;
    Ok(summarize(operator, plan, already_listed, batches))
}

fn plan(operator: &str, data: &[u8], list: Option<&str>) -> Result<ImportPlan, super::AppError> {
    if let Some(l) = list {
        check_list_name(l).map_err(|e| super::AppError::field(format!("`list`: {e}")))?;
    }
    parse_import(data, list, &format!("uploaded by {operator}")).map_err(super::AppError::field)
}

fn summarize(
    operator: &str,
    plan: ImportPlan,
    already_listed: usize,
    batches: usize,
) -> super::views::SuppressionImport {
    let mut lists: Vec<String> = plan.rows.iter().map(|r| r.list.clone()).collect();
    lists.sort_unstable();
    lists.dedup();
    tracing::info!(
        operator = %operator,
        imported = plan.rows.len(),
        skipped = plan.skipped.len(),
        "suppression list upload imported"
    );
    super::views::SuppressionImport {
        imported: plan.rows.len(),
        already_listed,
        skipped: plan.skipped.into_iter().map(|(line, reason)| super::views::SkippedLine { line, reason }).collect(),
        lists,
        batches,
    }
}

/// Uploads a page took, newest last. The page's upload is imported in the background so the
/// page can show its progress; the jobs live in this node's memory (the page asks the node
/// that took the upload), and only the latest [`KEPT_JOBS`] are remembered.
#[derive(Default)]
pub struct ImportJobs(std::sync::Mutex<std::collections::VecDeque<ImportJob>>);

const KEPT_JOBS: usize = 20;

/// One upload: how far its import got, and its outcome once done.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportJob {
    pub id: String,
    pub operator: String,
    pub file: String,
    /// Numbers to store, and stored so far.
    pub total: usize,
    pub done: usize,
    pub result: Option<super::views::SuppressionImport>,
    pub error: Option<String>,
}

impl ImportJob {
    pub fn finished(&self) -> bool {
        self.result.is_some() || self.error.is_some()
    }
}

impl ImportJobs {
    pub fn get(&self, id: &str) -> Option<ImportJob> {
        self.0.lock().ok()?.iter().find(|j| j.id == id).cloned()
    }

    fn add(&self, job: ImportJob) {
        if let Ok(mut jobs) = self.0.lock() {
            jobs.push_back(job);
            while jobs.len() > KEPT_JOBS {
                jobs.pop_front();
            }
        }
    }

    fn update(&self, id: &str, change: impl FnOnce(&mut ImportJob)) {
        if let Ok(mut jobs) = self.0.lock() {
            if let Some(job) = jobs.iter_mut().find(|j| j.id == id) {
                change(job);
            }
        }
    }
}

/// Starts importing an upload of the admin page in the background; its job id. The file is
/// checked first: a bad `list` or an unreadable file is refused here, before anything is
/// stored.
pub fn start(
    app: &super::App,
    operator: &str,
    file: &str,
    data: &[u8],
    list: Option<&str>,
) -> Result<String, super::AppError> {
    let plan = plan(operator, data, list)?;
    let id = super::operators::random_hex(12);
    app.imports.add(ImportJob {
        id: id.clone(),
        operator: operator.to_string(),
        file: file.to_string(),
        total: plan.rows.len(),
        done: 0,
        result: None,
        error: None,
    });
    let (app, job, operator) = (app.clone(), id.clone(), operator.to_string());
    tokio::spawn(async move {
        let now = Ts::from(app.clock.now());
        let mut batches = 0usize;
        let stored = store_rows(&app.store, &plan.rows, now, |done, _| {
            batches += 1;
            app.imports.update(&job, |j| j.done = done);
        })
        .await;
        match stored {
            Ok(already_listed) => {
                let result = summarize(&operator, plan, already_listed, batches);
                app.imports.update(&job, |j| j.result = Some(result));
            }
            Err(e) => {
                tracing::error!(error = %e, "suppression list upload stopped");
                app.imports.update(&job, |j| j.error = Some(format!("the import stopped: {e}")));
            }
        }
    });
    Ok(id)
}
