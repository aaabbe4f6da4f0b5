//! Temporary files that become blobs: written while hashed, fsynced, then
//! renamed into their content-addressed place.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncWriteExt, BufWriter};

use super::{io_error, StoreError};

/// A temporary file being filled; removed on drop unless persisted.
pub struct BlobWriter {
    file: BufWriter<tokio::fs::File>,
    path: PathBuf,
    hasher: Sha256,
    size: u64,
}

impl BlobWriter {
    pub(super) async fn create(tmp_dir: &Path) -> Result<BlobWriter, StoreError> {
        let path = tmp_dir.join(format!("fill-{:016x}", rand::random::<u64>()));
        let file = tokio::fs::File::create(&path).await.map_err(io_error(&path))?;
        Ok(BlobWriter {
            file: BufWriter::with_capacity(256 * 1024, file),
            path,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        self.file.write_all(chunk).await.map_err(io_error(&self.path))
    }

    /// Empties the file so a retry or the next upstream starts afresh.
    pub async fn reset(&mut self) -> Result<(), StoreError> {
        self.file.flush().await.map_err(io_error(&self.path))?;
        let inner = self.file.get_mut();
        inner.set_len(0).await.map_err(io_error(&self.path))?;
        tokio::io::AsyncSeekExt::rewind(inner)
            .await
            .map_err(io_error(&self.path))?;
        self.hasher = Sha256::new();
        self.size = 0;
        Ok(())
    }

    /// Flushes and fsyncs the file; the result can be checked on disk and
    /// then persisted.
    pub async fn finish(mut self) -> Result<FinishedBlob, StoreError> {
        self.file.flush().await.map_err(io_error(&self.path))?;
        self.file.get_ref().sync_all().await.map_err(io_error(&self.path))?;
        let path = std::mem::take(&mut self.path);
        let sha256: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
        Ok(FinishedBlob {
            path,
            sha256,
            size: self.size,
        })
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A complete, fsynced temporary file with its SHA-256; removed on drop
/// unless persisted.
pub struct FinishedBlob {
    path: PathBuf,
    sha256: [u8; 32],
    size: u64,
}

impl FinishedBlob {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    /// Renames the file to `target` and fsyncs the directory. If `target`
    /// exists, it already contains these bytes (it is named by their hash).
    pub(super) async fn persist(mut self, target: &Path) -> Result<(), StoreError> {
        let source = std::mem::take(&mut self.path);
        let target = target.to_path_buf();
        tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            let dir = target.parent().expect("blob path has a parent");
            std::fs::create_dir_all(dir).map_err(io_error(dir))?;
            if target.exists() {
                std::fs::remove_file(&source).map_err(io_error(&source))?;
                return Ok(());
            }
            std::fs::rename(&source, &target).map_err(io_error(&target))?;
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_error(dir))?;
            Ok(())
        })
        .await
        .expect("persist task does not panic")
    }
}

impl Drop for FinishedBlob {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
