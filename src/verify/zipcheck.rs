//! Module zip checks (the rules of golang.org/x/mod/zip `CheckZip` and `Unzip`)
//! combined with the `h1:` hash, computed in one pass over the zip file.
//!
//! The rules are checked in Go's order for each entry. The name starts with
//! `<path>@<version>/`, and the rest is a clean, valid file path
//! (`modpath::check_file_path`). No two names are equal under case folding, and
//! no name is both a file and a directory. A file named `go.mod` in any case
//! exists only at the root and is lower case.
//!
//! Sizes: the zip file and the sum of the declared uncompressed sizes are at most
//! 500 MiB each, the root `go.mod` and `LICENSE` at most 16 MiB each, and every
//! entry expands to exactly its declared size.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::dirhash::Hash1;
use super::modpath::{check_file_path, check_module_version, go_quote};
use super::ziparchive::{ArchiveError, EntryReadError, RawEntry, ZipReader};

/// Maximum size of a module zip file, and of its uncompressed content.
pub const MAX_ZIP_FILE: u64 = 500 << 20;
/// Maximum size of the root go.mod file in a module zip.
pub const MAX_GO_MOD: u64 = 16 << 20;
/// Maximum size of the root LICENSE file in a module zip.
pub const MAX_LICENSE: u64 = 16 << 20;

/// The result of a successful check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipReport {
    /// The `h1:` hash over every entry, as Go's `dirhash.HashZip` computes it.
    pub h1: String,
    /// Number of file entries (directory entries are not counted).
    pub files: usize,
    /// Sum of the uncompressed sizes of all entries.
    pub uncompressed_bytes: u64,
    /// Content of `<path>@<version>/go.mod`, if the zip has one.
    pub go_mod: Option<Vec<u8>>,
}

/// Errors from checking a module zip: an invalid zip, or one that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    #[error("invalid module path or version: {reason}")]
    InvalidModule { reason: String },
    #[error("opening module zip {path} failed: {source}")]
    Open { path: String, source: io::Error },
    #[error("module zip file is too large ({size} bytes; limit is {MAX_ZIP_FILE} bytes)")]
    ZipTooLarge { size: u64 },
    #[error("total uncompressed size of module contents too large (max size is {MAX_ZIP_FILE} bytes)")]
    ContentTooLarge,
    #[error("invalid module zip: {0}")]
    Archive(#[from] ArchiveError),
    #[error("invalid module zip entry {name}: {rule}")]
    Entry { name: String, rule: EntryRule },
}

/// The rule a module zip entry breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryRule {
    #[error("path does not have prefix {}", go_quote(prefix))]
    MissingPrefix { prefix: String },
    #[error("file path is not clean")]
    NotClean,
    #[error("file path is not relative")]
    NotRelative,
    #[error("{0}")]
    InvalidFilePath(String),
    #[error("case-insensitive file name collision: {} and {}", go_quote(first), go_quote(second))]
    CaseCollision { first: String, second: String },
    #[error("entry {} is both a file and a directory", go_quote(path))]
    FileAndDirectory { path: String },
    #[error("multiple entries for file {}", go_quote(path))]
    DuplicateFile { path: String },
    #[error("go.mod file not in module root directory")]
    GoModNotAtRoot,
    #[error("go.mod files must have lowercase names")]
    GoModCase,
    #[error("go.mod file too large (max size is {MAX_GO_MOD} bytes)")]
    GoModTooLarge,
    #[error("LICENSE file too large (max size is {MAX_LICENSE} bytes)")]
    LicenseTooLarge,
    #[error("{0}")]
    Content(String),
}

/// The kind of an entry, as the name checks found it.
enum EntryKind {
    /// The `<path>@<version>/` entry itself, or a directory.
    Directory,
    RootGoMod,
    File,
}

/// Checks the module zip at `path` for `module_path@version` (decoded forms) and
/// computes its `h1:` hash.
///
/// All names are checked from the central directory first. Then each entry is
/// read once: one of up to 1 MiB in one piece, a larger one in fixed-size
/// chunks. Memory stays within 1 MiB per hashing thread, except for the root
/// go.mod (at most 16 MiB) and one name and digest per entry.
pub fn check_and_hash_zip(path: &Path, module_path: &str, version: &str) -> Result<ZipReport, ZipError> {
    check_module_version(module_path, version).map_err(|reason| ZipError::InvalidModule { reason })?;

    let open_error = |source| ZipError::Open {
        path: path.display().to_string(),
        source,
    };
    let file = File::open(path).map_err(open_error)?;
    let size = file.metadata().map_err(open_error)?.len();
    if size > MAX_ZIP_FILE {
        return Err(ZipError::ZipTooLarge { size });
    }
    let mut reader = ZipReader::open(file, size)?;

    let prefix = format!("{module_path}@{version}/");
    let kinds = check_entry_names(reader.entries(), &prefix)?;
    hash_entries(&mut reader, &kinds)
}

fn check_entry_names(entries: &[RawEntry], prefix: &str) -> Result<Vec<EntryKind>, ZipError> {
    let mut collisions = CollisionChecker::default();
    let mut total: u64 = 0;
    let mut kinds = Vec::with_capacity(entries.len());
    for entry in entries {
        let fail = |rule| ZipError::Entry {
            name: entry.display_name(),
            rule,
        };
        let kind = check_entry_name(entry, prefix, &mut collisions).map_err(fail)?;
        if matches!(kind, EntryKind::Directory) {
            kinds.push(kind);
            continue;
        }

        let size = entry.uncompressed_size;
        total = match total.checked_add(size) {
            Some(sum) if sum <= MAX_ZIP_FILE => sum,
            _ => return Err(ZipError::ContentTooLarge),
        };
        let name = &entry.name[prefix.len()..];
        if matches!(kind, EntryKind::RootGoMod) && size > MAX_GO_MOD {
            return Err(fail(EntryRule::GoModTooLarge));
        }
        if name == b"LICENSE" && size > MAX_LICENSE {
            return Err(fail(EntryRule::LicenseTooLarge));
        }
        kinds.push(kind);
    }
    Ok(kinds)
}

fn check_entry_name(entry: &RawEntry, prefix: &str, collisions: &mut CollisionChecker) -> Result<EntryKind, EntryRule> {
    let Some(rest) = entry.name.strip_prefix(prefix.as_bytes()) else {
        return Err(EntryRule::MissingPrefix {
            prefix: prefix.to_string(),
        });
    };
    if rest.is_empty() {
        return Ok(EntryKind::Directory);
    }
    let Ok(rest) = std::str::from_utf8(rest) else {
        let lossy = String::from_utf8_lossy(rest);
        return Err(EntryRule::InvalidFilePath(format!(
            "malformed file path {}: invalid UTF-8",
            go_quote(&lossy)
        )));
    };
    let (name, is_dir) = match rest.strip_suffix('/') {
        Some(dir) => (dir, true),
        None => (rest, false),
    };
    if clean_path(name) != name {
        return Err(EntryRule::NotClean);
    }
    check_file_path(name).map_err(EntryRule::InvalidFilePath)?;
    collisions.check(name, is_dir)?;
    if is_dir {
        return Ok(EntryKind::Directory);
    }

    let base = name.rsplit('/').next().unwrap_or(name);
    if fold_key(base) == "go.mod" {
        if base != name {
            return Err(EntryRule::GoModNotAtRoot);
        }
        if name != "go.mod" {
            return Err(EntryRule::GoModCase);
        }
        return Ok(EntryKind::RootGoMod);
    }
    Ok(EntryKind::File)
}

/// Zips whose entries hold less than this (uncompressed) are hashed on one
/// thread, because starting others costs more than it saves.
const PARALLEL_MIN_BYTES: u64 = 4 << 20;

/// At most this many threads hash the entries of one zip.
const MAX_THREADS: usize = 4;

/// The digest, size and (for the root go.mod) content of one entry.
struct EntryDigest {
    sha256: [u8; 32],
    bytes: u64,
    go_mod: Option<Vec<u8>>,
}

fn hash_entries(reader: &mut ZipReader, kinds: &[EntryKind]) -> Result<ZipReport, ZipError> {
    let digests = digest_all(reader, kinds)?;

    let mut hash = Hash1::new();
    let mut report = ZipReport {
        h1: String::new(),
        files: 0,
        uncompressed_bytes: 0,
        go_mod: None,
    };
    for ((entry, kind), digest) in reader.entries().iter().zip(kinds).zip(digests) {
        report.uncompressed_bytes += digest.bytes;
        if !matches!(kind, EntryKind::Directory) {
            report.files += 1;
        }
        if digest.go_mod.is_some() {
            report.go_mod = digest.go_mod;
        }
        hash.add(&entry.name, digest.sha256).map_err(|err| ZipError::Entry {
            name: entry.display_name(),
            rule: EntryRule::Content(err.to_string()),
        })?;
    }
    report.h1 = hash.finish();
    Ok(report)
}

/// Reads every entry, on several threads for a large zip. Each thread takes
/// a run of consecutive entries, and the runs are joined in order, so the
/// first failing entry is reported as on one thread.
fn digest_all(reader: &mut ZipReader, kinds: &[EntryKind]) -> Result<Vec<EntryDigest>, ZipError> {
    let runs = split_by_size(reader.entries(), threads());
    if runs.len() < 2 {
        return digest_run(reader, kinds, 0..kinds.len());
    }
    let mut forks = Vec::with_capacity(runs.len() - 1);
    for _ in 1..runs.len() {
        match reader.fork() {
            Ok(fork) => forks.push(fork),
            // The one-thread path reports the same failure at the entry where it occurs.
            Err(_) => return digest_run(reader, kinds, 0..kinds.len()),
        }
    }

    std::thread::scope(|scope| {
        let others: Vec<_> = forks
            .into_iter()
            .zip(runs[1..].iter().cloned())
            .map(|(mut fork, run)| scope.spawn(move || digest_run(&mut fork, kinds, run)))
            .collect();
        let mut digests = digest_run(reader, kinds, runs[0].clone());
        for other in others {
            let result = other.join().expect("an entry hashing thread does not panic");
            digests = match (digests, result) {
                (Ok(mut all), Ok(more)) => {
                    all.extend(more);
                    Ok(all)
                }
                (Err(e), _) | (Ok(_), Err(e)) => Err(e),
            };
        }
        digests
    })
}

fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(MAX_THREADS)
}

/// Splits the entries into up to `threads` runs of consecutive entries with
/// about the same uncompressed size. Small zips get one run.
fn split_by_size(entries: &[RawEntry], threads: usize) -> Vec<std::ops::Range<usize>> {
    let total: u64 = entries.iter().map(|e| e.uncompressed_size).sum();
    if threads < 2 || total < PARALLEL_MIN_BYTES {
        return std::iter::once(0..entries.len()).collect();
    }
    let share = total.div_ceil(threads as u64);
    let mut runs = Vec::with_capacity(threads);
    let (mut start, mut size) = (0, 0u64);
    for (index, entry) in entries.iter().enumerate() {
        size += entry.uncompressed_size;
        if size >= share && runs.len() + 1 < threads {
            runs.push(start..index + 1);
            (start, size) = (index + 1, 0);
        }
    }
    if start < entries.len() {
        runs.push(start..entries.len());
    }
    runs
}

fn digest_run(
    reader: &mut ZipReader,
    kinds: &[EntryKind],
    run: std::ops::Range<usize>,
) -> Result<Vec<EntryDigest>, ZipError> {
    let mut digests = Vec::with_capacity(run.len());
    for index in run {
        let mut hasher = Sha256::new();
        let mut go_mod = Vec::new();
        let keep = matches!(kinds[index], EntryKind::RootGoMod);
        let bytes = reader
            .read_entry(index, &mut |chunk| {
                hasher.update(chunk);
                if keep {
                    go_mod.extend_from_slice(chunk);
                }
            })
            .map_err(|source| content_error(&reader.entries()[index], source))?;
        digests.push(EntryDigest {
            sha256: hasher.finalize().into(),
            bytes,
            go_mod: keep.then_some(go_mod),
        });
    }
    Ok(digests)
}

fn content_error(entry: &RawEntry, source: EntryReadError) -> ZipError {
    ZipError::Entry {
        name: entry.display_name(),
        rule: EntryRule::Content(source.to_string()),
    }
}

/// Finds case-insensitive name collisions and names used both as a file and as
/// a directory, over every name and all of its parent directories.
#[derive(Default)]
pub(crate) struct CollisionChecker {
    seen: HashMap<String, (String, bool)>,
}

impl CollisionChecker {
    pub(crate) fn check(&mut self, path: &str, is_dir: bool) -> Result<(), EntryRule> {
        let mut current = path;
        let mut current_is_dir = is_dir;
        loop {
            let key = fold_key(current).into_owned();
            if let Some((other, other_is_dir)) = self.seen.get(&key) {
                if other != current {
                    return Err(EntryRule::CaseCollision {
                        first: other.clone(),
                        second: current.to_string(),
                    });
                }
                if *other_is_dir != current_is_dir {
                    return Err(EntryRule::FileAndDirectory {
                        path: current.to_string(),
                    });
                }
                if !current_is_dir {
                    return Err(EntryRule::DuplicateFile {
                        path: current.to_string(),
                    });
                }
                // A directory seen before had its parents checked then.
                return Ok(());
            }
            self.seen.insert(key, (current.to_string(), current_is_dir));
            match current.rfind('/') {
                Some(slash) => {
                    current = &current[..slash];
                    current_is_dir = true;
                }
                None => return Ok(()),
            }
        }
    }
}

/// Returns a key that is equal for two strings exactly when Go's
/// `strings.EqualFold` considers them equal.
///
/// Go maps each rune to the smallest rune of its simple case folding orbit.
/// NOTE: Rust's standard library has no simple case folding table, so the orbit
/// is built from single-character lower- and uppercase mappings. That matches Go
/// for ASCII, Latin, Greek and Cyrillic letters, the Kelvin sign and long s, but
/// may differ for the few letters whose folding is not a lower/upper pair.
pub(crate) fn fold_key(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(fold_char).collect())
}

fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut orbit = vec![c];
    let mut index = 0;
    while index < orbit.len() && orbit.len() < 8 {
        let member = orbit[index];
        for mapped in [single_char(member.to_lowercase()), single_char(member.to_uppercase())]
            .into_iter()
            .flatten()
        {
            if !orbit.contains(&mapped) {
                orbit.push(mapped);
            }
        }
        index += 1;
    }
    let smallest = orbit.into_iter().min().unwrap_or(c);
    smallest.to_ascii_lowercase()
}

/// Returns the mapping when it is one character (simple case mapping).
fn single_char(mut mapped: impl Iterator<Item = char>) -> Option<char> {
    let first = mapped.next()?;
    mapped.next().is_none().then_some(first)
}

/// Returns the shortest path equivalent to `path` by lexical processing, as Go's
/// `path.Clean` does.
pub(crate) fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut elements: Vec<&str> = Vec::new();
    for element in path.split('/') {
        match element {
            "" | "." => {}
            ".." => match elements.last() {
                Some(&last) if last != ".." => {
                    elements.pop();
                }
                _ if rooted => {}
                _ => elements.push(".."),
            },
            other => elements.push(other),
        }
    }
    let joined = elements.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    const PREFIX: &str = "example.com/m@v1.0.0/";

    fn write_zip(dir: &Path, entries: &[(&str, &[u8])]) -> std::path::PathBuf {
        let path = dir.join("m.zip");
        let mut writer = zip::ZipWriter::new(File::create(&path).unwrap());
        for (name, content) in entries {
            if name.ends_with('/') {
                writer.add_directory(*name, SimpleFileOptions::default()).unwrap();
            } else {
                writer.start_file(*name, SimpleFileOptions::default()).unwrap();
                writer.write_all(content).unwrap();
            }
        }
        writer.finish().unwrap();
        path
    }

    fn check(entries: &[(&str, &[u8])]) -> Result<ZipReport, ZipError> {
        let dir = tempfile::tempdir().unwrap();
        let path = write_zip(dir.path(), entries);
        check_and_hash_zip(&path, "example.com/m", "v1.0.0")
    }

    fn rule_of(result: Result<ZipReport, ZipError>) -> EntryRule {
        match result {
            Err(ZipError::Entry { rule, .. }) => rule,
            other => panic!("expected an entry error, got {other:?}"),
        }
    }

    #[test]
    fn valid_zip_reports_hash_files_and_go_mod() {
        let go_mod = b"module example.com/hello\n\ngo 1.21\n";
        let dir = tempfile::tempdir().unwrap();
        let path = write_zip(
            dir.path(),
            &[
                ("example.com/hello@v1.0.0/go.mod", go_mod),
                ("example.com/hello@v1.0.0/hello.go", b"package hello\n"),
            ],
        );
        let report = check_and_hash_zip(&path, "example.com/hello", "v1.0.0").unwrap();
        assert_eq!(report.h1, "h1:pKFu5tHfljqp2Zr9PLlh8XHdPpeGCCxqljPAeAdak0c=");
        assert_eq!(report.files, 2);
        assert_eq!(report.uncompressed_bytes, (go_mod.len() + 14) as u64);
        assert_eq!(report.go_mod.as_deref(), Some(&go_mod[..]));
    }

    #[test]
    fn zip_without_go_mod_has_none() {
        let report = check(&[("example.com/m@v1.0.0/a.go", b"package a\n")]).unwrap();
        assert_eq!(report.go_mod, None);
        assert_eq!(report.files, 1);
    }

    #[test]
    fn directory_entries_are_hashed_but_not_counted() {
        let report = check(&[(PREFIX, b""), ("example.com/m@v1.0.0/sub/", b"")]).unwrap();
        assert_eq!(report.files, 0);
        let mut expected = Hash1::new();
        expected.add(PREFIX.as_bytes(), Sha256::digest(b"").into()).unwrap();
        expected
            .add(b"example.com/m@v1.0.0/sub/", Sha256::digest(b"").into())
            .unwrap();
        assert_eq!(report.h1, expected.finish());
    }

    #[test]
    fn entry_outside_prefix_is_rejected() {
        let err = check(&[("example.com/m@v1.0.0", b"")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid module zip entry example.com/m@v1.0.0: path does not have prefix \"example.com/m@v1.0.0/\""
        );
    }

    #[test]
    fn unclean_and_invalid_names_are_rejected() {
        assert_eq!(
            rule_of(check(&[("example.com/m@v1.0.0/a/../b.go", b"")])),
            EntryRule::NotClean
        );
        assert_eq!(
            rule_of(check(&[("example.com/m@v1.0.0/./b.go", b"")])),
            EntryRule::NotClean
        );
        assert_eq!(
            rule_of(check(&[("example.com/m@v1.0.0/../b.go", b"")])),
            EntryRule::InvalidFilePath("malformed file path \"../b.go\": invalid path element \"..\"".to_string())
        );
        assert_eq!(
            rule_of(check(&[("example.com/m@v1.0.0/nul.txt", b"")])),
            EntryRule::InvalidFilePath(
                "malformed file path \"nul.txt\": \"nul\" disallowed as path element component on Windows".to_string()
            )
        );
        assert!(matches!(
            rule_of(check(&[("example.com/m@v1.0.0/a*b", b"")])),
            EntryRule::InvalidFilePath(_)
        ));
    }

    #[test]
    fn case_collisions_are_rejected() {
        assert_eq!(
            rule_of(check(&[
                ("example.com/m@v1.0.0/m.go", b""),
                ("example.com/m@v1.0.0/M.GO", b"")
            ])),
            EntryRule::CaseCollision {
                first: "m.go".to_string(),
                second: "M.GO".to_string()
            }
        );
        assert_eq!(
            rule_of(check(&[
                ("example.com/m@v1.0.0/Dir/a.go", b""),
                ("example.com/m@v1.0.0/dir/b.go", b"")
            ])),
            EntryRule::CaseCollision {
                first: "Dir".to_string(),
                second: "dir".to_string()
            }
        );
    }

    #[test]
    fn file_and_directory_with_same_name_is_rejected() {
        assert_eq!(
            rule_of(check(&[
                ("example.com/m@v1.0.0/a.go", b""),
                ("example.com/m@v1.0.0/a.go/b.go", b"")
            ])),
            EntryRule::FileAndDirectory {
                path: "a.go".to_string()
            }
        );
    }

    #[test]
    fn misplaced_or_uppercase_go_mod_rejected() {
        assert_eq!(
            rule_of(check(&[("example.com/m@v1.0.0/sub/go.mod", b"")])),
            EntryRule::GoModNotAtRoot
        );
        assert_eq!(
            rule_of(check(&[("example.com/m@v1.0.0/sub/Go.Mod", b"")])),
            EntryRule::GoModNotAtRoot
        );
        assert_eq!(
            rule_of(check(&[("example.com/m@v1.0.0/GO.MOD", b"")])),
            EntryRule::GoModCase
        );
        // A directory named go.mod is fine.
        assert!(check(&[("example.com/m@v1.0.0/go.mod/a.go", b"")]).is_ok());
    }

    #[test]
    fn invalid_module_is_rejected_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.zip");
        let err = check_and_hash_zip(&path, "cache", "v1.0.0").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid module path or version: malformed module path \"cache\": missing dot in first path element"
        );
        let err = check_and_hash_zip(&path, "example.com/m", "v1.0.0+bad").unwrap_err();
        assert!(matches!(err, ZipError::InvalidModule { .. }));
    }

    /// Forty 200 KiB files of varied bytes: 8 MiB, enough for several threads.
    fn large_entries() -> Vec<(String, Vec<u8>)> {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        (0..40)
            .map(|i| {
                let content: Vec<u8> = (0..200 * 1024)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        b'a' + (state % 16) as u8
                    })
                    .collect();
                (format!("{PREFIX}part{i:02}.txt"), content)
            })
            .collect()
    }

    /// Writes `entries` as m.zip in `dir` and opens it.
    fn open_zip(dir: &Path, entries: &[(String, Vec<u8>)]) -> (std::path::PathBuf, ZipReader) {
        let borrowed: Vec<(&str, &[u8])> = entries.iter().map(|(n, c)| (n.as_str(), c.as_slice())).collect();
        let path = write_zip(dir, &borrowed);
        let size = std::fs::metadata(&path).unwrap().len();
        let reader = ZipReader::open(File::open(&path).unwrap(), size).unwrap();
        (path, reader)
    }

    #[test]
    fn runs_cover_every_entry_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (_, reader) = open_zip(dir.path(), &large_entries());

        let runs = split_by_size(reader.entries(), 4);

        assert_eq!(runs.len(), 4);
        assert_eq!(runs[0].start, 0);
        assert_eq!(runs[3].end, 40);
        for pair in runs.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        let small = split_by_size(&reader.entries()[..5], 4);
        assert_eq!(small.len(), 1, "1 MiB stays on one thread");
        assert_eq!(small[0], 0..5);
    }

    #[test]
    fn parallel_hash_matches_one_thread() {
        let dir = tempfile::tempdir().unwrap();
        let entries = large_entries();
        let (path, mut reader) = open_zip(dir.path(), &entries);
        let kinds: Vec<EntryKind> = (0..40).map(|_| EntryKind::File).collect();

        let parallel = check_and_hash_zip(&path, "example.com/m", "v1.0.0").unwrap();
        let one_thread = digest_run(&mut reader, &kinds, 0..40).unwrap();
        let mut hash = Hash1::new();
        for ((name, _), digest) in entries.iter().zip(&one_thread) {
            hash.add(name.as_bytes(), digest.sha256).unwrap();
        }

        assert_eq!(parallel.h1, hash.finish());
        assert_eq!(parallel.h1, crate::verify::dirhash::hash_zip(&path).unwrap());
        assert_eq!(parallel.files, 40);
        assert_eq!(parallel.uncompressed_bytes, 40 * 200 * 1024);
    }

    #[test]
    fn oversized_zip_file_is_rejected_without_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.zip");
        let file = File::create(&path).unwrap();
        file.set_len(MAX_ZIP_FILE + 1).unwrap();
        let err = check_and_hash_zip(&path, "example.com/m", "v1.0.0").unwrap_err();
        assert!(matches!(err, ZipError::ZipTooLarge { size } if size == MAX_ZIP_FILE + 1));
    }

    /// Builds a zip whose central directory declares `declared` bytes for an
    /// entry that really contains `content`, by patching the size fields.
    fn zip_with_declared_size(dir: &Path, content: &[u8], declared: u32) -> std::path::PathBuf {
        let mut buffer = io::Cursor::new(Vec::new());
        let mut writer = zip::ZipWriter::new(&mut buffer);
        writer
            .start_file("example.com/m@v1.0.0/bomb.txt", SimpleFileOptions::default())
            .unwrap();
        writer.write_all(content).unwrap();
        writer.finish().unwrap();
        let mut bytes = buffer.into_inner();
        let actual = (content.len() as u32).to_le_bytes();
        // Patch the uncompressed size in the local header (offset 22) and in the
        // central directory header (offset 24 after its signature).
        bytes[22..26].copy_from_slice(&declared.to_le_bytes());
        let central = bytes.windows(4).rposition(|w| w == [0x50, 0x4b, 0x01, 0x02]).unwrap();
        assert_eq!(&bytes[central + 24..central + 28], &actual);
        bytes[central + 24..central + 28].copy_from_slice(&declared.to_le_bytes());
        let path = dir.join("patched.zip");
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn entry_larger_than_declared_fails_fast() {
        let dir = tempfile::tempdir().unwrap();
        // 4 MiB of zeros compresses to a few KiB but declares 10 bytes.
        let path = zip_with_declared_size(dir.path(), &vec![0u8; 4 << 20], 10);
        let err = check_and_hash_zip(&path, "example.com/m", "v1.0.0").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid module zip entry example.com/m@v1.0.0/bomb.txt: uncompressed size is larger than declared size (10 bytes)"
        );
    }

    #[test]
    fn entry_smaller_than_declared_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = zip_with_declared_size(dir.path(), b"short", 100);
        let err = check_and_hash_zip(&path, "example.com/m", "v1.0.0").unwrap_err();
        assert!(
            matches!(
                err,
                ZipError::Entry {
                    rule: EntryRule::Content(_),
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn declared_sizes_over_limits_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = zip_with_declared_size(dir.path(), b"x", u32::MAX - 1);
        assert!(check_and_hash_zip(&path, "example.com/m", "v1.0.0").is_err());

        let big_go_mod = vec![b' '; (MAX_GO_MOD + 1) as usize];
        assert_eq!(
            rule_of(check(&[("example.com/m@v1.0.0/go.mod", &big_go_mod)])),
            EntryRule::GoModTooLarge
        );
        assert_eq!(
            rule_of(check(&[("example.com/m@v1.0.0/LICENSE", &big_go_mod)])),
            EntryRule::LicenseTooLarge
        );
    }

    #[test]
    fn not_a_zip_is_an_archive_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.zip");
        std::fs::write(&path, b"<html>not found</html>").unwrap();
        let err = check_and_hash_zip(&path, "example.com/m", "v1.0.0").unwrap_err();
        assert!(matches!(err, ZipError::Archive(_)), "{err}");
    }

    #[test]
    fn fold_key_matches_go_equal_fold() {
        assert_eq!(fold_key("Go.MOD"), "go.mod");
        assert_eq!(fold_key("\u{212A}elvin"), fold_key("kelvin"));
        assert_eq!(fold_key("\u{17F}"), fold_key("s"));
        assert_eq!(fold_key("ΣΑΣ"), fold_key("σας"));
        assert_eq!(fold_key("Straße"), fold_key("STRAẞE"));
        assert_ne!(fold_key("straße"), fold_key("strasse"));
    }

    #[test]
    fn clean_path_matches_go() {
        for (input, want) in [
            ("a/b", "a/b"),
            ("a//b", "a/b"),
            ("a/./b", "a/b"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("a/", "a"),
            ("", "."),
            ("..", ".."),
            ("/../a", "/a"),
        ] {
            assert_eq!(clean_path(input), want, "{input}");
        }
    }
}
