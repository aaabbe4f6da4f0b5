//! Keeping the store within a size budget. Least recently served entries go
//! first, but never a pinned module or a blob being sent. Blobs that no index
//! entry points to are removed once they are old enough that no fill can
//! still be about to index them.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use super::{io_error, kind_of_key, FileRecord, Store, StoreError};
use crate::module::{decode_element, PathPatterns};

/// Counts of what one eviction or orphan pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub entries: usize,
    pub bytes: u64,
}

struct Candidate {
    key: String,
    record: FileRecord,
    /// Milliseconds since the Unix epoch.
    last_used: u64,
}

fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Decodes the module path of an index key `<path>@<version>/<kind>`.
fn module_of_key(key: &str) -> Option<String> {
    let (encoded, _) = key.split_once('@')?;
    decode_element(encoded)
}

impl Store {
    /// Records that `key` was served now; costs no disk write.
    pub fn touch(&self, key: &str) {
        self.access.touch(key, unix_now_ms());
    }

    /// Writes the recorded access times to the index.
    pub fn flush_access_times(&self) -> Result<(), StoreError> {
        let recent = self.access.drain();
        let mut batch = sled::Batch::default();
        for (key, time) in recent {
            batch.insert(key.as_bytes(), &time.to_be_bytes());
        }
        self.access_times.apply_batch(batch)?;
        Ok(())
    }

    fn last_used(&self, key: &str, record: &FileRecord) -> Result<u64, StoreError> {
        let stored = self
            .access_times
            .get(key.as_bytes())?
            .and_then(|v| v.as_ref().try_into().ok())
            .map(u64::from_be_bytes);
        let recent = self.access.get(key);
        Ok((record.stored_at * 1000)
            .max(stored.unwrap_or(0))
            .max(recent.unwrap_or(0)))
    }

    /// Removes least recently served entries until the store's files take
    /// at most `target_bytes`. Entries of modules matching `pins`, blobs
    /// being served, and the key `keep` are never removed. Blocking: call it
    /// from a blocking thread.
    pub fn evict_to(&self, target_bytes: u64, pins: &PathPatterns, keep: Option<&str>) -> Result<Removed, StoreError> {
        let mut references: HashMap<String, usize> = HashMap::new();
        let mut candidates = Vec::new();
        let mut total = 0u64;
        for item in self.files.iter() {
            let (key, value) = item?;
            let key = String::from_utf8_lossy(&key).into_owned();
            let record = FileRecord::decode(&key, &value)?;
            total += record.size;
            *references.entry(record.sha256.clone()).or_default() += 1;

            let pinned = module_of_key(&key).is_some_and(|m| pins.matches(&m));
            if pinned || keep == Some(key.as_str()) || self.serving.contains(&record.sha256) {
                continue;
            }
            let last_used = self.last_used(&key, &record)?;
            candidates.push(Candidate { key, record, last_used });
        }
        if total <= target_bytes {
            return Ok(Removed::default());
        }

        candidates.sort_by_key(|c| c.last_used);
        let mut removed = Removed::default();
        for candidate in candidates {
            if total <= target_bytes {
                break;
            }
            if self
                .files
                .compare_and_swap(
                    candidate.key.as_bytes(),
                    Some(candidate.record.encode()),
                    None as Option<&[u8]>,
                )?
                .is_err()
            {
                continue;
            }
            self.count_removal();
            self.access_times.remove(candidate.key.as_bytes())?;
            let count = references.get_mut(&candidate.record.sha256).expect("counted above");
            *count -= 1;
            if *count == 0 && !self.serving.contains(&candidate.record.sha256) {
                let path = self.blob_path(&candidate.record.sha256);
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_error(&path)(e)),
                }
            }
            if let Some(kind) = kind_of_key(&candidate.key) {
                self.totals.remove(kind, candidate.record.size);
            }
            total -= candidate.record.size;
            removed.entries += 1;
            removed.bytes += candidate.record.size;
            tracing::info!(key = %candidate.key, bytes = candidate.record.size, last_used = candidate.last_used, "evicted");
        }
        self.db.flush()?;
        Ok(removed)
    }

    /// Deletes blob files that no index entry points to and that are older
    /// than `min_age`. Blocking: call it from a blocking thread.
    pub fn remove_orphans(&self, min_age: Duration) -> Result<Removed, StoreError> {
        let mut referenced = std::collections::HashSet::new();
        for item in self.files.iter() {
            let (key, value) = item?;
            referenced.insert(FileRecord::decode(&String::from_utf8_lossy(&key), &value)?.sha256);
        }

        let mut removed = Removed::default();
        let blobs = self.root.join("blobs");
        for shard in std::fs::read_dir(&blobs).map_err(io_error(&blobs))? {
            let shard = shard.map_err(io_error(&blobs))?.path();
            let Some(prefix) = shard.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
                continue;
            };
            for entry in std::fs::read_dir(&shard).map_err(io_error(&shard))? {
                let entry = entry.map_err(io_error(&shard))?;
                let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
                if referenced.contains(&name) {
                    continue;
                }
                let metadata = entry.metadata().map_err(io_error(&entry.path()))?;
                let age = metadata
                    .modified()
                    .ok()
                    .and_then(|m| SystemTime::now().duration_since(m).ok())
                    .unwrap_or_default();
                if age < min_age {
                    continue;
                }
                std::fs::remove_file(entry.path()).map_err(io_error(&entry.path()))?;
                removed.entries += 1;
                removed.bytes += metadata.len();
                tracing::info!(blob = %name, bytes = metadata.len(), "removed orphan blob");
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::{FileKind, ModulePath, Version};
    use crate::store::file_key;

    async fn put(store: &Store, module: &str, version: &str, size: usize) -> String {
        let key = file_key(
            &ModulePath::parse(module).unwrap(),
            &Version::canonical(version).unwrap(),
            FileKind::Zip,
        );
        let mut blob = store.new_blob().await.unwrap();
        blob.write(&vec![version.len() as u8 + size as u8; size]).await.unwrap();
        blob.write(key.as_bytes()).await.unwrap();
        store
            .commit_file(&key, FileKind::Zip, blob.finish().await.unwrap(), None)
            .await
            .unwrap();
        key
    }

    #[tokio::test]
    async fn eviction_removes_least_recently_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let old = put(&store, "example.com/a", "v1.0.0", 1000).await;
        let used = put(&store, "example.com/b", "v1.0.0", 1000).await;
        let pinned = put(&store, "corp.example/c", "v1.0.0", 1000).await;
        let newest = put(&store, "example.com/d", "v1.0.0", 1000).await;
        store.access.touch(&old, 1);
        store.access.touch(&used, unix_now_ms() + 100_000);
        store.access.touch(&pinned, 1);
        store.access.touch(&newest, unix_now_ms() + 50_000);
        let pins = PathPatterns::parse("corp.example").unwrap();

        let removed = store.evict_to(3200, &pins, None).unwrap();

        assert_eq!(removed.entries, 1);
        assert!(store.get_file(&old).unwrap().is_none());
        assert!(store.get_file(&used).unwrap().is_some());
        assert!(store.get_file(&pinned).unwrap().is_some());
        let removed = store.evict_to(1100, &pins, None).unwrap();
        assert_eq!(removed.entries, 2);
        assert!(
            store.get_file(&pinned).unwrap().is_some(),
            "pinned entries survive any budget"
        );
    }

    #[tokio::test]
    async fn eviction_skips_blobs_being_served() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let busy = put(&store, "example.com/a", "v1.0.0", 1000).await;
        let idle = put(&store, "example.com/b", "v1.0.0", 1000).await;
        store.access.touch(&busy, 1);
        let record = store.get_file(&busy).unwrap().unwrap();
        let guard = store.serving().enter(&record.sha256);

        let removed = store.evict_to(1500, &PathPatterns::default(), None).unwrap();

        assert_eq!(removed.entries, 1);
        assert!(store.get_file(&busy).unwrap().is_some());
        assert!(store.get_file(&idle).unwrap().is_none());
        drop(guard);
        assert!(store.blob_path(&record.sha256).exists());
    }

    #[tokio::test]
    async fn orphans_are_removed_after_min_age() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = put(&store, "example.com/a", "v1.0.0", 100).await;
        let record = store.get_file(&key).unwrap().unwrap();
        let orphan = store.blob_path(&"ab".repeat(32));
        std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
        std::fs::write(&orphan, b"nobody points here").unwrap();

        assert_eq!(
            store.remove_orphans(Duration::from_secs(3600)).unwrap(),
            Removed::default()
        );
        let removed = store.remove_orphans(Duration::ZERO).unwrap();

        assert_eq!(removed, Removed { entries: 1, bytes: 18 });
        assert!(!orphan.exists());
        assert!(store.blob_path(&record.sha256).exists());
    }
}
