//! Errors as HTTP responses. Absence is 404 (so the go command falls through
//! to its next proxy); upstream faults are 502, upstream timeouts 504; store
//! faults 500. Every error body is one `text/plain` line and `no-store`,
//! except 404s, which may be cached briefly.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::cache::CacheError;
use crate::upstream::UpstreamError;

/// A status with its one-line reason.
#[derive(Debug)]
pub struct ErrorResponse {
    pub status: StatusCode,
    pub reason: String,
    /// Metric outcome label.
    pub outcome: &'static str,
    /// Whether a 404 may be cached by clients for a minute.
    pub cacheable: bool,
}

impl ErrorResponse {
    pub fn not_found(reason: impl Into<String>) -> ErrorResponse {
        ErrorResponse {
            status: StatusCode::NOT_FOUND,
            reason: reason.into(),
            outcome: "not_found",
            cacheable: true,
        }
    }

    pub fn rejected(reason: impl Into<String>) -> ErrorResponse {
        ErrorResponse {
            status: StatusCode::NOT_FOUND,
            reason: reason.into(),
            outcome: "rejected",
            cacheable: true,
        }
    }
}

impl From<&CacheError> for ErrorResponse {
    fn from(err: &CacheError) -> Self {
        let (status, outcome) = match err {
            CacheError::NotFound(_) | CacheError::NotCached(_) => (StatusCode::NOT_FOUND, "not_found"),
            CacheError::Upstream(UpstreamError::Timeout { .. }) => (StatusCode::GATEWAY_TIMEOUT, "error"),
            CacheError::Upstream(e) if e.is_not_found() => (StatusCode::NOT_FOUND, "not_found"),
            CacheError::Upstream(_) | CacheError::Invalid(_) => (StatusCode::BAD_GATEWAY, "error"),
            CacheError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "error"),
        };
        ErrorResponse {
            status,
            reason: err.to_string(),
            outcome,
            cacheable: !matches!(err, CacheError::NotCached(_)),
        }
    }
}

impl IntoResponse for ErrorResponse {
    fn into_response(self) -> Response {
        let line: String = self.reason.replace(['\n', '\r'], " ");
        let cache_control = if self.status == StatusCode::NOT_FOUND && self.cacheable {
            "public, max-age=60"
        } else {
            "no-store"
        };
        let mut response = (self.status, format!("{line}\n")).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
        response
    }
}
