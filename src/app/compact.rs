//! `leadline compact`: rewrites the database into a fresh one, offline. sled appends every
//! write to its log and reclaims space segment by segment, so a database that has taken
//! many updates holds several times its live data (docs/durability.md has the figures); a
//! fresh copy holds only the live keys.
//!
//! Steps, each safe to interrupt: copy the database into `<path>.compacting` (a backup);
//! rename `<path>` to `<path>.pre-compact`; rename the copy to `<path>`; delete the old one.
//! If a crash leaves `<path>.pre-compact` behind, `serve` refuses to start (it would
//! otherwise create an empty database at a missing `<path>`) and the next
//! `leadline compact` finishes or undoes the swap.

use super::views::CompactView;
use super::AppError;
use leadline_core::storage::Store;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "data".into());
    name.push(suffix);
    path.with_file_name(name)
}

/// The old database a compaction that was interrupted between its two renames left behind.
pub fn interrupted(path: &Path) -> Option<PathBuf> {
    let old = sibling(path, ".pre-compact");
    old.is_dir().then_some(old)
}

fn io(what: &str, p: &Path, e: std::io::Error) -> AppError {
    AppError::Unavailable(format!("compact: cannot {what} {}: {e}", p.display()))
}

/// Finishes or undoes the swap of an interrupted compaction: the old database is put back
/// if the new one is not in place yet, and deleted if it is.
fn recover(path: &Path) -> Result<(), AppError> {
    let Some(old) = interrupted(path) else {
        return Ok(());
    };
    if path.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| io("remove", &old, e))?;
    } else {
        std::fs::rename(&old, path).map_err(|e| io("restore", &old, e))?;
    }
    Ok(())
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// Compacts the database at `path`, which no process may hold open (the caller opens it
/// with `open`, which fails on sled's lock while the service runs).
pub fn run(path: &Path, open: impl Fn(&Path) -> Result<Store, AppError>) -> Result<CompactView, AppError> {
    let started = Instant::now();
    recover(path)?;
    let before_bytes = dir_size(path);
    let copy = sibling(path, ".compacting");
    if copy.exists() {
        // A copy an earlier run did not finish: start it again.
        std::fs::remove_dir_all(&copy).map_err(|e| io("remove", &copy, e))?;
    }
    let stats = {
        let store = open(path)?;
        crate::data_dir::prepare(&copy).map_err(|e| io("create", &copy, e))?;
        store.backup_to(&copy).map_err(|e| AppError::Unavailable(format!("compact: the copy failed: {e}")))?
    };
    let old = sibling(path, ".pre-compact");
    std::fs::rename(path, &old).map_err(|e| io("move aside", path, e))?;
    std::fs::rename(&copy, path).map_err(|e| io("move into place", &copy, e))?;
    std::fs::remove_dir_all(&old).map_err(|e| io("remove", &old, e))?;
    let view = CompactView {
        path: path.display().to_string(),
        leads: stats.leads,
        keys: stats.keys,
        before_bytes,
        after_bytes: dir_size(path),
        took_ms: started.elapsed().as_millis() as u64,
    };
    tracing::info!(leads = view.leads, before = view.before_bytes, after = view.after_bytes, "database compacted");
    Ok(view)
}
