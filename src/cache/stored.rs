//! Responses from the store alone, for offline mode and cache-only requests:
//! stored files, lists of stored versions, and `@latest` as the highest
//! stored version.

use bytes::Bytes;

use super::{Answer, Cache, CacheError, Outcome};
use crate::module::{
    compare, encode_element, is_pseudo_version, sort_versions, FileKind, ModulePath, ProxyRequest, Version,
};
use crate::store::{file_key, unix_now};

impl Cache {
    pub(super) fn answer_from_store(&self, request: &ProxyRequest) -> Result<Answer, CacheError> {
        let store = &self.inner.store;
        let reason = if self.inner.settings.offline {
            "modvault is offline and does not have it"
        } else {
            "not in the store, and this request disabled fetching"
        };
        let missing = |what: String| CacheError::NotCached(format!("{what}: {reason}"));

        match request {
            ProxyRequest::File(module, version, kind) => {
                let key = file_key(module, version, *kind);
                let record = store
                    .get_file(&key)?
                    .ok_or_else(|| missing(format!("{module}@{version}.{}", kind.extension())))?;
                store.touch(&key);
                Ok(Answer::File {
                    record,
                    kind: *kind,
                    outcome: Outcome::Hit,
                })
            }
            ProxyRequest::List(module) => {
                let mut versions: Vec<String> = store
                    .stored_versions(module)?
                    .into_iter()
                    .filter(|v| !is_pseudo_version(v))
                    .collect();
                if versions.is_empty() {
                    return Err(missing(format!("{module} version list")));
                }
                sort_versions(&mut versions);
                let body: String = versions.iter().map(|v| format!("{v}\n")).collect();
                Ok(self.stored_body(Bytes::from(body), "text/plain; charset=utf-8"))
            }
            ProxyRequest::Latest(module) => {
                let version = self
                    .latest_stored(module)?
                    .ok_or_else(|| missing(format!("{module}@latest")))?;
                let key = file_key(module, &version, FileKind::Info);
                let record = store
                    .get_file(&key)?
                    .ok_or_else(|| missing(format!("{module}@latest")))?;
                let path = store.blob_path(&record.sha256);
                let body = std::fs::read(&path).map_err(|cause| crate::store::StoreError::Io { path, cause })?;
                // @latest changes as versions arrive, so it is served like a
                // list (short cache lifetime), not like the immutable .info.
                Ok(self.stored_body(Bytes::from(body), "application/json"))
            }
            ProxyRequest::Query(module, query) => {
                let key = format!("query:{}@{}", module.encoded(), encode_element(query));
                let record = store
                    .get_mutable(&key)?
                    .ok_or_else(|| missing(format!("{module}@{query}")))?;
                Ok(Answer::Body {
                    body: Bytes::from(record.body),
                    content_type: "application/json",
                    fetched_at_ms: record.fetched_at_ms,
                    outcome: Outcome::Hit,
                })
            }
        }
    }

    fn stored_body(&self, body: Bytes, content_type: &'static str) -> Answer {
        Answer::Body {
            body,
            content_type,
            fetched_at_ms: unix_now() * 1000,
            outcome: Outcome::Hit,
        }
    }

    /// The version `go` would call latest among those with a stored `.info`:
    /// the highest release, else the highest prerelease, else the highest
    /// pseudo-version.
    fn latest_stored(&self, module: &ModulePath) -> Result<Option<Version>, CacheError> {
        let mut best: Option<(u8, String)> = None;
        for version in self.inner.store.stored_versions(module)? {
            let Ok(parsed) = Version::canonical(&version) else {
                continue;
            };
            if self
                .inner
                .store
                .get_file(&file_key(module, &parsed, FileKind::Info))?
                .is_none()
            {
                continue;
            }
            let rank = if is_pseudo_version(&version) {
                0
            } else if version.trim_end_matches("+incompatible").contains('-') {
                1
            } else {
                2
            };
            let better = match &best {
                None => true,
                Some((best_rank, best_version)) => {
                    rank > *best_rank || (rank == *best_rank && compare(&version, best_version).is_gt())
                }
            };
            if better {
                best = Some((rank, version));
            }
        }
        Ok(best.and_then(|(_, v)| Version::canonical(&v).ok()))
    }
}
