//! `modvault warm`: fills the store ahead of use from go.mod, go.sum and
//! go.work files, folders holding them, or `module@version` lines, through
//! the normal fill path (checks and verification included) with bounded
//! concurrency. It talks to a running server (`--server`) or works directly
//! on a data directory that no server holds.

use std::collections::BTreeMap;
use std::path::Path;

use futures::StreamExt;

use super::progress::Progress;
use crate::cache::{Cache, FetchPolicy};
use crate::module::{encode_element, FileKind, ModulePath, ProxyRequest, Version};

/// One module version to fill; `zip` is false when only its go.mod is
/// needed (a `/go.mod` line in go.sum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub module: ModulePath,
    pub version: Version,
    pub zip: bool,
}

impl Target {
    fn kinds(&self) -> Vec<FileKind> {
        if self.zip {
            vec![FileKind::Info, FileKind::Mod, FileKind::Zip]
        } else {
            vec![FileKind::Info, FileKind::Mod]
        }
    }
}

/// Collects targets from files, folders and `module@version` arguments.
pub fn collect_targets(inputs: &[String]) -> Result<Vec<Target>, String> {
    let mut found: BTreeMap<(String, String), Target> = BTreeMap::new();
    let mut add = |target: Target| {
        let key = (target.module.to_string(), target.version.to_string());
        let entry = found.entry(key).or_insert_with(|| target.clone());
        entry.zip |= target.zip;
    };
    for input in inputs {
        let path = Path::new(input);
        if path.is_dir() {
            for file in scan_folder(path)? {
                read_file(&file, &mut add)?;
            }
        } else if path.is_file() {
            read_file(path, &mut add)?;
        } else if input.contains('@') {
            add(parse_module_version(input, true)?);
        } else {
            return Err(format!("{input}: no such file or folder, and not a module@version"));
        }
    }
    Ok(found.into_values().collect())
}

fn scan_folder(root: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), ".git" | "vendor" | "node_modules" | "testdata") {
                    pending.push(path);
                }
            } else if matches!(name.as_str(), "go.mod" | "go.sum" | "go.work" | "go.work.sum") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn read_file(path: &Path, add: &mut impl FnMut(Target)) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let context = |e: String| format!("{}: {e}", path.display());
    match name {
        "go.sum" | "go.work.sum" => {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let [module, version, _hash] = fields[..] else {
                    return Err(context(format!("malformed go.sum line {line:?}")));
                };
                let (version, zip) = match version.strip_suffix("/go.mod") {
                    Some(v) => (v, false),
                    None => (version, true),
                };
                add(target(module, version, zip).map_err(context)?);
            }
        }
        "go.mod" => {
            for (module, version) in requirements(&text) {
                add(target(&module, &version, true).map_err(context)?);
            }
        }
        "go.work" => {
            let base = path.parent().unwrap_or(Path::new("."));
            for dir in work_uses(&text) {
                let go_mod = base.join(dir).join("go.mod");
                if go_mod.is_file() {
                    read_file(&go_mod, add)?;
                }
            }
        }
        _ => {
            for line in text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
            {
                add(parse_module_version(line, true).map_err(context)?);
            }
        }
    }
    Ok(())
}

fn target(module: &str, version: &str, zip: bool) -> Result<Target, String> {
    let module = ModulePath::parse(module).map_err(|e| e.to_string())?;
    let version = Version::canonical(version).map_err(|e| e.to_string())?;
    module.check_version(&version)?;
    Ok(Target { module, version, zip })
}

fn parse_module_version(text: &str, zip: bool) -> Result<Target, String> {
    let (module, version) = text
        .rsplit_once('@')
        .ok_or_else(|| format!("{text:?} is not module@version"))?;
    target(module.trim(), version.trim(), zip)
}

/// Returns the `require` entries of a go.mod, in single-line and block form.
/// NOTE: `replace` and `exclude` directives are not applied, so a replaced
/// requirement is filled as written.
fn requirements(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut in_block = false;
    for raw in text.lines() {
        let line = raw.split("//").next().unwrap_or("").trim();
        if in_block {
            if line == ")" {
                in_block = false;
                continue;
            }
            if let [module, version, ..] = line.split_whitespace().collect::<Vec<_>>()[..] {
                out.push((unquote(module), version.to_string()));
            }
            continue;
        }
        if line == "require (" || line == "require(" {
            in_block = true;
        } else if let Some(rest) = line.strip_prefix("require ") {
            if let [module, version, ..] = rest.split_whitespace().collect::<Vec<_>>()[..] {
                out.push((unquote(module), version.to_string()));
            }
        }
    }
    out
}

/// Returns the `use` directories of a go.work file.
fn work_uses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    for raw in text.lines() {
        let line = raw.split("//").next().unwrap_or("").trim();
        if in_block {
            if line == ")" {
                in_block = false;
            } else if !line.is_empty() {
                out.push(unquote(line));
            }
        } else if line == "use (" || line == "use(" {
            in_block = true;
        } else if let Some(dir) = line.strip_prefix("use ") {
            out.push(unquote(dir.trim()));
        }
    }
    out
}

fn unquote(text: &str) -> String {
    text.trim_matches('"').trim_matches('`').to_string()
}

/// The outcome of a warm-up.
#[derive(Debug, Default)]
pub struct WarmReport {
    pub filled: usize,
    /// `module@version` and the first error for each target that failed.
    pub failed: Vec<(String, String)>,
}

/// The fill path a warm-up uses.
pub enum WarmVia {
    /// The fill path of this process, on a data directory.
    Cache(Cache),
    /// A running server, by HTTP.
    Server { client: reqwest::Client, base: String },
}

async fn fill_target(via: &WarmVia, target: &Target) -> Result<(), String> {
    for kind in target.kinds() {
        match via {
            WarmVia::Cache(cache) => {
                let request = ProxyRequest::File(target.module.clone(), target.version.clone(), kind);
                cache
                    .answer(&request, FetchPolicy::Fill)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            WarmVia::Server { client, base } => {
                let url = format!(
                    "{}/{}/@v/{}.{}",
                    base.trim_end_matches('/'),
                    target.module.encoded(),
                    encode_element(target.version.as_str()),
                    kind.extension()
                );
                let response = client.get(&url).send().await.map_err(|e| format!("{url}: {e}"))?;
                let status = response.status();
                let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
                if !status.is_success() {
                    return Err(format!("{url}: {status}: {}", String::from_utf8_lossy(&body).trim()));
                }
            }
        }
    }
    Ok(())
}

/// Fills every target with at most `jobs` at once. `label` names the step
/// on the progress bar.
pub async fn warm(via: &WarmVia, targets: &[Target], jobs: usize, label: &'static str) -> WarmReport {
    let mut progress = Progress::new(label, targets.len() as u64);
    let mut report = WarmReport::default();
    let mut results = futures::stream::iter(targets.iter().map(|t| async move { (t, fill_target(via, t).await) }))
        .buffer_unordered(jobs.max(1));
    while let Some((target, result)) = results.next().await {
        match result {
            Ok(()) => report.filled += 1,
            Err(e) => {
                progress.println(&format!("FAILED {}@{}: {e}", target.module, target.version));
                report.failed.push((format!("{}@{}", target.module, target.version), e));
            }
        }
        progress.step();
    }
    progress.finish();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_mod_requirements_in_both_forms() {
        let text = "module x\n\ngo 1.21\n\nrequire example.com/a v1.0.0\n\nrequire (\n\texample.com/b v1.2.0 // indirect\n\t\"example.com/c\" v0.1.0\n)\n";
        assert_eq!(
            requirements(text),
            [
                ("example.com/a".into(), "v1.0.0".into()),
                ("example.com/b".into(), "v1.2.0".into()),
                ("example.com/c".into(), "v0.1.0".into())
            ]
        );
    }

    #[test]
    fn go_sum_lines_mark_zip_or_mod_only() {
        let dir = tempfile::tempdir().unwrap();
        let sum = dir.path().join("go.sum");
        std::fs::write(
            &sum,
            "example.com/a v1.0.0 h1:x=\nexample.com/a v1.0.0/go.mod h1:y=\nexample.com/b v1.1.0/go.mod h1:z=\n",
        )
        .unwrap();

        let targets = collect_targets(&[sum.display().to_string()]).unwrap();

        assert_eq!(targets.len(), 2);
        assert_eq!((targets[0].module.as_str(), targets[0].zip), ("example.com/a", true));
        assert_eq!((targets[1].module.as_str(), targets[1].zip), ("example.com/b", false));
    }

    #[test]
    fn work_file_reads_used_modules() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("svc")).unwrap();
        std::fs::write(dir.path().join("go.work"), "go 1.22\n\nuse (\n\t./svc\n)\n").unwrap();
        std::fs::write(
            dir.path().join("svc/go.mod"),
            "module example.com/svc\n\nrequire example.com/dep v1.0.0\n",
        )
        .unwrap();

        let targets = collect_targets(&[dir.path().join("go.work").display().to_string()]).unwrap();

        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].module.as_str(), "example.com/dep");
    }

    #[test]
    fn bad_inputs_are_named() {
        assert!(collect_targets(&["no/such/file".into()])
            .unwrap_err()
            .contains("no/such/file"));
        assert!(collect_targets(&["example.com/x@master".into()]).is_err());
    }
}
