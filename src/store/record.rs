//! Index records: what the sled trees keep per key.

use serde::{Deserialize, Serialize};

use super::StoreError;

/// A stored canonical file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Lower-case hex SHA-256 of the bytes, which also names the blob.
    pub sha256: String,
    pub size: u64,
    /// Seconds since the Unix epoch when the file was committed.
    pub stored_at: u64,
    /// Go's `h1:` hash, for zips and go.mod files once computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h1: Option<String>,
}

impl FileRecord {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("record serialises")
    }

    pub fn decode(key: &str, bytes: &[u8]) -> Result<FileRecord, StoreError> {
        let record: FileRecord = serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
            key: key.to_string(),
            reason: e.to_string(),
        })?;
        if record.sha256.len() != 64 || !record.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::Corrupt {
                key: key.to_string(),
                reason: "bad sha256".into(),
            });
        }
        Ok(record)
    }
}

/// A mutable response (list, @latest, query) with the time it was fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutableRecord {
    /// Milliseconds since the Unix epoch.
    pub fetched_at_ms: u64,
    pub body: Vec<u8>,
}

impl MutableRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.body.len());
        out.extend_from_slice(&self.fetched_at_ms.to_be_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    pub fn decode(key: &str, bytes: &[u8]) -> Result<MutableRecord, StoreError> {
        if bytes.len() < 8 {
            return Err(StoreError::Corrupt {
                key: key.to_string(),
                reason: "short mutable record".into(),
            });
        }
        let (time, body) = bytes.split_at(8);
        let fetched_at_ms = u64::from_be_bytes(time.try_into().expect("eight bytes"));
        Ok(MutableRecord {
            fetched_at_ms,
            body: body.to_vec(),
        })
    }
}
