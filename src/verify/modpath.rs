//! Go's rules for module paths, versions and file paths inside module zips
//! (golang.org/x/mod/module and golang.org/x/mod/semver), with Go's error texts.
//!
//! A module path is valid UTF-8 with no leading `-`, no `//` and no trailing `/`.
//! Each element is non-empty, not all dots, has no leading or trailing dot, and uses
//! only `[A-Za-z0-9._~-]`. No element starts with a Windows reserved name before its
//! first dot or ends in `~` and digits. The first element uses only `[a-z0-9.-]` and
//! has a dot. A final `/vN` has no dot and no leading zero and is not `/v1`, and
//! `gopkg.in/` paths end in `.vN` (optionally `-unstable`).
//!
//! File paths follow the same rules, except that elements may start with a dot or
//! `-`, may contain any Unicode letter, a space and `!#$%&()+,-.=@[]^_{}~`, and may
//! end in `~` and digits.

use std::fmt::Write as _;

/// Windows reserved file names, compared case-insensitively with the part of an
/// element before its first dot.
const WINDOWS_RESERVED_NAMES: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "LPT1", "LPT2",
    "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum PathKind {
    Module,
    File,
}

/// Checks a module path; the error text is Go's `module.CheckPath` message.
pub fn check_path(path: &str) -> Result<(), String> {
    let malformed = |reason: String| format!("malformed module path {}: {reason}", go_quote(path));

    check_general_path(path, PathKind::Module).map_err(malformed)?;
    let first = path.split('/').next().unwrap_or("");
    if first.is_empty() {
        return Err(malformed("leading slash".to_string()));
    }
    if !first.contains('.') {
        return Err(malformed("missing dot in first path element".to_string()));
    }
    if first.starts_with('-') {
        return Err(malformed("leading dash in first path element".to_string()));
    }
    if let Some(c) = first
        .chars()
        .find(|&c| !(c == '-' || c == '.' || c.is_ascii_digit() || c.is_ascii_lowercase()))
    {
        return Err(malformed(format!(
            "invalid char {} in first path element",
            go_quote_char(c)
        )));
    }
    if split_path_version(path).is_none() {
        return Err(malformed("invalid version".to_string()));
    }
    Ok(())
}

/// Checks a slash-separated file path relative to a module root; the error text
/// is Go's `module.CheckFilePath` message.
pub fn check_file_path(path: &str) -> Result<(), String> {
    check_general_path(path, PathKind::File)
        .map_err(|reason| format!("malformed file path {}: {reason}", go_quote(path)))
}

/// Checks that `version` is canonical and matches the major version suffix of
/// `path`, as Go's module zip functions do before they look at any entry.
pub fn check_module_version(path: &str, version: &str) -> Result<(), String> {
    let canonical = canonical_module_version(version);
    if canonical != version {
        return Err(format!(
            "version {} is not canonical (should be {})",
            go_quote(version),
            go_quote(&canonical)
        ));
    }
    check_path(path)?;
    let path_major = split_path_version(path).map_or("", |(_, major)| major);
    check_path_major(version, path_major).map_err(|reason| format!("{path}@{version}: {reason}"))
}

fn check_general_path(path: &str, kind: PathKind) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty string".to_string());
    }
    if path.starts_with('-') && kind != PathKind::File {
        return Err("leading dash".to_string());
    }
    if path.contains("//") {
        return Err("double slash".to_string());
    }
    if path.ends_with('/') {
        return Err("trailing slash".to_string());
    }
    path.split('/').try_for_each(|elem| check_element(elem, kind))
}

fn check_element(elem: &str, kind: PathKind) -> Result<(), String> {
    if elem.is_empty() {
        return Err("empty path element".to_string());
    }
    if elem.bytes().all(|b| b == b'.') {
        return Err(format!("invalid path element {}", go_quote(elem)));
    }
    if elem.starts_with('.') && kind == PathKind::Module {
        return Err("leading dot in path element".to_string());
    }
    if elem.ends_with('.') {
        return Err("trailing dot in path element".to_string());
    }
    let allowed = match kind {
        PathKind::Module => module_path_char_ok,
        PathKind::File => file_name_char_ok,
    };
    if let Some(c) = elem.chars().find(|&c| !allowed(c)) {
        return Err(format!("invalid char {}", go_quote_char(c)));
    }

    let short = elem.split('.').next().unwrap_or(elem);
    if WINDOWS_RESERVED_NAMES
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(short))
    {
        return Err(format!(
            "{} disallowed as path element component on Windows",
            go_quote(short)
        ));
    }
    if kind == PathKind::File {
        return Ok(());
    }
    // Windows short names ("PROGRA~1") end in a tilde and digits.
    if let Some(tilde) = short.rfind('~') {
        let suffix = &short[tilde + 1..];
        if !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()) {
            return Err("trailing tilde and digits in path element".to_string());
        }
    }
    Ok(())
}

fn module_path_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

fn file_name_char_ok(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || "!#$%&()+,-.=@[]^_{}~ ".contains(c);
    }
    // NOTE: Go accepts Unicode category L (unicode.IsLetter); Rust's is_alphabetic
    // also accepts the few Other_Alphabetic marks and Nl letter numbers.
    c.is_alphabetic() && !c.is_numeric()
}

/// Splits a module path into its prefix and major version suffix (`/v2`, `.v1`,
/// or empty), or returns `None` when the suffix is malformed (`/v1`, `/v0`,
/// `/v2.1`, a gopkg.in path without `.vN`).
pub fn split_path_version(path: &str) -> Option<(&str, &str)> {
    if path.starts_with("gopkg.in/") {
        return split_gopkg_in(path);
    }
    let bytes = path.as_bytes();
    let mut i = bytes.len();
    let mut has_dot = false;
    while i > 0 && (bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b'.') {
        has_dot |= bytes[i - 1] == b'.';
        i -= 1;
    }
    if i <= 1 || i == bytes.len() || bytes[i - 1] != b'v' || bytes[i - 2] != b'/' {
        return Some((path, ""));
    }
    let (prefix, major) = path.split_at(i - 2);
    if has_dot || major.len() <= 2 || major.as_bytes()[2] == b'0' || major == "/v1" {
        return None;
    }
    Some((prefix, major))
}

fn split_gopkg_in(path: &str) -> Option<(&str, &str)> {
    let bytes = path.as_bytes();
    let mut i = path.strip_suffix("-unstable").unwrap_or(path).len();
    while i > 0 && bytes[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i <= 1 || bytes[i - 1] != b'v' || bytes[i - 2] != b'.' {
        return None;
    }
    let (prefix, major) = path.split_at(i - 2);
    if major.len() <= 2 || (major.as_bytes()[2] == b'0' && major != ".v0") {
        return None;
    }
    Some((prefix, major))
}

fn check_path_major(version: &str, path_major: &str) -> Result<(), String> {
    let mut path_major = path_major;
    if path_major.starts_with(".v") {
        path_major = path_major.strip_suffix("-unstable").unwrap_or(path_major);
    }
    if version.starts_with("v0.0.0-") && path_major == ".v1" {
        // Old gopkg.in pseudo-versions used v0.0.0 for .v1 paths.
        return Ok(());
    }
    let major = semver_major(version);
    let expected = if path_major.is_empty() {
        if major == "v0" || major == "v1" || semver_build(version) == "+incompatible" {
            return Ok(());
        }
        "v0 or v1"
    } else {
        let expected = &path_major[1..];
        if major == expected {
            return Ok(());
        }
        expected
    };
    Err(format!("invalid version: should be {expected}, not {major}"))
}

/// Reports whether `version` is a valid semantic version in Go's dialect.
pub fn semver_is_valid(version: &str) -> bool {
    crate::module::is_valid_version(version)
}

/// Returns the canonical `vMAJ.MIN.PAT[-pre]` form, or an empty string for an
/// invalid version. A `+incompatible` build suffix is kept, and others are dropped.
pub fn canonical_module_version(version: &str) -> String {
    crate::module::canonical_form(version).unwrap_or_default()
}

fn semver_major(version: &str) -> String {
    crate::module::major_and_build(version)
        .map(|(major, _)| major)
        .unwrap_or_default()
}

fn semver_build(version: &str) -> &str {
    crate::module::major_and_build(version)
        .map(|(_, build)| build)
        .unwrap_or("")
}

pub use crate::module::{decode_element as unescape_case, encode_element as escape_case};

/// Checks that a version may appear in a URL path element, as Go's
/// `module.EscapeVersion` does: a valid file name element without `!`.
pub fn check_version_element(version: &str) -> Result<(), String> {
    if version.contains('!') {
        return Err(format!("disallowed version string {}", go_quote(version)));
    }
    check_element(version, PathKind::File).map_err(|_| format!("disallowed version string {}", go_quote(version)))
}

/// Quotes a string as Go's `%q` verb does for printable text.
pub fn go_quote(s: &str) -> String {
    let mut quoted = String::with_capacity(s.len() + 2);
    quoted.push('"');
    for c in s.chars() {
        push_escaped(&mut quoted, c, '"');
    }
    quoted.push('"');
    quoted
}

/// Quotes a character as Go's `%q` verb does for a rune.
pub fn go_quote_char(c: char) -> String {
    let mut quoted = String::from('\'');
    push_escaped(&mut quoted, c, '\'');
    quoted.push('\'');
    quoted
}

fn push_escaped(out: &mut String, c: char, quote: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if c.is_control() => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_path_accepts_common_paths() {
        for path in [
            "example.com/m",
            "github.com/Azure/azure-sdk-for-go",
            "rsc.io/quote/v3",
            "gopkg.in/yaml.v2",
            "gopkg.in/check.v1-unstable",
            "golang.org/toolchain",
        ] {
            assert_eq!(check_path(path), Ok(()), "{path}");
        }
    }

    #[test]
    fn module_path_errors_match_go() {
        let cases = [
            (
                "cache",
                "malformed module path \"cache\": missing dot in first path element",
            ),
            ("-x.com/m", "malformed module path \"-x.com/m\": leading dash"),
            ("x.com//m", "malformed module path \"x.com//m\": double slash"),
            ("x.com/m/", "malformed module path \"x.com/m/\": trailing slash"),
            (
                "X.com/m",
                "malformed module path \"X.com/m\": invalid char 'X' in first path element",
            ),
            (
                "x.com/.m",
                "malformed module path \"x.com/.m\": leading dot in path element",
            ),
            (
                "x.com/m.",
                "malformed module path \"x.com/m.\": trailing dot in path element",
            ),
            (
                "x.com/../m",
                "malformed module path \"x.com/../m\": invalid path element \"..\"",
            ),
            ("x.com/m+", "malformed module path \"x.com/m+\": invalid char '+'"),
            (
                "x.com/com1",
                "malformed module path \"x.com/com1\": \"com1\" disallowed as path element component on Windows",
            ),
            (
                "x.com/z~09",
                "malformed module path \"x.com/z~09\": trailing tilde and digits in path element",
            ),
            ("x.com/m/v1", "malformed module path \"x.com/m/v1\": invalid version"),
            ("x.com/m/v02", "malformed module path \"x.com/m/v02\": invalid version"),
            (
                "gopkg.in/yaml",
                "malformed module path \"gopkg.in/yaml\": invalid version",
            ),
        ];
        for (path, want) in cases {
            assert_eq!(check_path(path), Err(want.to_string()), "{path}");
        }
    }

    #[test]
    fn file_path_rules_differ_from_module_paths() {
        assert_eq!(check_file_path(".gitignore"), Ok(()));
        assert_eq!(check_file_path("-dash.go"), Ok(()));
        assert_eq!(check_file_path("dir/z~1.txt"), Ok(()));
        assert_eq!(check_file_path("héllo wörld.txt"), Ok(()));
        assert_eq!(check_file_path("a+b(c)[d]{e}.go"), Ok(()));
        assert_eq!(
            check_file_path("bad.go'"),
            Err("malformed file path \"bad.go'\": invalid char '\\''".to_string())
        );
        assert_eq!(
            check_file_path("a/aux.c"),
            Err("malformed file path \"a/aux.c\": \"aux\" disallowed as path element component on Windows".to_string())
        );
        assert_eq!(
            check_file_path("a\\b"),
            Err("malformed file path \"a\\\\b\": invalid char '\\\\'".to_string())
        );
        assert!(check_file_path("a/../b").is_err());
        assert!(check_file_path("a:b").is_err());
        assert!(check_file_path("1٣.txt").is_err(), "non-ASCII digits are not letters");
    }

    #[test]
    fn canonical_versions() {
        assert_eq!(canonical_module_version("v1.0.0+bad"), "v1.0.0");
        assert_eq!(canonical_module_version("v2.0.0+incompatible"), "v2.0.0+incompatible");
        assert_eq!(canonical_module_version("v1.2"), "v1.2.0");
        assert_eq!(canonical_module_version("v1"), "v1.0.0");
        assert_eq!(canonical_module_version("v1.0.0-RC1.2"), "v1.0.0-RC1.2");
        assert_eq!(canonical_module_version("v1.0.0-01"), "");
        assert_eq!(canonical_module_version("v1.2-pre"), "");
        assert_eq!(canonical_module_version("1.0.0"), "");
        assert_eq!(canonical_module_version("v01.0.0"), "");
        assert!(semver_is_valid("v0.0.0-20191109021931-daa7c04131f5"));
    }

    #[test]
    fn module_version_errors_match_go() {
        assert_eq!(check_module_version("example.com/m", "v1.0.0"), Ok(()));
        assert_eq!(check_module_version("example.com/m/v2", "v2.3.4-pre"), Ok(()));
        assert_eq!(check_module_version("example.com/m", "v3.0.0+incompatible"), Ok(()));
        assert_eq!(check_module_version("gopkg.in/yaml.v2", "v2.4.0"), Ok(()));
        assert_eq!(
            check_module_version("example.com/m", "v1.0.0+bad"),
            Err("version \"v1.0.0+bad\" is not canonical (should be \"v1.0.0\")".to_string())
        );
        assert_eq!(
            check_module_version("example.com/m", "v2.0.0"),
            Err("example.com/m@v2.0.0: invalid version: should be v0 or v1, not v2".to_string())
        );
        assert_eq!(
            check_module_version("example.com/m/v3", "v2.0.0"),
            Err("example.com/m/v3@v2.0.0: invalid version: should be v3, not v2".to_string())
        );
    }

    #[test]
    fn escape_case_encodes_uppercase() {
        assert_eq!(escape_case("github.com/Azure/x"), "github.com/!azure/x");
        assert_eq!(escape_case("v1.0.0-RC1"), "v1.0.0-!r!c1");
        assert_eq!(
            unescape_case("github.com/!azure/x").as_deref(),
            Some("github.com/Azure/x")
        );
        assert_eq!(unescape_case("v1.0.0-!r!c1").as_deref(), Some("v1.0.0-RC1"));
        for bad in ["A", "a!", "a!1", "é"] {
            assert_eq!(unescape_case(bad), None, "{bad}");
        }
        assert_eq!(check_version_element("v1.0.0"), Ok(()));
        assert!(check_version_element("v1!0").is_err());
        assert!(check_version_element("v1/0").is_err());
    }

    #[test]
    fn go_quote_escapes_like_go() {
        assert_eq!(go_quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(go_quote_char('\''), "'\\''");
        assert_eq!(go_quote_char('"'), "'\"'");
        assert_eq!(go_quote("\u{1}"), "\"\\x01\"");
    }
}
