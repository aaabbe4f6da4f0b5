//! The upstream setting, in GOPROXY list syntax: entries separated by `,`
//! (try the next entry only after 404/410) or `|` (try the next entry after
//! any failure). A bare host gets `https://`; `file:///dir` reads a directory
//! laid out like GOMODCACHE's `cache/download`; `off` ends the list and
//! fetches nothing.

use std::fmt;
use std::path::PathBuf;

/// When to move on from an entry to the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// `,`: only after 404 or 410.
    OnNotFound,
    /// `|`: after any failure.
    OnAnyError,
}

/// The source one upstream entry fetches from.
#[derive(Clone, PartialEq, Eq)]
pub enum Source {
    Http {
        base: reqwest::Url,
        credentials: Option<(String, String)>,
    },
    File(PathBuf),
    /// `off`: every fetch fails as not found.
    Off,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// Shows the entry without credentials, so it is safe for logs and errors.
impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Http { base, credentials } => {
                let marker = if credentials.is_some() { "***@" } else { "" };
                let host = base.host_str().unwrap_or("");
                let port = base.port().map(|p| format!(":{p}")).unwrap_or_default();
                write!(
                    f,
                    "{}://{marker}{host}{port}{}",
                    base.scheme(),
                    base.path().trim_end_matches('/')
                )
            }
            Source::File(dir) => write!(f, "file://{}", dir.display()),
            Source::Off => f.write_str("off"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub source: Source,
    pub fallback: Fallback,
}

/// The parsed upstream list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamList {
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("the list is empty")]
    Empty,
    #[error("\"direct\" (fetching from version control) is not supported yet")]
    Direct,
    #[error("entry {0:?} has an unsupported scheme")]
    Scheme(String),
    #[error("entry {0:?} is not a valid URL")]
    Url(String),
    #[error("file entry {0:?} does not name an existing directory")]
    FileDir(String),
}

impl ListError {
    /// Returns the fix an operator can apply for the error.
    pub fn fix(&self) -> &'static str {
        match self {
            ListError::Empty => "Give at least one proxy URL, such as https://goproxy.cn.",
            ListError::Direct => "List proxy URLs only, such as https://goproxy.cn,https://proxy.golang.org.",
            ListError::Scheme(_) => "Use https://, http:// or file:/// entries, separated by , or |.",
            ListError::Url(_) => "Write each entry as a URL such as https://proxy.example.com/path.",
            ListError::FileDir(_) => "Point file:// at an existing directory laid out like GOMODCACHE/cache/download.",
        }
    }
}

impl UpstreamList {
    pub fn parse(text: &str) -> Result<UpstreamList, ListError> {
        let mut entries = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            let end = rest.find([',', '|']).unwrap_or(rest.len());
            let item = rest[..end].trim();
            let fallback = if rest[end..].starts_with('|') {
                Fallback::OnAnyError
            } else {
                Fallback::OnNotFound
            };
            rest = if end < rest.len() { &rest[end + 1..] } else { "" };

            if item.is_empty() {
                continue;
            }
            let source = parse_source(item)?;
            let stop = source == Source::Off;
            entries.push(Entry { source, fallback });
            if stop {
                break;
            }
        }
        if entries.is_empty() {
            return Err(ListError::Empty);
        }
        Ok(UpstreamList { entries })
    }

    /// Reports whether every entry is `off`, so no fetch leaves the process.
    pub fn is_off(&self) -> bool {
        self.entries.iter().all(|e| e.source == Source::Off)
    }
}

fn parse_source(item: &str) -> Result<Source, ListError> {
    match item {
        "off" => return Ok(Source::Off),
        "direct" => return Err(ListError::Direct),
        _ => {}
    }
    let with_scheme = if item.contains("://") {
        item.to_string()
    } else {
        format!("https://{item}")
    };
    let mut url = reqwest::Url::parse(&with_scheme).map_err(|_| ListError::Url(redact(item)))?;

    match url.scheme() {
        "http" | "https" => {
            if url.host_str().is_none() {
                return Err(ListError::Url(redact(item)));
            }
            let credentials = if !url.username().is_empty() || url.password().is_some() {
                let user = percent_encoding::percent_decode_str(url.username())
                    .decode_utf8_lossy()
                    .into_owned();
                let pass = url
                    .password()
                    .map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned())
                    .unwrap_or_default();
                Some((user, pass))
            } else {
                None
            };
            let _ = url.set_username("");
            let _ = url.set_password(None);
            if !url.path().ends_with('/') {
                let path = format!("{}/", url.path());
                url.set_path(&path);
            }
            url.set_query(None);
            url.set_fragment(None);
            Ok(Source::Http { base: url, credentials })
        }
        "file" => {
            let dir = url.to_file_path().map_err(|_| ListError::Url(redact(item)))?;
            if !dir.is_dir() {
                return Err(ListError::FileDir(item.to_string()));
            }
            Ok(Source::File(dir))
        }
        _ => Err(ListError::Scheme(redact(item))),
    }
}

/// Hides the userinfo of an entry that failed to parse.
fn redact(item: &str) -> String {
    match (item.find("://"), item.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}***{}", &item[..scheme_end + 3], &item[at..])
        }
        _ => item.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_separators_as_fallback_modes() {
        let list = UpstreamList::parse("https://a.example,https://b.example|https://c.example").unwrap();
        let modes: Vec<_> = list.entries.iter().map(|e| e.fallback).collect();
        assert_eq!(
            modes,
            [Fallback::OnNotFound, Fallback::OnAnyError, Fallback::OnNotFound]
        );
        assert_eq!(list.entries[1].source.to_string(), "https://b.example");
    }

    #[test]
    fn parse_adds_https_to_bare_host() {
        let list = UpstreamList::parse("goproxy.example").unwrap();
        assert_eq!(list.entries[0].source.to_string(), "https://goproxy.example");
    }

    #[test]
    fn parse_rejects_direct_with_reason() {
        let err = UpstreamList::parse("https://a.example,direct").unwrap_err();
        assert_eq!(err, ListError::Direct);
        assert!(err.to_string().contains("not supported yet"));
    }

    #[test]
    fn parse_stops_at_off() {
        let list = UpstreamList::parse("https://a.example,off,https://b.example").unwrap();
        assert_eq!(list.entries.len(), 2);
        assert!(!list.is_off());
        assert!(UpstreamList::parse("off").unwrap().is_off());
    }

    #[test]
    fn credentials_never_show_in_display_or_errors() {
        let list = UpstreamList::parse("https://bob:s3cret@proxy.example/base").unwrap();
        let shown = list.entries[0].source.to_string();
        assert_eq!(shown, "https://***@proxy.example/base");
        assert!(!format!("{:?}", list).contains("s3cret"));

        let err = UpstreamList::parse("ftp://bob:s3cret@proxy.example").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[test]
    fn parse_rejects_bad_entries() {
        assert_eq!(UpstreamList::parse(""), Err(ListError::Empty));
        assert!(matches!(
            UpstreamList::parse("ftp://x.example"),
            Err(ListError::Scheme(_))
        ));
        assert!(matches!(
            UpstreamList::parse("file:///no/such/dir/anywhere"),
            Err(ListError::FileDir(_))
        ));
    }
}
