//! Air-gapped bundles: `modvault export` writes chosen modules, their
//! checksum database records and the tiles that prove them into one
//! gzip-compressed tar; `modvault import` verifies every artifact (size,
//! SHA-256, zip rules, `h1:`, checksum database proofs against the
//! configured key) before storing anything.
//!
//! Layout: `manifest.json`, `blobs/<sha256>`, and
//! `sumdb/<name>/{latest,lookup/…,tile/…}`. Each lookup carries the signed
//! tree the exporting store trusted, so one tree proves every record and a
//! `go` client needs no consistency proof between trees.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context};
use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::verify::module_and_version;
use crate::module::{encode_element, FileKind, ModulePath, PathPatterns, Version};
use crate::store::{file_key, MutableRecord, Store};
use crate::sumdb::SumdbTransport;
use crate::verify::note::Verifier;
use crate::verify::sumdb::{FetchError, LatestTreeStore, MemoryLatestStore, SumdbClient, SumdbFetch};
use crate::verify::{dirhash, tlog, zipcheck};

const FORMAT: &str = "modvault-bundle/1";

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub created: u64,
    pub files: Vec<ManifestFile>,
    /// The checksum database whose records and tiles are included.
    pub sumdb: Option<String>,
    /// Paths under `sumdb/<name>/` with their SHA-256.
    pub sumdb_paths: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestFile {
    pub module: String,
    pub version: String,
    pub kind: String,
    pub sha256: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h1: Option<String>,
}

fn kind_named(name: &str) -> Option<FileKind> {
    match name {
        "info" => Some(FileKind::Info),
        "mod" => Some(FileKind::Mod),
        "zip" => Some(FileKind::Zip),
        _ => None,
    }
}

/// Serves checksum database paths from a map, recording which were asked.
struct MapFetch {
    bodies: HashMap<String, Bytes>,
    fallback: Option<Arc<SumdbTransport>>,
    used: Mutex<BTreeMap<String, Bytes>>,
}

#[async_trait]
impl SumdbFetch for MapFetch {
    async fn fetch(&self, path: &str) -> Result<Bytes, FetchError> {
        let body = match (self.bodies.get(path), &self.fallback) {
            (Some(body), _) => body.clone(),
            (None, Some(transport)) if path.starts_with("tile/") => transport.fetch(path).await?,
            _ => return Err(FetchError::NotFound),
        };
        self.used
            .lock()
            .expect("used lock")
            .insert(path.to_string(), body.clone());
        Ok(body)
    }
}

/// The checksum database parts that export uses.
pub struct ExportSumdb {
    pub transport: Arc<SumdbTransport>,
    pub verifier: Verifier,
    pub skip: PathPatterns,
}

/// Writes a bundle of `entries` (index keys of stored files) to `out`.
pub async fn export(
    store: &Store,
    entries: &[String],
    sumdb: Option<ExportSumdb>,
    out: &Path,
) -> anyhow::Result<Manifest> {
    let mut files = Vec::new();
    for key in entries {
        let record = store
            .get_file(key)?
            .ok_or_else(|| anyhow!("{key} is not in the store"))?;
        let (module, version) = module_and_version(key).ok_or_else(|| anyhow!("{key} is not a module file key"))?;
        let kind = key.rsplit_once('/').map(|(_, k)| k.to_string()).unwrap_or_default();
        files.push(ManifestFile {
            module,
            version,
            kind,
            sha256: record.sha256,
            size: record.size,
            h1: record.h1,
        });
    }

    let mut sumdb_bodies = BTreeMap::new();
    let mut sumdb_name = None;
    if let Some(db) = &sumdb {
        sumdb_bodies = export_proofs(store, &files, db).await?;
        sumdb_name = Some(db.verifier.name().to_string());
    }

    let manifest = Manifest {
        format: FORMAT.into(),
        created: crate::store::unix_now(),
        sumdb_paths: sumdb_bodies
            .iter()
            .map(|(p, b)| (p.clone(), hex::encode(Sha256::digest(b))))
            .collect(),
        files,
        sumdb: sumdb_name,
    };
    let (store, out) = (store.clone(), out.to_path_buf());
    tokio::task::spawn_blocking(move || write_bundle(&store, &manifest, &sumdb_bodies, &out).map(|()| manifest)).await?
}

/// Gathers, for every module version with a .mod or .zip, its lookup rewritten
/// to carry the trusted tree, plus every tile needed to prove it there.
async fn export_proofs(
    store: &Store,
    files: &[ManifestFile],
    db: &ExportSumdb,
) -> anyhow::Result<BTreeMap<String, Bytes>> {
    let name = db.verifier.name().to_string();
    let trusted = store
        .get_meta(&format!("sumdb-latest:{name}"))?
        .ok_or_else(|| anyhow!("the store trusts no tree of checksum database {name} yet; fill a module first"))?;

    let mut bodies = HashMap::new();
    let mut versions: Vec<(String, String)> = files
        .iter()
        .filter(|f| f.kind != "info")
        .filter(|f| !db.skip.matches(&f.module))
        .map(|f| (f.module.clone(), f.version.clone()))
        .collect();
    versions.dedup();
    for (module, version) in &versions {
        let path = format!("lookup/{}@{}", encode_element(module), encode_element(version));
        let answer = db
            .transport
            .get(&path)
            .await
            .map_err(|e| anyhow!("{module}@{version}: {e}"))?;
        let (id, text, _) = tlog::parse_record(&answer.body).map_err(|e| anyhow!("{path}: {e}"))?;
        let mut rewritten = tlog::format_record(id, text).map_err(|e| anyhow!("{path}: {e}"))?;
        rewritten.extend_from_slice(&trusted);
        bodies.insert(path, Bytes::from(rewritten));
    }

    let fetch = Arc::new(MapFetch {
        bodies,
        fallback: Some(db.transport.clone()),
        used: Mutex::new(BTreeMap::new()),
    });
    let latest = Arc::new(MemoryLatestStore::new());
    latest.store_latest(&name, &trusted).await?;
    let client = SumdbClient::new(db.verifier.clone(), fetch.clone(), latest);
    for (module, version) in &versions {
        client
            .lookup(module, version)
            .await
            .map_err(|e| anyhow!("proving {module}@{version} for the bundle: {e}"))?;
    }

    let mut used = std::mem::take(&mut *fetch.used.lock().expect("used lock"));
    used.insert("latest".into(), Bytes::from(trusted));
    Ok(used)
}

fn write_bundle(store: &Store, manifest: &Manifest, sumdb: &BTreeMap<String, Bytes>, out: &Path) -> anyhow::Result<()> {
    let partial = out.with_extension("partial");
    let file = std::fs::File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let encoder = flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::default());
    let mut tar = tar::Builder::new(encoder);

    append(&mut tar, "manifest.json", &serde_json::to_vec_pretty(manifest)?)?;
    let mut written = std::collections::HashSet::new();
    for file in &manifest.files {
        if written.insert(file.sha256.clone()) {
            let blob = store.blob_path(&file.sha256);
            tar.append_path_with_name(&blob, format!("blobs/{}", file.sha256))
                .with_context(|| format!("cannot read {}", blob.display()))?;
        }
    }
    if let Some(name) = &manifest.sumdb {
        for (path, body) in sumdb {
            append(&mut tar, &format!("sumdb/{name}/{path}"), body)?;
        }
    }

    let encoder = tar.into_inner()?;
    let mut writer = encoder.finish()?;
    writer.flush()?;
    writer.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&partial, out)?;
    Ok(())
}

fn append<W: Write>(tar: &mut tar::Builder<W>, name: &str, body: &[u8]) -> anyhow::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(crate::store::unix_now());
    header.set_cksum();
    tar.append_data(&mut header, name, body)?;
    Ok(())
}

/// A bundle unpacked into a temporary folder, not yet trusted.
struct Unpacked {
    dir: PathBuf,
    manifest: Manifest,
    sumdb: HashMap<String, Bytes>,
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reads the tar, accepting only the names a bundle may contain.
fn unpack(bundle: &Path, scratch: &Path) -> anyhow::Result<Unpacked> {
    let dir = scratch.join(format!("import-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(dir.join("blobs"))?;
    let mut unpacked = Unpacked {
        dir,
        manifest: Manifest {
            format: String::new(),
            created: 0,
            files: vec![],
            sumdb: None,
            sumdb_paths: BTreeMap::new(),
        },
        sumdb: HashMap::new(),
    };
    let file = std::fs::File::open(bundle).with_context(|| format!("cannot open {}", bundle.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let mut manifest = None;

    for entry in archive.entries().context("the bundle is not a gzip-compressed tar")? {
        let mut entry = entry.context("the bundle is truncated or corrupt")?;
        let name = entry.path()?.to_string_lossy().into_owned();
        if name == "manifest.json" {
            let mut text = Vec::new();
            entry.read_to_end(&mut text)?;
            manifest =
                Some(serde_json::from_slice::<Manifest>(&text).with_context(|| format!("{name}: invalid manifest"))?);
        } else if let Some(sha) = name.strip_prefix("blobs/") {
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
                bail!("{name}: not a blob name");
            }
            let mut out = std::fs::File::create(unpacked.dir.join("blobs").join(sha))?;
            std::io::copy(&mut entry, &mut out).with_context(|| format!("{name}: truncated"))?;
        } else if let Some(rest) = name.strip_prefix("sumdb/") {
            let (_, path) = rest
                .split_once('/')
                .ok_or_else(|| anyhow!("{name}: not a checksum database path"))?;
            if entry.size() > 16 << 20 {
                bail!("{name}: larger than any checksum database response");
            }
            let mut body = Vec::new();
            entry.read_to_end(&mut body)?;
            unpacked.sumdb.insert(path.to_string(), Bytes::from(body));
        } else {
            bail!("{name}: unexpected entry in a bundle");
        }
    }
    unpacked.manifest = manifest.ok_or_else(|| anyhow!("manifest.json: missing"))?;
    if unpacked.manifest.format != FORMAT {
        bail!("manifest.json: format {:?} is not {FORMAT:?}", unpacked.manifest.format);
    }
    Ok(unpacked)
}

fn check_file(unpacked: &Unpacked, file: &ManifestFile) -> anyhow::Result<()> {
    let entry = format!("blobs/{}", file.sha256);
    let label = format!("{entry} ({}@{} .{})", file.module, file.version, file.kind);
    let path = unpacked.dir.join(&entry);
    let bytes = std::fs::metadata(&path)
        .map(|m| m.len())
        .map_err(|_| anyhow!("{label}: missing from the bundle"))?;
    if bytes != file.size {
        bail!("{label}: size {bytes} differs from the manifest's {}", file.size);
    }
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(&path)?, &mut hasher)?;
    let sha = hex::encode(hasher.finalize());
    if sha != file.sha256 {
        bail!("{label}: sha256 {sha} differs from the manifest's {}", file.sha256);
    }

    let module = ModulePath::parse(&file.module).map_err(|e| anyhow!("{label}: {e}"))?;
    let version = Version::canonical(&file.version).map_err(|e| anyhow!("{label}: {e}"))?;
    module.check_version(&version).map_err(|e| anyhow!("{label}: {e}"))?;
    let actual_h1 = match kind_named(&file.kind) {
        Some(FileKind::Zip) => Some(
            zipcheck::check_and_hash_zip(&path, &file.module, &file.version)
                .map_err(|e| anyhow!("{label}: {e}"))?
                .h1,
        ),
        Some(FileKind::Mod) => Some(dirhash::hash_go_mod(&std::fs::read(&path)?)),
        Some(FileKind::Info) => {
            let info: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path)?).map_err(|e| anyhow!("{label}: {e}"))?;
            if info.get("Version").and_then(|v| v.as_str()) != Some(file.version.as_str()) {
                bail!("{label}: .info names another version");
            }
            None
        }
        None => bail!("{label}: unknown file kind"),
    };
    if actual_h1 != file.h1 {
        bail!(
            "{label}: h1 {} differs from the manifest's {}",
            actual_h1.unwrap_or_default(),
            file.h1.clone().unwrap_or_default()
        );
    }
    Ok(())
}

/// The checksum database the importing store trusts.
pub struct ImportSumdb {
    pub verifier: Verifier,
    pub skip: PathPatterns,
}

/// Verifies the whole bundle, then stores it; returns the number of files.
pub async fn import(store: &Store, bundle: &Path, sumdb: Option<ImportSumdb>) -> anyhow::Result<usize> {
    let scratch = store.root().join("tmp");
    let bundle_path = bundle.to_path_buf();
    let unpacked = tokio::task::spawn_blocking(move || -> anyhow::Result<Unpacked> {
        let unpacked = unpack(&bundle_path, &scratch)?;
        for (path, sha) in &unpacked.manifest.sumdb_paths {
            let body = unpacked
                .sumdb
                .get(path)
                .ok_or_else(|| anyhow!("sumdb/{path}: missing from the bundle"))?;
            if &hex::encode(Sha256::digest(body)) != sha {
                bail!("sumdb/{path}: sha256 differs from the manifest");
            }
        }
        for file in &unpacked.manifest.files {
            check_file(&unpacked, file)?;
        }
        Ok(unpacked)
    })
    .await??;

    let trusted = match &sumdb {
        Some(db) => Some(prove_bundle(store, &unpacked, db).await?),
        None => None,
    };
    commit(store, &unpacked, sumdb.as_ref(), trusted).await
}

/// Proves every module version's hashes with the bundle's records and tiles;
/// returns the tree note to trust afterwards.
async fn prove_bundle(store: &Store, unpacked: &Unpacked, db: &ImportSumdb) -> anyhow::Result<Vec<u8>> {
    let name = db.verifier.name().to_string();
    if unpacked.manifest.sumdb.as_deref() != Some(name.as_str()) {
        bail!(
            "manifest.json: the bundle carries checksum database {:?}, but this store verifies with {name:?}",
            unpacked.manifest.sumdb
        );
    }
    let fetch = Arc::new(MapFetch {
        bodies: unpacked.sumdb.clone(),
        fallback: None,
        used: Mutex::new(BTreeMap::new()),
    });
    let latest = Arc::new(MemoryLatestStore::new());
    if let Some(note) = store.get_meta(&format!("sumdb-latest:{name}"))? {
        latest.store_latest(&name, &note).await?;
    }
    let client = SumdbClient::new(db.verifier.clone(), fetch, latest.clone());

    for file in unpacked
        .manifest
        .files
        .iter()
        .filter(|f| f.kind != "info" && !db.skip.matches(&f.module))
    {
        let lookup = format!(
            "sumdb/{name}/lookup/{}@{}",
            encode_element(&file.module),
            encode_element(&file.version)
        );
        let lines = client
            .lookup(&file.module, &file.version)
            .await
            .map_err(|e| anyhow!("{lookup}: {e}"))?;
        let go_mod = file.kind == "mod";
        let proven = lines.iter().find(|l| l.go_mod == go_mod).map(|l| l.hash.clone());
        if proven != file.h1 {
            bail!(
                "blobs/{} ({}@{} .{}): checksum database has {}, the bundle has {}",
                file.sha256,
                file.module,
                file.version,
                file.kind,
                proven.unwrap_or_else(|| "no record".into()),
                file.h1.clone().unwrap_or_default()
            );
        }
    }
    latest
        .get(&name)
        .ok_or_else(|| anyhow!("sumdb/{name}/latest: no tree was trusted"))
}

async fn commit(
    store: &Store,
    unpacked: &Unpacked,
    sumdb: Option<&ImportSumdb>,
    trusted: Option<Vec<u8>>,
) -> anyhow::Result<usize> {
    for file in &unpacked.manifest.files {
        let kind = kind_named(&file.kind).expect("checked before");
        let module = ModulePath::parse(&file.module)?;
        let version = Version::canonical(&file.version)?;
        let key = file_key(&module, &version, kind);
        let mut blob = store.new_blob().await?;
        let bytes = tokio::fs::read(unpacked.dir.join("blobs").join(&file.sha256)).await?;
        blob.write(&bytes).await?;
        store
            .commit_file(&key, kind, blob.finish().await?, file.h1.clone())
            .await?;
    }
    if let (Some(db), Some(note)) = (sumdb, trusted) {
        let name = db.verifier.name();
        let now = crate::store::unix_now() * 1000;
        for (path, body) in &unpacked.sumdb {
            store.put_mutable(
                &format!("sumdb:{name}/{path}"),
                &MutableRecord {
                    fetched_at_ms: now,
                    body: body.to_vec(),
                },
            )?;
        }
        store.put_meta(&format!("sumdb-latest:{name}"), &note).await?;
    }
    store.flush().await?;
    Ok(unpacked.manifest.files.len())
}
