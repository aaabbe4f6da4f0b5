//! Go's dirhash `Hash1` (`h1:`) over module zips and go.mod files
//! (golang.org/x/mod/sumdb/dirhash).
//!
//! For each file, sorted bytewise by name, the summary gets the line
//! `hex(sha256(content))`, two spaces, the name, `\n`. The hash is `h1:`
//! followed by the standard padded base64 of the SHA-256 of the summary.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::Path;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::ziparchive::{ArchiveError, EntryReadError, ZipReader};

/// A failure to compute an `h1:` hash.
#[derive(Debug, thiserror::Error)]
pub enum DirhashError {
    #[error("file name {name:?} contains a newline, which h1 hashes do not allow")]
    NameHasNewline { name: String },
    #[error("opening {path} failed: {source}")]
    Open { path: String, source: io::Error },
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("zip entry {name}: {source}")]
    Entry { name: String, source: EntryReadError },
}

/// Collects file names and content digests and produces the `h1:` hash.
#[derive(Debug, Default, Clone)]
pub struct Hash1 {
    files: Vec<(Vec<u8>, [u8; 32])>,
}

impl Hash1 {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file by name (as stored, bytes) and the SHA-256 of its content.
    pub fn add(&mut self, name: &[u8], content_sha256: [u8; 32]) -> Result<(), DirhashError> {
        if name.contains(&b'\n') {
            return Err(DirhashError::NameHasNewline {
                name: String::from_utf8_lossy(name).into_owned(),
            });
        }
        self.files.push((name.to_vec(), content_sha256));
        Ok(())
    }

    /// Returns `h1:` and the base64 SHA-256 of the sorted summary lines.
    pub fn finish(mut self) -> String {
        self.files.sort();
        let mut summary = Sha256::new();
        for (name, digest) in &self.files {
            summary.update(hex::encode(digest).as_bytes());
            summary.update(b"  ");
            summary.update(name);
            summary.update(b"\n");
        }
        format!(
            "h1:{}",
            base64::engine::general_purpose::STANDARD.encode(summary.finalize())
        )
    }
}

/// Returns the `h1:` hash of a go.mod file: the hash of one file named `go.mod`.
pub fn hash_go_mod(content: &[u8]) -> String {
    let mut hash = Hash1::new();
    hash.files.push((b"go.mod".to_vec(), Sha256::digest(content).into()));
    hash.finish()
}

/// Computes the `h1:` hash of the zip file at `path` over every entry, directory
/// entries included, as Go's `dirhash.HashZip` does. It reads entries one at a
/// time in fixed-size chunks, so memory does not grow with entry sizes.
///
/// This function does not check module zip rules; `zipcheck` does.
/// Like Go, when two entries share a name, both summary lines use the content of
/// the last one.
pub fn hash_zip(path: &Path) -> Result<String, DirhashError> {
    let open_error = |source| DirhashError::Open {
        path: path.display().to_string(),
        source,
    };
    let file = File::open(path).map_err(open_error)?;
    let size = file.metadata().map_err(open_error)?.len();
    let mut reader = ZipReader::open(file, size)?;

    let mut digests: HashMap<Vec<u8>, [u8; 32]> = HashMap::new();
    let mut names = Vec::with_capacity(reader.entries().len());
    for index in 0..reader.entries().len() {
        let name = reader.entries()[index].name.clone();
        if name.contains(&b'\n') {
            return Err(DirhashError::NameHasNewline {
                name: String::from_utf8_lossy(&name).into_owned(),
            });
        }
        let mut hasher = Sha256::new();
        reader
            .read_entry(index, &mut |chunk| hasher.update(chunk))
            .map_err(|source| DirhashError::Entry {
                name: String::from_utf8_lossy(&name).into_owned(),
                source,
            })?;
        digests.insert(name.clone(), hasher.finalize().into());
        names.push(name);
    }

    let mut hash = Hash1::new();
    for name in names {
        let digest = digests[&name];
        hash.add(&name, digest)?;
    }
    Ok(hash.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    const HELLO_GO_MOD: &[u8] = b"module example.com/hello\n\ngo 1.21\n";

    fn write_zip(dir: &Path, entries: &[(&str, &[u8])]) -> std::path::PathBuf {
        let path = dir.join("module.zip");
        let mut writer = zip::ZipWriter::new(File::create(&path).unwrap());
        for (name, content) in entries {
            writer.start_file(*name, SimpleFileOptions::default()).unwrap();
            writer.write_all(content).unwrap();
        }
        writer.finish().unwrap();
        path
    }

    #[test]
    fn go_mod_hash_known_answers() {
        assert_eq!(hash_go_mod(b""), "h1:G7mAYYxgmS0lVkHyy2hEOLQCFB0DlQFTMLWggykrydY=");
        assert_eq!(
            hash_go_mod(HELLO_GO_MOD),
            "h1:NnGvEkTHyKKlgPcQSue0skqyqiS1EfBSAh+0WaWZYmE="
        );
    }

    #[test]
    fn zip_hash_known_answer() {
        let dir = tempfile::tempdir().unwrap();
        // Entry order in the archive does not matter: names are sorted.
        let path = write_zip(
            dir.path(),
            &[
                ("example.com/hello@v1.0.0/hello.go", b"package hello\n"),
                ("example.com/hello@v1.0.0/go.mod", HELLO_GO_MOD),
            ],
        );
        assert_eq!(
            hash_zip(&path).unwrap(),
            "h1:pKFu5tHfljqp2Zr9PLlh8XHdPpeGCCxqljPAeAdak0c="
        );
    }

    #[test]
    fn empty_zip_hashes_empty_summary() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_zip(dir.path(), &[]);
        assert_eq!(
            hash_zip(&path).unwrap(),
            "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn directory_entries_count_as_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_zip(dir.path(), &[("m@v1.0.0/dir/", b"")]);
        let mut expected = Hash1::new();
        expected.add(b"m@v1.0.0/dir/", Sha256::digest(b"").into()).unwrap();
        assert_eq!(hash_zip(&path).unwrap(), expected.finish());
    }

    #[test]
    fn hash1_rejects_newline_in_name() {
        let err = Hash1::new().add(b"a\nb", [0; 32]).unwrap_err();
        assert!(matches!(err, DirhashError::NameHasNewline { .. }));
    }

    #[test]
    fn hash1_sorts_names_bytewise() {
        let mut forward = Hash1::new();
        forward.add(b"B", [1; 32]).unwrap();
        forward.add(b"a", [2; 32]).unwrap();
        let mut backward = Hash1::new();
        backward.add(b"a", [2; 32]).unwrap();
        backward.add(b"B", [1; 32]).unwrap();
        assert_eq!(forward.finish(), backward.finish());
    }

    #[test]
    fn missing_zip_names_the_path() {
        let err = hash_zip(Path::new("/nonexistent/module.zip")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/module.zip"), "{err}");
    }
}
