//! Bookkeeping for eviction: when each entry was last served, recorded in
//! memory on every hit and written to the index in batches (so a hit costs
//! no disk write), and which blobs are being sent right now.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Last-served times (milliseconds since the Unix epoch) not yet written out.
#[derive(Default)]
pub struct AccessLog {
    recent: Mutex<HashMap<String, u64>>,
}

impl AccessLog {
    pub fn touch(&self, key: &str, now_ms: u64) {
        let mut recent = self.recent.lock().expect("access log lock");
        match recent.get_mut(key) {
            Some(time) => *time = now_ms,
            None => {
                recent.insert(key.to_string(), now_ms);
            }
        }
    }

    /// Takes every recorded time, leaving the log empty.
    pub fn drain(&self) -> HashMap<String, u64> {
        std::mem::take(&mut *self.recent.lock().expect("access log lock"))
    }

    pub fn get(&self, key: &str) -> Option<u64> {
        self.recent.lock().expect("access log lock").get(key).copied()
    }
}

/// Blobs with a response in progress, by SHA-256; eviction skips them.
#[derive(Default)]
pub struct ServingSet {
    counts: Mutex<HashMap<String, usize>>,
}

impl ServingSet {
    /// Marks `sha256` as being served until the guard is dropped.
    pub fn enter(self: &Arc<Self>, sha256: &str) -> ServingGuard {
        *self
            .counts
            .lock()
            .expect("serving set lock")
            .entry(sha256.to_string())
            .or_default() += 1;
        ServingGuard {
            set: self.clone(),
            sha256: sha256.to_string(),
        }
    }

    pub fn contains(&self, sha256: &str) -> bool {
        self.counts.lock().expect("serving set lock").contains_key(sha256)
    }
}

/// Keeps a blob out of eviction while a response reads it.
pub struct ServingGuard {
    set: Arc<ServingSet>,
    sha256: String,
}

impl Drop for ServingGuard {
    fn drop(&mut self) {
        let mut counts = self.set.counts.lock().expect("serving set lock");
        if let Some(count) = counts.get_mut(&self.sha256) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.sha256);
            }
        }
    }
}
