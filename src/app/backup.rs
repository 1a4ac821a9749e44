//! Backups: a consistent copy of the database, taken by whoever holds it open — the running
//! service (`POST /v1/admin/backup`) or, while it is stopped, the CLI (`leadline backup DIR`).
//! The copy is a sled database this build opens as it is (`Store::backup_to`).

use super::views::BackupView;
use super::AppError;
use leadline_core::storage::{Store, StoreError};
use std::path::Path;
use std::time::Instant;

/// Copies `store` into `dir`, which must be absent or an empty directory; it is created
/// `0700` (the copy holds the same personal data as the database). Blocking: from async
/// code, use [`backup`].
pub fn run(store: &Store, dir: &Path) -> Result<BackupView, AppError> {
    if !dir.is_absolute() {
        return Err(AppError::field(format!("dir must be an absolute path, not {}", dir.display())));
    }
    match std::fs::read_dir(dir).map(|mut entries| entries.next().is_some()) {
        Ok(true) => {
            return Err(AppError::field(format!(
                "{} exists and is not empty; back up into a new directory",
                dir.display()
            )))
        }
        Ok(false) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(AppError::field(format!("cannot use {} as the backup directory: {e}", dir.display()))),
    }
    crate::data_dir::prepare(dir)
        .map_err(|e| AppError::field(format!("cannot create the backup directory {}: {e}", dir.display())))?;
    let started = Instant::now();
    let stats = store.backup_to(dir).map_err(|e| match e {
        StoreError::BackupTarget(_) => AppError::field(e.to_string()),
        e => AppError::Unavailable(format!("the backup into {} failed: {e}", dir.display())),
    })?;
    let view = BackupView {
        dir: dir.display().to_string(),
        leads: stats.leads,
        keys: stats.keys,
        bytes: stats.bytes,
        took_ms: started.elapsed().as_millis() as u64,
        writes_paused_ms: stats.writes_paused.as_millis() as u64,
    };
    tracing::info!(
        leads = view.leads,
        keys = view.keys,
        bytes = view.bytes,
        took_ms = view.took_ms,
        writes_paused_ms = view.writes_paused_ms,
        "backup written"
    );
    Ok(view)
}

/// [`run`] on a blocking thread, for the service: events wait for the copy (the store's
/// write barrier), reads and health checks do not.
pub async fn backup(store: &Store, dir: &Path) -> Result<BackupView, AppError> {
    let store = store.clone();
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || run(&store, &dir))
        .await
        .map_err(|e| AppError::Unavailable(format!("the backup task failed: {e}")))?
}
