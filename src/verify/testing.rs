//! An in-memory checksum database for tests. It signs its tree with a fresh
//! key and serves `latest`, `lookup/<m>@<v>` and tile paths byte for byte in
//! the formats of Go's sumdb server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;

use super::modpath::unescape_case;
use super::note::Signer;
use super::sumdb::{FetchError, SumdbFetch};
use super::tlog::{self, MemoryLog, Tile, Tree, TILE_HEIGHT};

/// A checksum database with its own signing key and log.
#[derive(Debug, Clone)]
pub struct TestSumdb {
    signer: Signer,
    log: MemoryLog,
    /// Record id of each `module@version` (decoded).
    ids: HashMap<String, u64>,
    stale_partial_tiles: bool,
}

impl TestSumdb {
    /// Creates an empty database named `name` with a new key.
    ///
    /// Panics when `name` is not a valid key name (empty, or with a space or `+`).
    pub fn new(name: &str) -> Self {
        let signer = Signer::generate(name).unwrap_or_else(|err| panic!("test database name: {err}"));
        Self {
            signer,
            log: MemoryLog::new(),
            ids: HashMap::new(),
            stale_partial_tiles: true,
        }
    }

    /// Returns a database with the same name and key but an empty history, to
    /// present a fork to clients that trusted this one.
    pub fn fork(&self) -> Self {
        Self {
            log: MemoryLog::new(),
            ids: HashMap::new(),
            ..self.clone()
        }
    }

    pub fn name(&self) -> &str {
        self.signer.name()
    }

    /// Returns the verifier key clients need: `<name>+<hash>+<key>`.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier().encode()
    }

    /// Adds the record of `module@version` (decoded forms) with its zip and
    /// go.mod hashes and returns its record id.
    ///
    /// Panics when the module was added before or the text is not a valid record.
    pub fn add(&mut self, module: &str, version: &str, zip_h1: &str, mod_h1: &str) -> u64 {
        let key = format!("{module}@{version}");
        assert!(!self.ids.contains_key(&key), "{key} is already in the test database");
        let text = format!("{module} {version} {zip_h1}\n{module} {version}/go.mod {mod_h1}\n");
        let id = self.log.append(text.as_bytes()).expect("valid record text");
        self.ids.insert(key, id);
        id
    }

    /// Sets whether partial tiles are still served once their full tile exists.
    /// A database that stores tiles as files may keep only the full one, which
    /// makes clients fall back to it and cut it to the width they need.
    pub fn set_stale_partial_tiles(&mut self, serve: bool) {
        self.stale_partial_tiles = serve;
    }

    pub fn tree(&self) -> Tree {
        self.log.tree()
    }

    /// Returns the signed tree note (the `latest` body).
    pub fn signed_tree(&self) -> Vec<u8> {
        self.signer
            .sign(&tlog::format_tree(&self.tree()))
            .expect("tree text ends in a newline")
    }

    /// Returns the response body for a path relative to the database root, or
    /// `None` for 404.
    pub fn serve(&self, path: &str) -> Option<Vec<u8>> {
        if path == "latest" {
            return Some(self.signed_tree());
        }
        if let Some(key) = path.strip_prefix("lookup/") {
            return self.serve_lookup(key);
        }
        if path.starts_with("tile/") {
            return self.serve_tile(path);
        }
        None
    }

    fn serve_lookup(&self, escaped: &str) -> Option<Vec<u8>> {
        let (module, version) = escaped.split_once('@')?;
        let key = format!("{}@{}", unescape_case(module)?, unescape_case(version)?);
        let id = *self.ids.get(&key)?;
        let mut body = tlog::format_record(id, self.log.record(id)?).ok()?;
        body.extend_from_slice(&self.signed_tree());
        Some(body)
    }

    fn serve_tile(&self, path: &str) -> Option<Vec<u8>> {
        let tile = Tile::parse(path).ok()?;
        if tile.height != TILE_HEIGHT {
            return None;
        }
        if !tile.is_full() && !self.stale_partial_tiles && self.log.tile_data(&tile.full()).is_some() {
            return None;
        }
        self.log.tile_data(&tile)
    }
}

/// A `SumdbFetch` backed by a shared `TestSumdb`, with fixed responses for
/// chosen paths and a log of requested paths.
#[derive(Debug)]
pub struct TestFetcher {
    pub db: Arc<Mutex<TestSumdb>>,
    overrides: Mutex<HashMap<String, Vec<u8>>>,
    requests: Mutex<Vec<String>>,
}

impl TestFetcher {
    pub fn new(db: Arc<Mutex<TestSumdb>>) -> Self {
        Self {
            db,
            overrides: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
        }
    }

    /// Serves `body` for `path` from now on, whatever the database contains.
    pub fn set_override(&self, path: &str, body: Vec<u8>) {
        lock(&self.overrides).insert(path.to_string(), body);
    }

    /// Returns and clears the paths requested so far.
    pub fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.requests))
    }
}

#[async_trait]
impl SumdbFetch for TestFetcher {
    async fn fetch(&self, path: &str) -> Result<Bytes, FetchError> {
        lock(&self.requests).push(path.to_string());
        if let Some(body) = lock(&self.overrides).get(path) {
            return Ok(Bytes::from(body.clone()));
        }
        lock(&self.db).serve(path).map(Bytes::from).ok_or(FetchError::NotFound)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::note::{open, Verifier};

    #[test]
    fn lookup_body_has_record_then_signed_tree() {
        let mut db = TestSumdb::new("sum.test");
        db.add("example.com/A", "v1.0.0-RC1", "h1:zip=", "h1:mod=");
        let body = db.serve("lookup/example.com/!a@v1.0.0-!r!c1").unwrap();
        let (id, text, note) = tlog::parse_record(&body).unwrap();
        assert_eq!(id, 0);
        assert_eq!(
            text,
            b"example.com/A v1.0.0-RC1 h1:zip=\nexample.com/A v1.0.0-RC1/go.mod h1:mod=\n"
        );
        let verifier = Verifier::parse(&db.verifier_key()).unwrap();
        let tree = tlog::parse_tree(open(note, &verifier).unwrap()).unwrap();
        assert_eq!(tree, db.tree());
        assert_eq!(
            db.serve("lookup/example.com/A@v1.0.0-RC1"),
            None,
            "raw uppercase is not an escaped path"
        );
        assert_eq!(db.serve("lookup/example.com/b@v1.0.0"), None);
    }

    #[test]
    fn stale_partial_tiles_can_be_withheld() {
        let mut db = TestSumdb::new("sum.test");
        for i in 0..258 {
            db.add(&format!("example.com/m{i}"), "v1.0.0", "h1:a=", "h1:b=");
        }
        assert!(db.serve("tile/8/0/000.p/2").is_some());
        db.set_stale_partial_tiles(false);
        assert!(db.serve("tile/8/0/000.p/2").is_none());
        assert_eq!(db.serve("tile/8/0/000").map(|data| data.len()), Some(256 * 32));
        assert!(
            db.serve("tile/8/0/001.p/1").is_some(),
            "older partial of an incomplete tile"
        );
        assert_eq!(db.serve("tile/8/0/001.p/2").map(|data| data.len()), Some(2 * 32));
        assert!(db.serve("tile/8/0/001.p/3").is_none());
        assert!(db.serve("tile/8/data/001.p/2").is_some());
        assert!(db.serve("tile/4/0/000.p/3").is_none());
    }

    #[test]
    fn fork_keeps_key_and_drops_history() {
        let mut db = TestSumdb::new("sum.test");
        db.add("example.com/m", "v1.0.0", "h1:a=", "h1:b=");
        let fork = db.fork();
        assert_eq!(fork.verifier_key(), db.verifier_key());
        assert_eq!(fork.tree().size, 0);
    }
}
