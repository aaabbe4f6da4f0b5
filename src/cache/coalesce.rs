//! Request coalescing (one upstream fill per key, shared by every waiter) and
//! the short-lived memory of upstream 404/410 responses.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use futures::future::{BoxFuture, FutureExt, Shared};
use tokio::runtime::Handle;
use tokio_util::task::TaskTracker;

use super::CacheError;
use crate::store::{FileRecord, MutableRecord};

/// The result of a fill.
#[derive(Debug, Clone)]
pub enum Filled {
    File(FileRecord),
    Body(MutableRecord),
}

type SharedFill = Shared<BoxFuture<'static, Result<Filled, CacheError>>>;

pub struct Coalescer {
    running: Mutex<HashMap<String, SharedFill>>,
    /// Tracker of every fill task and background prefetch, which shutdown
    /// waits for.
    tasks: TaskTracker,
    /// The runtime that was current when the cache was built. Fills run on
    /// it, not on the runtime of the connection thread that requested them.
    runtime: Option<Handle>,
}

impl Default for Coalescer {
    fn default() -> Self {
        Coalescer::new()
    }
}

impl Coalescer {
    pub fn new() -> Coalescer {
        Coalescer {
            running: Mutex::default(),
            tasks: TaskTracker::new(),
            runtime: Handle::try_current().ok(),
        }
    }

    /// Returns the tracker of fill tasks and prefetches.
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Runs `task` on the cache's runtime, tracked, for work that outlives
    /// its request.
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.runtime {
            Some(runtime) => self.tasks.spawn_on(task, runtime),
            None => self.tasks.spawn(task),
        }
    }

    /// Runs `fill` for `key` unless a fill for it is already running, in which
    /// case this waits for that one. The fill runs in its own task, so it
    /// completes even if every waiting client disconnects.
    pub async fn run<F>(&self, key: String, fill: F) -> Result<Filled, CacheError>
    where
        F: Future<Output = Result<Filled, CacheError>> + Send + 'static,
    {
        let shared = {
            let mut running = self.running.lock().expect("coalescer lock");
            if let Some(existing) = running.get(&key) {
                existing.clone()
            } else {
                let task = self.spawn(fill);
                let shared = async move {
                    task.await
                        .unwrap_or_else(|e| Err(CacheError::Invalid(format!("fill task failed: {e}"))))
                }
                .boxed()
                .shared();
                running.insert(key.clone(), shared.clone());
                shared
            }
        };
        let result = shared.clone().await;
        let mut running = self.running.lock().expect("coalescer lock");
        if running.get(&key).is_some_and(|current| current.ptr_eq(&shared)) {
            running.remove(&key);
        }
        result
    }
}

/// Keys the upstream returned 404/410 for, with the reason and the clock time in
/// milliseconds when that memory expires.
#[derive(Default)]
pub struct NegativeCache {
    entries: Mutex<HashMap<String, (u64, String)>>,
}

impl NegativeCache {
    pub fn get(&self, key: &str, now_ms: u64) -> Option<String> {
        let entries = self.entries.lock().expect("negative cache lock");
        match entries.get(key) {
            Some((expires, reason)) if *expires > now_ms => Some(reason.clone()),
            _ => None,
        }
    }

    pub fn insert(&self, key: String, reason: String, now_ms: u64, ttl: std::time::Duration) {
        let mut entries = self.entries.lock().expect("negative cache lock");
        if entries.len() >= 100_000 {
            entries.retain(|_, (expires, _)| *expires > now_ms);
        }
        entries.insert(key, (now_ms + ttl.as_millis() as u64, reason));
    }
}
