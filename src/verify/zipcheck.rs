//! Interim zip check.
use std::path::Path;

use base64::Engine;
use sha2::{Digest, Sha256};

pub struct ZipReport {
    pub h1: String,
}

pub fn check_and_hash_zip(path: &Path, module: &str, version: &str) -> Result<ZipReport, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| format!("not a readable zip: {e}"))?;
    let prefix = format!("{module}@{version}/");
    let mut lines = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| e.to_string())?;
        let name = entry.name().to_string();
        if !name.starts_with(&prefix) {
            return Err(format!("entry {name:?} does not start with {prefix:?}"));
        }
        let mut hasher = Sha256::new();
        std::io::copy(&mut entry, &mut hasher).map_err(|e| format!("entry {name:?}: {e}"))?;
        lines.push(format!("{}  {name}\n", hex::encode(hasher.finalize())));
    }
    lines.sort();
    let summary = Sha256::digest(lines.concat().as_bytes());
    Ok(ZipReport {
        h1: format!(
            "h1:{}",
            base64::engine::general_purpose::STANDARD.encode(summary)
        ),
    })
}
