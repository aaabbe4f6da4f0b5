//! The maintenance commands beside `serve`: `verify`, `gc`, `stats`,
//! `warm`, `export`, `import` and `healthcheck`. Each works on a data
//! directory that no server holds (the index allows one process at a time),
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

/// Opens the store of a command, explaining the usual cause of failure.
pub fn open_store(data_dir: &Path) -> anyhow::Result<Store> {
    Store::open(data_dir).with_context(|| {
        format!(
            "cannot open the store in {}: if a modvault server is running on it, stop it first \
             (or use --server to talk to it); otherwise check --data-dir / MODVAULT_DATA_DIR",
            data_dir.display()
        )
    })
}
