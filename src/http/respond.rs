//! Responses for stored files and in-memory bodies: `Content-Length`, a
//! strong `ETag`, `Last-Modified`, conditional requests (304), single byte
//! ranges with `If-Range` (206/416), gzip for text, and HEAD without a body.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;

use super::hot::{gzip, HotFile, GZIP_MIN_BYTES};
use super::stream::BlobStream;
use crate::store::ServingGuard;

/// The location of a representation's bytes.
pub enum Content {
    /// A large stored file, streamed from disk, and the guard that keeps
    /// eviction away while it is sent.
    Blob(PathBuf, ServingGuard),
    /// A stored file held in memory, with its gzip encoding if it has one.
    Hot(Arc<HotFile>),
    /// A body made for this response (a list, `@latest`, the checksum database).
    Memory(Bytes),
}

/// Everything needed to respond to a GET or HEAD for one representation.
pub struct Representation {
    pub content: Content,
    pub len: u64,
    /// Lower-case hex SHA-256 of the identity bytes, the base of the entity tag.
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
    /// Builds the response, reading a streamed blob only for GET.
    ///
    /// Text of at least [`GZIP_MIN_BYTES`] goes gzip-encoded to clients that
    /// accept it, as its own representation: its entity tag carries a
    /// `-gzip` suffix and the response carries `Vary: Accept-Encoding`. A range
    /// request always gets the identity bytes.
    pub async fn respond(self, request: &HeaderMap, head: bool) -> std::io::Result<Response> {
        let negotiable = is_text(self.content_type) && self.len >= GZIP_MIN_BYTES as u64;
        let has_gzip = match &self.content {
            Content::Hot(file) => file.gzip.is_some(),
            Content::Memory(_) => true,
            Content::Blob(..) => false,
        };
        let use_gzip = negotiable && has_gzip && !request.contains_key(header::RANGE) && accepts_gzip(request);
        let etag = if use_gzip {
            format!("\"{}-gzip\"", self.sha256)
        } else {
            format!("\"{}\"", self.sha256)
        };
        let modified = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(self.modified_secs));

        let mut builder = Response::builder()
            .header(header::ETAG, &etag)
            .header(header::LAST_MODIFIED, &modified)
            .header(header::CACHE_CONTROL, self.cache_control)
            .header(header::ACCEPT_RANGES, "bytes");
        if negotiable {
            builder = builder.header(header::VARY, "Accept-Encoding");
        }

        if not_modified(request, &etag, self.modified_secs) {
            return Ok(builder
                .status(StatusCode::NOT_MODIFIED)
                .body(Body::empty())
                .expect("valid response"));
        }
        builder = builder.header(header::CONTENT_TYPE, self.content_type);

        // A body in memory is encoded only now, after a 304 needed none.
        let encoded = match (&self.content, use_gzip) {
            (Content::Hot(file), true) => file.gzip.clone(),
            (Content::Memory(bytes), true) => Some(gzip(bytes)),
            _ => None,
        };
        if let Some(encoded) = encoded {
            builder = builder
                .status(StatusCode::OK)
                .header(header::CONTENT_ENCODING, "gzip")
                .header(header::CONTENT_LENGTH, encoded.len());
            let body = if head { Body::empty() } else { Body::from(encoded) };
            return Ok(builder.body(body).expect("valid response"));
        }

        let range = match request.get(header::RANGE) {
            Some(value) if if_range_matches(request, &etag, self.modified_secs) => parse_range(value, self.len),
            _ => RangeRequest::Whole,
        };
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
            Content::Hot(file) => Body::from(file.identity.slice(start as usize..end as usize)),
            Content::Blob(path, guard) => Body::from_stream(BlobStream::open(path, start, length, Some(guard)).await?),
        };
        Ok(builder.body(body).expect("valid response"))
    }
}

/// Reports whether a content type is text, which gzip shrinks: `.info`,
/// `.mod`, lists and checksum lines.
pub fn is_text(content_type: &str) -> bool {
    content_type.starts_with("text/") || content_type.starts_with("application/json")
}

/// Reports whether `Accept-Encoding` accepts `gzip` (or `*`) with a non-zero
/// quality, and does not rate `identity` explicitly higher.
fn accepts_gzip(request: &HeaderMap) -> bool {
    let mut gzip: Option<f32> = None;
    let mut any: Option<f32> = None;
    let mut identity: Option<f32> = None;
    let items = request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for item in items {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let quality = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .next()
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if coding.eq_ignore_ascii_case("gzip") {
            gzip = Some(quality);
        } else if coding == "*" {
            any = Some(quality);
        } else if coding.eq_ignore_ascii_case("identity") {
            identity = Some(quality);
        }
    }

    let gzip = gzip.or(any).unwrap_or(0.0);
    gzip > 0.0 && identity.is_none_or(|identity| identity <= gzip)
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

    fn accepts(value: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        accepts_gzip(&headers)
    }

    #[test]
    fn accept_encoding_honours_zero_quality() {
        assert!(accepts("gzip"));
        assert!(accepts("br, GZIP;q=0.5"));
        assert!(accepts("*"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("gzip; q=0.0, identity"));
        assert!(!accepts("deflate, br"));
        assert!(!accepts("gzip;q=0.5, identity;q=1"));
        assert!(accepts("gzip;q=1, identity;q=0.5"));
        assert!(!accepts("*;q=0"));
        assert!(!accepts_gzip(&HeaderMap::new()));
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
