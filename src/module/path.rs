//! Module path checks (module.CheckPath, SplitPathVersion and Check).
//!
//! A path is valid UTF-8 made of `/`-separated elements. Each element is
//! non-empty, uses only `A-Za-z0-9._~-`, is not all dots, neither starts nor
//! ends with a dot, does not end in `~` plus digits, and its part before the
//! first dot is not a Windows reserved name. The first element is lower-case,
//! contains a dot and does not start with `-`. A final `/vN` (N ≥ 2, no
//! leading zero) or, for `gopkg.in/`, `.vN` names the major version.

use std::fmt;

use super::escape::encode_element;
use super::semver::Version;

const WINDOWS_RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "LPT1", "LPT2",
    "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed module path {path:?}: {reason}")]
pub struct PathError {
    pub path: String,
    pub reason: String,
}

fn path_error(path: &str, reason: impl Into<String>) -> PathError {
    PathError {
        path: path.to_string(),
        reason: reason.into(),
    }
}

/// A module path that passed `CheckPath`, in its decoded form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModulePath(String);

impl ModulePath {
    pub fn parse(path: &str) -> Result<ModulePath, PathError> {
        check_path(path)?;
        Ok(ModulePath(path.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the case-encoded form used in URLs and storage keys.
    pub fn encoded(&self) -> String {
        encode_element(&self.0)
    }

    /// The major version suffix of the path: `/v2`, `.v1`, or empty.
    pub fn path_major(&self) -> &str {
        split_path_version(&self.0).map(|(_, major)| major).unwrap_or("")
    }

    /// Checks that `version` may belong to this path (module.Check plus the
    /// `+incompatible` rules of the go command).
    pub fn check_version(&self, version: &Version) -> Result<(), String> {
        let major = self.path_major();
        let v = version.as_str();

        if version.is_incompatible() {
            if !major.is_empty() {
                return Err(format!(
                    "{v}: +incompatible is not allowed on a path with a major version suffix"
                ));
            }
            if matches!(version.major(), "0" | "1") {
                return Err(format!("{v}: +incompatible is only allowed from major version 2"));
            }
            return Ok(());
        }

        if major.starts_with(".v") && major.ends_with("-unstable") {
            return Ok(());
        }
        if major == ".v1" && v.starts_with("v0.0.0-") {
            return Ok(());
        }
        let wanted = if major.is_empty() { None } else { Some(&major[2..]) };
        let ok = match wanted {
            None => matches!(version.major(), "0" | "1"),
            Some(m) => version.major() == m,
        };
        if ok {
            return Ok(());
        }
        Err(match wanted {
            None => format!("{v}: invalid version, should be v0 or v1, not v{}", version.major()),
            Some(m) => format!("{v}: invalid version, should be v{m}, not v{}", version.major()),
        })
    }
}

impl fmt::Display for ModulePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(path_error(path, "empty string"));
    }
    if path.starts_with('-') {
        return Err(path_error(path, "leading dash"));
    }
    if path.contains("//") {
        return Err(path_error(path, "double slash"));
    }
    if path.ends_with('/') {
        return Err(path_error(path, "trailing slash"));
    }
    if path.starts_with('/') {
        return Err(path_error(path, "leading slash"));
    }
    for elem in path.split('/') {
        check_element(elem).map_err(|reason| path_error(path, reason))?;
    }

    let first = path.split('/').next().unwrap_or("");
    if !first.contains('.') {
        return Err(path_error(path, "missing dot in first path element"));
    }
    if let Some(c) = first
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
    {
        return Err(path_error(path, format!("invalid char {c:?} in first path element")));
    }
    if split_path_version(path).is_none() {
        return Err(path_error(path, "invalid major version suffix"));
    }
    Ok(())
}

fn check_element(elem: &str) -> Result<(), String> {
    if elem.is_empty() {
        return Err("empty path element".into());
    }
    if elem.bytes().all(|b| b == b'.') {
        return Err(format!("invalid path element {elem:?}"));
    }
    if elem.starts_with('.') {
        return Err(format!("leading dot in path element {elem:?}"));
    }
    if elem.ends_with('.') {
        return Err(format!("trailing dot in path element {elem:?}"));
    }
    if let Some(c) = elem
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')))
    {
        return Err(format!("invalid char {c:?}"));
    }

    let short = elem.split('.').next().unwrap_or(elem);
    if WINDOWS_RESERVED.iter().any(|bad| bad.eq_ignore_ascii_case(short)) {
        return Err(format!("{short:?} disallowed as path element component on Windows"));
    }
    if let Some(tilde) = short.rfind('~') {
        let suffix = &short[tilde + 1..];
        if !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()) {
            return Err("trailing tilde and digits in path element".into());
        }
    }
    Ok(())
}

/// Splits off the major version suffix; `None` when the suffix is malformed
/// (`/v1`, `/v0`, `/v02`, `/v2.0`, or a gopkg.in path without `.vN`).
fn split_path_version(path: &str) -> Option<(&str, &str)> {
    if path.starts_with("gopkg.in/") {
        return split_gopkg_in(path);
    }
    let bytes = path.as_bytes();
    let mut i = bytes.len();
    let mut dot = false;
    while i > 0 && (bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b'.') {
        dot |= bytes[i - 1] == b'.';
        i -= 1;
    }
    if i <= 1 || i == bytes.len() || bytes[i - 1] != b'v' || bytes[i - 2] != b'/' {
        return Some((path, ""));
    }
    let (prefix, major) = (&path[..i - 2], &path[i - 2..]);
    if dot || major.len() <= 2 || major.as_bytes()[2] == b'0' || major == "/v1" {
        return None;
    }
    Some((prefix, major))
}

fn split_gopkg_in(path: &str) -> Option<(&str, &str)> {
    let bytes = path.as_bytes();
    let mut i = bytes.len();
    if path.ends_with("-unstable") {
        i -= "-unstable".len();
    }
    while i > 0 && bytes[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i <= 1 || bytes[i - 1] != b'v' || bytes[i - 2] != b'.' {
        return None;
    }
    let (prefix, major) = (&path[..i - 2], &path[i - 2..]);
    if major.len() <= 2 || (major.as_bytes()[2] == b'0' && major != ".v0") {
        return None;
    }
    Some((prefix, major))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_path_accepts_valid_paths() {
        for p in [
            "example.com/hello",
            "github.com/Azure/azure-sdk-for-go",
            "github.com/x/y/v2",
            "gopkg.in/yaml.v3",
            "gopkg.in/check.v1",
            "gopkg.in/src-d/go-git.v4",
            "gopkg.in/foo.v2-unstable",
            "golang.org/x/net",
            "example.com/a~b/c_d",
            "example.com/console.d",
        ] {
            assert!(ModulePath::parse(p).is_ok(), "{p}: {:?}", ModulePath::parse(p));
        }
    }

    #[test]
    fn check_path_rejects_invalid_paths() {
        let cases = [
            ("", "empty string"),
            ("-example.com/x", "leading dash"),
            ("example.com//x", "double slash"),
            ("example.com/x/", "trailing slash"),
            ("/example.com", "leading slash"),
            ("example/x", "missing dot"),
            ("Example.com/x", "first path element"),
            ("example.com/../x", "invalid path element"),
            ("example.com/./x", "invalid path element"),
            ("example.com/.hidden", "leading dot"),
            ("example.com/x.", "trailing dot"),
            ("example.com/x y", "invalid char"),
            ("example.com/x@v1", "invalid char"),
            ("example.com/x\\y", "invalid char"),
            ("example.com/CON", "Windows"),
            ("example.com/aux.go", "Windows"),
            ("example.com/lpt9", "Windows"),
            ("example.com/abc~1", "tilde"),
            ("example.com/x/v1", "major version"),
            ("example.com/x/v0", "major version"),
            ("example.com/x/v02", "major version"),
            ("example.com/x/v2.0", "major version"),
            ("gopkg.in/yaml", "major version"),
            ("gopkg.in/yaml.v01", "major version"),
            ("exämple.com/x", "invalid char"),
        ];
        for (path, reason) in cases {
            let err = ModulePath::parse(path).expect_err(path);
            assert!(
                err.reason.contains(reason),
                "{path}: got {:?}, expected {reason:?}",
                err.reason
            );
        }
    }

    #[test]
    fn path_major_is_split_off() {
        assert_eq!(ModulePath::parse("github.com/x/y/v2").unwrap().path_major(), "/v2");
        assert_eq!(ModulePath::parse("gopkg.in/yaml.v3").unwrap().path_major(), ".v3");
        assert_eq!(ModulePath::parse("github.com/x/y").unwrap().path_major(), "");
    }

    #[test]
    fn check_version_applies_major_rules() {
        let plain = ModulePath::parse("example.com/x").unwrap();
        let v2 = ModulePath::parse("example.com/x/v2").unwrap();
        let gopkg = ModulePath::parse("gopkg.in/yaml.v2").unwrap();
        let v = |s: &str| Version::canonical(s).unwrap();

        assert!(plain.check_version(&v("v1.5.0")).is_ok());
        assert!(plain.check_version(&v("v0.1.0")).is_ok());
        assert!(plain.check_version(&v("v2.0.0")).is_err());
        assert!(plain.check_version(&v("v2.0.0+incompatible")).is_ok());
        assert!(plain.check_version(&v("v1.0.0+incompatible")).is_err());
        assert!(v2.check_version(&v("v2.3.0")).is_ok());
        assert!(v2.check_version(&v("v3.0.0")).is_err());
        assert!(v2.check_version(&v("v1.0.0")).is_err());
        assert!(v2.check_version(&v("v2.0.0+incompatible")).is_err());
        assert!(gopkg.check_version(&v("v2.4.0")).is_ok());
        assert!(gopkg.check_version(&v("v3.0.0")).is_err());
    }
}
