//! Immutable files: serve from the store, or fill once from upstream.

use std::time::Instant;

use super::coalesce::Filled;
use super::{Answer, Cache, CacheError, Outcome};
use crate::module::{encode_element, FileKind, ModulePath, Version};
use crate::store::{file_key, FileRecord, Removed};
use crate::upstream::FetchKind;

/// Largest accepted zip (and uncompressed content), as in Go's module zip rules.
pub const MAX_ZIP_BYTES: u64 = 500 << 20;
/// Largest accepted go.mod, as in Go's module zip rules.
pub const MAX_MOD_BYTES: u64 = 16 << 20;
/// Largest accepted .info, list or @latest body.
pub const MAX_TEXT_BYTES: u64 = 16 << 20;

/// Builds the proxy protocol path of a canonical file, relative to a proxy base.
pub fn file_path(module: &ModulePath, version: &Version, kind: FileKind) -> String {
    format!(
        "{}/@v/{}.{}",
        module.encoded(),
        encode_element(version.as_str()),
        kind.extension()
    )
}

impl Cache {
    /// Looks up a stored file by its index key and, if found, records the
    /// hit for eviction order.
    pub fn stored_file(&self, key: &str) -> Result<Option<FileRecord>, CacheError> {
        let record = self.inner.store.get_file(key)?;
        if record.is_some() {
            self.inner.store.touch(key);
        }
        Ok(record)
    }

    /// Returns how many stored files were removed so far (see
    /// [`crate::store::Store::removals`]).
    pub fn removals(&self) -> u64 {
        self.inner.store.removals()
    }

    /// Drops the record of `key` if its blob is missing (see
    /// [`crate::store::Store::remove_lost_record`]), and logs it.
    pub fn forget_lost_file(&self, key: &str, record: &FileRecord) -> Result<(), CacheError> {
        if self.inner.store.remove_lost_record(key, record)? {
            tracing::warn!(key = %key, sha256 = %record.sha256, "stored blob missing, record removed to fill again");
        }
        Ok(())
    }

    /// Records a hit on `key` for eviction order.
    pub fn touch(&self, key: &str) {
        self.inner.store.touch(key);
    }

    pub(super) async fn file(
        &self,
        module: &ModulePath,
        version: &Version,
        kind: FileKind,
    ) -> Result<Answer, CacheError> {
        let key = file_key(module, version, kind);
        if let Some(record) = self.stored_file(&key)? {
            return Ok(Answer::File {
                record,
                kind,
                outcome: Outcome::Hit,
            });
        }
        if let Some(reason) = self.inner.negative.get(&key, self.inner.clock.now_ms()) {
            return Err(CacheError::NotFound(reason));
        }

        let cache = self.clone();
        let (module, version) = (module.clone(), version.clone());
        let fill_key = key.clone();
        let key_for_touch = key.clone();
        let filled = self
            .inner
            .fills
            .run(key, async move {
                let filled = cache.fill_file(fill_key, module.clone(), version.clone(), kind).await;
                if filled.is_ok() {
                    cache.prefetch_companion(module, version, kind);
                }
                filled
            })
            .await?;
        match filled {
            Filled::File(record) => {
                self.inner.store.touch(&key_for_touch);
                Ok(Answer::File {
                    record,
                    kind,
                    outcome: Outcome::Miss,
                })
            }
            Filled::Body(_) => unreachable!("file fills produce files"),
        }
    }

    /// Fills the other small file of a filled `.mod` or `.info` in the
    /// background, when prefetching is on and it is neither stored nor
    /// known to be absent. Its result reaches only the log and metrics; a
    /// request for it meanwhile waits on the same fill.
    fn prefetch_companion(&self, module: ModulePath, version: Version, filled: FileKind) {
        let kind = match filled {
            FileKind::Mod => FileKind::Info,
            FileKind::Info => FileKind::Mod,
            FileKind::Zip => return,
        };
        if !self.inner.settings.prefetch {
            return;
        }
        let key = file_key(&module, &version, kind);
        match self.inner.store.get_file(&key) {
            Ok(None) => {}
            Ok(Some(_)) => return,
            Err(e) => {
                tracing::warn!(key = %key, error = %e, "prefetch skipped: index read failed");
                return;
            }
        }
        if self.inner.negative.get(&key, self.inner.clock.now_ms()).is_some() {
            return;
        }

        let cache = self.clone();
        self.inner.fills.spawn(async move {
            let fill_key = key.clone();
            let filler = cache.clone();
            let result = cache
                .inner
                .fills
                .run(
                    key,
                    async move { filler.fill_file(fill_key, module, version, kind).await },
                )
                .await;
            let label = if result.is_ok() { "filled" } else { "failed" };
            cache
                .inner
                .metrics
                .prefetches
                .with_label_values(&[kind.extension(), label])
                .inc();
        });
    }

    async fn fill_file(
        &self,
        key: String,
        module: ModulePath,
        version: Version,
        kind: FileKind,
    ) -> Result<Filled, CacheError> {
        if let Some(record) = self.inner.store.get_file(&key)? {
            return Ok(Filled::File(record));
        }
        let metrics = &self.inner.metrics;
        metrics.fills_in_flight.inc();
        let started = Instant::now();
        let result = self.fetch_and_commit(&key, &module, &version, kind).await;
        metrics.fills_in_flight.dec();

        match &result {
            Ok((record, source)) => tracing::info!(
                module = %module, version = %version, file = kind.extension(), bytes = record.size,
                duration_ms = started.elapsed().as_millis() as u64, upstream = %source, "filled"
            ),
            Err(CacheError::Upstream(e)) if e.is_not_found() => {
                tracing::debug!(module = %module, version = %version, file = kind.extension(), reason = %e, "not found upstream");
                self.inner.negative.insert(
                    key.clone(),
                    e.to_string(),
                    self.inner.clock.now_ms(),
                    self.inner.settings.negative_ttl,
                );
            }
            Err(e) => {
                tracing::warn!(module = %module, version = %version, file = kind.extension(), error = %e, "fill failed")
            }
        }
        result.map(|(record, _)| Filled::File(record))
    }

    async fn fetch_and_commit(
        &self,
        key: &str,
        module: &ModulePath,
        version: &Version,
        kind: FileKind,
    ) -> Result<(FileRecord, String), CacheError> {
        let store = &self.inner.store;
        let upstream = &self.inner.upstream;
        let path = file_path(module, version, kind);

        if kind == FileKind::Zip {
            let mut blob = store.new_blob().await?;
            let fetched = upstream
                .fetch_blob(&path, FetchKind::Zip, MAX_ZIP_BYTES, &mut blob)
                .await?;

            // The disk catches up while the zip is checked; both must
            // succeed before the blob is persisted.
            let written = blob.flush().await?;
            let path = written.path().to_path_buf();
            let sync = async { Ok::<_, CacheError>(written.sync().await?) };
            let (blob, h1) = tokio::try_join!(sync, self.check_zip(&path, module, version))?;
            self.verify_hash(module, version, kind, &h1).await?;
            self.make_room(blob.size(), key).await?;
            let record = store.commit_file(key, kind, blob, h1).await?;
            return Ok((record, fetched.source));
        }

        let (fetch_kind, limit) = if kind == FileKind::Info {
            (FetchKind::Info, MAX_TEXT_BYTES)
        } else {
            (FetchKind::Mod, MAX_MOD_BYTES)
        };
        let fetched = upstream.fetch_bytes(&path, fetch_kind, limit).await?;
        if kind == FileKind::Info {
            check_info(&fetched.value, module, Some(version))?;
        }
        let h1 = if kind == FileKind::Mod {
            Some(self.check_mod(&fetched.value, module, version)?)
        } else {
            None
        };
        self.verify_hash(module, version, kind, &h1).await?;

        self.make_room(fetched.value.len() as u64, key).await?;
        let record = store.commit_bytes(key, kind, fetched.value, h1).await?;
        Ok((record, fetched.source))
    }

    /// Evicts least recently served entries so that `incoming` more bytes
    /// fit the budget; `key` (being filled) is never a candidate.
    pub(super) async fn make_room(&self, incoming: u64, key: &str) -> Result<(), CacheError> {
        let Some(max) = self.inner.settings.max_size else {
            return Ok(());
        };
        let current = self
            .inner
            .store
            .totals()
            .bytes
            .load(std::sync::atomic::Ordering::Relaxed);
        if current + incoming <= max {
            return Ok(());
        }
        self.evict_to(max.saturating_sub(incoming), Some(key.to_string()))
            .await?;
        Ok(())
    }

    /// Runs one eviction pass down to `target` bytes and counts it.
    pub async fn evict_to(&self, target: u64, keep: Option<String>) -> Result<Removed, CacheError> {
        let store = self.inner.store.clone();
        let pins = self.inner.settings.pins.clone();
        let removed = tokio::task::spawn_blocking(move || store.evict_to(target, &pins, keep.as_deref()))
            .await
            .map_err(|e| CacheError::Invalid(format!("eviction task failed: {e}")))??;
        let metrics = &self.inner.metrics;
        metrics.evictions.inc_by(removed.entries as u64);
        metrics
            .freed_bytes
            .with_label_values(&["evicted"])
            .inc_by(removed.bytes);
        Ok(removed)
    }

    /// Evicts past the budget (if one is set) and removes orphan blobs older
    /// than `orphan_min_age`; returns what was removed.
    pub async fn collect_garbage(&self, orphan_min_age: std::time::Duration) -> Result<(Removed, Removed), CacheError> {
        let evicted = match self.inner.settings.max_size {
            Some(max) => self.evict_to(max, None).await?,
            None => Removed::default(),
        };

        let store = self.inner.store.clone();
        let orphans = tokio::task::spawn_blocking(move || store.remove_orphans(orphan_min_age))
            .await
            .map_err(|e| CacheError::Invalid(format!("orphan scan failed: {e}")))??;
        self.inner
            .metrics
            .freed_bytes
            .with_label_values(&["orphan"])
            .inc_by(orphans.bytes);
        if evicted.entries > 0 || orphans.entries > 0 {
            tracing::info!(
                evicted = evicted.entries,
                evicted_bytes = evicted.bytes,
                orphans = orphans.entries,
                orphan_bytes = orphans.bytes,
                "garbage collection done"
            );
        }
        Ok((evicted, orphans))
    }

    /// Checks a fetched zip on disk; returns its `h1:` hash when computed.
    async fn check_zip(
        &self,
        path: &std::path::Path,
        module: &ModulePath,
        version: &Version,
    ) -> Result<Option<String>, CacheError> {
        let (path, module_text, version_text) = (path.to_path_buf(), module.to_string(), version.to_string());
        let report = tokio::task::spawn_blocking(move || {
            crate::verify::zipcheck::check_and_hash_zip(&path, &module_text, &version_text)
        })
        .await
        .map_err(|e| CacheError::Invalid(format!("zip check task failed: {e}")))?;
        match report {
            Ok(report) => Ok(Some(report.h1)),
            Err(e) => {
                self.inner
                    .metrics
                    .verification_failures
                    .with_label_values(&["zip_rules"])
                    .inc();
                Err(CacheError::Invalid(format!("{module}@{version}: {e}")))
            }
        }
    }

    /// Checks a computed `h1:` against the checksum database, unless no
    /// database is configured or the module is skipped by `--nosumdb`.
    async fn verify_hash(
        &self,
        module: &ModulePath,
        version: &Version,
        kind: FileKind,
        h1: &Option<String>,
    ) -> Result<(), CacheError> {
        let (Some(sumdb), Some(h1)) = (self.inner.sumdb.as_ref(), h1) else {
            return Ok(());
        };
        if !sumdb.covers(module) {
            return Ok(());
        }
        sumdb
            .verify(module, version, kind, h1)
            .await
            .map_err(|e| CacheError::Invalid(e.to_string()))
    }

    fn check_mod(&self, body: &[u8], module: &ModulePath, version: &Version) -> Result<String, CacheError> {
        if body.len() as u64 > MAX_MOD_BYTES {
            return Err(CacheError::Invalid(format!(
                "{module}@{version}: go.mod larger than 16 MiB"
            )));
        }
        Ok(crate::verify::dirhash::hash_go_mod(body))
    }
}

/// Checks an `.info` or `@latest` body: JSON with a valid `Version`, equal to
/// `expected` when one is given. Returns the version it names.
pub(super) fn check_info(body: &[u8], module: &ModulePath, expected: Option<&Version>) -> Result<String, CacheError> {
    #[derive(serde::Deserialize)]
    struct Info {
        #[serde(rename = "Version")]
        version: String,
    }
    let info: Info = serde_json::from_slice(body).map_err(|e| {
        CacheError::Invalid(format!(
            "{module}: upstream .info is not valid JSON with a Version: {e}"
        ))
    })?;
    if !crate::module::is_valid_version(&info.version) {
        return Err(CacheError::Invalid(format!(
            "{module}: upstream .info names an invalid version {:?}",
            info.version
        )));
    }
    if let Some(expected) = expected {
        if info.version != expected.as_str() {
            return Err(CacheError::Invalid(format!(
                "{module}@{expected}: upstream .info names version {:?} instead",
                info.version
            )));
        }
    }
    Ok(info.version)
}
