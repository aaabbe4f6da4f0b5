//! Fetching and caching checksum database paths (`latest`, `lookup/…`,
//! `tile/…`). Successful lookups and full tiles never change, so they are
//! kept for good. `latest` and partial tiles are refreshed after the TTL and
//! served stale when the database cannot be reached. A lookup 404 is
//! remembered for the TTL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::cache::Clock;
use crate::metrics::Metrics;
use crate::store::{MutableRecord, Store};
use crate::upstream::{FetchKind, Source, Upstream, UpstreamError};
use crate::verify::sumdb::{FetchError, SumdbFetch, SumdbSettings};

/// Largest accepted body: a data tile contains 256 records of a few hundred bytes.
const MAX_BODY: u64 = 16 << 20;

/// A cached or fetched checksum database body.
#[derive(Debug, Clone)]
pub struct SumdbBody {
    pub body: Bytes,
    /// Whether the body can never change (a lookup that succeeded, a full tile).
    pub immutable: bool,
    pub stale: bool,
    /// Whether this request fetched the body (a miss) rather than reading it
    /// from the store.
    pub fetched: bool,
    pub fetched_at_ms: u64,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    Timeout(String),
}

/// The destination of checksum database requests.
enum Route {
    Undecided,
    Decided(Source),
    /// Every upstream failed the `supported` check; no request is sent until
    /// this clock time (milliseconds).
    FailedUntil(u64),
}

/// How long a failed `supported` check keeps requests from going out.
const ROUTE_RETRY_MS: u64 = 30_000;

/// The cache lifetime of a path.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lifetime {
    Forever,
    Ttl,
}

fn lifetime(path: &str) -> Lifetime {
    if path.starts_with("lookup/") || (path.starts_with("tile/") && !path.contains(".p/")) {
        Lifetime::Forever
    } else {
        Lifetime::Ttl
    }
}

pub struct SumdbTransport {
    name: String,
    direct: Source,
    upstream: Upstream,
    store: Store,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    offline: bool,
    route: tokio::sync::Mutex<Route>,
    missing: Mutex<HashMap<String, u64>>,
}

impl SumdbTransport {
    pub fn new(settings: &SumdbSettings, context: super::SumdbContext) -> SumdbTransport {
        let base =
            reqwest::Url::parse(&format!("{}/", settings.url)).expect("checksum database URL was checked when parsed");
        SumdbTransport {
            name: settings.name().to_string(),
            direct: Source::Http {
                base,
                credentials: None,
            },
            upstream: context.upstream,
            store: context.store,
            metrics: context.metrics,
            clock: context.clock,
            ttl: context.ttl,
            offline: context.offline,
            route: tokio::sync::Mutex::new(Route::Undecided),
            missing: Mutex::new(HashMap::new()),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the body for `path`, from the store when it is still valid,
    /// otherwise fetched (falling back to a stale copy on failure).
    pub async fn get(&self, path: &str) -> Result<SumdbBody, TransportError> {
        let key = format!("sumdb:{}/{path}", self.name);
        let life = lifetime(path);
        let now = self.clock.now_ms();
        let cached = self
            .store
            .get_mutable(&key)
            .map_err(|e| TransportError::Failed(e.to_string()))?;
        if let Some(record) = &cached {
            let fresh =
                life == Lifetime::Forever || now.saturating_sub(record.fetched_at_ms) < self.ttl.as_millis() as u64;
            if fresh || self.offline {
                return Ok(SumdbBody {
                    body: Bytes::from(record.body.clone()),
                    immutable: life == Lifetime::Forever,
                    stale: false,
                    fetched: false,
                    fetched_at_ms: record.fetched_at_ms,
                });
            }
        }
        if self.offline {
            return Err(TransportError::NotFound(format!(
                "{}/{path}: modvault is offline and does not have it",
                self.name
            )));
        }
        if let Some(expires) = self.missing.lock().expect("missing lock").get(&key) {
            if *expires > now {
                return Err(TransportError::NotFound(format!("{}/{path}: not found", self.name)));
            }
        }

        match self.fetch_remote(path).await {
            Ok(body) => {
                let record = MutableRecord {
                    fetched_at_ms: now,
                    body: body.to_vec(),
                };
                self.store
                    .put_mutable(&key, &record)
                    .map_err(|e| TransportError::Failed(e.to_string()))?;
                Ok(SumdbBody {
                    body,
                    immutable: life == Lifetime::Forever,
                    stale: false,
                    fetched: true,
                    fetched_at_ms: now,
                })
            }
            Err(TransportError::NotFound(reason)) => {
                self.missing
                    .lock()
                    .expect("missing lock")
                    .insert(key, now + self.ttl.as_millis() as u64);
                Err(TransportError::NotFound(reason))
            }
            Err(err) => match cached {
                Some(record) => {
                    self.metrics.stale_responses.with_label_values(&["sumdb"]).inc();
                    tracing::warn!(database = %self.name, path, error = %err, "serving stale checksum database response");
                    Ok(SumdbBody {
                        body: Bytes::from(record.body),
                        immutable: false,
                        stale: true,
                        fetched: false,
                        fetched_at_ms: record.fetched_at_ms,
                    })
                }
                None => Err(err),
            },
        }
    }

    /// Returns the body of `path` for the proof client, from the store or the network.
    pub async fn fetch(&self, path: &str) -> Result<Bytes, FetchError> {
        <Self as SumdbFetch>::fetch(self, path).await
    }

    async fn fetch_remote(&self, path: &str) -> Result<Bytes, TransportError> {
        let source = self.route().await?;
        match self
            .upstream
            .fetch_from(&source, path, FetchKind::Sumdb, MAX_BODY)
            .await
        {
            Ok(fetched) => Ok(fetched.value),
            Err(e) if e.is_not_found() => Err(TransportError::NotFound(format!(
                "{}/{path}: not found ({e})",
                self.name
            ))),
            Err(e @ UpstreamError::Timeout { .. }) => {
                Err(TransportError::Timeout(format!("checksum database {}: {e}", self.name)))
            }
            Err(e) => Err(TransportError::Failed(format!("checksum database {}: {e}", self.name))),
        }
    }

    /// Picks the first upstream that returns 200 on `sumdb/<name>/supported`.
    /// The database's own URL is used only when every upstream returns
    /// 404/410 (or none is an HTTP proxy), as the go command does: an
    /// unreachable upstream is a failure, never a reason to go elsewhere, and
    /// it is not probed again for 30 seconds.
    async fn route(&self) -> Result<Source, TransportError> {
        let mut route = self.route.lock().await;
        match &*route {
            Route::Decided(source) => return Ok(source.clone()),
            Route::FailedUntil(until) if self.clock.now_ms() < *until => {
                return Err(TransportError::Failed(format!(
                    "checksum database {}: no upstream could be reached for it recently",
                    self.name
                )));
            }
            _ => {}
        }

        let mut failure = None;
        for entry in &self.upstream.list().entries {
            let Source::Http { base, credentials } = &entry.source else {
                continue;
            };
            let Ok(sumdb_base) = base.join(&format!("sumdb/{}/", self.name)) else {
                continue;
            };
            let candidate = Source::Http {
                base: sumdb_base,
                credentials: credentials.clone(),
            };
            match self
                .upstream
                .fetch_from(&candidate, "supported", FetchKind::Sumdb, 4096)
                .await
            {
                Ok(_) => {
                    tracing::info!(database = %self.name, upstream = %entry.source, "checksum database reached through upstream");
                    *route = Route::Decided(candidate.clone());
                    return Ok(candidate);
                }
                Err(e) if e.is_not_found() => continue,
                Err(e) => {
                    tracing::warn!(database = %self.name, upstream = %entry.source, error = %e, "checking upstream checksum database support failed");
                    failure = Some(e);
                }
            }
        }
        if let Some(e) = failure {
            *route = Route::FailedUntil(self.clock.now_ms() + ROUTE_RETRY_MS);
            return Err(TransportError::Failed(format!("checksum database {}: {e}", self.name)));
        }
        tracing::info!(database = %self.name, url = %self.direct, "checksum database reached directly");
        *route = Route::Decided(self.direct.clone());
        Ok(self.direct.clone())
    }
}

#[async_trait]
impl SumdbFetch for SumdbTransport {
    async fn fetch(&self, path: &str) -> Result<Bytes, FetchError> {
        match self.get(path).await {
            Ok(body) => Ok(body.body),
            Err(TransportError::NotFound(_)) => Err(FetchError::NotFound),
            Err(e) => Err(FetchError::Failed(e.to_string())),
        }
    }
}
