//! Module path patterns in the syntax of GOPRIVATE and GONOSUMDB: a
//! comma-separated list of globs, each matched against the leading path
//! elements of a module path (`corp.example/*` matches
//! `corp.example/team/tool`, and `rsc.io/private` matches
//! `rsc.io/private/x` but not `rsc.io/privateer`).

/// A parsed, non-empty list of globs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathPatterns {
    globs: Vec<String>,
}

impl std::fmt::Display for PathPatterns {
    /// Writes the globs comma-separated, as they are written in a setting.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.globs.join(","))
    }
}

impl PathPatterns {
    /// Parses the list; empty entries are ignored, and a glob with an
    /// unterminated `[` is an error naming it.
    pub fn parse(text: &str) -> Result<PathPatterns, String> {
        let mut globs = Vec::new();
        for glob in text.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            let glob = glob.trim_end_matches('/');
            if glob_match(glob, "").is_err() {
                return Err(format!("invalid pattern {glob:?}: unterminated character class"));
            }
            globs.push(glob.to_string());
        }
        Ok(PathPatterns { globs })
    }

    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    /// Reports whether any glob matches the leading elements of `path`.
    pub fn matches(&self, path: &str) -> bool {
        self.globs.iter().any(|glob| {
            let elements = glob.split('/').count();
            let prefix_end = path
                .match_indices('/')
                .nth(elements - 1)
                .map(|(i, _)| i)
                .unwrap_or(path.len());
            if path.split('/').count() < elements {
                return false;
            }
            glob_match(glob, &path[..prefix_end]).unwrap_or(false)
        })
    }
}

/// Matches `name` against `pattern` with `path.Match` rules: `*` is any run
/// of characters except `/`, `?` one such character, `[...]` a class with
/// ranges and `^` negation, `\` escapes. Returns an error for a malformed
/// pattern.
fn glob_match(pattern: &str, name: &str) -> Result<bool, ()> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    validate(&p)?;
    Ok(match_from(&p, &n))
}

fn validate(p: &[char]) -> Result<(), ()> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => i += 2,
            '[' => {
                let (_, next) = class_end(p, i)?;
                i = next;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Returns the index of the closing `]` of the class starting at `start`
/// and the index after it.
fn class_end(p: &[char], start: usize) -> Result<(usize, usize), ()> {
    let mut i = start + 1;
    if i < p.len() && p[i] == '^' {
        i += 1;
    }
    let first = i;
    while i < p.len() {
        if p[i] == '\\' {
            i += 2;
            continue;
        }
        if p[i] == ']' && i > first {
            return Ok((i, i + 1));
        }
        i += 1;
    }
    Err(())
}

fn class_matches(p: &[char], start: usize, end: usize, c: char) -> bool {
    let mut i = start + 1;
    let negated = p.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut found = false;
    while i < end {
        let mut low = p[i];
        if low == '\\' {
            i += 1;
            low = p[i];
        }
        let mut high = low;
        if i + 2 < end && p[i + 1] == '-' {
            high = p[i + 2];
            if high == '\\' && i + 3 < end {
                high = p[i + 3];
                i += 1;
            }
            i += 2;
        }
        if low <= c && c <= high {
            found = true;
        }
        i += 1;
    }
    found != negated
}

fn match_from(p: &[char], n: &[char]) -> bool {
    if p.is_empty() {
        return n.is_empty();
    }
    match p[0] {
        '*' => (0..=n.len())
            .take_while(|&k| k == 0 || n[k - 1] != '/')
            .any(|k| match_from(&p[1..], &n[k..])),
        '?' => !n.is_empty() && n[0] != '/' && match_from(&p[1..], &n[1..]),
        '[' => {
            let Ok((end, next)) = class_end(p, 0) else {
                return false;
            };
            !n.is_empty() && n[0] != '/' && class_matches(p, 0, end, n[0]) && match_from(&p[next..], &n[1..])
        }
        '\\' if p.len() > 1 => !n.is_empty() && n[0] == p[1] && match_from(&p[2..], &n[1..]),
        c => !n.is_empty() && n[0] == c && match_from(&p[1..], &n[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_leading_elements() {
        let patterns = PathPatterns::parse("rsc.io/private, corp.example/*,*.internal").unwrap();
        assert!(patterns.matches("rsc.io/private"));
        assert!(patterns.matches("rsc.io/private/x/y"));
        assert!(!patterns.matches("rsc.io/privateer"));
        assert!(!patterns.matches("rsc.io"));
        assert!(patterns.matches("corp.example/team"));
        assert!(patterns.matches("corp.example/team/tool/v2"));
        assert!(!patterns.matches("corp.example"));
        assert!(patterns.matches("git.internal/a/b"));
        assert!(!patterns.matches("github.com/internal"));
    }

    #[test]
    fn glob_supports_classes_and_escapes() {
        assert_eq!(glob_match("a[b-d]c", "acc"), Ok(true));
        assert_eq!(glob_match("a[^b-d]c", "acc"), Ok(false));
        assert_eq!(glob_match("a?c", "a/c"), Ok(false));
        assert_eq!(glob_match("a\\*c", "a*c"), Ok(true));
        assert_eq!(glob_match("a*", "ab/c"), Ok(false));
        assert!(PathPatterns::parse("a[bc").is_err());
    }

    #[test]
    fn empty_list_matches_nothing() {
        let patterns = PathPatterns::parse(" , ").unwrap();
        assert!(patterns.is_empty());
        assert!(!patterns.matches("example.com/x"));
    }
}
