//! Runs golang.org/x/mod/zip's own test data against the module zip checker,
//! hasher and builder.
//!
//! Set `MODVAULT_CONFORMANCE_DIR` to the folder that contains `gomod-zip/` (the
//! txtar files of golang.org/x/mod/zip/testdata: header lines `path=`,
//! `version=`, `hash=` or `wantErr=`, then `-- name --` file sections).
//! Without the variable the test prints a warning and passes; with the variable
//! set to a folder that lacks `gomod-zip/`, it fails.
//!
//! Folders and what each case checks here:
//! - `unzip`: a zip of the listed entries; `check_and_hash_zip` must return the
//!   `hash=` value, or an error containing the `wantErr=` text.
//! - `check_zip`: the same zip must fail exactly when the expected report lists
//!   invalid entries. Each invalid entry, added alone to the valid ones, must
//!   give an error that names the entry with Go's message.
//! - `create`, `create_from_dir`: `create_zip` builds the zip (after `list_dir`
//!   for the directory cases), and `check_and_hash_zip` on it must return the
//!   `hash=` value. With `wantErr=`, `create_zip` must fail with that text.
//! - `check_files`, `check_dir`: `select_files` (after `list_dir`) must sort
//!   the files into exactly Go's valid, omitted and invalid lists.

use std::fs;
use std::path::{Path, PathBuf};

use modvault::verify::zipbuild::{create_zip, list_dir, select_files, FileSelection, SourceFile};
use modvault::verify::zipcheck::check_and_hash_zip;

const ENV_VAR: &str = "MODVAULT_CONFORMANCE_DIR";

/// One txtar file: its header comment and its file sections, as bytes.
struct Txtar {
    comment: Vec<u8>,
    files: Vec<(String, Vec<u8>)>,
}

/// Parses txtar as golang.org/x/tools/txtar does: a marker line is
/// `-- NAME --`, and each section's data gets a final newline if it lacks one.
fn parse_txtar(data: &[u8]) -> Txtar {
    let mut sections: Vec<(Option<String>, Vec<u8>)> = vec![(None, Vec::new())];
    for line in data.split_inclusive(|&b| b == b'\n') {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let is_marker = text.starts_with(b"-- ") && text.ends_with(b" --") && text.len() >= 6;
        if is_marker {
            let name = String::from_utf8_lossy(&text[3..text.len() - 3]).trim().to_string();
            sections.push((Some(name), Vec::new()));
        } else if let Some(last) = sections.last_mut() {
            last.1.extend_from_slice(line);
        }
    }
    let fix_newline = |mut data: Vec<u8>| {
        if !data.is_empty() && !data.ends_with(b"\n") {
            data.push(b'\n');
        }
        data
    };
    let mut sections = sections.into_iter();
    let comment = fix_newline(sections.next().map(|(_, data)| data).unwrap_or_default());
    let files = sections
        .map(|(name, data)| (name.unwrap_or_default(), fix_newline(data)))
        .collect();
    Txtar { comment, files }
}

/// The `key=value` header of a test case; `path` stays bytes because one case
/// uses a module path that is not UTF-8.
#[derive(Default)]
struct Header {
    path: Vec<u8>,
    version: String,
    hash: String,
    want_err: String,
}

fn parse_header(comment: &[u8]) -> Header {
    let mut header = Header::default();
    for line in comment.split(|&b| b == b'\n') {
        let line = match line.iter().position(|&b| b == b'#') {
            Some(hash) => &line[..hash],
            None => line,
        };
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            continue;
        };
        let key = String::from_utf8_lossy(&line[..eq]).trim().to_string();
        let value = line[eq + 1..].trim_ascii().to_vec();
        let text = String::from_utf8_lossy(&value).into_owned();
        match key.as_str() {
            "path" => header.path = value,
            "version" => header.version = text,
            "hash" => header.hash = text,
            "wantErr" => header.want_err = text,
            other => panic!("unknown header key {other:?}"),
        }
    }
    header
}

/// The outcome of one case.
enum Outcome {
    Passed,
    Skipped(String),
    Failed(String),
}

/// Writes a zip with stored (uncompressed) entries in the given order. The
/// `zip` crate's writer refuses duplicate names, which some cases need.
fn write_zip(path: &Path, entries: &[(String, Vec<u8>)]) {
    let mut out = Vec::new();
    let mut directory = Vec::new();
    for (name, data) in entries {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let size = data.len() as u32;
        let name_len = name.len() as u16;
        // Local file header: version 20, no flags, method 0 (store), no time.
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);

        directory.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        directory.extend_from_slice(&[20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        directory.extend_from_slice(&crc.to_le_bytes());
        directory.extend_from_slice(&size.to_le_bytes());
        directory.extend_from_slice(&size.to_le_bytes());
        directory.extend_from_slice(&name_len.to_le_bytes());
        directory.extend_from_slice(&[0; 12]);
        directory.extend_from_slice(&offset.to_le_bytes());
        directory.extend_from_slice(name.as_bytes());
    }
    let directory_offset = out.len() as u32;
    out.extend_from_slice(&directory);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(directory.len() as u32).to_le_bytes());
    out.extend_from_slice(&directory_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    fs::write(path, out).unwrap();
}

/// CRC-32 (IEEE), as zip entries carry it.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Compares a check result with `hash=` or `wantErr=`.
fn compare(result: Result<String, String>, header: &Header) -> Outcome {
    match (result, header.want_err.is_empty()) {
        (Ok(h1), true) if h1 == header.hash => Outcome::Passed,
        (Ok(h1), true) => Outcome::Failed(format!("got {h1}, want {}", header.hash)),
        (Ok(h1), false) => Outcome::Failed(format!("got {h1}, want error {:?}", header.want_err)),
        (Err(err), false) if err.contains(&header.want_err) => Outcome::Passed,
        (Err(err), _) if header.want_err.is_empty() => Outcome::Failed(format!("unexpected error: {err}")),
        (Err(err), _) => Outcome::Failed(format!("error {err:?} does not contain {:?}", header.want_err)),
    }
}

fn utf8_module_path(header: &Header) -> Result<String, Outcome> {
    String::from_utf8(header.path.clone()).map_err(|_| {
        Outcome::Skipped(
            "module path is not UTF-8; the API takes &str, so such a path cannot reach the checker".to_string(),
        )
    })
}

fn run_unzip(txtar: &Txtar, work: &Path) -> Outcome {
    let header = parse_header(&txtar.comment);
    let module_path = match utf8_module_path(&header) {
        Ok(path) => path,
        Err(outcome) => return outcome,
    };
    let zip_path = work.join("case.zip");
    write_zip(&zip_path, &txtar.files);
    let result = check_and_hash_zip(&zip_path, &module_path, &header.version)
        .map(|report| report.h1)
        .map_err(|err| err.to_string());
    compare(result, &header)
}

fn source_files(txtar: &Txtar) -> Vec<SourceFile> {
    txtar
        .files
        .iter()
        .filter(|(name, _)| name != "want")
        .map(|(name, data)| SourceFile::from_bytes(name, data))
        .collect()
}

fn build_and_hash(files: &[SourceFile], header: &Header, work: &Path) -> Outcome {
    let module_path = match utf8_module_path(header) {
        Ok(path) => path,
        Err(outcome) => return outcome,
    };
    let zip_path = work.join("created.zip");
    let created = create_zip(
        fs::File::create(&zip_path).unwrap(),
        &module_path,
        &header.version,
        files,
    );
    let result = match created {
        Ok(_) => check_and_hash_zip(&zip_path, &module_path, &header.version)
            .map(|report| report.h1)
            .map_err(|err| format!("created zip failed the check: {err}")),
        Err(err) => Err(err.to_string()),
    };
    compare(result, header)
}

fn run_create(txtar: &Txtar, work: &Path) -> Outcome {
    build_and_hash(&source_files(txtar), &parse_header(&txtar.comment), work)
}

fn extract_to_dir(txtar: &Txtar, dir: &Path) {
    for (name, data) in txtar.files.iter().filter(|(name, _)| name != "want") {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, data).unwrap();
    }
}

fn run_create_from_dir(txtar: &Txtar, work: &Path) -> Outcome {
    let header = parse_header(&txtar.comment);
    let source = work.join("source");
    fs::create_dir_all(&source).unwrap();
    extract_to_dir(txtar, &source);
    let files = list_dir(&source).unwrap().files;
    build_and_hash(&files, &header, work)
}

fn want_section(txtar: &Txtar) -> String {
    let want = txtar
        .files
        .iter()
        .find(|(name, _)| name == "want")
        .expect("case has a want section");
    String::from_utf8(want.1.clone()).unwrap()
}

/// Formats a selection the way Go's test prints `CheckedFiles`.
fn format_selection(
    files: &[SourceFile],
    selection: &FileSelection,
    walk_omitted: &[(String, String)],
    prefix: &str,
) -> String {
    let mut out = String::from("valid:\n");
    for &index in &selection.valid {
        out += &format!("{prefix}{}\n", files[index].path);
    }
    out += "\nomitted:\n";
    for (path, reason) in &selection.omitted {
        out += &format!("{prefix}{path}: {reason}\n");
    }
    for (path, reason) in walk_omitted {
        out += &format!("{prefix}{path}: {reason}\n");
    }
    out += "\ninvalid:\n";
    for (path, rule) in &selection.invalid {
        out += &format!("{prefix}{path}: {rule}\n");
    }
    out
}

fn compare_text(got: String, want: String) -> Outcome {
    if got == want {
        Outcome::Passed
    } else {
        Outcome::Failed(format!("got:\n{got}\nwant:\n{want}"))
    }
}

fn run_check_files(txtar: &Txtar, _work: &Path) -> Outcome {
    let files = source_files(txtar);
    let selection = select_files(&files);
    compare_text(format_selection(&files, &selection, &[], ""), want_section(txtar))
}

fn run_check_dir(txtar: &Txtar, work: &Path) -> Outcome {
    let source = work.join("source");
    fs::create_dir_all(&source).unwrap();
    extract_to_dir(txtar, &source);
    let listing = list_dir(&source).unwrap();
    let (files, walk_omitted) = (listing.files, listing.omitted);
    let selection = select_files(&files);
    let walk_omitted: Vec<_> = walk_omitted
        .into_iter()
        .map(|(path, reason)| (path, reason.to_string()))
        .collect();
    compare_text(
        format_selection(&files, &selection, &walk_omitted, "$work/"),
        want_section(txtar),
    )
}

/// Parses the `invalid:` lines of a check_zip want section into
/// (entry name, Go's message) pairs, and the `valid:` lines into names.
fn parse_check_zip_want(want: &str) -> (Vec<String>, Vec<(String, String)>) {
    let mut valid = Vec::new();
    let mut invalid = Vec::new();
    let mut section = "";
    for line in want.lines() {
        match line {
            "valid:" | "omitted:" | "invalid:" => section = line,
            "" => {}
            _ if section == "valid:" => valid.push(line.to_string()),
            // Names here never contain ": ", so the first one ends the name.
            _ if section == "invalid:" => {
                let (name, message) = line.split_once(": ").expect("invalid line has a message");
                invalid.push((name.to_string(), message.to_string()));
            }
            _ => {}
        }
    }
    (valid, invalid)
}

fn run_check_zip(txtar: &Txtar, work: &Path) -> Outcome {
    let header = parse_header(&txtar.comment);
    let module_path = String::from_utf8(header.path.clone()).unwrap();
    let entries: Vec<_> = txtar.files.iter().filter(|(name, _)| name != "want").cloned().collect();
    let (valid, invalid) = parse_check_zip_want(&want_section(txtar));
    let check = |entries: &[(String, Vec<u8>)], file: &str| {
        let zip_path = work.join(file);
        write_zip(&zip_path, entries);
        check_and_hash_zip(&zip_path, &module_path, &header.version)
    };

    let whole = check(&entries, "whole.zip");
    if whole.is_ok() != invalid.is_empty() {
        return Outcome::Failed(format!(
            "whole zip: got {whole:?}, want {} invalid entries",
            invalid.len()
        ));
    }

    // The first entry with each valid name is the valid one.
    let valid_entries: Vec<_> = valid
        .iter()
        .filter_map(|name| entries.iter().find(|(entry, _)| entry == name).cloned())
        .collect();
    if let Err(err) = check(&valid_entries, "valid.zip") {
        return Outcome::Failed(format!("valid entries alone: {err}"));
    }
    for (name, message) in &invalid {
        // The last entry with the name is the one Go reported.
        let bad = entries.iter().rev().find(|(entry, _)| entry == name).cloned().unwrap();
        let mut with_bad = valid_entries.clone();
        with_bad.push(bad);
        let expected = format!("{name}: {message}");
        match check(&with_bad, "one_invalid.zip") {
            Err(err) if err.to_string().contains(&expected) => {}
            other => {
                return Outcome::Failed(format!(
                    "entry {name}: got {other:?}, want error containing {expected:?}"
                ))
            }
        }
    }
    Outcome::Passed
}

type Runner = fn(&Txtar, &Path) -> Outcome;

#[test]
fn conformance_with_go_module_zip_testdata() {
    let Some(root) = std::env::var_os(ENV_VAR) else {
        eprintln!();
        eprintln!("!!! {ENV_VAR} is not set: the Go module zip conformance cases did NOT run.");
        eprintln!("!!! Set it to the folder that contains gomod-zip/ to run them.");
        eprintln!();
        return;
    };
    let data_dir = PathBuf::from(root).join("gomod-zip");
    assert!(
        data_dir.is_dir(),
        "{ENV_VAR} is set but {} is not a folder; point {ENV_VAR} at the folder that contains gomod-zip/",
        data_dir.display()
    );

    let folders: [(&str, Runner); 6] = [
        ("unzip", run_unzip),
        ("check_zip", run_check_zip),
        ("create", run_create),
        ("create_from_dir", run_create_from_dir),
        ("check_files", run_check_files),
        ("check_dir", run_check_dir),
    ];
    let (mut passed, mut skipped, mut failures) = (0, Vec::new(), Vec::new());
    for (folder, runner) in folders {
        let mut cases: Vec<_> = fs::read_dir(data_dir.join(folder))
            .unwrap_or_else(|err| panic!("reading {folder} failed: {err}"))
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
            .collect();
        cases.sort();
        assert!(!cases.is_empty(), "{folder} has no cases");
        for case in cases {
            let name = format!("{folder}/{}", case.file_name().unwrap().to_string_lossy());
            let txtar = parse_txtar(&fs::read(&case).unwrap());
            let work = tempfile::tempdir().unwrap();
            match runner(&txtar, work.path()) {
                Outcome::Passed => passed += 1,
                Outcome::Skipped(reason) => skipped.push(format!("{name}: {reason}")),
                Outcome::Failed(reason) => failures.push(format!("{name}: {reason}")),
            }
        }
    }

    println!(
        "Go module zip conformance: {} run, {passed} passed, {} failed, {} skipped",
        passed + failures.len(),
        failures.len(),
        skipped.len()
    );
    for skip in &skipped {
        println!("  skipped {skip}");
    }
    for failure in &failures {
        println!("  FAILED {failure}");
    }
    assert!(
        failures.is_empty(),
        "{} conformance cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(passed > 0, "no conformance case passed");
}
