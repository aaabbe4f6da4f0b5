//! Request paths already parsed to a stored file's index key and record.
//!
//! Checking a module path and version costs more than the rest of a hit
//! together, and reading the record means a tree lookup and a JSON decode.
//! Both depend on the path alone while the record exists, so a path that
//! once named a stored file maps straight to its record afterwards. Records
//! are write-once, so a copy is trusted while the store's count of removed
//! records is unchanged, and read again from the index otherwise.

use std::sync::Arc;

use crate::module::FileKind;
use crate::store::FileRecord;

/// A removal count that never matches the store's, for a record that may
/// have been read before the count was: the next request reads the index.
pub const UNCHECKED: u64 = u64::MAX;

/// How many paths are remembered, least recently used out first.
const CAPACITY: usize = 65_536;

/// A path that named a stored `.info`, `.mod` or `.zip`.
pub struct KnownFile {
    /// The index key (`<module>@<version>/<kind>`).
    pub key: String,
    pub kind: FileKind,
    pub record: FileRecord,
    /// The store's count of removed records, read before the record was.
    pub removals: u64,
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

    pub fn insert(&self, path: &str, file: KnownFile) {
        self.paths.insert(path.to_string(), Arc::new(file));
    }
}

impl Default for KnownPaths {
    fn default() -> Self {
        KnownPaths::new()
    }
}
