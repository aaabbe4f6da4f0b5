//! The maintenance commands beside `serve`: `verify`, `gc`, `stats`,
//! `warm`, `export`, `import` and `healthcheck`. Each works on a data
//! directory that no server has open (the index allows one process at a time),
//! except where it talks to a running server over HTTP.

pub mod bundle;
pub mod gc;
pub mod healthcheck;
pub mod progress;
pub mod stats;
pub mod verify;
pub mod warm;

use std::path::Path;

use anyhow::Context;

use crate::store::Store;

/// Opens an existing store for a command that reads it. A data directory
/// without an index is an error, so a mistyped --data-dir is not mistaken
/// for an empty store.
pub fn open_existing_store(data_dir: &Path) -> anyhow::Result<Store> {
    if !data_dir.join("index").is_dir() {
        anyhow::bail!(
            "no modvault store in {} (it has no index/ folder); check --data-dir or MODVAULT_DATA_DIR",
            data_dir.display()
        );
    }
    open_store(data_dir)
}

/// Opens the store of a command, creating it if needed, and explains the
/// usual cause of failure.
pub fn open_store(data_dir: &Path) -> anyhow::Result<Store> {
    Store::open(data_dir).with_context(|| {
        format!(
            "cannot open the store in {}: if a modvault server is running on it, stop it first \
             (or use --server to talk to it); otherwise check --data-dir / MODVAULT_DATA_DIR",
            data_dir.display()
        )
    })
}
