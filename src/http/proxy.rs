//! The GOPROXY handler: parse and check the path, respond from the cache, and
//! record the request in the metrics.

use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::error::ErrorResponse;
use super::hot::MAX_ENTRY_BYTES;
use super::known::{KnownFile, UNCHECKED};
use super::respond::{is_text, Content, Representation};
use super::AppState;
use crate::cache::{Answer, CacheError, FetchPolicy, Outcome};
use crate::module::{parse_request_path, FileKind, ProxyRequest};
use crate::store::{file_key, FileRecord};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const SHORT: &str = "public, max-age=60";

fn endpoint_of(request: &ProxyRequest) -> &'static str {
    match request {
        ProxyRequest::List(_) => "list",
        ProxyRequest::Latest(_) => "latest",
        ProxyRequest::Query(..) => "info",
        ProxyRequest::File(_, _, kind) => endpoint_of_kind(*kind),
    }
}

fn endpoint_of_kind(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Info => "info",
        FileKind::Mod => "mod",
        FileKind::Zip => "zip",
    }
}

pub async fn handle(State(state): State<AppState>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let started = Instant::now();
    if method != Method::GET && method != Method::HEAD {
        let response = super::method_not_allowed().await;
        record(&state, "other", "rejected", response.status(), started, 0);
        return response;
    }

    let raw = uri.path().trim_start_matches('/');
    let (raw, policy) = fetch_policy(raw, &headers);
    if let Some(path) = raw.strip_prefix("sumdb/") {
        let (response, outcome) = super::sumdb::handle(&state, path, &headers, method == Method::HEAD).await;
        record(&state, "sumdb", outcome, response.status(), started, 0);
        return response;
    }

    let head = method == Method::HEAD;

    // Read before any record, so that a removal after this read makes the
    // copies taken below look stale.
    let removals = state.cache.removals();
    if let Some(known) = state.known.get(raw) {
        if let Some(stored) = known_record(&state, raw, &known, removals) {
            let endpoint = endpoint_of_kind(known.kind);
            let answer = Answer::File {
                record: stored,
                kind: known.kind,
                outcome: Outcome::Hit,
            };
            let answered = match answer_response(&state, answer, &headers, head).await {
                Ok(answered) => Some(answered),
                // The full path below reads the index again and fills.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => forget_lost_known(&state, &known.key),
                Err(e) => Some(read_failed(e)),
            };
            if let Some((response, outcome)) = answered {
                let sent = if head { 0 } else { content_length(&response) };
                record(&state, endpoint, outcome, response.status(), started, sent);
                tracing::debug!(key = %known.key, endpoint, status = response.status().as_u16(), "hit");
                return response;
            }
        }
    }

    let request = match parse_request_path(raw) {
        Ok(request) => request,
        Err(reason) => {
            tracing::debug!(path = raw, reason, "rejected path");
            let response = ErrorResponse::rejected(reason).into_response();
            record(&state, "other", "rejected", response.status(), started, 0);
            return response;
        }
    };
    let endpoint = endpoint_of(&request);

    let (response, outcome) = answer_request(&state, raw, &request, policy, &headers, head, removals).await;
    let sent = if head { 0 } else { content_length(&response) };
    record(&state, endpoint, outcome, response.status(), started, sent);
    if outcome == "hit" {
        tracing::debug!(module = %request.module(), endpoint, status = response.status().as_u16(), "hit");
    }
    response
}

/// Responds to a parsed request from the cache. When a stored file's blob
/// is missing (evicted after its record was read, or lost), its record is
/// dropped and the cache is consulted once more, which fills it again.
async fn answer_request(
    state: &AppState,
    raw: &str,
    request: &ProxyRequest,
    policy: FetchPolicy,
    headers: &HeaderMap,
    head: bool,
    removals: u64,
) -> (Response, &'static str) {
    let endpoint = endpoint_of(request);
    let mut retried = false;
    loop {
        let answer = match state.cache.answer(request, policy).await {
            Ok(answer) => answer,
            Err(err) => {
                let (response, outcome) = error_response(&err);
                if response.status() == StatusCode::NOT_FOUND {
                    tracing::debug!(module = %request.module(), endpoint, reason = %err, "not found");
                }
                return (response, outcome);
            }
        };

        let mut stored = None;
        if let (ProxyRequest::File(module, version, kind), Answer::File { record, outcome, .. }) = (request, &answer) {
            // A fill may hand over a record committed before `removals`
            // was read, so only a hit's record is trusted as it is.
            let removals = if *outcome == Outcome::Hit { removals } else { UNCHECKED };
            let key = file_key(module, version, *kind);
            state.known.insert(
                raw,
                KnownFile {
                    key: key.clone(),
                    kind: *kind,
                    record: record.clone(),
                    removals,
                },
            );
            stored = Some((key, record.clone()));
        }

        match answer_response(state, answer, headers, head).await {
            Ok(answered) => return answered,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !retried => {
                if let Some((key, record)) = stored {
                    if let Err(err) = state.cache.forget_lost_file(&key, &record) {
                        return error_response(&err);
                    }
                }
                retried = true;
            }
            Err(e) => return read_failed(e),
        }
    }
}

/// Drops the index record of a known path whose blob is missing. Returns an
/// error response only if the index fails.
fn forget_lost_known(state: &AppState, key: &str) -> Option<(Response, &'static str)> {
    let forgotten = match state.cache.store().get_file(key) {
        Ok(Some(record)) => state.cache.forget_lost_file(key, &record),
        Ok(None) => Ok(()),
        Err(e) => Err(e.into()),
    };
    forgotten.err().map(|err| error_response(&err))
}

fn error_response(err: &CacheError) -> (Response, &'static str) {
    let error = ErrorResponse::from(err);
    let outcome = error.outcome;
    (error.into_response(), outcome)
}

/// Returns the record of a known path: its copy while no record was removed
/// since it was taken, and otherwise the index's, which is then kept. None
/// (also on an index error) sends the request down the full path, which
/// reports any error.
fn known_record(state: &AppState, raw: &str, known: &KnownFile, removals: u64) -> Option<FileRecord> {
    if known.removals == removals {
        state.cache.touch(&known.key);
        return Some(known.record.clone());
    }
    let record = state.cache.stored_file(&known.key).ok().flatten()?;
    state.known.insert(
        raw,
        KnownFile {
            key: known.key.clone(),
            kind: known.kind,
            record: record.clone(),
            removals,
        },
    );
    Some(record)
}

/// Builds the response for a cache [`Answer`]. A stored file that cannot be
/// read is returned as an error for the caller to map.
async fn answer_response(
    state: &AppState,
    answer: Answer,
    headers: &HeaderMap,
    head: bool,
) -> std::io::Result<(Response, &'static str)> {
    let (representation, outcome) = match answer {
        Answer::File { record, kind, outcome } => {
            let store = state.cache.store();
            let content_type = kind.content_type();
            let content = if kind == FileKind::Zip && record.size > MAX_ENTRY_BYTES {
                Content::Blob(store.blob_path(&record.sha256), store.serving().enter(&record.sha256))
            } else {
                // Text is read whole, however large, so that gzip applies to
                // it. Only files up to MAX_ENTRY_BYTES stay in memory.
                let path = || store.blob_path(&record.sha256);
                let file = state
                    .hot
                    .get(&record.sha256, path, record.size, is_text(content_type))
                    .await?;
                Content::Hot(file)
            };
            let representation = Representation {
                content,
                len: record.size,
                sha256: record.sha256,
                modified_secs: record.stored_at,
                content_type,
                cache_control: IMMUTABLE,
            };
            (representation, outcome)
        }
        Answer::Body {
            body,
            content_type,
            fetched_at_ms,
            outcome,
        } => {
            let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body));
            let representation = Representation {
                len: body.len() as u64,
                content: Content::Memory(body),
                sha256,
                modified_secs: fetched_at_ms / 1000,
                content_type,
                cache_control: if outcome == Outcome::Stale { "no-cache" } else { SHORT },
            };
            (representation, outcome)
        }
    };

    let mut response = representation.respond(headers, head).await?;
    let label = if outcome == Outcome::Stale {
        "STALE"
    } else if outcome == Outcome::Hit {
        "HIT"
    } else {
        "MISS"
    };
    response
        .headers_mut()
        .insert("x-cache", HeaderValue::from_static(label));
    if outcome == Outcome::Stale {
        response.headers_mut().insert(
            header::WARNING,
            HeaderValue::from_static("110 modvault \"Response is Stale\""),
        );
    }
    Ok((response, outcome.label()))
}

fn read_failed(e: std::io::Error) -> (Response, &'static str) {
    tracing::error!(error = %e, "reading a stored file failed");

    let error = ErrorResponse {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        reason: format!("reading a stored file failed: {e}"),
        outcome: "error",
        cacheable: false,
    };
    (error.into_response(), "error")
}

/// Strips the `/cached-only/` prefix; it and the `Disable-Module-Fetch: true`
/// header both request a response from the store alone.
fn fetch_policy<'a>(raw: &'a str, headers: &HeaderMap) -> (&'a str, FetchPolicy) {
    let header_set = headers
        .get("disable-module-fetch")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    match raw.strip_prefix("cached-only/") {
        Some(rest) => (rest, FetchPolicy::StoreOnly),
        None if header_set => (raw, FetchPolicy::StoreOnly),
        None => (raw, FetchPolicy::Fill),
    }
}

fn content_length(response: &Response) -> u64 {
    response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn record(state: &AppState, endpoint: &str, outcome: &str, status: StatusCode, started: Instant, sent: u64) {
    let class = match status.as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    let metrics = &state.metrics;
    metrics.requests.with_label_values(&[endpoint, outcome, class]).inc();
    metrics
        .request_duration
        .with_label_values(&[endpoint])
        .observe(started.elapsed().as_secs_f64());
    if sent > 0 {
        metrics.bytes_served.with_label_values(&[endpoint]).inc_by(sent);
    }
}
