//! Module fixtures: a version with its files, turned into the .info, .mod
//! and .zip bodies a proxy serves.

use std::io::Write;

/// One module version made by a test.
#[derive(Clone, Debug)]
pub struct Module {
    pub path: String,
    pub version: String,
    /// The go.mod content; `None` for a module without go.mod (the proxy then
    /// serves `module <path>\n` as .mod).
    pub go_mod: Option<String>,
    pub files: Vec<(String, String)>,
    pub time: String,
}

impl Module {
    pub fn new(path: &str, version: &str) -> Module {
        Module {
            path: path.into(),
            version: version.into(),
            go_mod: Some(format!("module {path}\n\ngo 1.21\n")),
            files: vec![(
                "doc.go".into(),
                format!("// Package fixture is test data.\npackage {}\n", package_name(path)),
            )],
            time: "2024-01-02T03:04:05Z".into(),
        }
    }

    pub fn without_go_mod(mut self) -> Module {
        self.go_mod = None;
        self
    }

    pub fn file(mut self, name: &str, content: &str) -> Module {
        self.files.push((name.into(), content.into()));
        self
    }

    pub fn info(&self) -> Vec<u8> {
        format!("{{\"Version\":\"{}\",\"Time\":\"{}\"}}", self.version, self.time).into_bytes()
    }

    pub fn mod_file(&self) -> Vec<u8> {
        match &self.go_mod {
            Some(text) => text.clone().into_bytes(),
            None => format!("module {}\n", self.path).into_bytes(),
        }
    }

    /// Go's `h1:` hash of the zip, as a checksum database records it.
    pub fn zip_h1(&self) -> String {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), self.zip()).unwrap();
        modvault::verify::dirhash::hash_zip(file.path()).unwrap()
    }

    /// Go's `h1:` hash of the .mod file.
    pub fn mod_h1(&self) -> String {
        modvault::verify::dirhash::hash_go_mod(&self.mod_file())
    }

    pub fn zip(&self) -> Vec<u8> {
        let mut files: Vec<(String, Vec<u8>)> = self
            .files
            .iter()
            .map(|(n, c)| (n.clone(), c.clone().into_bytes()))
            .collect();
        if let Some(go_mod) = &self.go_mod {
            files.push(("go.mod".into(), go_mod.clone().into_bytes()));
        }
        build_zip(&format!("{}@{}/", self.path, self.version), &files)
    }
}

/// The last path element that is not a major version suffix, lower-cased,
/// usable as a package name.
pub fn package_name(path: &str) -> String {
    let mut elements: Vec<&str> = path.split('/').collect();
    if elements.len() > 1
        && elements
            .last()
            .is_some_and(|e| e.starts_with('v') && e[1..].chars().all(|c| c.is_ascii_digit()))
    {
        elements.pop();
    }
    elements.last().unwrap().to_lowercase().replace(['-', '.'], "_")
}

/// Builds a zip whose entries are `prefix` + each file name.
pub fn build_zip(prefix: &str, files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut cursor = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut cursor);
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in files {
            writer.start_file(format!("{prefix}{name}"), options).unwrap();
            writer.write_all(content).unwrap();
        }
        writer.finish().unwrap();
    }
    cursor.into_inner()
}
