//! `modvault gc`: the server's background eviction and orphan removal, run
//! once on a data directory that no server holds.

use std::time::Duration;

use crate::config::Config;
use crate::store::{Removed, Store};

/// Evicts past `config.max_size` and removes every orphan blob; blocking.
pub fn collect(store: &Store, config: &Config) -> anyhow::Result<(Removed, Removed)> {
    let evicted = match config.max_size {
        Some(max) => store.evict_to(max, &config.pins, None)?,
        None => Removed::default(),
    };
    let orphans = store.remove_orphans(Duration::ZERO)?;
    store.flush_blocking()?;
    Ok((evicted, orphans))
}
