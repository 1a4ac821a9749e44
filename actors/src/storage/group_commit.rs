//! Group commit at the write level: one writer thread applies many callers' writes as one
//! sled batch and makes them durable with one flush.
//!
//! Callers hand their `Writes` (possibly none: a plain `flush`) to the queue and wait for
//! the answer. The `leadline-commit` thread takes everything queued, applies it in queue
//! order as `apply_batch`es on the keyspace tree (each caller's writes atomic in one, at
//! most `JOBS_PER_BATCH` callers per batch, no read per insert), flushes once (which also
//! covers every direct write made before it started), then answers each caller.
//! So N concurrent events cost N/16 sled batches and one flush, and each acknowledgement
//! still waits for a flush that covers its own writes.
//!
//! Why a thread of our own rather than `Db::flush_async`: that hops through sled's thread
//! pool, whose every job wakes all of its idle threads; on two cores those wake-ups cost
//! more than the flush. One long-lived thread writing and flushing costs one wake-up.
use super::keyspace::Writes;
use super::{Result, StoreError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

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

/// The most callers' writes applied as one sled batch; a larger group is applied as several
/// batches (each caller's writes stay in one) and flushed once. Why: while sled applies a
/// batch it holds its global write lock, and every read on the async workers (a lead's
/// snapshot, a dedupe key) waits for it; smaller batches keep those waits short.
const JOBS_PER_BATCH: usize = 16;

/// One caller's writes and where to send the outcome.
struct Job {
    writes: Writes,
    done: Option<oneshot::Sender<std::result::Result<(), String>>>,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    stop: bool,
}

/// What the callers and the writer thread share.
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// The error of the latest write or flush, if it failed.
    failing: Mutex<Option<String>>,
}

pub(crate) struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    pub(crate) fn new(
        db: sled::Db,
        kv: sled::Tree,
        barrier: Arc<RwLock<()>>,
        options: StoreOptions,
        dir: PathBuf,
    ) -> std::io::Result<Self> {
        let shared =
            Arc::new(Shared { queue: Mutex::new(Queue::default()), wake: Condvar::new(), failing: Mutex::new(None) });
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("leadline-commit".into())
            .spawn(move || writer(&worker, &db, &kv, &barrier, options, &dir))?;
        Ok(GroupCommit { shared, thread: Some(thread) })
    }

    /// The error of the latest write or flush, if it failed. sled keeps its first I/O error
    /// and refuses every later write until the database is reopened, so this stays set until
    /// a restart.
    pub(crate) fn failing(&self) -> Option<String> {
        lock(&self.shared.failing).clone()
    }

    fn enqueue(&self, writes: Writes, done: Option<oneshot::Sender<std::result::Result<(), String>>>) {
        lock(&self.shared.queue).jobs.push(Job { writes, done });
        self.shared.wake.notify_one();
    }

    /// Applies `writes` atomically and returns once they (and every write made before this
    /// call) are durable. Empty `writes` is a plain flush.
    pub(crate) async fn commit(&self, writes: Writes) -> Result<()> {
        metrics::counter!("leadline_flush_waits_total").increment(1);
        let (tx, rx) = oneshot::channel();
        self.enqueue(writes, Some(tx));
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Sled(sled::Error::Io(std::io::Error::other(e)))),
            Err(_) => Err(StoreError::Sled(sled::Error::Io(std::io::Error::other("the store is closing")))),
        }
    }

    /// Queues `writes` without waiting: they are applied in queue order (before anything
    /// queued after them) and durable with the flush that follows. For a record whose loss
    /// in a crash leaves a safe state behind (see `Store::set_outbox_status_lazy`).
    pub(crate) fn apply_later(&self, writes: Writes) {
        self.enqueue(writes, None);
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        lock(&self.shared.queue).stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // The thread holds a handle on the database: wait for it, so the files are
            // released when the store is dropped (a restart in the same process reopens them).
            let _ = thread.join();
        }
    }
}

/// A poisoned lock only means another thread panicked while holding it; the data stays valid.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn writer(
    shared: &Shared,
    db: &sled::Db,
    kv: &sled::Tree,
    barrier: &RwLock<()>,
    options: StoreOptions,
    dir: &std::path::Path,
) {
    let linger = options.flush_linger;
    let mut last_start = Instant::now().checked_sub(linger).unwrap_or_else(Instant::now);
    loop {
        {
            let mut queue = lock(&shared.queue);
            while queue.jobs.is_empty() && !queue.stop {
                queue = shared.wake.wait(queue).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if queue.stop && queue.jobs.is_empty() {
                return;
            }
        }
        let since = last_start.elapsed();
        if since < linger {
            std::thread::sleep(linger - since);
        }
        // Taken after the linger: whoever queued before this point is in this write.
        let jobs = std::mem::take(&mut lock(&shared.queue).jobs);
        last_start = Instant::now();
        let mut bytes = 0usize;
        let mut applied = Ok(());
        for chunk in jobs.chunks(JOBS_PER_BATCH) {
            let mut batch = sled::Batch::default();
            let mut ops = 0usize;
            for (k, v) in chunk.iter().flat_map(|job| &job.writes.ops) {
                bytes += k.len() + v.as_ref().map_or(0, Vec::len);
                match v {
                    Some(v) => batch.insert(k.as_slice(), v.as_slice()),
                    None => batch.remove(k.as_slice()),
                }
                ops += 1;
            }
            if ops > 0 {
                // The backup's barrier: a copy sees all of this batch or none of it.
                let _shared = barrier.read().unwrap_or_else(|e| e.into_inner());
                applied = kv.apply_batch(batch).map_err(|e| e.to_string());
            }
            if applied.is_err() {
                break;
            }
        }
        metrics::counter!("leadline_store_bytes_written_total").increment(bytes as u64);
        let result = applied.and_then(|()| db.flush().map(|_| ()).map_err(|e| e.to_string())).and_then(|()| {
            match options.durability {
                Durability::Process => Ok(()),
                Durability::Power => fsync_dir(dir).map_err(|e| e.to_string()),
            }
        });
        metrics::histogram!("leadline_flush_seconds").record(last_start.elapsed().as_secs_f64());
        metrics::histogram!("leadline_commit_jobs_per_write").record(jobs.len() as f64);
        match &result {
            Ok(()) => metrics::counter!("leadline_flushes_total").increment(1),
            Err(e) => tracing::error!(error = %e, "write or flush failed"),
        }
        *lock(&shared.failing) = result.as_ref().err().cloned();
        for job in jobs {
            if let Some(done) = job.done {
                let _ = done.send(result.clone());
            }
        }
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
