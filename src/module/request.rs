//! Parsing of GOPROXY request paths (`$m/@v/list`, `$m/@v/$v.info`,
//! `$m/@v/$v.mod`, `$m/@v/$v.zip`, `$m/@latest`).
//!
//! The raw path is percent-decoded once, then case-decoded, then checked, so
//! `!a` and `%21a` mean the same. A path that fails any step is a
//! [`PathError`]-like reason string that the HTTP layer turns into a 404:
//! the go command probes path prefixes and only 404/410 let it go on.

use percent_encoding::percent_decode_str;

use super::escape::decode_element;
use super::path::ModulePath;
use super::semver::{Version, VersionError};

/// The file kinds of a canonical module version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    Info,
    Mod,
    Zip,
}

impl FileKind {
    pub fn extension(self) -> &'static str {
        match self {
            FileKind::Info => "info",
            FileKind::Mod => "mod",
            FileKind::Zip => "zip",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            FileKind::Info => "application/json",
            FileKind::Mod => "text/plain; charset=utf-8",
            FileKind::Zip => "application/zip",
        }
    }
}

/// A checked GOPROXY request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyRequest {
    List(ModulePath),
    Latest(ModulePath),
    /// `.info`, `.mod` or `.zip` of a canonical version valid for the path.
    File(ModulePath, Version, FileKind),
    /// `.info` of anything else: a branch, a commit, `v1.2`, `v1.2.3+meta`.
    Query(ModulePath, String),
}

impl ProxyRequest {
    pub fn module(&self) -> &ModulePath {
        match self {
            ProxyRequest::List(m)
            | ProxyRequest::Latest(m)
            | ProxyRequest::File(m, _, _)
            | ProxyRequest::Query(m, _) => m,
        }
    }
}

/// Parses a request path without its leading `/`.
pub fn parse_request_path(raw: &str) -> Result<ProxyRequest, String> {
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| "path is not valid UTF-8 after percent-decoding".to_string())?;

    if let Some(module) = decoded.strip_suffix("/@latest") {
        return Ok(ProxyRequest::Latest(parse_module(module)?));
    }

    let Some((module, rest)) = decoded.split_once("/@v/") else {
        return Err("not a module proxy path: expected /@v/ or /@latest".to_string());
    };
    let module = parse_module(module)?;
    if rest == "list" {
        return Ok(ProxyRequest::List(module));
    }

    let (encoded_version, kind) = if let Some(v) = rest.strip_suffix(".info") {
        (v, FileKind::Info)
    } else if let Some(v) = rest.strip_suffix(".mod") {
        (v, FileKind::Mod)
    } else if let Some(v) = rest.strip_suffix(".zip") {
        (v, FileKind::Zip)
    } else {
        return Err(format!("unknown file {rest:?}: expected list, .info, .mod or .zip"));
    };
    let version = decode_version(encoded_version)?;

    match Version::canonical(&version) {
        Ok(v) => {
            module.check_version(&v).map_err(|e| format!("{module}@{e}"))?;
            Ok(ProxyRequest::File(module, v, kind))
        }
        Err(err) if kind == FileKind::Info => {
            let _ = err;
            Ok(ProxyRequest::Query(module, version))
        }
        Err(VersionError::NotCanonical { version, canonical }) => Err(format!(
            "version {version:?} is not canonical (use {canonical:?}); .{} files exist only for canonical versions",
            kind.extension()
        )),
        Err(VersionError::Malformed(v)) => Err(format!(
            "version {v:?} is not a semantic version; .{} files exist only for canonical versions",
            kind.extension()
        )),
    }
}

fn parse_module(encoded: &str) -> Result<ModulePath, String> {
    let decoded = decode_element(encoded).ok_or_else(|| format!("invalid case-encoding in module path {encoded:?}"))?;
    ModulePath::parse(&decoded).map_err(|e| e.to_string())
}

/// Decodes a version element and applies Go's file-name rules to it: one
/// element of letters, digits and `!#$%&()+,-.=@[]^_{}~` or space, not all
/// dots, no trailing dot, no Windows reserved name.
fn decode_version(encoded: &str) -> Result<String, String> {
    let v = decode_element(encoded).ok_or_else(|| format!("invalid case-encoding in version {encoded:?}"))?;
    let bad = || Err(format!("invalid version {v:?}"));

    if v.is_empty() || v.bytes().all(|b| b == b'.') || v.ends_with('.') {
        return bad();
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "!#$%&()+,-.=@[]^_{}~ ".contains(c);
    if !v.chars().all(allowed) {
        return bad();
    }
    let short = v.split('.').next().unwrap_or("");
    let reserved = ["CON", "PRN", "AUX", "NUL"];
    let numbered = |prefix: &str| {
        short.len() == 4 && short[..3].eq_ignore_ascii_case(prefix) && matches!(short.as_bytes()[3], b'1'..=b'9')
    };
    if reserved.iter().any(|r| r.eq_ignore_ascii_case(short)) || numbered("COM") || numbered("LPT") {
        return bad();
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(m: &str, v: &str, kind: FileKind) -> ProxyRequest {
        ProxyRequest::File(ModulePath::parse(m).unwrap(), Version::canonical(v).unwrap(), kind)
    }

    #[test]
    fn parse_accepts_every_endpoint() {
        let m = || ModulePath::parse("example.com/x").unwrap();
        assert_eq!(parse_request_path("example.com/x/@v/list"), Ok(ProxyRequest::List(m())));
        assert_eq!(
            parse_request_path("example.com/x/@latest"),
            Ok(ProxyRequest::Latest(m()))
        );
        assert_eq!(
            parse_request_path("example.com/x/@v/v1.0.0.info"),
            Ok(file("example.com/x", "v1.0.0", FileKind::Info))
        );
        assert_eq!(
            parse_request_path("example.com/x/@v/v1.0.0.mod"),
            Ok(file("example.com/x", "v1.0.0", FileKind::Mod))
        );
        assert_eq!(
            parse_request_path("example.com/x/@v/v1.0.0.zip"),
            Ok(file("example.com/x", "v1.0.0", FileKind::Zip))
        );
    }

    #[test]
    fn parse_decodes_capitals_both_spellings() {
        let expected = file("github.com/Azure/Go", "v1.0.0-RC1", FileKind::Mod);
        assert_eq!(
            parse_request_path("github.com/!azure/!go/@v/v1.0.0-!r!c1.mod"),
            Ok(expected.clone())
        );
        assert_eq!(
            parse_request_path("github.com/%21azure/%21go/@v/v1.0.0-%21r%21c1.mod"),
            Ok(expected)
        );
    }

    #[test]
    fn parse_rejects_raw_capitals() {
        assert!(parse_request_path("github.com/Azure/go/@v/list").is_err());
        assert!(parse_request_path("github.com/azure/go/@v/v1.0.0-RC1.mod").is_err());
    }

    #[test]
    fn parse_applies_major_version_rules() {
        assert!(parse_request_path("example.com/x/v2/@v/v2.1.0.zip").is_ok());
        assert!(parse_request_path("example.com/x/v2/@v/v1.1.0.zip").is_err());
        assert!(parse_request_path("example.com/x/@v/v2.0.0.zip").is_err());
        assert_eq!(
            parse_request_path("example.com/x/@v/v2.0.0+incompatible.zip"),
            Ok(file("example.com/x", "v2.0.0+incompatible", FileKind::Zip))
        );
        assert_eq!(
            parse_request_path("example.com/x/@v/v2.0.0%2Bincompatible.zip"),
            Ok(file("example.com/x", "v2.0.0+incompatible", FileKind::Zip))
        );
        assert!(parse_request_path("gopkg.in/yaml.v2/@v/v2.4.0.mod").is_ok());
        assert!(parse_request_path("gopkg.in/yaml.v2/@v/v3.0.0.mod").is_err());
    }

    #[test]
    fn parse_turns_non_canonical_info_into_query() {
        let m = ModulePath::parse("example.com/x").unwrap();
        assert_eq!(
            parse_request_path("example.com/x/@v/master.info"),
            Ok(ProxyRequest::Query(m.clone(), "master".into()))
        );
        assert_eq!(
            parse_request_path("example.com/x/@v/v1.2.info"),
            Ok(ProxyRequest::Query(m.clone(), "v1.2".into()))
        );
        assert_eq!(
            parse_request_path("example.com/x/@v/v1.2.3+meta.info"),
            Ok(ProxyRequest::Query(m, "v1.2.3+meta".into()))
        );
        assert!(parse_request_path("example.com/x/@v/master.zip").is_err());
        assert!(parse_request_path("example.com/x/@v/v1.2.mod").is_err());
    }

    #[test]
    fn parse_rejects_traversal_and_junk() {
        for path in [
            "../../etc/passwd",
            "example.com/../../etc/@v/list",
            "example.com/%2e%2e/x/@v/list",
            "example.com/x/@v/..%2f..%2fpasswd.info",
            "example.com/x/@v/../../v1.0.0.info",
            "example.com/x/@v/%00.info",
            "example.com/x/@v/CON.info",
            "example.com/x/@v/lpt1.info",
            "example.com/x/@v/.info",
            "example.com/x/@v/v1.0.0.tar",
            "example.com/x",
            "example.com/x/@v/",
            "%ff/@v/list",
            "example.com/nul/@v/list",
            "example.com/x%5cy/@v/list",
        ] {
            assert!(parse_request_path(path).is_err(), "{path} should be rejected");
        }
    }
}
