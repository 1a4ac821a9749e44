//! Group commit: durability without one flush per event.
//!
//! Every writer takes a ticket *after* its write; a flush that starts after a ticket was
//! issued covers that write. Writers queue on one lock: the first runs a flush that covers
//! every ticket issued so far, and the writers behind it find their ticket already covered
//! and return without flushing. So N concurrent events share one flush, and each
//! acknowledgement still waits for a flush that covers its own write.

use super::{Result, StoreError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Mutex;

/// How far an acknowledged write is guaranteed to survive (`storage.durability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// sled's flush: survives a process crash (`kill -9`); on Linux it is
    /// `sync_file_range`, which does not flush the drive's write cache.
    #[default]
    Process,
    /// Additionally `fsync` the database files before acknowledging: survives power loss
    /// on drives that honour flushes, at a cost the load harness measures.
    Power,
}

pub(crate) struct GroupCommit {
    issued: AtomicU64,
    completed: AtomicU64,
    lock: Mutex<()>,
    durability: Durability,
    dir: PathBuf,
}

impl GroupCommit {
    pub(crate) fn new(durability: Durability, dir: PathBuf) -> Self {
        GroupCommit { issued: AtomicU64::new(0), completed: AtomicU64::new(0), lock: Mutex::new(()), durability, dir }
    }

    /// Returns once a flush that started after this call has completed.
    pub(crate) async fn flush(&self, db: &sled::Db) -> Result<()> {
        let ticket = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let _turn = self.lock.lock().await;
        if self.completed.load(Ordering::SeqCst) >= ticket {
            metrics::counter!("leadline_flushes_shared_total").increment(1);
            return Ok(());
        }
        let covers = self.issued.load(Ordering::SeqCst);
        db.flush_async().await?;
        if self.durability == Durability::Power {
            fsync_dir(self.dir.clone()).await?;
        }
        self.completed.store(covers, Ordering::SeqCst);
        metrics::counter!("leadline_flushes_total").increment(1);
        Ok(())
    }
}

/// fsyncs every file of the database directory, and the directory itself.
async fn fsync_dir(dir: PathBuf) -> Result<()> {
    let io = |e: std::io::Error| StoreError::Sled(sled::Error::Io(e));
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d)? {
                let path = entry?.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    std::fs::File::open(&path)?.sync_all()?;
                }
            }
            std::fs::File::open(&d)?.sync_all()?;
        }
        Ok(())
    })
    .await
    .map_err(|e| io(std::io::Error::other(e)))?
    .map_err(io)
}
