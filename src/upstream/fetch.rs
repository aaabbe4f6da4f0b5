//! One upstream request: HTTP with connect, header, idle and total timeouts
//! and bounded retries, or a read from a `file://` directory.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::time::{timeout, Instant};

use super::{FetchKind, FetchSettings, Sink, Source, Upstream, UpstreamError};

pub(super) fn build_client(settings: &FetchSettings) -> Result<reqwest::Client, reqwest::Error> {
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        let downgrade =
            attempt.previous().last().is_some_and(|p| p.scheme() == "https") && attempt.url().scheme() == "http";
        if downgrade {
            attempt.error("refusing a redirect from https to http")
        } else if attempt.previous().len() >= 10 {
            attempt.error("more than 10 redirects")
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .user_agent(concat!("modvault/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(settings.connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .redirect(redirects)
        .build()
}

/// Fetches `path` from one entry into `sink`; returns the body size.
pub(super) async fn fetch_entry(
    upstream: &Upstream,
    source: &Source,
    path: &str,
    kind: FetchKind,
    limit: u64,
    sink: &mut Sink<'_>,
) -> Result<u64, UpstreamError> {
    let name = source.to_string();
    let deadline = upstream.settings.total_timeout;
    let work = async {
        match source {
            Source::Http { base, credentials } => {
                fetch_http(upstream, base, credentials.as_ref(), &name, path, kind, limit, sink).await
            }
            Source::File(dir) => fetch_file(&dir.join(path), &name, limit, sink).await,
            Source::Off => Err(UpstreamError::Off),
        }
    };
    timeout(deadline, work).await.unwrap_or(Err(UpstreamError::Timeout {
        upstream: name.clone(),
        stage: "total deadline",
    }))
}

#[allow(clippy::too_many_arguments)]
async fn fetch_http(
    upstream: &Upstream,
    base: &reqwest::Url,
    credentials: Option<&(String, String)>,
    name: &str,
    path: &str,
    kind: FetchKind,
    limit: u64,
    sink: &mut Sink<'_>,
) -> Result<u64, UpstreamError> {
    let url = reqwest::Url::parse(&format!("{base}{path}")).map_err(|e| UpstreamError::Connect {
        upstream: name.to_string(),
        message: format!("bad URL for {path}: {e}"),
    })?;
    let settings = &upstream.settings;
    let mut attempt = 0u32;

    let response = loop {
        let mut request = upstream.client.get(url.clone());
        if let Some((user, password)) = credentials {
            request = request.basic_auth(user, Some(password));
        }
        let outcome = timeout(settings.header_timeout, request.send()).await;
        let failure: Result<(), UpstreamError> = match outcome {
            Err(_) => Err(UpstreamError::Timeout {
                upstream: name.to_string(),
                stage: "waiting for response headers",
            }),
            Ok(Err(e)) if e.is_timeout() => Err(UpstreamError::Timeout {
                upstream: name.to_string(),
                stage: "connecting",
            }),
            Ok(Err(e)) => Err(UpstreamError::Connect {
                upstream: name.to_string(),
                message: describe(&e),
            }),
            Ok(Ok(response)) => {
                let status = response.status().as_u16();
                if status == 429 || status >= 500 {
                    Err(UpstreamError::Status {
                        upstream: name.to_string(),
                        status,
                    })
                } else {
                    break response;
                }
            }
        };
        let Err(err) = failure else {
            unreachable!("success leaves the loop")
        };
        let retryable = matches!(err, UpstreamError::Connect { .. } | UpstreamError::Status { .. })
            || matches!(
                err,
                UpstreamError::Timeout {
                    stage: "connecting",
                    ..
                }
            );
        if !retryable || attempt >= settings.retries {
            return Err(err);
        }
        attempt += 1;
        let pause = Duration::from_millis(200 * 2u64.pow(attempt.min(6)));
        tracing::info!(upstream = name, path, kind = kind.label(), attempt, error = %err, "retrying upstream request");
        tokio::time::sleep(pause).await;
    };

    let status = response.status().as_u16();
    if status == 404 || status == 410 {
        let reason = first_line(&response.text().await.unwrap_or_default());
        return Err(UpstreamError::NotFound {
            upstream: name.to_string(),
            status,
            reason,
        });
    }
    if status != 200 {
        return Err(UpstreamError::Status {
            upstream: name.to_string(),
            status,
        });
    }
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(UpstreamError::TooLarge {
            upstream: name.to_string(),
            limit,
        });
    }
    stream_http_body(response, name, settings.idle_timeout, limit, sink).await
}

async fn stream_http_body(
    mut response: reqwest::Response,
    name: &str,
    idle: Duration,
    limit: u64,
    sink: &mut Sink<'_>,
) -> Result<u64, UpstreamError> {
    let mut total = 0u64;
    loop {
        let chunk = match timeout(idle, response.chunk()).await {
            Err(_) => {
                return Err(UpstreamError::Timeout {
                    upstream: name.to_string(),
                    stage: "body stalled",
                })
            }
            Ok(Err(e)) => {
                return Err(UpstreamError::Body {
                    upstream: name.to_string(),
                    message: describe(&e),
                })
            }
            Ok(Ok(None)) => return Ok(total),
            Ok(Ok(Some(chunk))) => chunk,
        };
        total += chunk.len() as u64;
        if total > limit {
            return Err(UpstreamError::TooLarge {
                upstream: name.to_string(),
                limit,
            });
        }
        sink.write(&chunk).await?;
    }
}

async fn fetch_file(file: &std::path::Path, name: &str, limit: u64, sink: &mut Sink<'_>) -> Result<u64, UpstreamError> {
    let mut handle = match tokio::fs::File::open(file).await {
        Ok(f) => f,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Err(UpstreamError::NotFound {
                upstream: name.to_string(),
                status: 404,
                reason: "not in the directory".into(),
            });
        }
        Err(e) => {
            return Err(UpstreamError::Body {
                upstream: name.to_string(),
                message: e.to_string(),
            })
        }
    };
    let mut buffer = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    let started = Instant::now();
    loop {
        let n = handle.read(&mut buffer).await.map_err(|e| UpstreamError::Body {
            upstream: name.to_string(),
            message: e.to_string(),
        })?;
        if n == 0 {
            tracing::trace!(elapsed = ?started.elapsed(), "file read done");
            return Ok(total);
        }
        total += n as u64;
        if total > limit {
            return Err(UpstreamError::TooLarge {
                upstream: name.to_string(),
                limit,
            });
        }
        sink.write(&buffer[..n]).await?;
    }
}

/// Describes a reqwest error with its causes, which carry the useful part
/// (connection refused, reset, unexpected end of body).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// Returns the first line of an upstream error body, cut to 200 characters,
/// as the one-line reason passed on to clients.
fn first_line(body: &str) -> String {
    let line = body.lines().next().unwrap_or("").trim();
    let clean: String = line.chars().filter(|c| !c.is_control()).take(200).collect();
    if clean.is_empty() {
        "not found".into()
    } else {
        clean
    }
}
