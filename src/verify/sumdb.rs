//! Checksum database client (the logic of golang.org/x/mod/sumdb `Client`),
//! independent of the transport: settings, lookups, and the proofs that tie
//! each response to one append-only history signed by the database key.
//!
//! A lookup fetches `lookup/<m>@<v>` (case-encoded), verifies the tree note
//! signature, checks that the tree and the latest trusted tree are one history
//! (with hash tiles), stores the newer tree, and proves the record is leaf `id`
//! of the trusted tree.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use async_trait::async_trait;
use bytes::Bytes;

use super::modpath::{check_path, check_version_element, escape_case};
use super::note::{self, NoteError, Verifier};
use super::tlog::{self, Tile, TileHashPlan, Tree, TILE_HEIGHT};

/// The public key of sum.golang.org, from the Go sources.
pub const SUM_GOLANG_ORG_KEY: &str = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";

/// Upper bound on authenticated tiles kept in memory (8 KiB each when full).
const TILE_CACHE_LIMIT: usize = 4096;

/// A checksum database setting in `GOSUMDB` syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SumdbConfig {
    /// `off`: no checksum database.
    Off,
    On(Box<SumdbSettings>),
}

/// The key of a checksum database and the URL it is reached at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumdbSettings {
    pub verifier: Verifier,
    /// Base URL without a trailing slash; `https://<name>` unless the setting
    /// names another.
    pub url: String,
}

impl SumdbSettings {
    /// Returns the database name, which is also its name under `/sumdb/` on a proxy.
    pub fn name(&self) -> &str {
        self.verifier.name()
    }
}

/// An invalid checksum database setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid checksum database setting {value:?}: {reason}; use \"off\", \"sum.golang.org\", \
     or a verifier key <name>+<hash>+<key>, optionally followed by a space and the database URL"
)]
pub struct SumdbConfigError {
    pub value: String,
    pub reason: String,
}

impl SumdbConfig {
    /// Parses `off`, a known database name, or a verifier key, each optionally
    /// followed by whitespace and the database URL (http or https).
    pub fn parse(value: &str) -> Result<Self, SumdbConfigError> {
        let error = |reason: &str| SumdbConfigError {
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = value.trim();
        if trimmed == "off" {
            return Ok(Self::Off);
        }
        let expanded = match trimmed {
            "sum.golang.google.cn" => "sum.golang.org https://sum.golang.google.cn",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (key, url) = match fields.as_slice() {
            [] => return Err(error("the value is empty")),
            [key] => (*key, None),
            [key, url] => (*key, Some(*url)),
            _ => return Err(error("too many fields")),
        };
        let key = match key {
            "sum.golang.org" => SUM_GOLANG_ORG_KEY,
            key if !key.contains('+') => return Err(error(&format!("unknown database name {key:?}"))),
            key => key,
        };
        let verifier = Verifier::parse(key).map_err(|err| error(&err.to_string()))?;
        if !is_host_and_path(verifier.name()) {
            return Err(error("the key name must be host[/path]"));
        }
        let url = match url {
            None => format!("https://{}", verifier.name()),
            Some(url) => {
                let rest = url
                    .strip_prefix("https://")
                    .or_else(|| url.strip_prefix("http://"))
                    .ok_or_else(|| error("the URL must start with https:// or http://"))?;
                if rest.is_empty() || rest.starts_with('/') {
                    return Err(error("the URL has no host"));
                }
                url.trim_end_matches('/').to_string()
            }
        };
        Ok(Self::On(Box::new(SumdbSettings { verifier, url })))
    }
}

fn is_host_and_path(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.contains("//")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-._~:/".contains(c))
}

/// A failed fetch from a checksum database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The database has no such path (HTTP 404 or 410).
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Failed(String),
}

/// Fetches paths relative to a checksum database root: `latest`,
/// `lookup/<m>@<v>`, `tile/8/...`.
#[async_trait]
pub trait SumdbFetch: Send + Sync {
    async fn fetch(&self, path: &str) -> Result<Bytes, FetchError>;
}

/// Persists the latest trusted signed tree note of each database.
#[async_trait]
pub trait LatestTreeStore: Send + Sync {
    async fn load_latest(&self, name: &str) -> io::Result<Option<Vec<u8>>>;
    async fn store_latest(&self, name: &str, note: &[u8]) -> io::Result<()>;
}

/// A `LatestTreeStore` in memory, for tests.
#[derive(Debug, Default)]
pub struct MemoryLatestStore {
    notes: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemoryLatestStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the stored note of `name`.
    pub fn get(&self, name: &str) -> Option<Vec<u8>> {
        lock(&self.notes).get(name).cloned()
    }
}

#[async_trait]
impl LatestTreeStore for MemoryLatestStore {
    async fn load_latest(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self.get(name))
    }

    async fn store_latest(&self, name: &str, note: &[u8]) -> io::Result<()> {
        lock(&self.notes).insert(name.to_string(), note.to_vec());
        Ok(())
    }
}

/// One go.sum line: `<module> <version>[/go.mod] <hash>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoSumLine {
    pub module: String,
    pub version: String,
    /// True for the hash of the go.mod file alone (`<version>/go.mod`).
    pub go_mod: bool,
    pub hash: String,
}

impl fmt::Display for GoSumLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let suffix = if self.go_mod { "/go.mod" } else { "" };
        write!(f, "{} {}{suffix} {}", self.module, self.version, self.hash)
    }
}

/// Errors from checksum database lookups and from checking their responses.
#[derive(Debug, thiserror::Error)]
pub enum SumdbError {
    #[error("invalid module {module}@{version} for a checksum database lookup: {reason}")]
    InvalidModule {
        module: String,
        version: String,
        reason: String,
    },
    #[error("{module}@{version}: not found in checksum database {database}")]
    NotFound {
        database: String,
        module: String,
        version: String,
    },
    #[error("{context}: fetching {path} from checksum database {database} failed: {message}")]
    Transport {
        database: String,
        context: String,
        path: String,
        message: String,
    },
    #[error("{context}: checksum database {database} sent a tree note that fails verification with its key: {source}")]
    BadSignature {
        database: String,
        context: String,
        source: NoteError,
    },
    #[error("{context}: checksum database {database} sent malformed {what}: {reason}")]
    Malformed {
        database: String,
        context: String,
        what: String,
        reason: String,
    },
    #[error("{module}@{version}: checksum database {database} record {id} could not be proven in the tree of size {tree_size}: {reason}")]
    InclusionFailed {
        database: String,
        module: String,
        version: String,
        id: u64,
        tree_size: u64,
        reason: String,
    },
    #[error("{context}: checksum database {database} tree of size {older} could not be checked against the tree of size {newer}: {reason}")]
    ConsistencyUnproven {
        database: String,
        context: String,
        older: u64,
        newer: u64,
        reason: String,
    },
    #[error(
        "SECURITY ERROR: {context}: checksum database {database} presented a tree of size {presented_size} \
         that is inconsistent with the tree of size {trusted_size} trusted earlier (its history was rewritten)"
    )]
    Inconsistent {
        database: String,
        context: String,
        trusted_size: u64,
        presented_size: u64,
        /// The signed notes of both trees: together with the tiles they are the
        /// evidence of the fork.
        trusted_note: Vec<u8>,
        presented_note: Vec<u8>,
    },
    #[error(
        "{module}@{version}: checksum database {database} record {id} has no go.sum lines for this module version"
    )]
    RecordMismatch {
        database: String,
        module: String,
        version: String,
        id: u64,
    },
    #[error("{context}: storing or loading the trusted tree of checksum database {database} failed: {source}")]
    Store {
        database: String,
        context: String,
        source: io::Error,
    },
    #[error("the stored trusted tree of checksum database {database} is invalid ({reason}); it must verify with the configured key")]
    StoredTreeInvalid { database: String, reason: String },
}

/// The latest trusted tree and its signed note (empty for the empty tree).
#[derive(Clone, Default)]
struct Latest {
    tree: Tree,
    note: Vec<u8>,
}

/// The position of a merged tree relative to the trusted one.
#[derive(Debug, PartialEq, Eq)]
enum Merge {
    Past,
    Now,
    Future,
}

/// A client of one checksum database. Safe to share between tasks.
pub struct SumdbClient {
    verifier: Verifier,
    fetcher: Arc<dyn SumdbFetch>,
    store: Arc<dyn LatestTreeStore>,
    loaded: tokio::sync::OnceCell<()>,
    latest: Mutex<Latest>,
    /// Serializes writes to the store so an older tree never overwrites a newer one.
    persist: tokio::sync::Mutex<()>,
    /// Tiles whose data has been proven against a trusted tree.
    tiles: Mutex<HashMap<Tile, Vec<u8>>>,
}

impl fmt::Debug for SumdbClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SumdbClient")
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

impl SumdbClient {
    pub fn new(verifier: Verifier, fetcher: Arc<dyn SumdbFetch>, store: Arc<dyn LatestTreeStore>) -> Self {
        Self {
            verifier,
            fetcher,
            store,
            loaded: tokio::sync::OnceCell::new(),
            latest: Mutex::new(Latest::default()),
            persist: tokio::sync::Mutex::new(()),
            tiles: Mutex::new(HashMap::new()),
        }
    }

    /// Returns the database name.
    pub fn name(&self) -> &str {
        self.verifier.name()
    }

    /// Returns the latest trusted tree (size 0 before any response is trusted).
    pub async fn latest_tree(&self) -> Result<Tree, SumdbError> {
        self.ensure_loaded("latest tree").await?;
        Ok(lock(&self.latest).tree)
    }

    /// Fetches `latest` and merges it into the trusted tree; returns the trusted tree.
    pub async fn refresh_latest(&self) -> Result<Tree, SumdbError> {
        let context = "refresh of latest";
        self.ensure_loaded(context).await?;
        let note = self.fetch(context, "latest").await?;
        self.merge(context, &note).await?;
        Ok(lock(&self.latest).tree)
    }

    /// Looks up the go.sum lines of `module_path@version` (decoded forms) and
    /// returns them once the record is proven to be in the trusted history.
    pub async fn lookup(&self, module_path: &str, version: &str) -> Result<Vec<GoSumLine>, SumdbError> {
        let invalid = |reason: String| SumdbError::InvalidModule {
            module: module_path.to_string(),
            version: version.to_string(),
            reason,
        };
        check_path(module_path).map_err(invalid)?;
        check_version_element(version).map_err(invalid)?;
        let context = format!("lookup of {module_path}@{version}");
        self.ensure_loaded(&context).await?;

        let path = format!("lookup/{}@{}", escape_case(module_path), escape_case(version));
        let body = match self.fetcher.fetch(&path).await {
            Ok(body) => body,
            Err(FetchError::NotFound) => {
                return Err(SumdbError::NotFound {
                    database: self.name().to_string(),
                    module: module_path.to_string(),
                    version: version.to_string(),
                })
            }
            Err(FetchError::Failed(message)) => return Err(self.transport(&context, &path, message)),
        };
        let (id, text, note) =
            tlog::parse_record(&body).map_err(|err| self.malformed(&context, "lookup response", &err.to_string()))?;

        self.merge(&context, note).await?;
        self.prove_record(module_path, version, id, text).await?;

        let lines = go_sum_lines(text, module_path, version);
        if lines.is_empty() {
            return Err(SumdbError::RecordMismatch {
                database: self.name().to_string(),
                module: module_path.to_string(),
                version: version.to_string(),
                id,
            });
        }
        Ok(lines)
    }

    async fn ensure_loaded(&self, context: &str) -> Result<(), SumdbError> {
        self.loaded
            .get_or_try_init(|| async {
                let stored = self
                    .store
                    .load_latest(self.name())
                    .await
                    .map_err(|source| SumdbError::Store {
                        database: self.name().to_string(),
                        context: context.to_string(),
                        source,
                    })?;
                let Some(note) = stored.filter(|note| !note.is_empty()) else {
                    return Ok(());
                };
                let tree = self.open_tree(&note).map_err(|reason| SumdbError::StoredTreeInvalid {
                    database: self.name().to_string(),
                    reason,
                })?;
                *lock(&self.latest) = Latest { tree, note };
                Ok(())
            })
            .await
            .map(|_| ())
    }

    fn open_tree(&self, note: &[u8]) -> Result<Tree, String> {
        let text = note::open(note, &self.verifier).map_err(|err| err.to_string())?;
        tlog::parse_tree(text).map_err(|err| err.to_string())
    }

    /// Merges a signed tree into the trusted one. An older or equal tree must be
    /// part of the trusted history. A newer tree must extend it, and then
    /// replaces it in memory and in the store.
    async fn merge(&self, context: &str, note: &[u8]) -> Result<Merge, SumdbError> {
        let text = note::open(note, &self.verifier).map_err(|source| SumdbError::BadSignature {
            database: self.name().to_string(),
            context: context.to_string(),
            source,
        })?;
        let tree = tlog::parse_tree(text).map_err(|err| self.malformed(context, "tree note", &err.to_string()))?;

        loop {
            let trusted = lock(&self.latest).clone();
            self.check_trees(context, (&trusted.tree, &trusted.note), (&tree, note))
                .await?;
            if tree.size < trusted.tree.size {
                return Ok(Merge::Past);
            }
            if tree.size == trusted.tree.size {
                return Ok(Merge::Now);
            }

            let installed = {
                let mut latest = lock(&self.latest);
                if latest.tree == trusted.tree {
                    *latest = Latest {
                        tree,
                        note: note.to_vec(),
                    };
                    true
                } else {
                    false
                }
            };
            if installed {
                self.persist_latest(context).await?;
                return Ok(Merge::Future);
            }
            // Another task moved the trusted tree meanwhile: check again.
        }
    }

    async fn persist_latest(&self, context: &str) -> Result<(), SumdbError> {
        let _guard = self.persist.lock().await;
        let note = lock(&self.latest).note.clone();
        self.store
            .store_latest(self.name(), &note)
            .await
            .map_err(|source| SumdbError::Store {
                database: self.name().to_string(),
                context: context.to_string(),
                source,
            })
    }

    /// Checks that the trusted and the presented tree are one history: the
    /// smaller tree's root is recomputed from tiles proven against the larger
    /// tree's root. Equal sizes need equal roots.
    async fn check_trees(
        &self,
        context: &str,
        (trusted, trusted_note): (&Tree, &[u8]),
        (presented, presented_note): (&Tree, &[u8]),
    ) -> Result<(), SumdbError> {
        let (older, newer) = if presented.size <= trusted.size {
            (presented, trusted)
        } else {
            (trusted, presented)
        };
        let computed = if older.size == 0 {
            // The empty tree's root is all zeros; no tile is needed.
            tlog::Hash::default()
        } else if older.size == newer.size {
            newer.hash
        } else {
            let unproven = |reason: String| SumdbError::ConsistencyUnproven {
                database: self.name().to_string(),
                context: context.to_string(),
                older: older.size,
                newer: newer.size,
                reason,
            };
            let indexes = tlog::tree_hash_indexes(older.size);
            let hashes = self
                .read_proven_hashes(context, newer, &indexes)
                .await?
                .map_err(unproven)?;
            tlog::tree_hash_from_hashes(older.size, &hashes).map_err(|err| unproven(err.to_string()))?
        };
        if computed == older.hash {
            return Ok(());
        }
        Err(SumdbError::Inconsistent {
            database: self.name().to_string(),
            context: context.to_string(),
            trusted_size: trusted.size,
            presented_size: presented.size,
            trusted_note: trusted_note.to_vec(),
            presented_note: presented_note.to_vec(),
        })
    }

    async fn prove_record(&self, module: &str, version: &str, id: u64, text: &[u8]) -> Result<(), SumdbError> {
        let context = format!("lookup of {module}@{version}");
        let trusted = lock(&self.latest).tree;
        let failed = |reason: String| SumdbError::InclusionFailed {
            database: self.name().to_string(),
            module: module.to_string(),
            version: version.to_string(),
            id,
            tree_size: trusted.size,
            reason,
        };
        if id >= trusted.size {
            return Err(failed("the record id is outside the tree".to_string()));
        }
        let index = tlog::stored_hash_index(0, id);
        let hashes = self
            .read_proven_hashes(&context, &trusted, &[index])
            .await?
            .map_err(failed)?;
        if hashes.first() != Some(&tlog::record_hash(text)) {
            return Err(failed("the record text does not match the leaf hash".to_string()));
        }
        Ok(())
    }

    /// Fetches the tiles that prove `indexes` against `tree` and returns the
    /// hashes. The outer error is a transport failure; the inner one a failed
    /// proof.
    async fn read_proven_hashes(
        &self,
        context: &str,
        tree: &Tree,
        indexes: &[u64],
    ) -> Result<Result<Vec<tlog::Hash>, String>, SumdbError> {
        let plan = match tlog::plan_tile_hashes(*tree, TILE_HEIGHT, indexes) {
            Ok(plan) => plan,
            Err(err) => return Ok(Err(err.to_string())),
        };
        let data = self.read_tiles(context, &plan).await?;
        match plan.verify(&data) {
            Ok(hashes) => {
                self.remember_tiles(&plan, data);
                Ok(Ok(hashes))
            }
            Err(err) => Ok(Err(err.to_string())),
        }
    }

    async fn read_tiles(&self, context: &str, plan: &TileHashPlan) -> Result<Vec<Vec<u8>>, SumdbError> {
        let fetches: Vec<_> = plan.tiles().iter().map(|tile| self.read_tile(context, *tile)).collect();
        join_all(fetches).await.into_iter().collect()
    }

    /// Reads one tile from the cache or the database. A partial tile that the
    /// database no longer serves is cut from the full tile, as Go does.
    async fn read_tile(&self, context: &str, tile: Tile) -> Result<Vec<u8>, SumdbError> {
        if let Some(data) = self.cached_tile(&tile) {
            return Ok(data);
        }
        let path = tile.path();
        let error = match self.fetcher.fetch(&path).await {
            Ok(data) => return Ok(data.to_vec()),
            Err(error) => error,
        };
        if !tile.is_full() {
            if let Ok(full) = self.fetcher.fetch(&tile.full().path()).await {
                let want = tile.width as usize * tlog::HASH_SIZE;
                let cut = full.get(..want).unwrap_or(&full);
                return Ok(cut.to_vec());
            }
        }
        let message = match error {
            FetchError::NotFound => "not found".to_string(),
            FetchError::Failed(message) => message,
        };
        Err(self.transport(context, &path, message))
    }

    fn cached_tile(&self, tile: &Tile) -> Option<Vec<u8>> {
        let tiles = lock(&self.tiles);
        if let Some(data) = tiles.get(tile) {
            return Some(data.clone());
        }
        let full = tiles.get(&tile.full())?;
        full.get(..tile.width as usize * tlog::HASH_SIZE).map(<[u8]>::to_vec)
    }

    fn remember_tiles(&self, plan: &TileHashPlan, data: Vec<Vec<u8>>) {
        let mut tiles = lock(&self.tiles);
        if tiles.len() + data.len() > TILE_CACHE_LIMIT {
            tiles.clear();
        }
        for (tile, bytes) in plan.tiles().iter().zip(data) {
            tiles.insert(*tile, bytes);
        }
    }

    async fn fetch(&self, context: &str, path: &str) -> Result<Bytes, SumdbError> {
        self.fetcher
            .fetch(path)
            .await
            .map_err(|err| self.transport(context, path, err.to_string()))
    }

    fn transport(&self, context: &str, path: &str, message: String) -> SumdbError {
        SumdbError::Transport {
            database: self.name().to_string(),
            context: context.to_string(),
            path: path.to_string(),
            message,
        }
    }

    fn malformed(&self, context: &str, what: &str, reason: &str) -> SumdbError {
        SumdbError::Malformed {
            database: self.name().to_string(),
            context: context.to_string(),
            what: what.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Returns the lines of a record for `module@version` and `module@version/go.mod`.
fn go_sum_lines(text: &[u8], module: &str, version: &str) -> Vec<GoSumLine> {
    let text = String::from_utf8_lossy(text);
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let (Some(line_module), Some(line_version), Some(hash), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return None;
            };
            let (line_version, go_mod) = match line_version.strip_suffix("/go.mod") {
                Some(stripped) => (stripped, true),
                None => (line_version, false),
            };
            (line_module == module && line_version == version).then(|| GoSumLine {
                module: module.to_string(),
                version: version.to_string(),
                go_mod,
                hash: hash.to_string(),
            })
        })
        .collect()
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the
/// guarded values are always left consistent).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs futures concurrently on the current task and returns their outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testing::{TestFetcher, TestSumdb};

    struct Setup {
        db: Arc<Mutex<TestSumdb>>,
        fetcher: Arc<TestFetcher>,
        store: Arc<MemoryLatestStore>,
        client: SumdbClient,
    }

    fn module(i: usize) -> String {
        format!("example.com/m{i}")
    }

    fn setup(records: usize) -> Setup {
        let mut db = TestSumdb::new("sum.test.example");
        for i in 0..records {
            db.add(&module(i), "v1.0.0", &format!("h1:zip{i}="), &format!("h1:mod{i}="));
        }
        let verifier = Verifier::parse(&db.verifier_key()).unwrap();
        let db = Arc::new(Mutex::new(db));
        let fetcher = Arc::new(TestFetcher::new(db.clone()));
        let store = Arc::new(MemoryLatestStore::new());
        let client = SumdbClient::new(verifier, fetcher.clone(), store.clone());
        Setup {
            db,
            fetcher,
            store,
            client,
        }
    }

    fn grow(setup: &Setup, from: usize, to: usize) {
        let mut db = lock(&setup.db);
        for i in from..to {
            db.add(&module(i), "v1.0.0", &format!("h1:zip{i}="), &format!("h1:mod{i}="));
        }
    }

    fn stored_size(setup: &Setup) -> u64 {
        let note = setup.store.get("sum.test.example").expect("a stored tree");
        let verifier = Verifier::parse(&lock(&setup.db).verifier_key()).unwrap();
        tlog::parse_tree(note::open(&note, &verifier).unwrap()).unwrap().size
    }

    #[test]
    fn config_parses_known_names_keys_and_urls() {
        assert_eq!(SumdbConfig::parse("off").unwrap(), SumdbConfig::Off);
        let SumdbConfig::On(settings) = SumdbConfig::parse("sum.golang.org").unwrap() else {
            panic!("expected a database");
        };
        assert_eq!(settings.name(), "sum.golang.org");
        assert_eq!(settings.url, "https://sum.golang.org");

        let SumdbConfig::On(settings) = SumdbConfig::parse("sum.golang.google.cn").unwrap() else {
            panic!("expected a database");
        };
        assert_eq!(settings.verifier.encode(), SUM_GOLANG_ORG_KEY);
        assert_eq!(settings.url, "https://sum.golang.google.cn");

        let value = format!("{SUM_GOLANG_ORG_KEY}  http://127.0.0.1:8080/sumdb/sum.golang.org/");
        let SumdbConfig::On(settings) = SumdbConfig::parse(&value).unwrap() else {
            panic!("expected a database");
        };
        assert_eq!(settings.url, "http://127.0.0.1:8080/sumdb/sum.golang.org");
    }

    #[test]
    fn config_errors_name_the_value_and_the_fix() {
        let err = SumdbConfig::parse("sum.example.com").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid checksum database setting \"sum.example.com\": unknown database name \"sum.example.com\"; \
             use \"off\", \"sum.golang.org\", or a verifier key <name>+<hash>+<key>, optionally followed by a space and the database URL"
        );
        assert!(SumdbConfig::parse("").is_err());
        assert!(SumdbConfig::parse("sum.golang.org https://a b").is_err());
        assert!(SumdbConfig::parse("sum.golang.org ftp://a").is_err());
        assert!(SumdbConfig::parse("sum.golang.org https://").is_err());
        let wrong_hash = SUM_GOLANG_ORG_KEY.replace("033de0ae", "033de0af");
        assert!(SumdbConfig::parse(&wrong_hash)
            .unwrap_err()
            .reason
            .contains("hash does not match"));
    }

    #[tokio::test]
    async fn lookup_returns_go_sum_lines_and_stores_tree() {
        let setup = setup(3);
        let lines = setup.client.lookup("example.com/m1", "v1.0.0").await.unwrap();
        let text: Vec<String> = lines.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "example.com/m1 v1.0.0 h1:zip1=",
                "example.com/m1 v1.0.0/go.mod h1:mod1="
            ]
        );
        assert_eq!(stored_size(&setup), 3);
        assert_eq!(setup.client.latest_tree().await.unwrap().size, 3);
        let requests = setup.fetcher.take_requests();
        assert_eq!(requests[0], "lookup/example.com/m1@v1.0.0");
        assert!(requests.iter().any(|path| path == "tile/8/0/000.p/3"), "{requests:?}");
    }

    #[tokio::test]
    async fn lookup_case_encodes_path_and_version() {
        let setup = setup(0);
        lock(&setup.db).add("example.com/Azure/x", "v1.0.0-RC1", "h1:z=", "h1:m=");
        let lines = setup.client.lookup("example.com/Azure/x", "v1.0.0-RC1").await.unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            setup.fetcher.take_requests()[0],
            "lookup/example.com/!azure/x@v1.0.0-!r!c1"
        );
    }

    #[tokio::test]
    async fn unknown_module_is_not_found() {
        let setup = setup(1);
        let err = setup.client.lookup("example.com/none", "v1.0.0").await.unwrap_err();
        assert!(matches!(err, SumdbError::NotFound { .. }));
        assert_eq!(
            err.to_string(),
            "example.com/none@v1.0.0: not found in checksum database sum.test.example"
        );
    }

    #[tokio::test]
    async fn invalid_module_is_rejected_before_fetching() {
        let setup = setup(1);
        let err = setup.client.lookup("cache", "v1.0.0").await.unwrap_err();
        assert!(matches!(err, SumdbError::InvalidModule { .. }), "{err}");
        let err = setup.client.lookup("example.com/m", "v1/0").await.unwrap_err();
        assert!(matches!(err, SumdbError::InvalidModule { .. }), "{err}");
        assert!(setup.fetcher.take_requests().is_empty());
    }

    #[tokio::test]
    async fn note_signed_by_another_key_is_rejected() {
        let setup = setup(1);
        let other = TestSumdb::new("sum.test.example");
        let verifier = Verifier::parse(&other.verifier_key()).unwrap();
        let client = SumdbClient::new(verifier, setup.fetcher.clone(), Arc::new(MemoryLatestStore::new()));
        let err = client.lookup("example.com/m0", "v1.0.0").await.unwrap_err();
        assert!(matches!(err, SumdbError::BadSignature { .. }), "{err}");
    }

    #[tokio::test]
    async fn tampered_record_fails_inclusion_proof() {
        let setup = setup(3);
        let body = lock(&setup.db).serve("lookup/example.com/m1@v1.0.0").unwrap();
        let tampered = String::from_utf8(body).unwrap().replace("h1:zip1=", "h1:evil=");
        setup
            .fetcher
            .set_override("lookup/example.com/m1@v1.0.0", tampered.into_bytes());
        let err = setup.client.lookup("example.com/m1", "v1.0.0").await.unwrap_err();
        assert!(
            matches!(
                err,
                SumdbError::InclusionFailed {
                    id: 1,
                    tree_size: 3,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().starts_with("example.com/m1@v1.0.0: "), "{err}");
    }

    #[tokio::test]
    async fn record_of_another_module_is_rejected() {
        let setup = setup(3);
        let body = lock(&setup.db).serve("lookup/example.com/m2@v1.0.0").unwrap();
        setup.fetcher.set_override("lookup/example.com/m1@v1.0.0", body);
        let err = setup.client.lookup("example.com/m1", "v1.0.0").await.unwrap_err();
        assert!(matches!(err, SumdbError::RecordMismatch { id: 2, .. }), "{err}");
    }

    #[tokio::test]
    async fn growing_tree_is_proven_consistent_and_stored() {
        let setup = setup(1);
        setup.client.lookup("example.com/m0", "v1.0.0").await.unwrap();
        assert_eq!(stored_size(&setup), 1);

        grow(&setup, 1, 600);
        setup.fetcher.take_requests();
        setup.client.lookup("example.com/m599", "v1.0.0").await.unwrap();
        assert_eq!(stored_size(&setup), 600);
        let requests = setup.fetcher.take_requests();
        assert!(requests.contains(&"tile/8/1/000.p/2".to_string()), "{requests:?}");
    }

    #[tokio::test]
    async fn older_tree_in_cached_lookup_is_accepted() {
        let setup = setup(2);
        let old_body = lock(&setup.db).serve("lookup/example.com/m1@v1.0.0").unwrap();
        grow(&setup, 2, 300);
        setup.client.lookup("example.com/m299", "v1.0.0").await.unwrap();

        setup.fetcher.set_override("lookup/example.com/m1@v1.0.0", old_body);
        let lines = setup.client.lookup("example.com/m1", "v1.0.0").await.unwrap();
        assert_eq!(lines[0].hash, "h1:zip1=");
        assert_eq!(
            setup.client.latest_tree().await.unwrap().size,
            300,
            "an older tree never replaces a newer one"
        );
        assert_eq!(stored_size(&setup), 300);
    }

    #[tokio::test]
    async fn partial_tile_falls_back_to_full_tile() {
        let setup = setup(200);
        setup.client.lookup("example.com/m0", "v1.0.0").await.unwrap();
        grow(&setup, 200, 300);
        let body_at_300 = lock(&setup.db).serve("lookup/example.com/m250@v1.0.0").unwrap();
        grow(&setup, 300, 600);
        lock(&setup.db).set_stale_partial_tiles(false);
        setup
            .fetcher
            .set_override("lookup/example.com/m250@v1.0.0", body_at_300);
        setup.fetcher.take_requests();

        let lines = setup.client.lookup("example.com/m250", "v1.0.0").await.unwrap();
        assert_eq!(lines[0].hash, "h1:zip250=");
        let requests = setup.fetcher.take_requests();
        assert!(requests.contains(&"tile/8/0/001.p/44".to_string()), "{requests:?}");
        assert!(requests.contains(&"tile/8/0/001".to_string()), "{requests:?}");
    }

    #[tokio::test]
    async fn forked_history_is_a_security_error() {
        for fork_size in [2, 3, 5] {
            let setup = setup(3);
            setup.client.lookup("example.com/m0", "v1.0.0").await.unwrap();

            let mut fork = lock(&setup.db).fork();
            for i in 0..fork_size {
                fork.add(&module(i), "v1.0.0", &format!("h1:other{i}="), "h1:mod=");
            }
            *lock(&setup.db) = fork;
            let err = setup.client.lookup("example.com/m1", "v1.0.0").await.unwrap_err();
            let SumdbError::Inconsistent {
                trusted_size,
                presented_size,
                ..
            } = &err
            else {
                panic!("fork of size {fork_size}: expected a security error, got {err}");
            };
            assert_eq!((*trusted_size, *presented_size), (3, fork_size as u64));
            assert!(
                err.to_string()
                    .starts_with("SECURITY ERROR: lookup of example.com/m1@v1.0.0: "),
                "{err}"
            );
            assert_eq!(stored_size(&setup), 3, "the fork must not replace the trusted tree");
        }
    }

    #[tokio::test]
    async fn trusted_tree_survives_a_restart() {
        let setup = setup(3);
        setup.client.lookup("example.com/m0", "v1.0.0").await.unwrap();

        let mut fork = lock(&setup.db).fork();
        for i in 0..4 {
            fork.add(&module(i), "v1.0.0", &format!("h1:other{i}="), "h1:mod=");
        }
        *lock(&setup.db) = fork;
        let verifier = Verifier::parse(&lock(&setup.db).verifier_key()).unwrap();
        let restarted = SumdbClient::new(verifier, setup.fetcher.clone(), setup.store.clone());
        assert_eq!(restarted.latest_tree().await.unwrap().size, 3);
        let err = restarted.lookup("example.com/m1", "v1.0.0").await.unwrap_err();
        assert!(matches!(err, SumdbError::Inconsistent { .. }), "{err}");
    }

    #[tokio::test]
    async fn refresh_latest_moves_the_trusted_tree() {
        let setup = setup(5);
        assert_eq!(setup.client.refresh_latest().await.unwrap().size, 5);
        grow(&setup, 5, 9);
        assert_eq!(setup.client.refresh_latest().await.unwrap().size, 9);
        assert_eq!(stored_size(&setup), 9);
    }

    #[tokio::test]
    async fn malformed_lookup_body_is_reported() {
        let setup = setup(1);
        setup
            .fetcher
            .set_override("lookup/example.com/m0@v1.0.0", b"<html>oops</html>".to_vec());
        let err = setup.client.lookup("example.com/m0", "v1.0.0").await.unwrap_err();
        assert!(matches!(err, SumdbError::Malformed { .. }), "{err}");
    }

    #[tokio::test]
    async fn missing_tile_is_a_transport_error() {
        let setup = setup(3);
        setup.fetcher.set_override(
            "lookup/example.com/m0@v1.0.0",
            lock(&setup.db).serve("lookup/example.com/m0@v1.0.0").unwrap(),
        );
        let fork = lock(&setup.db).fork();
        *lock(&setup.db) = fork;
        let err = setup.client.lookup("example.com/m0", "v1.0.0").await.unwrap_err();
        assert!(matches!(err, SumdbError::Transport { .. }), "{err}");
        assert!(err.to_string().contains("tile/8/0/000.p/3"), "{err}");
    }
}
