//! Service endpoints: the landing page, liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;

pub async fn landing(headers: HeaderMap) -> Html<String> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("modvault.example:8080");
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>modvault</title></head>
<body>
<h1>modvault</h1>
<p>A caching Go module proxy. Point the <code>go</code> command at it:</p>
<pre>go env -w GOPROXY=http://{host}</pre>
<p>or, for one shell or CI job:</p>
<pre>export GOPROXY=http://{host}</pre>
<p>Health: <a href="/healthz">/healthz</a>, <a href="/readyz">/readyz</a>. Metrics: <a href="/metrics">/metrics</a>.</p>
</body></html>
"#
    ))
}

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.cache.store().check_ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, format!("store not ready: {e}\n")).into_response()
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(state.cache.store());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}
