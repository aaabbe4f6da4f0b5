//! Streams a large stored file in fixed chunks, reading on the async worker
//! when the bytes are in the page cache and on the blocking pool otherwise.
//!
//! Memory per stream stays near one chunk plus what hyper has queued for
//! the socket: nothing is read ahead of the client.

use std::fs::File;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::Stream;
use tokio::task::JoinHandle;

use crate::store::ServingGuard;

/// Bytes read per step. Larger chunks cost memory for every slow client,
/// and smaller ones cost a system call and a frame each.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// A byte range of a stored file as a stream of chunks.
pub struct BlobStream {
    file: Arc<File>,
    offset: u64,
    remaining: u64,
    pending: Option<JoinHandle<io::Result<Bytes>>>,
    blocking_reads: u64,
    _guard: Option<ServingGuard>,
}

impl BlobStream {
    /// Opens `path` on the blocking pool (a cold directory lookup can wait
    /// on the disk) and streams `length` bytes from `start`.
    pub async fn open(
        path: std::path::PathBuf,
        start: u64,
        length: u64,
        guard: Option<ServingGuard>,
    ) -> io::Result<BlobStream> {
        let file = tokio::task::spawn_blocking(move || File::open(path))
            .await
            .expect("the open task does not panic")?;
        Ok(BlobStream {
            file: Arc::new(file),
            offset: start,
            remaining: length,
            pending: None,
            blocking_reads: 0,
            _guard: guard,
        })
    }

    /// Returns how many chunks were read on the blocking pool.
    #[cfg(test)]
    pub fn blocking_reads(&self) -> u64 {
        self.blocking_reads
    }

    fn advance(&mut self, chunk: Bytes) -> Bytes {
        self.offset += chunk.len() as u64;
        self.remaining -= chunk.len() as u64;
        chunk
    }
}

impl Stream for BlobStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(task) = this.pending.as_mut() {
            let result = match Pin::new(task).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(result) => result,
            };
            this.pending = None;
            let chunk = match result {
                Ok(Ok(chunk)) => chunk,
                Ok(Err(e)) => return Poll::Ready(Some(Err(e))),
                Err(e) => return Poll::Ready(Some(Err(io::Error::other(e)))),
            };
            return Poll::Ready(Some(Ok(this.advance(chunk))));
        }
        if this.remaining == 0 {
            return Poll::Ready(None);
        }

        let want = this.remaining.min(CHUNK_BYTES as u64) as usize;
        match read_cached(&this.file, this.offset, want) {
            Ok(Some(chunk)) => return Poll::Ready(Some(Ok(this.advance(chunk)))),
            Ok(None) => {}
            Err(e) => return Poll::Ready(Some(Err(e))),
        }

        this.blocking_reads += 1;
        let (file, offset) = (this.file.clone(), this.offset);
        this.pending = Some(tokio::task::spawn_blocking(move || read_exact(&file, offset, want)));
        self.poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let chunks = self.remaining.div_ceil(CHUNK_BYTES as u64) as usize;
        (usize::from(chunks > 0), Some(chunks))
    }
}

/// Reads exactly `want` bytes at `offset`. A file that ends early is an
/// error, so a damaged blob ends the response instead of sending fewer bytes
/// than `Content-Length` announced.
fn read_exact(file: &File, offset: u64, want: usize) -> io::Result<Bytes> {
    use std::os::unix::fs::FileExt;
    let mut buffer = vec![0u8; want];
    file.read_exact_at(&mut buffer, offset)?;
    Ok(Bytes::from(buffer))
}

/// Reads up to `want` bytes at `offset` only if they are in the page cache
/// (`preadv2` with `RWF_NOWAIT`), so the async worker does not wait for
/// the disk. `None` means the read must go to the blocking pool.
#[cfg(target_os = "linux")]
fn read_cached(file: &File, offset: u64, want: usize) -> io::Result<Option<Bytes>> {
    use std::os::fd::AsRawFd;

    let mut buffer = BytesMut::with_capacity(want);
    let iov = libc::iovec {
        iov_base: buffer.as_mut_ptr().cast(),
        iov_len: want,
    };
    loop {
        // SAFETY: `iov` points at `want` bytes of `buffer`'s capacity, which
        // outlive the call; the kernel writes at most `want` bytes there.
        let read = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, offset as libc::off_t, libc::RWF_NOWAIT) };
        if read > 0 {
            // SAFETY: the kernel initialised the first `read` bytes.
            unsafe { buffer.set_len(read as usize) };
            return Ok(Some(buffer.freeze()));
        }
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the stored file is shorter than its index record",
            ));
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN | libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL) => return Ok(None),
            _ => return Err(error),
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn read_cached(_: &File, _: u64, _: usize) -> io::Result<Option<Bytes>> {
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    async fn collect(stream: &mut BlobStream) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    /// Writes `bytes` to a file on the checkout's disk, since `/tmp` may be a
    /// tmpfs, which keeps every page in memory.
    fn disk_file(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::Builder::new()
            .prefix(".stream-test-")
            .tempdir_in(env!("CARGO_MANIFEST_DIR"))
            .unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    #[tokio::test]
    async fn range_streams_exact_bytes() {
        let bytes = pattern(3 * CHUNK_BYTES + 123);
        let (_dir, path) = disk_file(&bytes);

        let mut whole = BlobStream::open(path.clone(), 0, bytes.len() as u64, None)
            .await
            .unwrap();
        let mut part = BlobStream::open(path, 1000, 2 * CHUNK_BYTES as u64, None)
            .await
            .unwrap();

        assert_eq!(collect(&mut whole).await.unwrap(), bytes);
        assert_eq!(collect(&mut part).await.unwrap(), &bytes[1000..1000 + 2 * CHUNK_BYTES]);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn uncached_bytes_use_blocking_pool() {
        use std::os::fd::AsRawFd;
        let bytes = pattern(8 * CHUNK_BYTES);
        let (_dir, path) = disk_file(&bytes);
        let file = File::open(&path).unwrap();
        file.sync_all().unwrap();
        // SAFETY: a plain advisory call on an open descriptor.
        let advised = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(advised, 0);

        let mut stream = BlobStream::open(path, 0, bytes.len() as u64, None).await.unwrap();
        let streamed = collect(&mut stream).await.unwrap();

        assert_eq!(streamed, bytes);
        assert!(stream.blocking_reads() >= 1, "no chunk went to the blocking pool");
    }

    #[tokio::test]
    async fn short_file_ends_in_error() {
        let bytes = pattern(CHUNK_BYTES + 10);
        let (_dir, path) = disk_file(&bytes);

        let mut stream = BlobStream::open(path, 0, bytes.len() as u64 + 500, None).await.unwrap();
        let error = collect(&mut stream).await.unwrap_err();

        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}
