//! Request paths already parsed to a stored file's index key.
//!
//! Checking a module path and version costs more than the rest of a hit
//! together. The result depends on the path alone, so a path that once
//! named a stored file maps straight to its index key afterwards. The index
//! is still read for every request, so an evicted file is filled again.

use std::sync::Arc;

use crate::module::FileKind;

/// How many paths are remembered, least recently used out first.
const CAPACITY: usize = 65_536;

/// A path that named a stored `.info`, `.mod` or `.zip`.
pub struct KnownFile {
    /// The index key (`<module>@<version>/<kind>`).
    pub key: String,
    pub kind: FileKind,
}

/// A bounded map from request path (without the leading slash) to its file.
pub struct KnownPaths {
    paths: quick_cache::sync::Cache<String, Arc<KnownFile>>,
}

impl KnownPaths {
    pub fn new() -> KnownPaths {
        KnownPaths {
            paths: quick_cache::sync::Cache::new(CAPACITY),
        }
    }

    pub fn get(&self, path: &str) -> Option<Arc<KnownFile>> {
        self.paths.get(path)
    }

    pub fn insert(&self, path: &str, key: String, kind: FileKind) {
        self.paths.insert(path.to_string(), Arc::new(KnownFile { key, kind }));
    }
}

impl Default for KnownPaths {
    fn default() -> Self {
        KnownPaths::new()
    }
}
