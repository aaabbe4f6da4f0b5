//! Verification of what modvault serves: module zip rules and `h1:` hashes,
//! signed notes, transparency log proofs, and the checksum database client.

pub mod dirhash;
pub mod modpath;
pub mod note;
pub mod sumdb;
pub mod testing;
pub mod tlog;
mod ziparchive;
pub mod zipbuild;
pub mod zipcheck;

pub use ziparchive::{ArchiveError, EntryReadError};
