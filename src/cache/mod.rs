//! The serve-or-fill policy.
//!
//! Canonical `.info`, `.mod` and `.zip` files are immutable: a hit is served
//! from the store, a miss is filled once from upstream (concurrent requests
//! for the same key wait on that one fill) and kept forever. `list`,
//! `@latest` and queries are mutable: fresh for `list_ttl`, then refetched,
//! and served stale when every upstream fails. Upstream 404/410 is
//! remembered for `negative_ttl`; upstream faults are never remembered.

mod clock;
mod coalesce;
mod fill;
mod mutable;
mod stored;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::metrics::Metrics;
use crate::module::{FileKind, ProxyRequest};
use crate::store::{FileRecord, Store, StoreError};
use crate::sumdb::Sumdb;
use crate::upstream::{Upstream, UpstreamError};

pub use clock::{Clock, ManualClock, SystemClock};
use coalesce::{Coalescer, NegativeCache};

/// The source of a response: the store, a fill, or a stale copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Hit,
    Miss,
    Stale,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Stale => "stale",
        }
    }
}

/// A successful response body and its metadata.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A stored canonical file, served from its blob.
    File {
        record: FileRecord,
        kind: FileKind,
        outcome: Outcome,
    },
    /// A mutable response kept in memory.
    Body {
        body: Bytes,
        content_type: &'static str,
        fetched_at_ms: u64,
        outcome: Outcome,
    },
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum CacheError {
    /// Absent upstream (404/410) or rejected as not a module; the text is
    /// the one-line reason for the client.
    #[error("{0}")]
    NotFound(String),
    /// A miss while fetching is disabled (offline, or a cache-only request);
    /// never cacheable by clients, since a later request may find it.
    #[error("{0}")]
    NotCached(String),
    #[error("{0}")]
    Upstream(UpstreamError),
    /// The upstream answered 200 with content that failed a check.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Store(Arc<StoreError>),
}

impl From<StoreError> for CacheError {
    fn from(e: StoreError) -> Self {
        CacheError::Store(Arc::new(e))
    }
}

impl From<UpstreamError> for CacheError {
    fn from(e: UpstreamError) -> Self {
        match e {
            UpstreamError::Store(inner) => CacheError::Store(inner),
            other => CacheError::Upstream(other),
        }
    }
}

/// Freshness, budget and fetching settings.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    pub list_ttl: Duration,
    pub negative_ttl: Duration,
    /// Store size budget in bytes.
    pub max_size: Option<u64>,
    /// Modules never evicted.
    pub pins: crate::module::PathPatterns,
    /// Never fetch from an upstream.
    pub offline: bool,
    /// After filling a version's `.mod`, fill its `.info` in the background,
    /// and the reverse: the go command requests both files of a version it
    /// downloads, one after the other.
    pub prefetch: bool,
}

/// Whether a request may fill from upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchPolicy {
    /// Fill misses from upstream.
    Fill,
    /// Answer from the store only (`Disable-Module-Fetch: true` or the
    /// `/cached-only/` prefix).
    StoreOnly,
}

/// Shared cache state; cheap to clone.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    upstream: Upstream,
    metrics: Arc<Metrics>,
    settings: CacheSettings,
    fills: Coalescer,
    negative: NegativeCache,
    clock: Arc<dyn Clock>,
    sumdb: Option<Arc<Sumdb>>,
}

impl Cache {
    pub fn new(
        store: Store,
        upstream: Upstream,
        metrics: Arc<Metrics>,
        settings: CacheSettings,
        clock: Arc<dyn Clock>,
        sumdb: Option<Arc<Sumdb>>,
    ) -> Cache {
        Cache {
            inner: Arc::new(Inner {
                store,
                upstream,
                metrics,
                settings,
                fills: Coalescer::new(),
                negative: NegativeCache::default(),
                clock,
                sumdb,
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Returns the configured checksum database, if verification is on.
    pub fn sumdb(&self) -> Option<&Arc<Sumdb>> {
        self.inner.sumdb.as_ref()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    pub fn settings(&self) -> &CacheSettings {
        &self.inner.settings
    }

    /// Waits up to `timeout` for fills and prefetches that run without a
    /// waiting request; returns whether all of them finished.
    pub async fn finish_background(&self, timeout: std::time::Duration) -> bool {
        let tasks = self.inner.fills.tasks();
        tasks.close();
        tokio::time::timeout(timeout, tasks.wait()).await.is_ok()
    }

    /// Answers one proxy request from the store or, when `policy` and the
    /// settings allow, by filling it.
    pub async fn answer(&self, request: &ProxyRequest, policy: FetchPolicy) -> Result<Answer, CacheError> {
        if policy == FetchPolicy::StoreOnly || self.inner.settings.offline {
            return self.answer_from_store(request);
        }
        match request {
            ProxyRequest::File(module, version, kind) => self.file(module, version, *kind).await,
            ProxyRequest::List(module) => self.list(module).await,
            ProxyRequest::Latest(module) => self.latest(module).await,
            ProxyRequest::Query(module, query) => self.query(module, query).await,
        }
    }
}
