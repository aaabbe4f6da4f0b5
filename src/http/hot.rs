//! Small stored files kept in memory, with their gzip encoding made once.
//!
//! Blobs are named by their SHA-256, so a blob's bytes never change and an
//! entry here can never be stale: the index is still read for every
//! request, and an evicted or quarantined file is no longer found there.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use prometheus::{IntCounter, IntGauge};

/// Text responses below this size go without gzip: setting up an encoder
/// costs more than the bytes it saves.
pub const GZIP_MIN_BYTES: usize = 1024;

/// Files up to this size are read in one call and kept in memory. Larger
/// zips stream from disk.
pub const MAX_ENTRY_BYTES: u64 = 256 * 1024;

/// Bookkeeping per entry beyond its bytes (key, `Arc`, table slot).
const ENTRY_OVERHEAD: u64 = 160;

/// The bytes of one stored file and, for text of at least
/// [`GZIP_MIN_BYTES`], the same bytes gzip-encoded.
pub struct HotFile {
    pub identity: Bytes,
    pub gzip: Option<Bytes>,
}

impl HotFile {
    /// Encodes `identity` with gzip when `textual` and large enough.
    pub fn new(identity: Bytes, textual: bool) -> HotFile {
        let gzip = (textual && identity.len() >= GZIP_MIN_BYTES).then(|| gzip(&identity));
        HotFile { identity, gzip }
    }

    fn weight(&self) -> u64 {
        self.identity.len() as u64 + self.gzip.as_ref().map_or(0, |g| g.len() as u64) + ENTRY_OVERHEAD
    }
}

/// Gzip-encodes `bytes` at the default level.
pub fn gzip(bytes: &[u8]) -> Bytes {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 3 + 64), Default::default());
    encoder.write_all(bytes).expect("writing to memory does not fail");
    Bytes::from(encoder.finish().expect("writing to memory does not fail"))
}

#[derive(Clone)]
struct ByWeight;

impl quick_cache::Weighter<String, Arc<HotFile>> for ByWeight {
    fn weight(&self, _: &String, file: &Arc<HotFile>) -> u64 {
        file.weight()
    }
}

/// A byte-bounded cache of small blobs by SHA-256. A capacity of zero turns
/// it off: files are then read for every request.
pub struct HotFiles {
    cache: Option<quick_cache::sync::Cache<String, Arc<HotFile>, ByWeight>>,
    hits: IntCounter,
    misses: IntCounter,
    bytes: IntGauge,
}

impl HotFiles {
    pub fn new(capacity: u64, hits: IntCounter, misses: IntCounter, bytes: IntGauge) -> HotFiles {
        let cache = (capacity > 0).then(|| {
            let estimated_items = (capacity / 2048).clamp(16, 1 << 20) as usize;
            quick_cache::sync::Cache::with_weighter(estimated_items, capacity, ByWeight)
        });
        HotFiles {
            cache,
            hits,
            misses,
            bytes,
        }
    }

    /// Returns the file named `sha256` from memory, or reads it (`size`
    /// bytes at `path()`) on the blocking pool.
    pub async fn get(
        &self,
        sha256: &str,
        path: impl FnOnce() -> PathBuf,
        size: u64,
        textual: bool,
    ) -> std::io::Result<Arc<HotFile>> {
        if let Some(cache) = &self.cache {
            if let Some(file) = cache.get(sha256) {
                self.hits.inc();
                return Ok(file);
            }
            self.misses.inc();
        }

        let path = path();
        let file = tokio::task::spawn_blocking(move || -> std::io::Result<HotFile> {
            Ok(HotFile::new(read_whole(&path, size)?, textual))
        })
        .await
        .expect("the blob read task does not panic")?;
        let file = Arc::new(file);

        if let Some(cache) = &self.cache {
            if size <= MAX_ENTRY_BYTES {
                cache.insert(sha256.to_string(), file.clone());
                self.bytes.set(cache.weight() as i64);
            }
        }
        Ok(file)
    }
}

/// Reads exactly `size` bytes. A shorter or longer file is an error, since
/// the index recorded its size when it was stored.
fn read_whole(path: &std::path::Path, size: u64) -> std::io::Result<Bytes> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut buffer = Vec::with_capacity(size as usize + 1);
    file.by_ref().take(size + 1).read_to_end(&mut buffer)?;
    if buffer.len() as u64 != size {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} has {} bytes, the index recorded {size}",
                path.display(),
                buffer.len()
            ),
        ));
    }
    Ok(Bytes::from(buffer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters() -> (IntCounter, IntCounter, IntGauge) {
        (
            IntCounter::new("hits", "hits").unwrap(),
            IntCounter::new("misses", "misses").unwrap(),
            IntGauge::new("bytes", "bytes").unwrap(),
        )
    }

    #[tokio::test]
    async fn second_read_served_from_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let text = "module example.com/hot\n\ngo 1.22\n".repeat(64);
        std::fs::write(&path, &text).unwrap();
        let (hits, misses, bytes) = counters();
        let files = HotFiles::new(1 << 20, hits.clone(), misses.clone(), bytes.clone());

        let first = files.get("aa", || path.clone(), text.len() as u64, true).await.unwrap();
        std::fs::remove_file(&path).unwrap();
        let second = files.get("aa", || path.clone(), text.len() as u64, true).await.unwrap();

        assert_eq!(second.identity.as_ref(), text.as_bytes());
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(hits.get(), 1);
        assert_eq!(misses.get(), 1);
        let mut decoded = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(second.gzip.as_ref().unwrap().as_ref()),
            &mut decoded,
        )
        .unwrap();
        assert_eq!(decoded, text);
        assert_eq!(bytes.get() as u64, second.weight());
    }

    #[tokio::test]
    async fn zero_capacity_always_reads_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, b"{\"Version\":\"v1.0.0\"}").unwrap();
        let (hits, misses, bytes) = counters();
        let files = HotFiles::new(0, hits.clone(), misses.clone(), bytes);

        let first = files.get("bb", || path.clone(), 20, true).await.unwrap();
        let second = files.get("bb", || path.clone(), 20, true).await.unwrap();

        assert!(!Arc::ptr_eq(&first, &second));
        assert!(first.gzip.is_none());
        assert_eq!(hits.get(), 0);
        assert_eq!(misses.get(), 0, "a cache that is off counts no lookups");
    }

    #[tokio::test]
    async fn size_mismatch_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, b"12345").unwrap();
        let (hits, misses, bytes) = counters();
        let files = HotFiles::new(1 << 20, hits, misses, bytes);

        let shorter = files.get("cc", || path.clone(), 9, false).await.err().unwrap();
        let longer = files.get("cc", || path.clone(), 3, false).await.err().unwrap();

        assert_eq!(shorter.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(longer.kind(), std::io::ErrorKind::InvalidData);
    }
}
