//! Go's semantic versions (golang.org/x/mod/semver): a leading `v`, the
//! shorthands `v1` and `v1.2`, and `+incompatible` as the only build suffix a
//! module version keeps. The ordering differs from SemVer 2.0 crates in those
//! details, so it is implemented here.

use std::cmp::Ordering;
use std::fmt;

/// Parts of a syntactically valid Go semantic version.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parsed<'a> {
    major: &'a str,
    minor: &'a str,
    patch: &'a str,
    short: bool,
    prerelease: &'a str,
    build: &'a str,
}

fn parse(v: &str) -> Option<Parsed<'_>> {
    let rest = v.strip_prefix('v')?;
    let (major, rest) = take_number(rest)?;
    if rest.is_empty() {
        return Some(Parsed {
            major,
            minor: "0",
            patch: "0",
            short: true,
            prerelease: "",
            build: "",
        });
    }
    let rest = rest.strip_prefix('.')?;
    let (minor, rest) = take_number(rest)?;
    if rest.is_empty() {
        return Some(Parsed {
            major,
            minor,
            patch: "0",
            short: true,
            prerelease: "",
            build: "",
        });
    }
    let rest = rest.strip_prefix('.')?;
    let (patch, mut rest) = take_number(rest)?;

    let mut prerelease = "";
    if rest.starts_with('-') {
        let end = rest.find('+').unwrap_or(rest.len());
        prerelease = &rest[..end];
        if !valid_identifiers(&prerelease[1..], true) {
            return None;
        }
        rest = &rest[end..];
    }

    let mut build = "";
    if rest.starts_with('+') {
        build = rest;
        if !valid_identifiers(&build[1..], false) {
            return None;
        }
        rest = "";
    }

    if !rest.is_empty() {
        return None;
    }
    Some(Parsed {
        major,
        minor,
        patch,
        short: false,
        prerelease,
        build,
    })
}

/// Splits a leading decimal number without leading zeros off `s`.
fn take_number(s: &str) -> Option<(&str, &str)> {
    let end = s.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    let number = &s[..end];
    if number.len() > 1 && number.starts_with('0') {
        return None;
    }
    Some((number, &s[end..]))
}

/// Checks dot-separated identifiers; numeric prerelease identifiers may not
/// have leading zeros.
fn valid_identifiers(s: &str, prerelease: bool) -> bool {
    if s.is_empty() {
        return false;
    }
    s.split('.').all(|id| {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return false;
        }
        let numeric = id.bytes().all(|b| b.is_ascii_digit());
        !(prerelease && numeric && id.len() > 1 && id.starts_with('0'))
    })
}

fn compare_numbers(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let mut left = a[1..].split('.');
    let mut right = b[1..].split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let x_num = x.bytes().all(|c| c.is_ascii_digit());
                let y_num = y.bytes().all(|c| c.is_ascii_digit());
                let ord = match (x_num, y_num) {
                    (true, true) => compare_numbers(x, y),
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (false, false) => x.cmp(y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// Compares two version strings the way `semver.Compare` does: an invalid
/// version sorts before every valid one, and build suffixes are ignored.
pub fn compare(a: &str, b: &str) -> Ordering {
    compare_parsed(&parse(a), &parse(b))
}

fn compare_parsed(a: &Option<Parsed<'_>>, b: &Option<Parsed<'_>>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => compare_numbers(x.major, y.major)
            .then_with(|| compare_numbers(x.minor, y.minor))
            .then_with(|| compare_numbers(x.patch, y.patch))
            .then_with(|| compare_prerelease(x.prerelease, y.prerelease)),
    }
}

/// Reports whether `v` is a valid Go semantic version, shorthand included.
pub fn is_valid_version(v: &str) -> bool {
    parse(v).is_some()
}

/// Returns the canonical `vMAJ.MIN.PAT[-pre]` form of a valid version, keeping
/// a `+incompatible` suffix and dropping any other build suffix.
pub fn canonical_form(v: &str) -> Option<String> {
    let parsed = parse(v)?;
    let keep_build = if parsed.build == "+incompatible" {
        parsed.build
    } else {
        ""
    };
    Some(format!(
        "v{}.{}.{}{}{}",
        parsed.major, parsed.minor, parsed.patch, parsed.prerelease, keep_build
    ))
}

/// Returns the major version (`v2`) and build suffix (`+incompatible`) of a
/// valid version.
pub fn major_and_build(v: &str) -> Option<(String, &str)> {
    parse(v).map(|p| (format!("v{}", p.major), p.build))
}

/// Sorts versions in Go's order, ties (equal but for build suffix) by text.
pub fn sort_versions(versions: &mut [String]) {
    // Parse every version once, not twice per comparison.
    let parsed: Vec<Option<Parsed<'_>>> = versions.iter().map(|v| parse(v)).collect();
    let mut order: Vec<usize> = (0..versions.len()).collect();
    order.sort_by(|&i, &j| compare_parsed(&parsed[i], &parsed[j]).then_with(|| versions[i].cmp(&versions[j])));
    let sorted: Vec<String> = order.iter().map(|&i| versions[i].clone()).collect();
    versions.clone_from_slice(&sorted);
}

/// Reports whether `v` is a pseudo-version such as
/// `v0.0.0-20191109021931-daa7c04131f5` (module.IsPseudoVersion).
pub fn is_pseudo_version(v: &str) -> bool {
    let Some(parsed) = parse(v) else {
        return false;
    };
    if parsed.short || v.matches('-').count() < 2 {
        return false;
    }
    if !parsed.build.is_empty() && parsed.build != "+incompatible" && !valid_identifiers(&parsed.build[1..], false) {
        return false;
    }
    let pre = &parsed.prerelease[1..];
    let Some((base, revision)) = pre.rsplit_once('-') else {
        return false;
    };
    if revision.is_empty() || !revision.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    // The timestamp is the last dot-separated field of `base`, preceded by
    // "0." unless the version is a vX.0.0-timestamp form.
    let (head, timestamp) = match base.rsplit_once('.') {
        Some((head, ts)) => (Some(head), ts),
        None => (None, base),
    };
    if timestamp.len() != 14 || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    match head {
        None => parsed.minor == "0" && parsed.patch == "0",
        Some(h) => h == "0" || h.ends_with(".0"),
    }
}

/// A version string accepted by Go's semver rules, kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("malformed semantic version {0:?}")]
    Malformed(String),
    #[error("version {version:?} is not canonical (expected {canonical:?})")]
    NotCanonical { version: String, canonical: String },
}

impl Version {
    /// Accepts only canonical module versions: `vMAJ.MIN.PAT`, an optional
    /// prerelease, and `+incompatible` as the only build suffix.
    pub fn canonical(v: &str) -> Result<Version, VersionError> {
        let Some(parsed) = parse(v) else {
            return Err(VersionError::Malformed(v.to_string()));
        };
        let keep_build = if parsed.build == "+incompatible" {
            parsed.build
        } else {
            ""
        };
        let canonical = format!(
            "v{}.{}.{}{}{}",
            parsed.major, parsed.minor, parsed.patch, parsed.prerelease, keep_build
        );
        if canonical != v {
            return Err(VersionError::NotCanonical {
                version: v.to_string(),
                canonical,
            });
        }
        Ok(Version(canonical))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The major version as written after `v`, such as `2` for `v2.1.0`.
    pub fn major(&self) -> &str {
        parse(&self.0).map(|p| p.major).unwrap_or("0")
    }

    pub fn is_incompatible(&self) -> bool {
        self.0.ends_with("+incompatible")
    }

    pub fn is_pseudo(&self) -> bool {
        is_pseudo_version(&self.0)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_go_forms() {
        for v in [
            "v1",
            "v1.2",
            "v1.2.3",
            "v1.2.3-pre.1",
            "v1.2.3-0.20191109021931-daa7c04131f5",
            "v2.0.0+incompatible",
            "v1.0.0+meta.1",
        ] {
            assert!(parse(v).is_some(), "{v} should parse");
        }
    }

    #[test]
    fn parse_rejects_invalid_forms() {
        for v in [
            "1.2.3",
            "v01.2.3",
            "v1.02.3",
            "v1.2.3-01",
            "v1.2.3-",
            "v1.2.3+",
            "v1.2-pre",
            "v1.2.3.4",
            "v",
            "v1.2.3-a..b",
            "v1.2.3 ",
        ] {
            assert!(parse(v).is_none(), "{v} should not parse");
        }
    }

    #[test]
    fn compare_follows_go_semver() {
        let ordered = [
            "v0.1.0",
            "v1.0.0-alpha",
            "v1.0.0-alpha.1",
            "v1.0.0-alpha.beta",
            "v1.0.0-beta",
            "v1.0.0-beta.2",
            "v1.0.0-beta.11",
            "v1.0.0-rc.1",
            "v1.0.0",
            "v1.2.0",
            "v1.10.0",
            "v2.0.0+incompatible",
            "v10.0.0",
        ];
        for pair in ordered.windows(2) {
            assert_eq!(compare(pair[0], pair[1]), Ordering::Less, "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(compare("v1.2", "v1.2.0"), Ordering::Equal);
        assert_eq!(compare("v2.0.0+incompatible", "v2.0.0"), Ordering::Equal);
        assert_eq!(compare("bad", "v0.0.1"), Ordering::Less);
    }

    #[test]
    fn sort_breaks_ties_by_text() {
        let mut list = vec![
            "v2.0.0+incompatible".to_string(),
            "v1.10.0".into(),
            "v1.9.0".into(),
            "v2.0.0".into(),
        ];
        sort_versions(&mut list);
        assert_eq!(list, ["v1.9.0", "v1.10.0", "v2.0.0", "v2.0.0+incompatible"]);
    }

    #[test]
    fn canonical_accepts_only_full_form() {
        assert!(Version::canonical("v1.2.3").is_ok());
        assert!(Version::canonical("v1.2.3-RC1").is_ok());
        assert!(Version::canonical("v2.0.0+incompatible").is_ok());
        assert_eq!(
            Version::canonical("v1.2"),
            Err(VersionError::NotCanonical {
                version: "v1.2".into(),
                canonical: "v1.2.0".into()
            })
        );
        assert!(matches!(
            Version::canonical("v1.2.3+meta"),
            Err(VersionError::NotCanonical { .. })
        ));
        assert!(matches!(Version::canonical("master"), Err(VersionError::Malformed(_))));
    }

    #[test]
    fn pseudo_versions_are_recognised() {
        for v in [
            "v0.0.0-20191109021931-daa7c04131f5",
            "v1.0.0-20191109021931-daa7c04131f5",
            "v1.2.4-0.20191109021931-daa7c04131f5",
            "v1.2.3-pre.0.20191109021931-daa7c04131f5",
            "v2.0.1-0.20191109021931-daa7c04131f5+incompatible",
        ] {
            assert!(is_pseudo_version(v), "{v}");
        }
        for v in [
            "v1.2.3",
            "v1.2.3-pre",
            "v1.2.0-20191109021931-daa7c04131f5",
            "v0.0.0-2019110902193-daa7c04131f5",
            "v1.2.3-1.20191109021931-abc",
        ] {
            assert!(!is_pseudo_version(v), "{v}");
        }
    }
}
