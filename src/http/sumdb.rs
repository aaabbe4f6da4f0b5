//! `/sumdb/<name>/…`: the checksum database proxied and cached for `go`
//! clients, so they can verify through modvault alone. Only the configured
//! database is `supported`; the go command then sends all its checksum
//! traffic here.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ErrorResponse;
use super::respond::{Content, Representation};
use super::AppState;
use crate::module::{decode_element, ModulePath, Version};
use crate::sumdb::TransportError;
use crate::verify::tlog::Tile;

/// Responds to `path`, the part after `sumdb/`.
pub async fn handle(state: &AppState, path: &str, headers: &HeaderMap, head: bool) -> (Response, &'static str) {
    let Some(sumdb) = state.cache.sumdb() else {
        return (
            ErrorResponse::not_found("no checksum database is configured on this proxy").into_response(),
            "not_found",
        );
    };
    let path = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let Some(rest) = path.strip_prefix(sumdb.name()).and_then(|r| r.strip_prefix('/')) else {
        return (
            ErrorResponse::not_found("checksum database not served by this proxy").into_response(),
            "not_found",
        );
    };
    if rest == "supported" {
        return ((StatusCode::OK, "").into_response(), "hit");
    }
    if let Err(reason) = check_path(rest) {
        return (ErrorResponse::rejected(reason).into_response(), "rejected");
    }

    match sumdb.transport().get(rest).await {
        Ok(body) => {
            let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body.body));
            let representation = Representation {
                len: body.body.len() as u64,
                content: Content::Memory(body.body),
                sha256,
                modified_secs: body.fetched_at_ms / 1000,
                content_type: if rest.starts_with("tile/") {
                    "application/octet-stream"
                } else {
                    "text/plain; charset=utf-8"
                },
                cache_control: if body.stale {
                    "no-cache"
                } else if body.immutable {
                    "public, max-age=31536000, immutable"
                } else {
                    "public, max-age=60"
                },
            };
            let (outcome, label) = if body.stale {
                ("stale", "STALE")
            } else if body.fetched {
                ("miss", "MISS")
            } else {
                ("hit", "HIT")
            };
            match representation.respond(headers, head).await {
                Ok(mut response) => {
                    response
                        .headers_mut()
                        .insert("x-cache", HeaderValue::from_static(label));
                    if body.stale {
                        response.headers_mut().insert(
                            header::WARNING,
                            HeaderValue::from_static("110 modvault \"Response is Stale\""),
                        );
                    }
                    (response, outcome)
                }
                Err(e) => (ErrorResponse::not_found(e.to_string()).into_response(), "error"),
            }
        }
        Err(TransportError::NotFound(reason)) => (ErrorResponse::not_found(reason).into_response(), "not_found"),
        Err(TransportError::Timeout(reason)) => {
            let error = ErrorResponse {
                status: StatusCode::GATEWAY_TIMEOUT,
                reason,
                outcome: "error",
                cacheable: false,
            };
            (error.into_response(), "error")
        }
        Err(TransportError::Failed(reason)) => {
            let error = ErrorResponse {
                status: StatusCode::BAD_GATEWAY,
                reason,
                outcome: "error",
                cacheable: false,
            };
            (error.into_response(), "error")
        }
    }
}

/// Accepts `latest`, `lookup/<path>@<version>` (case-encoded) and
/// `tile/8/…` paths; anything else is not part of the protocol.
fn check_path(rest: &str) -> Result<(), String> {
    if rest == "latest" {
        return Ok(());
    }
    if let Some(key) = rest.strip_prefix("lookup/") {
        let (module, version) = key
            .rsplit_once('@')
            .ok_or_else(|| format!("malformed lookup {key:?}"))?;
        let module = decode_element(module).ok_or_else(|| format!("invalid case-encoding in {module:?}"))?;
        let version = decode_element(version).ok_or_else(|| format!("invalid case-encoding in {version:?}"))?;
        ModulePath::parse(&module).map_err(|e| e.to_string())?;
        Version::canonical(&version).map_err(|e| e.to_string())?;
        return Ok(());
    }
    if rest.starts_with("tile/") {
        let tile = Tile::parse(rest).map_err(|e| format!("malformed tile path {rest:?}: {e}"))?;
        if tile.height != 8 {
            return Err(format!(
                "tile height {} is not served; the go command uses 8",
                tile.height
            ));
        }
        return Ok(());
    }
    Err(format!("unknown checksum database path {rest:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_path_accepts_protocol_paths_only() {
        assert!(check_path("latest").is_ok());
        assert!(check_path("lookup/github.com/!azure/x@v1.0.0").is_ok());
        assert!(check_path("lookup/example.com/x@v2.0.0+incompatible").is_ok());
        assert!(check_path("tile/8/0/x001/x234/067.p/5").is_ok());
        assert!(check_path("tile/8/data/000").is_ok());
        assert!(check_path("lookup/example.com/x@master").is_err());
        assert!(check_path("lookup/../../etc/passwd@v1.0.0").is_err());
        assert!(check_path("tile/8/0/../../x").is_err());
        assert!(check_path("tile/4/0/000").is_err());
        assert!(check_path("supported/extra").is_err());
    }
}
