//! The checksum database as modvault uses it. A caching transport fetches
//! lookups and tiles through the upstream's `/sumdb/<name>/` when the upstream
//! supports it, else from the database's own URL. A verifying client checks
//! every fill of a module not skipped by `--nosumdb`. The same cached bodies
//! are served to `go` clients under `/sumdb/<name>/`.

mod transport;

use std::sync::Arc;

use async_trait::async_trait;

use crate::cache::Clock;
use crate::metrics::Metrics;
use crate::module::{FileKind, ModulePath, PathPatterns, Version};
use crate::store::Store;
use crate::upstream::Upstream;
use crate::verify::sumdb::{LatestTreeStore, SumdbClient, SumdbError, SumdbSettings};

pub use transport::{SumdbBody, SumdbTransport, TransportError};

/// The reason a fetched file was rejected.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VerifyError {
    /// The database vouches for other bytes than the upstream sent.
    #[error("{module}@{version} {file}: checksum mismatch: checksum database {database} has {expected}, upstream sent {actual}")]
    Mismatch {
        database: String,
        module: String,
        version: String,
        file: String,
        expected: String,
        actual: String,
    },
    /// The lookup failed: unknown version, broken proof, fork, transport.
    #[error("{module}@{version} {file}: cannot be verified (upstream sent {actual}): {reason}")]
    Unverified {
        module: String,
        version: String,
        file: String,
        actual: String,
        reason: String,
        metric: &'static str,
    },
}

impl VerifyError {
    /// Bounded metric label for the failure.
    pub fn metric_reason(&self) -> &'static str {
        match self {
            VerifyError::Mismatch { .. } => "checksum_mismatch",
            VerifyError::Unverified { metric, .. } => metric,
        }
    }
}

/// Persists the trusted tree in the store's metadata, per database.
struct StoreLatest(Store);

#[async_trait]
impl LatestTreeStore for StoreLatest {
    async fn load_latest(&self, name: &str) -> std::io::Result<Option<Vec<u8>>> {
        self.0
            .get_meta(&format!("sumdb-latest:{name}"))
            .map_err(std::io::Error::other)
    }

    async fn store_latest(&self, name: &str, note: &[u8]) -> std::io::Result<()> {
        self.0
            .put_meta(&format!("sumdb-latest:{name}"), note)
            .await
            .map_err(std::io::Error::other)
    }
}

/// The server parts the checksum database shares.
pub struct SumdbContext {
    pub store: Store,
    pub upstream: Upstream,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    /// Freshness of `latest`, partial tiles and lookup 404s.
    pub ttl: std::time::Duration,
    /// Never fetch; serve stored bodies only.
    pub offline: bool,
}

/// The configured checksum database.
pub struct Sumdb {
    transport: Arc<SumdbTransport>,
    client: SumdbClient,
    skip: PathPatterns,
    metrics: Arc<Metrics>,
}

impl Sumdb {
    pub fn new(settings: &SumdbSettings, skip: PathPatterns, context: SumdbContext) -> Sumdb {
        let store = context.store.clone();
        let metrics = context.metrics.clone();
        let transport = Arc::new(SumdbTransport::new(settings, context));
        let client = SumdbClient::new(
            settings.verifier.clone(),
            transport.clone(),
            Arc::new(StoreLatest(store)),
        );
        Sumdb {
            transport,
            client,
            skip,
            metrics,
        }
    }

    pub fn name(&self) -> &str {
        self.client.name()
    }

    pub fn transport(&self) -> &Arc<SumdbTransport> {
        &self.transport
    }

    /// Module patterns that skip the checksum database.
    pub fn skip(&self) -> &PathPatterns {
        &self.skip
    }

    /// Reports whether fills of `module` are checked against the database.
    pub fn covers(&self, module: &ModulePath) -> bool {
        !self.skip.matches(module.as_str())
    }

    /// Checks the `h1:` hash of a fetched .zip or .mod against the proven
    /// record of the database. Failures are logged and counted.
    pub async fn verify(
        &self,
        module: &ModulePath,
        version: &Version,
        kind: FileKind,
        actual: &str,
    ) -> Result<(), VerifyError> {
        let file = format!(".{}", kind.extension());
        let result = self.check(module, version, kind, actual, &file).await;
        if let Err(err) = &result {
            self.metrics
                .verification_failures
                .with_label_values(&[err.metric_reason()])
                .inc();
            tracing::error!(module = %module, version = %version, file, error = %err, "verification failed");
        }
        result
    }

    async fn check(
        &self,
        module: &ModulePath,
        version: &Version,
        kind: FileKind,
        actual: &str,
        file: &str,
    ) -> Result<(), VerifyError> {
        let unverified = |reason: String, metric: &'static str| VerifyError::Unverified {
            module: module.to_string(),
            version: version.to_string(),
            file: file.to_string(),
            actual: actual.to_string(),
            reason,
            metric,
        };
        let lines = match self.client.lookup(module.as_str(), version.as_str()).await {
            Ok(lines) => lines,
            Err(e @ SumdbError::NotFound { .. }) => return Err(unverified(e.to_string(), "unknown_version")),
            Err(e @ SumdbError::Transport { .. }) => return Err(unverified(e.to_string(), "unreachable")),
            Err(e @ SumdbError::Inconsistent { .. }) => return Err(unverified(e.to_string(), "fork")),
            Err(e) => return Err(unverified(e.to_string(), "proof")),
        };

        let want_go_mod = kind == FileKind::Mod;
        let Some(line) = lines
            .iter()
            .find(|l| l.go_mod == want_go_mod && l.module == module.as_str() && l.version == version.as_str())
        else {
            return Err(unverified(
                "the checksum database record has no line for this file".into(),
                "proof",
            ));
        };
        if line.hash != actual {
            return Err(VerifyError::Mismatch {
                database: self.name().to_string(),
                module: module.to_string(),
                version: version.to_string(),
                file: file.to_string(),
                expected: line.hash.clone(),
                actual: actual.to_string(),
            });
        }
        Ok(())
    }
}
