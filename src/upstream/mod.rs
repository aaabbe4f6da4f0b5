//! Fetching from the upstream proxies: the GOPROXY-style chain, one shared
//! HTTP client with timeouts and bounded retries, and streaming of bodies
//! into memory or into a temporary blob.

mod fetch;
mod list;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Semaphore;

pub use list::{Entry, Fallback, ListError, Source, UpstreamList};

use crate::metrics::Metrics;
use crate::store::{BlobWriter, StoreError};

/// The kind of file fetched, used as a bounded metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchKind {
    List,
    Info,
    Mod,
    Zip,
    Latest,
    Sumdb,
}

impl FetchKind {
    pub fn label(self) -> &'static str {
        match self {
            FetchKind::List => "list",
            FetchKind::Info => "info",
            FetchKind::Mod => "mod",
            FetchKind::Zip => "zip",
            FetchKind::Latest => "latest",
            FetchKind::Sumdb => "sumdb",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("{upstream} returned {status}: {reason}")]
    NotFound {
        upstream: String,
        status: u16,
        reason: String,
    },
    #[error("no upstream is configured for fetching (upstream = off)")]
    Off,
    #[error("{upstream} returned status {status}")]
    Status { upstream: String, status: u16 },
    #[error("{upstream} timed out ({stage})")]
    Timeout { upstream: String, stage: &'static str },
    #[error("{upstream} could not be reached: {message}")]
    Connect { upstream: String, message: String },
    #[error("{upstream} sent a broken body: {message}")]
    Body { upstream: String, message: String },
    #[error("{upstream} sent more than the limit of {limit} bytes")]
    TooLarge { upstream: String, limit: u64 },
    #[error("{0}")]
    Store(Arc<StoreError>),
}

impl UpstreamError {
    /// Outcome label for metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            UpstreamError::NotFound { .. } | UpstreamError::Off => "not_found",
            UpstreamError::Timeout { .. } => "timeout",
            _ => "error",
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, UpstreamError::NotFound { .. } | UpstreamError::Off)
    }
}

impl From<StoreError> for UpstreamError {
    fn from(e: StoreError) -> Self {
        UpstreamError::Store(Arc::new(e))
    }
}

/// A successful fetch and the entry (credentials hidden) that served it.
#[derive(Debug)]
pub struct Fetched<T> {
    pub value: T,
    pub source: String,
}

/// Timeouts and retry settings for upstream requests.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub connect_timeout: Duration,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub total_timeout: Duration,
    pub retries: u32,
    pub concurrency: usize,
}

/// The destination of a body while it streams in.
pub(crate) enum Sink<'a> {
    Memory(Vec<u8>),
    Blob(&'a mut BlobWriter),
}

impl Sink<'_> {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        match self {
            Sink::Memory(buffer) => {
                buffer.extend_from_slice(chunk);
                Ok(())
            }
            Sink::Blob(writer) => writer.write(chunk).await,
        }
    }

    async fn reset(&mut self) -> Result<(), StoreError> {
        match self {
            Sink::Memory(buffer) => {
                buffer.clear();
                Ok(())
            }
            Sink::Blob(writer) => writer.reset().await,
        }
    }
}

/// The upstream chain with its shared client and concurrency limit.
#[derive(Clone)]
pub struct Upstream {
    list: Arc<UpstreamList>,
    client: reqwest::Client,
    settings: FetchSettings,
    permits: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl Upstream {
    pub fn new(list: UpstreamList, settings: FetchSettings, metrics: Arc<Metrics>) -> Result<Upstream, reqwest::Error> {
        let client = fetch::build_client(&settings)?;
        Ok(Upstream {
            list: Arc::new(list),
            client,
            permits: Arc::new(Semaphore::new(settings.concurrency)),
            settings,
            metrics,
        })
    }

    pub fn list(&self) -> &UpstreamList {
        &self.list
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Fetches a small body (list, .info, .mod, @latest) into memory.
    pub async fn fetch_bytes(&self, path: &str, kind: FetchKind, limit: u64) -> Result<Fetched<Bytes>, UpstreamError> {
        let mut sink = Sink::Memory(Vec::new());
        let source = self.fetch_chain(path, kind, limit, &mut sink).await?;
        let Sink::Memory(buffer) = sink else {
            unreachable!("memory sink stays memory")
        };
        Ok(Fetched {
            value: Bytes::from(buffer),
            source,
        })
    }

    /// Streams a body (a zip) into a temporary blob.
    pub async fn fetch_blob(
        &self,
        path: &str,
        kind: FetchKind,
        limit: u64,
        blob: &mut BlobWriter,
    ) -> Result<Fetched<()>, UpstreamError> {
        let mut sink = Sink::Blob(blob);
        let source = self.fetch_chain(path, kind, limit, &mut sink).await?;
        Ok(Fetched { value: (), source })
    }

    /// Fetches `path` from one given source, outside the chain (used for the
    /// checksum database, which may live at its own URL).
    pub async fn fetch_from(
        &self,
        source: &Source,
        path: &str,
        kind: FetchKind,
        limit: u64,
    ) -> Result<Fetched<Bytes>, UpstreamError> {
        let _permit = self.permits.acquire().await.expect("semaphore is never closed");
        let mut sink = Sink::Memory(Vec::new());
        let started = std::time::Instant::now();
        let result = fetch::fetch_entry(self, source, path, kind, limit, &mut sink).await;
        self.metrics.observe_upstream(
            kind.label(),
            result.as_ref().err().map_or("ok", |e| e.outcome()),
            started.elapsed(),
        );
        let bytes = result?;
        self.metrics
            .bytes_fetched
            .with_label_values(&[kind.label()])
            .inc_by(bytes);
        let Sink::Memory(buffer) = sink else {
            unreachable!("memory sink stays memory")
        };
        Ok(Fetched {
            value: Bytes::from(buffer),
            source: source.to_string(),
        })
    }

    /// Walks the chain: `,` moves on after 404/410 only, `|` after any error.
    async fn fetch_chain(
        &self,
        path: &str,
        kind: FetchKind,
        limit: u64,
        sink: &mut Sink<'_>,
    ) -> Result<String, UpstreamError> {
        let _permit = self.permits.acquire().await.expect("semaphore is never closed");
        let mut last_error = UpstreamError::Off;

        for entry in self.list.entries.iter() {
            if entry.source == Source::Off {
                break;
            }
            sink.reset().await?;
            let started = std::time::Instant::now();
            let result = fetch::fetch_entry(self, &entry.source, path, kind, limit, sink).await;
            self.metrics.observe_upstream(
                kind.label(),
                result.as_ref().err().map_or("ok", |e| e.outcome()),
                started.elapsed(),
            );

            match result {
                Ok(bytes) => {
                    self.metrics
                        .bytes_fetched
                        .with_label_values(&[kind.label()])
                        .inc_by(bytes);
                    return Ok(entry.source.to_string());
                }
                Err(err) => {
                    let next = err.is_not_found() || entry.fallback == Fallback::OnAnyError;
                    if !err.is_not_found() {
                        tracing::warn!(upstream = %entry.source, path, error = %err, "upstream fetch failed");
                    }
                    last_error = err;
                    if !next {
                        break;
                    }
                }
            }
        }
        Err(last_error)
    }
}
