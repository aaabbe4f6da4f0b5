//! Interim verification (replaced by the full zip rules and checksum
//! database client).
pub mod dirhash;
pub mod zipcheck;
