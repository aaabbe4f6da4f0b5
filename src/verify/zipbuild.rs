//! Building module zips from files, following golang.org/x/mod/zip `Create` and
//! `CreateFromDir`: which files are left out and which make the module invalid.
//!
//! These files are left out: files in vendored packages (the rule depends on the
//! go version in the root go.mod), files of nested modules (directories with
//! their own go.mod), `.hg_archival.txt`, and non-regular files such as symbolic
//! links. A directory walk also leaves out `.bzr`, `.git`, `.hg` and `.svn`.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Cursor, Read, Seek, Write};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;

use super::modpath::{check_file_path, check_module_version};
use super::zipcheck::{clean_path, fold_key, CollisionChecker, EntryRule, MAX_GO_MOD, MAX_LICENSE, MAX_ZIP_FILE};

/// The file type of a source path, from `lstat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Regular,
    Directory,
    Symlink,
    Other,
}

/// The source of a file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceContent {
    Bytes(Vec<u8>),
    Path(PathBuf),
}

/// A file to put in a module zip, named by its slash-separated path relative
/// to the module root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: String,
    pub kind: SourceKind,
    pub size: u64,
    pub content: SourceContent,
}

impl SourceFile {
    /// Creates a regular file whose content is in memory.
    pub fn from_bytes(path: &str, content: &[u8]) -> Self {
        Self {
            path: path.to_string(),
            kind: SourceKind::Regular,
            size: content.len() as u64,
            content: SourceContent::Bytes(content.to_vec()),
        }
    }

    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        match &self.content {
            SourceContent::Bytes(bytes) => Ok(Box::new(Cursor::new(bytes.as_slice()))),
            SourceContent::Path(path) => Ok(Box::new(File::open(path)?)),
        }
    }
}

/// The reason a file is left out of a module zip. The texts are Go's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OmitReason {
    Vendored,
    InSubmodule,
    SubmoduleDirectory,
    VersionControlDirectory,
    HgArchival,
    Symlink,
    NotRegular,
}

impl fmt::Display for OmitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Vendored => "file is in vendor directory",
            Self::InSubmodule => "file is in another module",
            Self::SubmoduleDirectory => "directory is in another module",
            Self::VersionControlDirectory => "directory is a version control repository",
            Self::HgArchival => "file is inserted by 'hg archive' and is always omitted",
            Self::Symlink => "file is a symbolic link",
            Self::NotRegular => "not a regular file",
        })
    }
}

/// The outcome of sorting files into valid, omitted and invalid ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileSelection {
    /// Indexes into the file list, in list order.
    pub valid: Vec<usize>,
    pub omitted: Vec<(String, OmitReason)>,
    pub invalid: Vec<(String, EntryRule)>,
    /// Set when the valid files add up to more than 500 MiB.
    pub too_large: bool,
}

/// Errors from building a module zip.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("invalid module path or version: {reason}")]
    InvalidModule { reason: String },
    #[error("module source tree too large (max size is {MAX_ZIP_FILE} bytes)")]
    TooLarge,
    #[error("invalid file {path}: {rule}")]
    InvalidFile { path: String, rule: EntryRule },
    #[error("reading {path} failed: {source}")]
    Read { path: String, source: io::Error },
    #[error("file {path} is larger than its size when listed ({size} bytes)")]
    LargerThanListed { path: String, size: u64 },
    #[error("writing module zip failed: {0}")]
    Write(String),
}

/// Sorts `files` as Go's `CheckFiles` does. The go version that decides the
/// vendor rule comes from the file named `go.mod` at the root, if any.
pub fn select_files(files: &[SourceFile]) -> FileSelection {
    let go_version = root_go_version(files);
    let submodule_dirs: Vec<&str> = files
        .iter()
        .filter(|file| file.kind == SourceKind::Regular)
        .filter_map(|file| {
            let (dir, base) = split_dir(&file.path);
            (fold_key(base) == "go.mod" && !dir.is_empty()).then_some(dir)
        })
        .collect();
    let in_submodule = |path: &str| {
        let mut current = path;
        while let Some(slash) = current.rfind('/') {
            let dir = &current[..=slash];
            if submodule_dirs.contains(&dir) {
                return true;
            }
            current = &current[..slash];
        }
        false
    };

    let mut selection = FileSelection::default();
    let mut reported: Vec<&str> = Vec::new();
    let mut collisions = CollisionChecker::default();
    let mut remaining = MAX_ZIP_FILE;
    for (index, file) in files.iter().enumerate() {
        let path = file.path.as_str();
        let verdict = classify(file, &go_version, &in_submodule, &mut collisions);
        match verdict {
            Verdict::Omit(reason) => {
                if !reported.contains(&path) {
                    reported.push(path);
                    selection.omitted.push((path.to_string(), reason));
                }
                continue;
            }
            Verdict::Invalid(rule) => {
                if !reported.contains(&path) {
                    reported.push(path);
                    selection.invalid.push((path.to_string(), rule));
                }
                continue;
            }
            Verdict::Keep => {}
        }

        if file.size <= remaining {
            remaining -= file.size;
        } else {
            selection.too_large = true;
        }
        let oversized = (path == "go.mod" && file.size > MAX_GO_MOD) || (path == "LICENSE" && file.size > MAX_LICENSE);
        if oversized {
            let rule = if path == "go.mod" {
                EntryRule::GoModTooLarge
            } else {
                EntryRule::LicenseTooLarge
            };
            if !reported.contains(&path) {
                reported.push(path);
                selection.invalid.push((path.to_string(), rule));
            }
            continue;
        }
        selection.valid.push(index);
    }
    selection
}

enum Verdict {
    Keep,
    Omit(OmitReason),
    Invalid(EntryRule),
}

fn classify(
    file: &SourceFile,
    go_version: &Option<(u64, u64)>,
    in_submodule: &dyn Fn(&str) -> bool,
    collisions: &mut CollisionChecker,
) -> Verdict {
    let path = file.path.as_str();
    if clean_path(path) != path {
        return Verdict::Invalid(EntryRule::NotClean);
    }
    if path.starts_with('/') {
        return Verdict::Invalid(EntryRule::NotRelative);
    }
    if is_vendored_package(path, *go_version) {
        return Verdict::Omit(OmitReason::Vendored);
    }
    if in_submodule(path) {
        return Verdict::Omit(OmitReason::InSubmodule);
    }
    if path == ".hg_archival.txt" {
        return Verdict::Omit(OmitReason::HgArchival);
    }
    if let Err(reason) = check_file_path(path) {
        return Verdict::Invalid(EntryRule::InvalidFilePath(reason));
    }
    if path.to_lowercase() == "go.mod" && path != "go.mod" {
        return Verdict::Invalid(EntryRule::GoModCase);
    }
    if let Err(rule) = collisions.check(path, file.kind == SourceKind::Directory) {
        return Verdict::Invalid(rule);
    }
    match file.kind {
        SourceKind::Regular => Verdict::Keep,
        SourceKind::Symlink => Verdict::Omit(OmitReason::Symlink),
        SourceKind::Directory | SourceKind::Other => Verdict::Omit(OmitReason::NotRegular),
    }
}

/// Reports whether a file belongs to a vendored package. Go keeps two quirks
/// to preserve existing checksums: before go 1.24, `vendor/modules.txt` is kept,
/// and for a nested `x/vendor/` only the part after the first 8 bytes is looked
/// at, so `pkg/vendor/vendor.go` counts as vendored.
fn is_vendored_package(path: &str, go_version: Option<(u64, u64)>) -> bool {
    let go_1_24 = go_version.is_some_and(|version| version >= (1, 24));
    if go_1_24 && path == "vendor/modules.txt" {
        return true;
    }
    let start = if path.starts_with("vendor/") {
        "vendor/".len()
    } else if let Some(position) = path.find("/vendor/") {
        if go_1_24 {
            position + "/vendor/".len()
        } else {
            "/vendor/".len()
        }
    } else {
        return false;
    };
    path.get(start..).is_some_and(|rest| rest.contains('/'))
}

/// Returns the language version (major, minor) of the root go.mod's `go`
/// directive, or `None` when there is no root go.mod or no valid directive.
fn root_go_version(files: &[SourceFile]) -> Option<(u64, u64)> {
    let root = files
        .iter()
        .rev()
        .find(|file| file.path == "go.mod" && file.kind == SourceKind::Regular)?;
    let mut content = Vec::new();
    root.open().ok()?.take(MAX_GO_MOD + 1).read_to_end(&mut content).ok()?;
    parse_go_directive(&String::from_utf8_lossy(&content))
}

/// Finds the `go` directive in go.mod text and returns its (major, minor).
/// NOTE: Go parses the whole file with `modfile.ParseLax` and ignores the
/// directive when the file has a syntax error elsewhere; this scan does not.
fn parse_go_directive(go_mod: &str) -> Option<(u64, u64)> {
    go_mod.lines().find_map(|line| {
        let line = line.split("//").next().unwrap_or("");
        let mut fields = line.split_whitespace();
        if fields.next() != Some("go") {
            return None;
        }
        let version = fields.next()?;
        let mut parts = version.splitn(3, '.');
        let major = parts.next()?.parse().ok()?;
        let minor_text = parts.next()?;
        let digits = minor_text
            .find(|c: char| !c.is_ascii_digit())
            .map_or(minor_text, |end| &minor_text[..end]);
        Some((major, digits.parse().ok()?))
    })
}

fn split_dir(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(slash) => (&path[..=slash], &path[slash + 1..]),
        None => ("", path),
    }
}

/// Writes the module zip for `module_path@version` from `files` to `out`,
/// leaving out files that do not belong in it, as Go's `zip.Create` does.
/// Returns the selection that was used.
pub fn create_zip<W: Write + Seek>(
    out: W,
    module_path: &str,
    version: &str,
    files: &[SourceFile],
) -> Result<FileSelection, BuildError> {
    check_module_version(module_path, version).map_err(|reason| BuildError::InvalidModule { reason })?;
    let selection = select_files(files);
    if selection.too_large {
        return Err(BuildError::TooLarge);
    }
    if let Some((path, rule)) = selection.invalid.first() {
        return Err(BuildError::InvalidFile {
            path: path.clone(),
            rule: rule.clone(),
        });
    }

    let prefix = format!("{module_path}@{version}/");
    let mut writer = zip::ZipWriter::new(out);
    let write_error = |err: zip::result::ZipError| BuildError::Write(err.to_string());
    for &index in &selection.valid {
        let file = &files[index];
        let read_error = |source| BuildError::Read {
            path: file.path.clone(),
            source,
        };
        writer
            .start_file(format!("{prefix}{}", file.path), SimpleFileOptions::default())
            .map_err(write_error)?;
        let mut content = file.open().map_err(read_error)?.take(file.size + 1);
        let copied = io::copy(&mut content, &mut writer).map_err(read_error)?;
        if copied > file.size {
            return Err(BuildError::LargerThanListed {
                path: file.path.clone(),
                size: file.size,
            });
        }
    }
    writer.finish().map_err(write_error)?;
    Ok(selection)
}

/// The files of a module directory, and what the walk left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirListing {
    /// Files to pass to `select_files` or `create_zip`, in lexical order.
    pub files: Vec<SourceFile>,
    /// Version control directories, nested modules, vendored files and
    /// non-regular files, as Go's `CheckDir` reports them.
    pub omitted: Vec<(String, OmitReason)>,
}

/// Lists the files under `dir` as Go's `CreateFromDir` does.
pub fn list_dir(dir: &Path) -> io::Result<DirListing> {
    let go_version = fs::read(dir.join("go.mod"))
        .ok()
        .and_then(|content| parse_go_directive(&String::from_utf8_lossy(&content)));
    let mut listing = DirListing::default();
    walk_dir(dir, "", go_version, &mut listing)?;
    Ok(listing)
}

fn walk_dir(dir: &Path, relative: &str, go_version: Option<(u64, u64)>, listing: &mut DirListing) -> io::Result<()> {
    let mut children: Vec<_> = fs::read_dir(dir)?.collect::<io::Result<_>>()?;
    children.sort_by_key(|child| child.file_name());
    for child in children {
        let name = child.file_name().to_string_lossy().into_owned();
        let path = child.path();
        let slash_path = if relative.is_empty() {
            name.clone()
        } else {
            format!("{relative}/{name}")
        };
        let metadata = fs::symlink_metadata(&path)?;

        if is_vendored_package(&slash_path, go_version) {
            listing.omitted.push((slash_path, OmitReason::Vendored));
            continue;
        }
        if metadata.is_dir() {
            if matches!(name.as_str(), ".bzr" | ".git" | ".hg" | ".svn") {
                listing.omitted.push((slash_path, OmitReason::VersionControlDirectory));
                continue;
            }
            let has_go_mod = fs::symlink_metadata(path.join("go.mod")).is_ok_and(|meta| !meta.is_dir());
            if has_go_mod {
                listing.omitted.push((slash_path, OmitReason::SubmoduleDirectory));
                continue;
            }
            walk_dir(&path, &slash_path, go_version, listing)?;
            continue;
        }
        if !metadata.is_file() {
            listing.omitted.push((slash_path, OmitReason::NotRegular));
            continue;
        }
        listing.files.push(SourceFile {
            path: slash_path,
            kind: SourceKind::Regular,
            size: metadata.len(),
            content: SourceContent::Path(path),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::zipcheck::check_and_hash_zip;

    fn names(files: &[SourceFile], selection: &FileSelection) -> Vec<String> {
        selection.valid.iter().map(|&index| files[index].path.clone()).collect()
    }

    #[test]
    fn vendor_rule_depends_on_go_version() {
        assert!(!is_vendored_package("vendor/modules.txt", Some((1, 23))));
        assert!(is_vendored_package("vendor/modules.txt", Some((1, 24))));
        assert!(is_vendored_package("vendor/example.com/x/x.go", None));
        assert!(is_vendored_package("pkg/vendor/vendor.go", Some((1, 23))));
        assert!(!is_vendored_package("pkg/vendor/vendor.go", Some((1, 24))));
        assert!(is_vendored_package("pkg/vendor/x/y.go", Some((1, 24))));
        assert!(!is_vendored_package("vendor.go", None));
    }

    #[test]
    fn go_directive_is_found() {
        assert_eq!(parse_go_directive("module m\n\ngo 1.24\n"), Some((1, 24)));
        assert_eq!(parse_go_directive("module m\ngo 1.21.3 // comment\n"), Some((1, 21)));
        assert_eq!(parse_go_directive("module m\ngo 1.22rc1\n"), Some((1, 22)));
        assert_eq!(parse_go_directive("module m\n"), None);
    }

    #[test]
    fn selection_leaves_out_nested_modules_and_links() {
        let mut link = SourceFile::from_bytes("link", b"");
        link.kind = SourceKind::Symlink;
        let files = vec![
            SourceFile::from_bytes("go.mod", b"module example.com/m\n"),
            SourceFile::from_bytes("a.go", b"package a\n"),
            SourceFile::from_bytes("sub/go.mod", b"module example.com/m/sub\n"),
            SourceFile::from_bytes("sub/b.go", b"package b\n"),
            SourceFile::from_bytes(".hg_archival.txt", b""),
            link,
        ];
        let selection = select_files(&files);
        assert_eq!(names(&files, &selection), ["go.mod", "a.go"]);
        assert_eq!(
            selection.omitted,
            [
                ("sub/go.mod".to_string(), OmitReason::InSubmodule),
                ("sub/b.go".to_string(), OmitReason::InSubmodule),
                (".hg_archival.txt".to_string(), OmitReason::HgArchival),
                ("link".to_string(), OmitReason::Symlink),
            ]
        );
        assert!(selection.invalid.is_empty());
    }

    #[test]
    fn created_zip_passes_the_checker() {
        let files = vec![
            SourceFile::from_bytes("go.mod", b"module example.com/hello\n\ngo 1.21\n"),
            SourceFile::from_bytes("hello.go", b"package hello\n"),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hello.zip");
        create_zip(File::create(&path).unwrap(), "example.com/hello", "v1.0.0", &files).unwrap();
        let report = check_and_hash_zip(&path, "example.com/hello", "v1.0.0").unwrap();
        assert_eq!(report.h1, "h1:pKFu5tHfljqp2Zr9PLlh8XHdPpeGCCxqljPAeAdak0c=");
    }

    #[test]
    fn create_rejects_invalid_files() {
        let files = vec![SourceFile::from_bytes("GO.MOD", b"module example.com/m\n")];
        let err = create_zip(Cursor::new(Vec::new()), "example.com/m", "v1.0.0", &files).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid file GO.MOD: go.mod files must have lowercase names"
        );
    }

    #[test]
    fn create_rejects_content_longer_than_listed() {
        let mut file = SourceFile::from_bytes("a.go", b"package a\n");
        file.size = 3;
        let err = create_zip(Cursor::new(Vec::new()), "example.com/m", "v1.0.0", &[file]).unwrap_err();
        assert!(matches!(err, BuildError::LargerThanListed { size: 3, .. }), "{err}");
    }

    #[test]
    fn list_dir_skips_vcs_and_nested_modules() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join(".git")).unwrap();
        fs::write(root.join(".git/config"), b"").unwrap();
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("sub/go.mod"), b"module example.com/m/sub\n").unwrap();
        fs::write(root.join("go.mod"), b"module example.com/m\n").unwrap();
        fs::write(root.join("b.go"), b"package m\n").unwrap();

        let DirListing { files, omitted } = list_dir(root).unwrap();
        let paths: Vec<_> = files.iter().map(|file| file.path.as_str()).collect();
        assert_eq!(paths, ["b.go", "go.mod"]);
        assert_eq!(
            omitted,
            [
                (".git".to_string(), OmitReason::VersionControlDirectory),
                ("sub".to_string(), OmitReason::SubmoduleDirectory),
            ]
        );
    }
}
