//! `modvault verify`: re-reads every stored file and recomputes its SHA-256
//! and, for zips and go.mod files, its `h1:` hash. A file that does not match
//! its index record moves to `quarantine/` and loses its record, so it is
//! filled again on the next request.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::progress::Progress;
use crate::module::decode_element;
use crate::store::{FileRecord, Store};
use crate::verify::{dirhash, zipcheck};

/// The outcome of a verification pass.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub checked: usize,
    pub bytes: u64,
    /// Index keys whose files failed, with the reason.
    pub bad: Vec<(String, String)>,
}

/// Checks every stored file; blocking.
pub fn verify_store(store: &Store) -> anyhow::Result<VerifyReport> {
    let entries = store.file_entries()?;
    let mut progress = Progress::new("verifying", entries.len() as u64);
    let mut report = VerifyReport::default();

    for (key, record) in entries {
        report.checked += 1;
        report.bytes += record.size;
        if let Err(reason) = check_entry(store, &key, &record) {
            progress.println(&format!("BAD {key}: {reason}"));
            quarantine(store, &key, &record)?;
            report.bad.push((key, reason));
        }
        progress.step();
    }
    progress.finish();
    Ok(report)
}

fn check_entry(store: &Store, key: &str, record: &FileRecord) -> Result<(), String> {
    let path = store.blob_path(&record.sha256);
    let (size, sha256) = hash_file(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if size != record.size {
        return Err(format!("size {size} differs from the recorded {}", record.size));
    }
    if sha256 != record.sha256 {
        return Err(format!("sha256 {sha256} differs from the recorded {}", record.sha256));
    }
    let Some(expected) = &record.h1 else {
        return Ok(());
    };

    let actual = if key.ends_with("/zip") {
        let (module, version) = module_and_version(key).ok_or("index key is not <module>@<version>/zip")?;
        zipcheck::check_and_hash_zip(&path, &module, &version)
            .map_err(|e| e.to_string())?
            .h1
    } else {
        let content = std::fs::read(&path).map_err(|e| e.to_string())?;
        dirhash::hash_go_mod(&content)
    };
    if &actual != expected {
        return Err(format!("h1 {actual} differs from the recorded {expected}"));
    }
    Ok(())
}

fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok((size, hex::encode(hasher.finalize())));
        }
        size += n as u64;
        hasher.update(&buffer[..n]);
    }
}

/// Splits `<path>@<version>/<kind>` into the decoded module path and version.
pub fn module_and_version(key: &str) -> Option<(String, String)> {
    let (rest, _kind) = key.rsplit_once('/')?;
    let (module, version) = rest.rsplit_once('@')?;
    Some((decode_element(module)?, decode_element(version)?))
}

/// Moves the blob (when present) to `quarantine/` and drops the record.
fn quarantine(store: &Store, key: &str, record: &FileRecord) -> anyhow::Result<()> {
    let blob = store.blob_path(&record.sha256);
    if blob.exists() {
        let folder = store.root().join("quarantine");
        std::fs::create_dir_all(&folder)?;
        let target: PathBuf = folder.join(format!("{}-{}", record.sha256, crate::store::unix_now()));
        std::fs::rename(&blob, &target)?;
    }
    store.remove_file_record(key)?;
    Ok(())
}
