//! Responses for stored files and in-memory bodies: `Content-Length`, a
//! strong `ETag`, `Last-Modified`, conditional requests (304), single byte
//! ranges with `If-Range` (206/416), and HEAD without a body.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::store::ServingGuard;

/// The location of a representation's bytes.
pub enum Content {
    /// A stored file and the guard that keeps eviction away while it is sent.
    Blob(PathBuf, ServingGuard),
    Memory(Bytes),
}

/// Everything needed to respond to a GET or HEAD for one representation.
pub struct Representation {
    pub content: Content,
    pub len: u64,
    /// Lower-case hex SHA-256, used as the strong entity tag.
    pub sha256: String,
    pub modified_secs: u64,
    pub content_type: &'static str,
    pub cache_control: &'static str,
}

/// A byte range resolved against the representation length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeRequest {
    Whole,
    Part { start: u64, end: u64 },
    Unsatisfiable,
}

impl Representation {
    fn etag(&self) -> String {
        format!("\"{}\"", self.sha256)
    }

    /// Builds the response, reading the blob only for GET.
    pub async fn respond(self, request: &HeaderMap, head: bool) -> std::io::Result<Response> {
        let etag = self.etag();
        let modified = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(self.modified_secs));

        let mut builder = Response::builder()
            .header(header::ETAG, &etag)
            .header(header::LAST_MODIFIED, &modified)
            .header(header::CACHE_CONTROL, self.cache_control)
            .header(header::ACCEPT_RANGES, "bytes");

        if not_modified(request, &etag, self.modified_secs) {
            return Ok(builder
                .status(StatusCode::NOT_MODIFIED)
                .body(Body::empty())
                .expect("valid response"));
        }

        let range = match request.get(header::RANGE) {
            Some(value) if if_range_matches(request, &etag, self.modified_secs) => parse_range(value, self.len),
            _ => RangeRequest::Whole,
        };
        builder = builder.header(header::CONTENT_TYPE, self.content_type);

        let (status, start, end) = match range {
            RangeRequest::Whole => (StatusCode::OK, 0, self.len),
            RangeRequest::Part { start, end } => {
                builder = builder.header(header::CONTENT_RANGE, format!("bytes {start}-{}/{}", end - 1, self.len));
                (StatusCode::PARTIAL_CONTENT, start, end)
            }
            RangeRequest::Unsatisfiable => {
                let response = builder
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{}", self.len))
                    .body(Body::empty())
                    .expect("valid response");
                return Ok(response);
            }
        };

        let length = end - start;
        builder = builder.status(status).header(header::CONTENT_LENGTH, length);
        if head {
            return Ok(builder.body(Body::empty()).expect("valid response"));
        }
        let body = match self.content {
            Content::Memory(bytes) => Body::from(bytes.slice(start as usize..end as usize)),
            Content::Blob(path, guard) => blob_body(&path, start, length, guard).await?,
        };
        Ok(builder.body(body).expect("valid response"))
    }
}

async fn blob_body(path: &std::path::Path, start: u64, length: u64, guard: ServingGuard) -> std::io::Result<Body> {
    if length <= 64 * 1024 {
        return small_blob_body(path.to_path_buf(), start, length).await;
    }
    let mut file = tokio::fs::File::open(path).await?;
    if start > 0 {
        file.seek(SeekFrom::Start(start)).await?;
    }
    let stream = ReaderStream::with_capacity(file.take(length), 256 * 1024);
    let guarded = futures::StreamExt::map(stream, move |chunk| {
        let _ = &guard;
        chunk
    });
    Ok(Body::from_stream(guarded))
}

/// Reads a small blob in one trip to the blocking pool; `tokio::fs` would
/// take one trip each for the open, the seek and the read.
async fn small_blob_body(path: PathBuf, start: u64, length: u64) -> std::io::Result<Body> {
    let buffer = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let file = std::fs::File::open(&path)?;
        let mut buffer = vec![0u8; length as usize];
        file.read_exact_at(&mut buffer, start)?;
        Ok(buffer)
    })
    .await
    .expect("the blob read task does not panic")?;
    Ok(Body::from(buffer))
}

/// `If-None-Match` wins over `If-Modified-Since`, as RFC 9110 requires.
fn not_modified(request: &HeaderMap, etag: &str, modified_secs: u64) -> bool {
    if let Some(value) = request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        return value
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag);
    }
    match request
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    {
        Some(since) => since
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() >= modified_secs)
            .unwrap_or(false),
        None => false,
    }
}

/// `If-Range` with a strong entity tag or a date; absent means the range applies.
fn if_range_matches(request: &HeaderMap, etag: &str, modified_secs: u64) -> bool {
    let Some(value) = request.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let value = value.trim();
    if value.starts_with('"') {
        return value == etag;
    }
    match httpdate::parse_http_date(value) {
        Ok(date) => date
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() == modified_secs)
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Parses a single `bytes=` range; a request for several ranges gets the whole file.
fn parse_range(value: &HeaderValue, len: u64) -> RangeRequest {
    let Some(spec) = value.to_str().ok().and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        let Ok(suffix) = last.parse::<u64>() else {
            return RangeRequest::Whole;
        };
        if suffix == 0 || len == 0 {
            return RangeRequest::Unsatisfiable;
        }
        return RangeRequest::Part {
            start: len.saturating_sub(suffix),
            end: len,
        };
    }
    let Ok(start) = first.parse::<u64>() else {
        return RangeRequest::Whole;
    };
    let end = if last.is_empty() {
        len
    } else {
        match last.parse::<u64>() {
            Ok(last) if last >= start => (last + 1).min(len),
            _ => return RangeRequest::Whole,
        }
    };
    if start >= len {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Part { start, end }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str, len: u64) -> RangeRequest {
        parse_range(&HeaderValue::from_str(value).unwrap(), len)
    }

    #[test]
    fn parse_range_handles_every_form() {
        assert_eq!(range("bytes=0-9", 100), RangeRequest::Part { start: 0, end: 10 });
        assert_eq!(range("bytes=90-", 100), RangeRequest::Part { start: 90, end: 100 });
        assert_eq!(range("bytes=-10", 100), RangeRequest::Part { start: 90, end: 100 });
        assert_eq!(range("bytes=50-500", 100), RangeRequest::Part { start: 50, end: 100 });
        assert_eq!(range("bytes=100-", 100), RangeRequest::Unsatisfiable);
        assert_eq!(range("bytes=0-1,5-6", 100), RangeRequest::Whole);
        assert_eq!(range("items=0-1", 100), RangeRequest::Whole);
        assert_eq!(range("bytes=9-3", 100), RangeRequest::Whole);
    }
}
