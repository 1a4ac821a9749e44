//! Group commit: durability without one flush per event.
//!
//! Every writer takes a ticket *after* its write and wakes one dedicated flusher thread.
//! The flusher notes the highest ticket issued so far, flushes (which covers every write
//! made before it started), then publishes that ticket as completed. Writers wait until
//! the completed ticket reaches theirs. So N concurrent events share one flush, and each
//! acknowledgement still waits for a flush that covers its own write.
//!
//! Why a thread of our own rather than `Db::flush_async`: that hops through sled's thread
//! pool, whose every job wakes all of its idle threads; on two cores those wake-ups cost
//! more than the flush. One long-lived thread flushing synchronously costs one wake-up.

use super::{Result, StoreError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::watch;

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

/// How the store makes acknowledged writes durable (`[storage]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    pub durability: Durability,
    /// The shortest time between the starts of two flushes (`storage.flush_linger_us`).
    /// Under load, writes that arrive meanwhile share the next flush; an idle store flushes
    /// at once. Each flush wakes sled's writer threads, so fewer, larger flushes leave more
    /// CPU to the events, at up to this much added latency per acknowledgement.
    pub flush_linger: Duration,
    /// The most bytes sled keeps in its page cache (`storage.cache_capacity_mb`). sled
    /// counts the serialized size of cached pages, so the process holds somewhat more.
    pub cache_capacity: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            durability: Durability::Process,
            flush_linger: Duration::from_micros(1_000),
            cache_capacity: super::DEFAULT_CACHE_BYTES,
        }
    }
}

/// The outcome of the latest flush: every ticket up to `upto` is durable, unless it failed.
#[derive(Debug, Clone, Default)]
struct Completed {
    upto: u64,
    error: Option<String>,
}

/// What the writers and the flusher thread share.
struct Shared {
    issued: AtomicU64,
    /// `true` when a writer is waiting for a flush that has not started yet.
    wanted: Mutex<Wake>,
    wake: Condvar,
    completed: watch::Sender<Completed>,
}

#[derive(Default)]
struct Wake {
    flush: bool,
    stop: bool,
}

pub(crate) struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    pub(crate) fn new(db: sled::Db, options: StoreOptions, dir: PathBuf) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            issued: AtomicU64::new(0),
            wanted: Mutex::new(Wake::default()),
            wake: Condvar::new(),
            completed: watch::Sender::new(Completed::default()),
        });
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("leadline-flush".into())
            .spawn(move || flusher(&worker, &db, options, &dir))?;
        Ok(GroupCommit { shared, thread: Some(thread) })
    }

    /// The error of the latest flush, if it failed. sled keeps its first I/O error and refuses
    /// every later write until the database is reopened, so this stays set until a restart.
    pub(crate) fn failing(&self) -> Option<String> {
        self.shared.completed.borrow().error.clone()
    }

    /// Returns once a flush that started after this call has completed.
    pub(crate) async fn flush(&self) -> Result<()> {
        let ticket = self.shared.issued.fetch_add(1, Ordering::SeqCst) + 1;
        metrics::counter!("leadline_flush_waits_total").increment(1);
        let mut done = self.shared.completed.subscribe();
        {
            let mut wanted = lock(&self.shared.wanted);
            wanted.flush = true;
        }
        self.shared.wake.notify_one();
        loop {
            {
                let c = done.borrow_and_update();
                if c.upto >= ticket {
                    return match &c.error {
                        None => Ok(()),
                        Some(e) => Err(StoreError::Sled(sled::Error::Io(std::io::Error::other(e.clone())))),
                    };
                }
            }
            if done.changed().await.is_err() {
                return Err(StoreError::Sled(sled::Error::Io(std::io::Error::other("the store is closing"))));
            }
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        lock(&self.shared.wanted).stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // The thread holds a handle on the database: wait for it, so the files are
            // released when the store is dropped (a restart in the same process reopens them).
            let _ = thread.join();
        }
    }
}

/// A poisoned lock only means another thread panicked while holding it; the flags stay valid.
fn lock(m: &Mutex<Wake>) -> std::sync::MutexGuard<'_, Wake> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn flusher(shared: &Shared, db: &sled::Db, options: StoreOptions, dir: &std::path::Path) {
    let linger = options.flush_linger;
    let mut last_start = Instant::now().checked_sub(linger).unwrap_or_else(Instant::now);
    loop {
        {
            let mut wanted = lock(&shared.wanted);
            while !wanted.flush && !wanted.stop {
                wanted = shared.wake.wait(wanted).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if wanted.stop && !wanted.flush {
                return;
            }
        }
        let since = last_start.elapsed();
        if since < linger {
            std::thread::sleep(linger - since);
        }
        // Cleared after the linger: whoever asked before this point is covered by this flush,
        // whoever asks after it sets the flag again and gets the next one.
        lock(&shared.wanted).flush = false;
        last_start = Instant::now();
        // Every ticket issued up to here belongs to a write that is already in sled's log.
        let covers = shared.issued.load(Ordering::SeqCst);
        let result = db.flush().map(|_| ()).map_err(|e| e.to_string()).and_then(|()| match options.durability {
            Durability::Process => Ok(()),
            Durability::Power => fsync_dir(dir).map_err(|e| e.to_string()),
        });
        metrics::histogram!("leadline_flush_seconds").record(last_start.elapsed().as_secs_f64());
        match &result {
            Ok(()) => metrics::counter!("leadline_flushes_total").increment(1),
            Err(e) => tracing::error!(error = %e, "flush failed"),
        }
        shared.completed.send_replace(Completed { upto: covers, error: result.err() });
    }
}

/// fsyncs every file of the database directory, and the directory itself.
fn fsync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut stack = vec![dir.to_path_buf()];
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
}
