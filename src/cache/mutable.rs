//! Mutable responses: `list`, `@latest` and `.info` queries. They are fresh
//! for `list_ttl`, refreshed after it, and served stale when every upstream
//! fails.

use bytes::Bytes;

use super::coalesce::Filled;
use super::fill::{check_info, MAX_TEXT_BYTES};
use super::{Answer, Cache, CacheError, Outcome};
use crate::module::{
    encode_element, is_pseudo_version, is_valid_version, sort_versions, FileKind, ModulePath, Version,
};
use crate::store::{file_key, MutableRecord};
use crate::upstream::FetchKind;

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

/// The mutable endpoint being served.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    List,
    Latest,
    Query,
}

impl Cache {
    pub(super) async fn list(&self, module: &ModulePath) -> Result<Answer, CacheError> {
        let key = format!("list:{}", module.encoded());
        let path = format!("{}/@v/list", module.encoded());
        let stored = self.inner.store.stored_versions(module)?;

        let (record, outcome) = match self.refresh(&key, &path, module, Endpoint::List).await {
            Ok(found) => found,
            Err(CacheError::NotFound(reason)) => {
                if stored.is_empty() {
                    return Err(CacheError::NotFound(reason));
                }
                (None, Outcome::Hit)
            }
            Err(err) if !stored.is_empty() => {
                tracing::warn!(module = %module, error = %err, "serving stored versions as list while upstream fails");
                (None, Outcome::Stale)
            }
            Err(err) => return Err(err),
        };

        let upstream_body = record.as_ref().map(|r| r.body.as_slice()).unwrap_or_default();
        let body = merge_list(upstream_body, stored);
        let fetched_at_ms = record
            .map(|r| r.fetched_at_ms)
            .unwrap_or_else(|| self.inner.clock.now_ms());
        Ok(Answer::Body {
            body: Bytes::from(body),
            content_type: TEXT,
            fetched_at_ms,
            outcome,
        })
    }

    pub(super) async fn latest(&self, module: &ModulePath) -> Result<Answer, CacheError> {
        let key = format!("latest:{}", module.encoded());
        let path = format!("{}/@latest", module.encoded());
        self.json_answer(&key, &path, module, Endpoint::Latest).await
    }

    pub(super) async fn query(&self, module: &ModulePath, query: &str) -> Result<Answer, CacheError> {
        let encoded = encode_element(query);
        let key = format!("query:{}@{}", module.encoded(), encoded);
        let path = format!("{}/@v/{}.info", module.encoded(), encoded);
        self.json_answer(&key, &path, module, Endpoint::Query).await
    }

    async fn json_answer(
        &self,
        key: &str,
        path: &str,
        module: &ModulePath,
        endpoint: Endpoint,
    ) -> Result<Answer, CacheError> {
        let (record, outcome) = self.refresh(key, path, module, endpoint).await?;
        let record = record.expect("json endpoints always carry a body");
        Ok(Answer::Body {
            body: Bytes::from(record.body),
            content_type: JSON,
            fetched_at_ms: record.fetched_at_ms,
            outcome,
        })
    }

    /// Returns the fresh record for `key`, refetching it when it is older
    /// than the TTL, or the stale one when the refetch fails with an upstream
    /// fault.
    async fn refresh(
        &self,
        key: &str,
        path: &str,
        module: &ModulePath,
        endpoint: Endpoint,
    ) -> Result<(Option<MutableRecord>, Outcome), CacheError> {
        let now = self.inner.clock.now_ms();
        let ttl_ms = self.inner.settings.list_ttl.as_millis() as u64;
        let cached = self.inner.store.get_mutable(key)?;
        if let Some(record) = &cached {
            if now.saturating_sub(record.fetched_at_ms) < ttl_ms {
                return Ok((cached, Outcome::Hit));
            }
        }
        if let Some(reason) = self.inner.negative.get(key, self.inner.clock.now_ms()) {
            return Err(CacheError::NotFound(reason));
        }

        let cache = self.clone();
        let (fill_key, fill_path, fill_module) = (key.to_string(), path.to_string(), module.clone());
        let result = self
            .inner
            .fills
            .run(key.to_string(), async move {
                cache.fetch_mutable(fill_key, fill_path, fill_module, endpoint).await
            })
            .await;

        match result {
            Ok(Filled::Body(record)) => Ok((Some(record), Outcome::Miss)),
            Ok(Filled::File(_)) => unreachable!("mutable fills produce bodies"),
            Err(CacheError::NotFound(reason)) => Err(CacheError::NotFound(reason)),
            Err(err) => match cached {
                Some(record) => {
                    let label = match endpoint {
                        Endpoint::List => "list",
                        Endpoint::Latest => "latest",
                        Endpoint::Query => "info",
                    };
                    self.inner.metrics.stale_responses.with_label_values(&[label]).inc();
                    tracing::warn!(module = %module, key, error = %err, "serving stale response");
                    Ok((Some(record), Outcome::Stale))
                }
                None => Err(err),
            },
        }
    }

    async fn fetch_mutable(
        &self,
        key: String,
        path: String,
        module: ModulePath,
        endpoint: Endpoint,
    ) -> Result<Filled, CacheError> {
        let kind = match endpoint {
            Endpoint::List => FetchKind::List,
            Endpoint::Latest => FetchKind::Latest,
            Endpoint::Query => FetchKind::Info,
        };
        let fetched = match self.inner.upstream.fetch_bytes(&path, kind, MAX_TEXT_BYTES).await {
            Ok(fetched) => fetched,
            Err(e) if e.is_not_found() => {
                tracing::debug!(module = %module, path, reason = %e, "not found upstream");
                let reason = e.to_string();
                self.inner.negative.insert(
                    key,
                    reason.clone(),
                    self.inner.clock.now_ms(),
                    self.inner.settings.negative_ttl,
                );
                return Err(CacheError::NotFound(reason));
            }
            Err(e) => return Err(e.into()),
        };

        let body = match endpoint {
            Endpoint::List => clean_list(&fetched.value),
            Endpoint::Latest | Endpoint::Query => {
                let version = check_info(&fetched.value, &module, None)?;
                self.keep_resolved_info(&module, &version, &fetched.value).await?;
                fetched.value.to_vec()
            }
        };
        let record = MutableRecord {
            fetched_at_ms: self.inner.clock.now_ms(),
            body,
        };
        self.inner.store.put_mutable(&key, &record)?;
        tracing::debug!(module = %module, path, upstream = %fetched.source, "refreshed");
        Ok(Filled::Body(record))
    }

    /// Stores a query's response as the `.info` of the canonical version it
    /// resolves to, unless that `.info` is already stored.
    async fn keep_resolved_info(&self, module: &ModulePath, version: &str, body: &[u8]) -> Result<(), CacheError> {
        let Ok(version) = Version::canonical(version) else {
            return Ok(());
        };
        if module.check_version(&version).is_err() {
            return Err(CacheError::Invalid(format!(
                "{module}: upstream resolved a query to {version}, which is not valid for this path"
            )));
        }
        let key = file_key(module, &version, FileKind::Info);
        if self.inner.store.get_file(&key)?.is_some() {
            return Ok(());
        }
        self.inner
            .store
            .commit_bytes(&key, FileKind::Info, bytes::Bytes::copy_from_slice(body), None)
            .await?;
        Ok(())
    }
}

/// Keeps the valid, non-pseudo versions of an upstream list, one per line.
fn clean_list(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    for line in text.lines() {
        let Some(version) = line.split_whitespace().next() else {
            continue;
        };
        if is_valid_version(version) && !is_pseudo_version(version) {
            out.push_str(version);
            out.push('\n');
        }
    }
    out.into_bytes()
}

/// Returns the union of the upstream's versions and the stored canonical versions,
/// sorted in Go's order, without pseudo-versions or duplicates.
fn merge_list(upstream: &[u8], stored: Vec<String>) -> Vec<u8> {
    let mut versions: Vec<String> = String::from_utf8_lossy(upstream).lines().map(str::to_string).collect();
    versions.extend(stored.into_iter().filter(|v| !is_pseudo_version(v)));
    sort_versions(&mut versions);
    versions.dedup();
    let mut out = String::with_capacity(versions.len() * 8);
    for v in versions.iter().filter(|v| !v.is_empty()) {
        out.push_str(v);
        out.push('\n');
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_list_drops_pseudo_and_invalid_versions() {
        let body = b"v1.0.0 2020-01-01T00:00:00Z\nv0.0.0-20191109021931-daa7c04131f5\nmaster\n\nv1.1.0\n";
        assert_eq!(clean_list(body), b"v1.0.0\nv1.1.0\n");
    }

    #[test]
    fn merge_list_unions_and_sorts() {
        let stored = vec![
            "v1.10.0".to_string(),
            "v1.2.0".into(),
            "v0.0.0-20191109021931-daa7c04131f5".into(),
        ];
        let merged = merge_list(b"v1.9.0\nv1.2.0\n", stored);
        assert_eq!(String::from_utf8(merged).unwrap(), "v1.2.0\nv1.9.0\nv1.10.0\n");
    }
}
