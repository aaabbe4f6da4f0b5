//! The embedded store: a sled index plus content-addressed blobs in the data
//! directory.
//!
//! Layout: `index/` (sled), `blobs/<2 hex>/<62 hex>` (files named by their
//! SHA-256), `tmp/` (fills in progress, emptied at startup). A fill streams
//! into `tmp/`, is hashed and checked, fsynced, renamed into `blobs/`, and
//! only then indexed, so a crash at any moment leaves no partial entry
//! visible. Canonical files are write-once: the first committed record for a
//! key is kept forever.

mod access;
mod blob;
mod evict;
mod record;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub use access::{ServingGuard, ServingSet};
pub use blob::{BlobWriter, FinishedBlob};
pub use evict::Removed;
pub use record::{FileRecord, MutableRecord};

use crate::module::{encode_element, FileKind, ModulePath, Version};

/// The causes are part of each message and not chained as sources, so a
/// report that prints the chain does not repeat them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store I/O failed on {path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("store index failed: {0}")]
    Index(sled::Error),
    #[error("store record {key:?} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |cause| StoreError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

impl From<sled::Error> for StoreError {
    fn from(error: sled::Error) -> Self {
        StoreError::Index(error)
    }
}

/// Object counts and sizes, kept in memory and exported as metrics.
#[derive(Debug, Default)]
pub struct StoreTotals {
    pub info: AtomicU64,
    pub modfiles: AtomicU64,
    pub zips: AtomicU64,
    pub bytes: AtomicU64,
}

impl StoreTotals {
    fn counter(&self, kind: FileKind) -> &AtomicU64 {
        match kind {
            FileKind::Info => &self.info,
            FileKind::Mod => &self.modfiles,
            FileKind::Zip => &self.zips,
        }
    }

    fn add(&self, kind: FileKind, size: u64) {
        self.counter(kind).fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(size, Ordering::Relaxed);
    }

    fn remove(&self, kind: FileKind, size: u64) {
        self.counter(kind).fetch_sub(1, Ordering::Relaxed);
        self.bytes.fetch_sub(size, Ordering::Relaxed);
    }
}

/// The local store. Cloning shares the same index and directories.
#[derive(Clone)]
pub struct Store {
    root: PathBuf,
    db: sled::Db,
    files: sled::Tree,
    mutable: sled::Tree,
    meta: sled::Tree,
    access_times: sled::Tree,
    totals: Arc<StoreTotals>,
    access: Arc<access::AccessLog>,
    serving: Arc<ServingSet>,
    /// File records removed since the store was opened. Records are
    /// write-once, so a record read while this was unchanged is still valid.
    removals: Arc<AtomicU64>,
}

/// Builds the index key of a canonical file: `<encoded path>@<encoded version>/<kind>`.
pub fn file_key(module: &ModulePath, version: &Version, kind: FileKind) -> String {
    format!(
        "{}@{}/{}",
        module.encoded(),
        encode_element(version.as_str()),
        kind.extension()
    )
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Store {
    /// Opens (or creates) the store in `root`, removing temporary files left
    /// by an earlier process.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for sub in ["blobs", "tmp"] {
            let dir = root.join(sub);
            std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        }
        let tmp = root.join("tmp");
        let mut removed = 0usize;
        for entry in std::fs::read_dir(&tmp).map_err(io_error(&tmp))? {
            let entry = entry.map_err(io_error(&tmp))?;
            std::fs::remove_file(entry.path()).map_err(io_error(&entry.path()))?;
            removed += 1;
        }
        if removed > 0 {
            tracing::info!(removed, "removed leftover temporary files");
        }

        let db = sled::Config::new()
            .path(root.join("index"))
            .flush_every_ms(Some(500))
            .open()?;
        let store = Store {
            root: root.to_path_buf(),
            files: db.open_tree("files")?,
            mutable: db.open_tree("mutable")?,
            meta: db.open_tree("meta")?,
            access_times: db.open_tree("access")?,
            db,
            totals: Arc::new(StoreTotals::default()),
            access: Arc::new(access::AccessLog::default()),
            serving: Arc::new(ServingSet::default()),
            removals: Arc::new(AtomicU64::new(0)),
        };
        store.count_totals()?;
        Ok(store)
    }

    fn count_totals(&self) -> Result<(), StoreError> {
        for item in self.files.iter() {
            let (key, value) = item?;
            let key = String::from_utf8_lossy(&key).into_owned();
            let record = FileRecord::decode(&key, &value)?;
            if let Some(kind) = kind_of_key(&key) {
                self.totals.add(kind, record.size);
            }
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn totals(&self) -> &StoreTotals {
        &self.totals
    }

    /// Returns how many file records were removed so far. A caller that keeps
    /// a record reads this before reading the record, and trusts its copy
    /// while the count is unchanged.
    pub fn removals(&self) -> u64 {
        self.removals.load(Ordering::SeqCst)
    }

    fn count_removal(&self) {
        self.removals.fetch_add(1, Ordering::SeqCst);
    }

    /// Returns the set of blobs being served now, which eviction leaves alone.
    pub fn serving(&self) -> &Arc<ServingSet> {
        &self.serving
    }

    pub fn blob_path(&self, sha256_hex: &str) -> PathBuf {
        self.root.join("blobs").join(&sha256_hex[..2]).join(&sha256_hex[2..])
    }

    pub fn get_file(&self, key: &str) -> Result<Option<FileRecord>, StoreError> {
        match self.files.get(key.as_bytes())? {
            Some(value) => Ok(Some(FileRecord::decode(key, &value)?)),
            None => Ok(None),
        }
    }

    /// Starts a temporary file for a fill.
    pub async fn new_blob(&self) -> Result<BlobWriter, StoreError> {
        BlobWriter::create(&self.root.join("tmp")).await
    }

    /// Moves a finished blob into place and indexes it under `key`, unless
    /// the key already has a record: then the stored record wins and is
    /// returned, so a key never changes once written.
    pub async fn commit_file(
        &self,
        key: &str,
        kind: FileKind,
        blob: FinishedBlob,
        h1: Option<String>,
    ) -> Result<FileRecord, StoreError> {
        if let Some(existing) = self.get_file(key)? {
            return Ok(existing);
        }
        let record = FileRecord {
            sha256: blob.sha256_hex(),
            size: blob.size(),
            stored_at: unix_now(),
            h1,
        };
        let target = self.blob_path(&record.sha256);
        blob.persist(&target).await?;

        if let Some(existing) = self.insert_record(key, &record)? {
            return Ok(existing);
        }
        self.flush_index().await?;
        self.totals.add(kind, record.size);
        Ok(record)
    }

    /// Stores a small file fetched whole (a `.mod` or `.info`) and indexes
    /// it under `key`, with the same rules as [`Store::commit_file`]. The
    /// blob write, its fsyncs and the index flush run in one blocking task,
    /// because each hop to the blocking pool adds latency to a fill that
    /// the client waits for.
    pub async fn commit_bytes(
        &self,
        key: &str,
        kind: FileKind,
        bytes: bytes::Bytes,
        h1: Option<String>,
    ) -> Result<FileRecord, StoreError> {
        let store = self.clone();
        let key = key.to_string();
        tokio::task::spawn_blocking(move || store.commit_bytes_blocking(&key, kind, &bytes, h1))
            .await
            .expect("the commit task does not panic")
    }

    fn commit_bytes_blocking(
        &self,
        key: &str,
        kind: FileKind,
        bytes: &[u8],
        h1: Option<String>,
    ) -> Result<FileRecord, StoreError> {
        if let Some(existing) = self.get_file(key)? {
            return Ok(existing);
        }
        let record = FileRecord {
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes)),
            size: bytes.len() as u64,
            stored_at: unix_now(),
            h1,
        };
        let target = self.blob_path(&record.sha256);
        blob::write_blob_blocking(&self.root.join("tmp"), &target, bytes)?;

        if let Some(existing) = self.insert_record(key, &record)? {
            return Ok(existing);
        }
        self.db.flush()?;
        self.totals.add(kind, record.size);
        Ok(record)
    }

    /// Removes the record of `key` when it is still `record` and its blob is
    /// missing, so that the next request fills it again. Returns whether it
    /// was removed. An eviction that removes both between a request's index
    /// read and its blob read looks the same, and then this finds no record.
    pub fn remove_lost_record(&self, key: &str, record: &FileRecord) -> Result<bool, StoreError> {
        if self.blob_path(&record.sha256).exists() {
            return Ok(false);
        }
        let swapped = self
            .files
            .compare_and_swap(key.as_bytes(), Some(record.encode()), None as Option<&[u8]>)?;
        if swapped.is_err() {
            return Ok(false);
        }

        self.count_removal();
        self.access_times.remove(key.as_bytes())?;
        if let Some(kind) = kind_of_key(key) {
            self.totals.remove(kind, record.size);
        }
        Ok(true)
    }

    /// Indexes `record` under `key` unless the key has one already; returns
    /// that earlier record, which wins.
    fn insert_record(&self, key: &str, record: &FileRecord) -> Result<Option<FileRecord>, StoreError> {
        let swapped = self
            .files
            .compare_and_swap(key.as_bytes(), None as Option<&[u8]>, Some(record.encode()))?;
        match swapped {
            Ok(()) => Ok(None),
            Err(conflict) => {
                let current = conflict.current.ok_or_else(|| StoreError::Corrupt {
                    key: key.into(),
                    reason: "vanished during commit".into(),
                })?;
                FileRecord::decode(key, &current).map(Some)
            }
        }
    }

    /// Canonical versions of `module` that have at least one stored file.
    pub fn stored_versions(&self, module: &ModulePath) -> Result<Vec<String>, StoreError> {
        let prefix = format!("{}@", module.encoded());
        let mut versions = Vec::new();
        for item in self.files.scan_prefix(prefix.as_bytes()) {
            let (key, _) = item?;
            let key = String::from_utf8_lossy(&key);
            let Some(rest) = key.strip_prefix(&prefix) else {
                continue;
            };
            let Some((encoded, _kind)) = rest.rsplit_once('/') else {
                continue;
            };
            let Some(version) = crate::module::decode_element(encoded) else {
                continue;
            };
            if versions.last() != Some(&version) {
                versions.push(version);
            }
        }
        versions.dedup();
        Ok(versions)
    }

    /// Returns every canonical file record, in key order.
    pub fn file_entries(&self) -> Result<Vec<(String, FileRecord)>, StoreError> {
        let mut entries = Vec::new();
        for item in self.files.iter() {
            let (key, value) = item?;
            let key = String::from_utf8_lossy(&key).into_owned();
            let record = FileRecord::decode(&key, &value)?;
            entries.push((key, record));
        }
        Ok(entries)
    }

    /// Drops the record of `key` (the blob stays until garbage collection).
    pub fn remove_file_record(&self, key: &str) -> Result<(), StoreError> {
        if let Some(old) = self.files.remove(key.as_bytes())? {
            self.count_removal();
            let record = FileRecord::decode(key, &old)?;
            if let Some(kind) = kind_of_key(key) {
                self.totals.remove(kind, record.size);
            }
        }
        self.db.flush()?;
        Ok(())
    }

    /// Mutable records whose keys start with `prefix`.
    pub fn mutable_entries(&self, prefix: &str) -> Result<Vec<(String, MutableRecord)>, StoreError> {
        let mut entries = Vec::new();
        for item in self.mutable.scan_prefix(prefix.as_bytes()) {
            let (key, value) = item?;
            let key = String::from_utf8_lossy(&key).into_owned();
            let record = MutableRecord::decode(&key, &value)?;
            entries.push((key, record));
        }
        Ok(entries)
    }

    /// Flushes access times and the index from a blocking thread.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.flush_access_times()?;
        self.db.flush()?;
        Ok(())
    }

    pub fn get_mutable(&self, key: &str) -> Result<Option<MutableRecord>, StoreError> {
        match self.mutable.get(key.as_bytes())? {
            Some(value) => Ok(Some(MutableRecord::decode(key, &value)?)),
            None => Ok(None),
        }
    }

    /// Replaces a mutable record (list, @latest, query). The index flushes it
    /// lazily because losing one only costs a refetch.
    pub fn put_mutable(&self, key: &str, record: &MutableRecord) -> Result<(), StoreError> {
        self.mutable.insert(key.as_bytes(), record.encode())?;
        Ok(())
    }

    pub fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(key.as_bytes())?.map(|v| v.to_vec()))
    }

    pub async fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.meta.insert(key.as_bytes(), value)?;
        self.flush_index().await?;
        Ok(())
    }

    /// Checks that the index responds and the data directory takes writes.
    pub async fn check_ready(&self) -> Result<(), StoreError> {
        self.files.get(b"readiness-probe")?;
        let probe = self.root.join("tmp").join(format!("ready-{}", rand::random::<u64>()));
        tokio::fs::write(&probe, b"ok").await.map_err(io_error(&probe))?;
        let read = tokio::fs::read(&probe).await.map_err(io_error(&probe));
        let _ = tokio::fs::remove_file(&probe).await;
        if read? != b"ok" {
            return Err(StoreError::Corrupt {
                key: probe.display().to_string(),
                reason: "read back different bytes".into(),
            });
        }
        Ok(())
    }

    /// Flushes the index on the blocking pool. sled 0.34's `flush_async` can
    /// never complete when several calls overlap (spacejam/sled issue 1241),
    /// and concurrent fills overlap their commits.
    async fn flush_index(&self) -> Result<(), StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .expect("the index flush task does not panic")?;
        Ok(())
    }

    pub async fn flush(&self) -> Result<(), StoreError> {
        self.flush_access_times()?;
        self.flush_index().await?;
        Ok(())
    }
}

fn kind_of_key(key: &str) -> Option<FileKind> {
    match key.rsplit_once('/')?.1 {
        "info" => Some(FileKind::Info),
        "mod" => Some(FileKind::Mod),
        "zip" => Some(FileKind::Zip),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mod_key(version: &str) -> String {
        file_key(
            &ModulePath::parse("example.com/m").unwrap(),
            &Version::canonical(version).unwrap(),
            FileKind::Mod,
        )
    }

    #[tokio::test]
    async fn committed_bytes_are_stored_once_and_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let body = bytes::Bytes::from_static(b"module example.com/m\n");
        let key = mod_key("v1.0.0");

        let record = store
            .commit_bytes(&key, FileKind::Mod, body.clone(), Some("h1:x".into()))
            .await
            .unwrap();

        assert_eq!(
            record.sha256,
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body))
        );
        assert_eq!(record.size, body.len() as u64);
        assert_eq!(std::fs::read(store.blob_path(&record.sha256)).unwrap(), body.as_ref());
        assert_eq!(store.get_file(&key).unwrap(), Some(record.clone()));
        assert_eq!(store.totals().modfiles.load(Ordering::Relaxed), 1);
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);

        let other = bytes::Bytes::from_static(b"module example.com/m // changed\n");
        let again = store.commit_bytes(&key, FileKind::Mod, other, None).await.unwrap();
        assert_eq!(again, record, "the first record of a key wins");
        assert_eq!(store.totals().modfiles.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn torn_blob_from_a_crash_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let body = bytes::Bytes::from_static(b"module example.com/m\n\ngo 1.22\n");
        let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body));
        let target = store.blob_path(&sha256);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, &body[..7]).unwrap();

        let record = store
            .commit_bytes(&mod_key("v1.0.0"), FileKind::Mod, body.clone(), None)
            .await
            .unwrap();

        assert_eq!(record.sha256, sha256);
        assert_eq!(std::fs::read(&target).unwrap(), body.as_ref());
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn equal_bytes_under_two_keys_share_one_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let body = bytes::Bytes::from_static(b"module example.com/m\n\ngo 1.22\n");

        let first = store
            .commit_bytes(&mod_key("v1.0.0"), FileKind::Mod, body.clone(), None)
            .await
            .unwrap();
        let second = store
            .commit_bytes(&mod_key("v1.1.0"), FileKind::Mod, body.clone(), None)
            .await
            .unwrap();

        assert_eq!(first.sha256, second.sha256);
        let shard = store.blob_path(&first.sha256).parent().unwrap().to_path_buf();
        assert_eq!(std::fs::read_dir(shard).unwrap().count(), 1);
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        assert_eq!(store.totals().modfiles.load(Ordering::Relaxed), 2);
    }
}
