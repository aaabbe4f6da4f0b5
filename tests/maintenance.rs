//! The maintenance commands and cache control: verify, gc, stats, warm,
//! eviction under a budget, offline and cache-only responses, and air-gapped
//! bundles carried to a store with no network.

mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use modvault::module::PathPatterns;
use modvault::verify::sumdb::SumdbConfig;
use modvault::verify::testing::TestSumdb;
use reqwest::StatusCode;
use support::{client, metric_value, start_proxy, test_config, Fixture, Module};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs the modvault binary with `args` plus `--data-dir`.
fn modvault(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modvault"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("MODVAULT_LOG_LEVEL", "warn")
        .output()
        .expect("modvault runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn blob_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for shard in std::fs::read_dir(dir.join("blobs")).unwrap() {
        for entry in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    files
}

/// Builds a module whose zip is about `size` bytes, because its content does not compress.
fn sized_module(path: &str, size: usize) -> Module {
    let mut state = path.len() as u64 + 0x9e37_79b9;
    let noise: String = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'!' + (state % 90) as u8)
        })
        .collect();
    Module::new(path, "v1.0.0").file("data.txt", &noise)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_command_quarantines_corrupt_blob() {
    let fixture = Fixture::start().await;
    let module = Module::new("example.com/hello", "v1.0.0").file("hello.go", "package hello\n");
    fixture.add(&module);
    let data = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(data.path(), &fixture.base)).await;
    for file in ["zip", "mod", "info"] {
        let response = client()
            .get(proxy.url(&format!("example.com/hello/@v/v1.0.0.{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    proxy.stop().await;

    let clean = modvault(data.path(), &["verify"]);
    assert!(clean.status.success(), "{}", text(&clean));
    assert!(text(&clean).contains("checked 3 files"), "{}", text(&clean));

    let zip_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(module.zip()));
    let blob = data.path().join("blobs").join(&zip_sha[..2]).join(&zip_sha[2..]);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[40] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let dirty = modvault(data.path(), &["verify"]);

    assert_eq!(dirty.status.code(), Some(1), "{}", text(&dirty));
    assert!(
        text(&dirty).contains("example.com/hello@v1.0.0/zip"),
        "{}",
        text(&dirty)
    );
    assert!(text(&dirty).contains("1 quarantined"), "{}", text(&dirty));
    assert_eq!(std::fs::read_dir(data.path().join("quarantine")).unwrap().count(), 1);
    assert!(!blob.exists());
    let again = modvault(data.path(), &["verify"]);
    assert!(again.status.success(), "the bad record was dropped: {}", text(&again));

    let proxy = start_proxy(test_config(data.path(), &fixture.base)).await;
    let refilled = client()
        .get(proxy.url("example.com/hello/@v/v1.0.0.zip"))
        .send()
        .await
        .unwrap();
    assert_eq!(refilled.headers()["x-cache"], "MISS");
    assert_eq!(refilled.bytes().await.unwrap().as_ref(), module.zip().as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_keeps_budget_pins_and_busy_entries() {
    let fixture = Fixture::start().await;
    let pinned = sized_module("corp.example/pinned", 200_000);
    let busy = sized_module("example.com/busy", 24 << 20);
    let others: Vec<Module> = (0..4)
        .map(|i| sized_module(&format!("example.com/m{i}"), 200_000))
        .collect();
    for module in [&pinned, &busy].into_iter().chain(others.iter()) {
        fixture.add(module);
    }
    let budget = pinned.zip().len() + busy.zip().len() + others[0].zip().len() * 3 / 2;
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path(), &fixture.base);
    config.max_size = Some(budget as u64);
    config.pins = PathPatterns::parse("corp.example").unwrap();
    let proxy = start_proxy(config).await;
    let http = client();

    assert_eq!(
        http.get(proxy.url("corp.example/pinned/@v/v1.0.0.zip"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        http.get(proxy.url("example.com/busy/@v/v1.0.0.zip"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let mut slow = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    slow.write_all(b"GET /example.com/busy/@v/v1.0.0.zip HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    slow.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    for module in &others {
        let url = proxy.url(&format!("{}/@v/v1.0.0.zip", module.path));
        assert_eq!(http.get(url).send().await.unwrap().status(), StatusCode::OK);
    }
    let page = proxy.metrics().await;
    let stored = metric_value(&page, "modvault_store_bytes", &[]);
    assert!(stored <= budget as f64, "store holds {stored} bytes, budget {budget}");
    assert_eq!(metric_value(&page, "modvault_evictions_total", &[]), 3.0);
    assert_eq!(metric_value(&page, "modvault_store_objects", &[("kind", "zip")]), 3.0);

    let pinned_again = http
        .get(proxy.url("corp.example/pinned/@v/v1.0.0.zip"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        pinned_again.headers()["x-cache"],
        "HIT",
        "pinned entries are never evicted"
    );
    let busy_again = http
        .get(proxy.url("example.com/busy/@v/v1.0.0.zip"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        busy_again.headers()["x-cache"],
        "HIT",
        "an entry being served is never evicted"
    );
    drop(slow);
    let evicted = http
        .get(proxy.url("example.com/m0/@v/v1.0.0.zip"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        evicted.headers()["x-cache"],
        "MISS",
        "the least recently used entry went first"
    );
    assert_eq!(evicted.bytes().await.unwrap().as_ref(), others[0].zip().as_slice());
    assert_eq!(fixture.count("example.com/m0/@v/v1.0.0.zip"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_and_stats_commands_report_the_store() {
    let fixture = Fixture::start().await;
    let module = Module::new("example.com/hello", "v1.0.0");
    fixture.add(&module);
    let data = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(data.path(), &fixture.base)).await;
    for file in ["zip", "mod", "info"] {
        client()
            .get(proxy.url(&format!("example.com/hello/@v/v1.0.0.{file}")))
            .send()
            .await
            .unwrap();
    }
    let held = modvault(data.path(), &["stats", "--server", &proxy.base]);
    assert!(held.status.success(), "{}", text(&held));
    assert!(
        text(&held).contains("totals below come from the server's metrics"),
        "{}",
        text(&held)
    );
    assert!(text(&held).contains("hit ratio:"), "{}", text(&held));
    proxy.stop().await;

    let orphan = data.path().join("blobs/ab").join("cd".repeat(31));
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"left behind").unwrap();
    let typo = modvault(&data.path().join("typo"), &["verify"]);
    assert_eq!(typo.status.code(), Some(1), "{}", text(&typo));
    assert!(text(&typo).contains("no modvault store"), "{}", text(&typo));
    assert!(
        !data.path().join("typo").exists(),
        "a mistyped data directory is not created"
    );
    let gc = modvault(data.path(), &["gc"]);
    assert!(gc.status.success(), "{}", text(&gc));
    assert!(text(&gc).contains("removed 1 orphan blobs (11 bytes)"), "{}", text(&gc));
    assert!(!orphan.exists());
    assert_eq!(blob_files(data.path()).len(), 3);

    let stats = modvault(data.path(), &["stats"]);
    assert!(stats.status.success(), "{}", text(&stats));
    assert!(text(&stats).contains("1 zip, 1 mod, 1 info"), "{}", text(&stats));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_from_go_sum_fills_exactly_its_modules() {
    let fixture = Fixture::start().await;
    let full = Module::new("example.com/full", "v1.0.0");
    let mod_only = Module::new("example.com/modonly", "v1.1.0");
    let unrelated = Module::new("example.com/unrelated", "v1.0.0");
    for module in [&full, &mod_only, &unrelated] {
        fixture.add(module);
    }
    let work = tempfile::tempdir().unwrap();
    let go_sum = work.path().join("go.sum");
    std::fs::write(
        &go_sum,
        format!(
            "example.com/full v1.0.0 {}\nexample.com/full v1.0.0/go.mod {}\nexample.com/modonly v1.1.0/go.mod {}\n",
            full.zip_h1(),
            full.mod_h1(),
            mod_only.mod_h1()
        ),
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();

    let output = modvault(
        data.path(),
        &[
            "warm",
            go_sum.to_str().unwrap(),
            "--upstream",
            &fixture.base,
            "--sumdb",
            "off",
        ],
    );

    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("warmed 2 of 2"), "{}", text(&output));
    assert_eq!(fixture.count("example.com/full/@v/v1.0.0.zip"), 1);
    assert_eq!(fixture.count("example.com/modonly/@v/v1.1.0.mod"), 1);
    assert_eq!(fixture.count("example.com/modonly/@v/v1.1.0.zip"), 0);
    assert_eq!(fixture.count("example.com/unrelated/@v/v1.0.0.mod"), 0);

    let missing = modvault(
        data.path(),
        &[
            "warm",
            "example.com/absent@v1.0.0",
            "--upstream",
            &fixture.base,
            "--sumdb",
            "off",
        ],
    );
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    assert!(
        text(&missing).contains("failed example.com/absent@v1.0.0"),
        "{}",
        text(&missing)
    );

    let mut config = test_config(data.path(), &fixture.base);
    config.offline = true;
    let proxy = start_proxy(config).await;
    let zip = client()
        .get(proxy.url("example.com/full/@v/v1.0.0.zip"))
        .send()
        .await
        .unwrap();
    assert_eq!(zip.bytes().await.unwrap().as_ref(), full.zip().as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_through_running_server() {
    let fixture = Fixture::start().await;
    let module = Module::new("example.com/full", "v1.0.0");
    fixture.add(&module);
    let data = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(data.path(), &fixture.base)).await;
    let other_dir = tempfile::tempdir().unwrap();

    let output = modvault(
        other_dir.path(),
        &["warm", "example.com/full@v1.0.0", "--server", &proxy.base],
    );

    assert!(output.status.success(), "{}", text(&output));
    let zip = client()
        .get(proxy.url("example.com/full/@v/v1.0.0.zip"))
        .send()
        .await
        .unwrap();
    assert_eq!(zip.headers()["x-cache"], "HIT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_and_cache_only_answer_from_store() {
    let fixture = Fixture::start().await;
    let old = Module::new("example.com/hello", "v1.0.0");
    let new = Module::new("example.com/hello", "v1.1.0");
    let pre = Module::new("example.com/hello", "v1.2.0-rc.1");
    for module in [&old, &new, &pre] {
        fixture.add(module);
    }
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path(), &fixture.base);
    // Without prefetching, the .mod files below are never stored, because
    // no client requested them.
    config.prefetch = false;
    let proxy = start_proxy(config).await;
    let http = client();
    for version in ["v1.0.0", "v1.1.0", "v1.2.0-rc.1"] {
        let response = http
            .get(proxy.url(&format!("example.com/hello/@v/{version}.info")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    http.get(proxy.url("example.com/hello/@v/v1.0.0.zip"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    let header_miss = http
        .get(proxy.url("example.com/hello/@v/v1.1.0.zip"))
        .header("Disable-Module-Fetch", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(header_miss.status(), StatusCode::NOT_FOUND);
    assert_eq!(header_miss.headers()["cache-control"], "no-store");
    let prefix_miss = http
        .get(proxy.url("cached-only/example.com/hello/@v/v1.1.0.mod"))
        .send()
        .await
        .unwrap();
    assert_eq!(prefix_miss.status(), StatusCode::NOT_FOUND);
    let prefix_hit = http
        .get(proxy.url("cached-only/example.com/hello/@v/v1.0.0.zip"))
        .send()
        .await
        .unwrap();
    assert_eq!(prefix_hit.bytes().await.unwrap().as_ref(), old.zip().as_slice());
    assert_eq!(fixture.count("example.com/hello/@v/v1.1.0.zip"), 0);
    assert_eq!(fixture.count("example.com/hello/@v/v1.1.0.mod"), 0);
    proxy.stop().await;

    let before = fixture.total_count();
    let mut config = test_config(data.path(), &fixture.base);
    config.offline = true;
    let proxy = start_proxy(config).await;
    let list = http.get(proxy.url("example.com/hello/@v/list")).send().await.unwrap();
    assert_eq!(list.text().await.unwrap(), "v1.0.0\nv1.1.0\nv1.2.0-rc.1\n");
    let latest = http.get(proxy.url("example.com/hello/@latest")).send().await.unwrap();
    assert_eq!(
        latest.headers()["cache-control"],
        "public, max-age=60",
        "@latest is never immutable"
    );
    assert_eq!(
        latest.bytes().await.unwrap().as_ref(),
        new.info().as_slice(),
        "latest prefers the highest release"
    );
    let missing = http
        .get(proxy.url("example.com/hello/@v/v1.1.0.zip"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.headers()["cache-control"], "no-store");
    assert!(missing.text().await.unwrap().contains("offline"));
    let unknown = http.get(proxy.url("example.com/other/@v/list")).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(fixture.total_count(), before, "offline never contacts the upstream");
}

const DB: &str = "sum.test.example";

fn closed_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// Fills a store with two modules verified by a test checksum database and
/// exports them. Returns the fixture, the database key, the bundle path and
/// the folder that contains it.
async fn exported_bundle() -> (Fixture, String, std::path::PathBuf, tempfile::TempDir, Vec<Module>) {
    let fixture = Fixture::start().await;
    let db = Arc::new(Mutex::new(TestSumdb::new(DB)));
    let modules = vec![
        Module::new("example.com/Upper/Lib", "v1.0.0")
            .file("lib.go", "package lib\n\nfunc Name() string { return \"upper\" }\n"),
        Module::new("example.com/two", "v1.2.0")
            .file("two.go", "package two\n\nfunc Name() string { return \"two\" }\n"),
    ];
    for module in &modules {
        fixture.add(module);
        db.lock()
            .unwrap()
            .add(&module.path, &module.version, &module.zip_h1(), &module.mod_h1());
    }
    for i in 0..300 {
        db.lock().unwrap().add(
            &format!("example.com/filler{i}"),
            "v1.0.0",
            &modules[0].zip_h1(),
            &modules[0].mod_h1(),
        );
    }
    fixture.serve_sumdb(db.clone());
    let key = db.lock().unwrap().verifier_key();
    let setting = format!("{key} {}", closed_url());
    let source = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let bundle = folder.path().join("modules.tgz");

    let output = modvault(
        source.path(),
        &[
            "export",
            "--out",
            bundle.to_str().unwrap(),
            "example.com/Upper/Lib@v1.0.0",
            "example.com/two@v1.2.0",
            "--upstream",
            &fixture.base,
            "--sumdb",
            &setting,
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("exported 6 files"), "{}", text(&output));
    (fixture, key, bundle, folder, modules)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn air_gapped_import_serves_go_without_network() {
    let (mut fixture, key, bundle, _folder, modules) = exported_bundle().await;
    fixture.stop();
    let target = tempfile::tempdir().unwrap();
    let setting = format!("{key} {}", closed_url());

    let imported = modvault(
        target.path(),
        &["import", bundle.to_str().unwrap(), "--sumdb", &setting, "--offline"],
    );
    assert!(imported.status.success(), "{}", text(&imported));
    assert!(text(&imported).contains("imported 6 files"), "{}", text(&imported));

    let mut config = test_config(target.path(), &closed_url());
    config.offline = true;
    config.sumdb = SumdbConfig::parse(&setting).unwrap();
    let proxy = start_proxy(config).await;
    let work = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("go.mod"),
        "module example.com/app\n\ngo 1.21\n\nrequire (\n\texample.com/Upper/Lib v1.0.0\n\texample.com/two v1.2.0\n)\n",
    )
    .unwrap();
    std::fs::write(work.path().join("main.go"), "package main\n\nimport (\n\t\"fmt\"\n\n\tlib \"example.com/Upper/Lib\"\n\t\"example.com/two\"\n)\n\nfunc main() { fmt.Println(lib.Name(), two.Name()) }\n").unwrap();

    let (dir, home_dir, base) = (work.path().to_path_buf(), home.path().to_path_buf(), proxy.base.clone());
    let output = tokio::task::spawn_blocking(move || {
        support::go(
            &dir,
            &home_dir,
            &base,
            &key,
            "-mod=mod -modcacherw",
            &["build", "-o", "app", "."],
        )
    })
    .await
    .unwrap();

    assert!(
        output.status.success(),
        "offline go build failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let go_sum = std::fs::read_to_string(work.path().join("go.sum")).unwrap();
    for module in &modules {
        assert!(
            go_sum.contains(&format!("{} {} {}", module.path, module.version, module.zip_h1())),
            "{go_sum}"
        );
    }
    let page = proxy.metrics().await;
    assert!(
        metric_value(
            &page,
            "modvault_http_requests_total",
            &[("endpoint", "sumdb"), ("outcome", "hit")]
        ) >= 2.0
    );
}

/// Rewrites the bundle with one byte of one blob changed.
fn tamper(bundle: &Path, out: &Path) -> String {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(bundle).unwrap()));
    let encoder = flate2::write::GzEncoder::new(std::fs::File::create(out).unwrap(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    let mut changed = String::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut body = Vec::new();
        entry.read_to_end(&mut body).unwrap();
        if changed.is_empty() && name.starts_with("blobs/") && body.len() > 100 {
            let middle = body.len() / 2;
            body[middle] ^= 0x01;
            changed = name.clone();
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, &name, body.as_slice()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
    changed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_bundle_is_rejected_and_stores_nothing() {
    let (_fixture, key, bundle, folder, _modules) = exported_bundle().await;
    let tampered = folder.path().join("tampered.tgz");
    let changed = tamper(&bundle, &tampered);
    let target = tempfile::tempdir().unwrap();
    let setting = format!("{key} {}", closed_url());

    let output = modvault(
        target.path(),
        &["import", tampered.to_str().unwrap(), "--sumdb", &setting],
    );

    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains(&changed),
        "the first bad entry {changed} is named: {}",
        text(&output)
    );
    assert!(text(&output).contains("nothing was stored"), "{}", text(&output));
    assert!(blob_files(target.path()).is_empty());
    let stats = modvault(target.path(), &["stats"]);
    assert!(text(&stats).contains("0 zip, 0 mod, 0 info"), "{}", text(&stats));

    let mut garbled = std::fs::read(&bundle).unwrap();
    let middle = garbled.len() / 2;
    garbled[middle] ^= 0x01;
    std::fs::write(folder.path().join("garbled.tgz"), garbled).unwrap();
    let output = modvault(
        target.path(),
        &[
            "import",
            folder.path().join("garbled.tgz").to_str().unwrap(),
            "--sumdb",
            &setting,
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(blob_files(target.path()).is_empty());
}

#[tokio::test]
async fn eviction_spares_a_recently_served_entry() {
    let fixture = Fixture::start().await;
    let modules: Vec<Module> = (0..4)
        .map(|i| sized_module(&format!("example.com/lru{i}"), 200_000))
        .collect();
    for module in &modules {
        fixture.add(module);
    }
    let budget = modules[0].zip().len() * 3 + modules[0].zip().len() / 2;
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path(), &fixture.base);
    config.max_size = Some(budget as u64);
    let proxy = start_proxy(config).await;
    let http = client();
    let zip = |i: usize| proxy.url(&format!("example.com/lru{i}/@v/v1.0.0.zip"));

    for i in 0..3 {
        assert_eq!(http.get(zip(i)).send().await.unwrap().status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let served_again = http.get(zip(0)).send().await.unwrap();
    assert_eq!(served_again.headers()["x-cache"], "HIT");
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(http.get(zip(3)).send().await.unwrap().status(), StatusCode::OK);

    let first = http.get(zip(0)).send().await.unwrap();
    let second = http.get(zip(1)).send().await.unwrap();
    assert_eq!(
        first.headers()["x-cache"],
        "HIT",
        "served last before the fill, so kept"
    );
    assert_eq!(second.headers()["x-cache"], "MISS", "least recently served, so evicted");
    assert_eq!(fixture.count("example.com/lru0/@v/v1.0.0.zip"), 1);
    assert_eq!(fixture.count("example.com/lru1/@v/v1.0.0.zip"), 2);
}
