//! The HTTP front: routing, the proxy handler, response building (ranges,
//! validators, cache headers) and the mapping of errors to status codes.

mod error;
mod hot;
mod known;
mod pages;
mod proxy;
mod respond;
mod stream;
mod sumdb;

use std::sync::Arc;

use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use tower_http::compression::CompressionLayer;

use crate::cache::Cache;
use crate::metrics::Metrics;

pub use error::ErrorResponse;
pub use hot::HotFiles;

/// State shared by all handlers.
#[derive(Clone)]
pub struct AppState {
    pub cache: Cache,
    pub metrics: Arc<Metrics>,
    /// Small stored files held in memory.
    pub hot: Arc<HotFiles>,
    /// Request paths already parsed to a stored file.
    pub known: Arc<known::KnownPaths>,
}

impl AppState {
    /// Creates the state for `cache`, keeping up to `memory_cache` bytes of
    /// small stored files in memory.
    pub fn new(cache: Cache, metrics: Arc<Metrics>, memory_cache: u64) -> AppState {
        let hot = HotFiles::new(
            memory_cache,
            metrics.memory_cache_lookups.with_label_values(&["hit"]),
            metrics.memory_cache_lookups.with_label_values(&["miss"]),
            metrics.memory_cache_bytes.clone(),
        );
        AppState {
            cache,
            metrics,
            hot: Arc::new(hot),
            known: Arc::new(known::KnownPaths::new()),
        }
    }
}

/// Builds the router: the service endpoints plus the proxy protocol as the
/// fallback for every other path. The proxy handler encodes its own text
/// responses (see `respond`), so the compression layer covers only the
/// service endpoints.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::landing).fallback(method_not_allowed))
        .route("/healthz", get(pages::healthz).fallback(method_not_allowed))
        .route("/readyz", get(pages::readyz).fallback(method_not_allowed))
        .route("/metrics", get(pages::metrics).fallback(method_not_allowed))
        .route_layer(CompressionLayer::new().gzip(true).compress_when(compressible))
        .fallback(proxy::handle)
        .with_state(state)
}

/// Rejects a method other than GET and HEAD, with the same body on every path.
pub(crate) async fn method_not_allowed() -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = (StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD are allowed\n").into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, axum::http::HeaderValue::from_static("GET, HEAD"));
    response
}

/// Reports whether a response gets gzip: only whole text responses of at
/// least 1 KiB, such as `/metrics`.
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
