//! Index lookups in a store that contains 100 000 versions: 1 000 modules
//! with 100 versions each, every version with an `.info` and a `.mod` record.
//!
//! The store is built once through the public write path (`new_blob`,
//! `finish`, `commit_file`) and kept in `$MODVAULT_BENCH_DATA/store-100k`,
//! by default a bench-data folder beside the checkout, because a build
//! fsyncs every blob and takes minutes. `benches/memory/run.py` starts the
//! real server on the same store to measure startup time and memory.
//!
//! `MODVAULT_BENCH_POPULATE_ONLY=1 cargo bench --bench store` builds the
//! store (when missing) and exits without measuring.

use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{black_box, BenchmarkId, Criterion};
use modvault::module::{FileKind, ModulePath, Version};
use modvault::store::{file_key, Store};

const MODULES: usize = 1_000;
const VERSIONS_PER_MODULE: usize = 100;

fn module_path(index: usize) -> ModulePath {
    ModulePath::parse(&format!("github.com/bench-org{}/Service{index:04}", index % 37))
        .expect("generated module paths are valid")
}

fn version(index: usize) -> Version {
    let text = format!("v{}.{}.{}", index / 50, (index / 5) % 10, index % 5);
    Version::canonical(&text).expect("generated versions are canonical")
}

fn info_body(module: usize, version_index: usize, version: &Version) -> String {
    let (month, day) = (1 + module % 12, 1 + version_index % 28);
    let (hour, minute) = (module % 24, version_index % 60);
    format!(
        "{{\"Version\":\"{}\",\"Time\":\"2023-{month:02}-{day:02}T{hour:02}:{minute:02}:00Z\"}}",
        version.as_str()
    )
}

fn mod_body(module: &ModulePath, module_index: usize, version: &Version) -> String {
    format!(
        "module {module}\n\ngo 1.22\n\nrequire github.com/bench-org{}/Service{:04} {}\n",
        (module_index + 1) % 37,
        (module_index + 1) % MODULES,
        version.as_str()
    )
}

/// Returns the data folder for heavy benchmark artefacts.
fn bench_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MODVAULT_BENCH_DATA") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the checkout has a parent folder")
        .join("bench-data")
}

async fn commit_version(store: Store, module_index: usize, version_index: usize) {
    let module = module_path(module_index);
    let version = version(version_index);
    let bodies = [
        (FileKind::Info, info_body(module_index, version_index, &version)),
        (FileKind::Mod, mod_body(&module, module_index, &version)),
    ];
    for (kind, body) in bodies {
        let mut blob = store.new_blob().await.expect("temporary file opens");
        blob.write(body.as_bytes()).await.expect("blob writes");
        let blob = blob.finish().await.expect("blob finishes");
        let key = file_key(&module, &version, kind);
        store.commit_file(&key, kind, blob, None).await.expect("record commits");
    }
}

/// Builds the store in `dir` unless a complete one is there already.
fn ensure_store(dir: &Path) -> Store {
    let complete = dir.join("complete");
    if complete.exists() {
        return Store::open(dir).expect("the benchmark store opens");
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).expect("an incomplete benchmark store is removable");
    }
    eprintln!(
        "building a store of {} versions in {} (once, takes minutes)",
        MODULES * VERSIONS_PER_MODULE,
        dir.display()
    );
    let started = Instant::now();
    let store = Store::open(dir).expect("the benchmark store opens");
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
    runtime.block_on(async {
        for module_index in 0..MODULES {
            for version_index in 0..VERSIONS_PER_MODULE {
                commit_version(store.clone(), module_index, version_index).await;
            }
            if module_index % 100 == 99 {
                eprintln!("  {} modules stored", module_index + 1);
            }
        }
        store.flush().await.expect("index flushes");
    });
    std::fs::write(&complete, b"").expect("the completion marker writes");
    eprintln!("built in {:.0} s", started.elapsed().as_secs_f64());
    store
}

fn lookups(c: &mut Criterion, store: &Store) {
    let hits: Vec<String> = (0..4096)
        .map(|i| {
            let module = (i * 7919) % MODULES;
            let version_index = (i * 104_729) % VERSIONS_PER_MODULE;
            let kind = if i % 2 == 0 { FileKind::Info } else { FileKind::Mod };
            file_key(&module_path(module), &version(version_index), kind)
        })
        .collect();
    let misses: Vec<String> = hits.iter().map(|key| key.replace("/info", "/zip")).collect();

    let mut group = c.benchmark_group("store with 100000 versions");
    for (name, keys) in [("get_file hit", &hits), ("get_file miss", &misses)] {
        let mut next = 0;
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                next = (next + 1) % keys.len();
                black_box(store.get_file(&keys[next]).expect("lookup works"))
            })
        });
    }
    group.finish();
}

fn main() {
    let store = ensure_store(&bench_data_dir().join("store-100k"));
    if std::env::var_os("MODVAULT_BENCH_POPULATE_ONLY").is_some() {
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    lookups(&mut criterion, &store);
    criterion.final_summary();
}
