//! Interim h1 hashing.
use base64::Engine;
use sha2::{Digest, Sha256};

pub fn hash_go_mod(content: &[u8]) -> String {
    let line = format!("{}  go.mod\n", hex::encode(Sha256::digest(content)));
    format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(line.as_bytes()))
    )
}
