//! The HTTP front: routing, the proxy handler, response building (ranges,
//! validators, cache headers) and the mapping of errors to status codes.

mod error;
mod pages;
mod proxy;
mod respond;
mod sumdb;

use std::sync::Arc;

use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use tower_http::compression::CompressionLayer;

use crate::cache::Cache;
use crate::metrics::Metrics;

pub use error::ErrorResponse;

/// State shared by all handlers.
#[derive(Clone)]
pub struct AppState {
    pub cache: Cache,
    pub metrics: Arc<Metrics>,
}

/// Builds the router: the service endpoints plus the proxy protocol as the
/// fallback for every other path.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::landing))
        .route("/healthz", get(pages::healthz))
        .route("/readyz", get(pages::readyz))
        .route("/metrics", get(pages::metrics))
        .fallback(proxy::handle)
        .with_state(state)
        .layer(CompressionLayer::new().gzip(true).compress_when(compressible))
}

/// Gzip only whole text responses of at least 1 KiB; zips, partial responses
/// and small responses go as stored. Setting up a gzip encoder costs more
/// than it saves on a small `.info` or `.mod`: it zeroes about 300 KiB of
/// tables.
/// NOTE: a gzip-encoded response keeps the strong `ETag` of the identity
/// bytes, which RFC 9110 reserves for one representation.
fn compressible(status: StatusCode, _: axum::http::Version, headers: &HeaderMap, _: &axum::http::Extensions) -> bool {
    if status != StatusCode::OK && status != StatusCode::NOT_FOUND {
        return false;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let textual = content_type.starts_with("text/") || content_type.starts_with("application/json");
    let large = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_none_or(|len| len >= 1024);
    textual && large
}
