//! Verification against a checksum database that the tests build on
//! loopback, with a generated Ed25519 key and the Merkle tree, tiles and
//! signed notes in Go's formats. Also covers the checksum database served to
//! the real go command, and the zip rules that reject malformed zips.

mod support;

use std::sync::{Arc, Mutex};

use modvault::verify::sumdb::SumdbConfig;
use modvault::verify::testing::TestSumdb;
use reqwest::StatusCode;
use support::{build_zip, client, metric_value, start_proxy, test_config, Fixture, Module};

const DB: &str = "sum.test.example";

/// An address nothing listens on: the database's own URL in tests where
/// all checksum traffic must go through the upstream.
fn closed_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

fn record(db: &Arc<Mutex<TestSumdb>>, module: &Module) {
    db.lock()
        .unwrap()
        .add(&module.path, &module.version, &module.zip_h1(), &module.mod_h1());
}

fn sumdb_setting(db: &Arc<Mutex<TestSumdb>>, url: &str) -> SumdbConfig {
    let key = db.lock().unwrap().verifier_key();
    SumdbConfig::parse(&format!("{key} {url}")).unwrap()
}

/// Builds test settings that fill from `fixture` and verify with `db`,
/// reached only through the fixture's `/sumdb/`.
/// Runs the test program with the real go command through `proxy`, which
/// trusts `db`'s key; returns its folder (with go.sum) and the output.
async fn go_run_program(
    proxy: &support::Proxy,
    db: &Arc<Mutex<TestSumdb>>,
) -> (tempfile::TempDir, std::process::Output) {
    let work = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("go.mod"), GO_MOD).unwrap();
    std::fs::write(work.path().join("main.go"), MAIN_GO).unwrap();
    let key = db.lock().unwrap().verifier_key();

    let (dir, home_dir, base) = (work.path().to_path_buf(), home.path().to_path_buf(), proxy.base.clone());
    let output = tokio::task::spawn_blocking(move || {
        support::go(&dir, &home_dir, &base, &key, "-mod=mod -modcacherw", &["run", "."])
    })
    .await
    .unwrap();
    (work, output)
}

fn verified_config(data: &std::path::Path, fixture: &Fixture, db: &Arc<Mutex<TestSumdb>>) -> modvault::config::Config {
    let mut config = test_config(data, &fixture.base);
    config.sumdb = sumdb_setting(db, &closed_url());
    config
}

fn modules() -> Vec<Module> {
    vec![
        Module::new("example.com/Upper/Lib", "v1.0.0")
            .file("lib.go", "package lib\n\nfunc Name() string { return \"upper\" }\n"),
        Module::new("example.com/incompat", "v2.0.0+incompatible")
            .without_go_mod()
            .file(
                "incompat.go",
                "package incompat\n\nfunc Name() string { return \"incompatible\" }\n",
            ),
    ]
}

const MAIN_GO: &str = "package main\n\nimport (\n\t\"fmt\"\n\n\tlib \"example.com/Upper/Lib\"\n\t\"example.com/incompat\"\n)\n\nfunc main() { fmt.Println(lib.Name(), incompat.Name()) }\n";
const GO_MOD: &str = "module example.com/app\n\ngo 1.21\n\nrequire (\n\texample.com/Upper/Lib v1.0.0\n\texample.com/incompat v2.0.0+incompatible\n)\n";

#[tokio::test]
async fn go_verifies_through_modvault_only() {
    let fixture = Fixture::start().await;
    let db = Arc::new(Mutex::new(TestSumdb::new(DB)));
    for module in modules() {
        fixture.add(&module);
        record(&db, &module);
    }
    fixture.serve_sumdb(db.clone());
    let data = tempfile::tempdir().unwrap();
    let proxy = start_proxy(verified_config(data.path(), &fixture, &db)).await;
    let (work, output) = go_run_program(&proxy, &db).await;

    assert!(
        output.status.success(),
        "go run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "upper incompatible\n");
    let go_sum = std::fs::read_to_string(work.path().join("go.sum")).unwrap();
    for module in modules() {
        assert!(
            go_sum.contains(&format!("{} {} {}", module.path, module.version, module.zip_h1())),
            "{go_sum}"
        );
        assert!(
            go_sum.contains(&format!(
                "{} {}/go.mod {}",
                module.path,
                module.version,
                module.mod_h1()
            )),
            "{go_sum}"
        );
    }
    let lookup = format!("sumdb/{DB}/lookup/example.com/!upper/!lib@v1.0.0");
    assert_eq!(
        fixture.count(&lookup),
        1,
        "one upstream lookup serves both modvault's check and the go command"
    );
    let page = proxy.metrics().await;
    assert_eq!(metric_value(&page, "modvault_verification_failures_total", &[]), 0.0);
    assert!(
        metric_value(&page, "modvault_http_requests_total", &[("endpoint", "sumdb")]) >= 2.0,
        "the go command used /sumdb/"
    );
}

#[tokio::test]
async fn direct_database_url_used_when_upstream_lacks_sumdb() {
    let upstream = Fixture::start().await;
    let database = Fixture::start().await;
    let db = Arc::new(Mutex::new(TestSumdb::new(DB)));
    let module = Module::new("example.com/hello", "v1.0.0");
    upstream.add(&module);
    record(&db, &module);
    database.serve_sumdb(db.clone());
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path(), &upstream.base);
    config.sumdb = sumdb_setting(&db, &format!("{}/sumdb/{DB}", database.base));
    let proxy = start_proxy(config).await;

    let zip = client()
        .get(proxy.url("example.com/hello/@v/v1.0.0.zip"))
        .send()
        .await
        .unwrap();

    assert_eq!(zip.status(), StatusCode::OK);
    assert_eq!(zip.bytes().await.unwrap().as_ref(), module.zip().as_slice());
    assert_eq!(upstream.count(&format!("sumdb/{DB}/supported")), 1);
}

#[tokio::test]
async fn tampered_zip_is_refused_and_counted() {
    let fixture = Fixture::start().await;
    let db = Arc::new(Mutex::new(TestSumdb::new(DB)));
    let modules = modules();
    for module in &modules {
        fixture.add(module);
        record(&db, module);
    }
    fixture.serve_sumdb(db.clone());
    let tampered = modules[0]
        .clone()
        .file("backdoor.go", "package lib\n\nfunc init() {}\n");
    fixture.put("example.com/!upper/!lib/@v/v1.0.0.zip", tampered.zip());
    let data = tempfile::tempdir().unwrap();
    let proxy = start_proxy(verified_config(data.path(), &fixture, &db)).await;

    let response = client()
        .get(proxy.url("example.com/!upper/!lib/@v/v1.0.0.zip"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let reason = response.text().await.unwrap();
    assert_eq!(reason.lines().count(), 1);
    for part in [
        "example.com/Upper/Lib",
        "v1.0.0",
        &modules[0].zip_h1(),
        &tampered.zip_h1(),
        "mismatch",
    ] {
        assert!(reason.contains(part), "{part} missing from {reason:?}");
    }
    let page = proxy.metrics().await;
    assert_eq!(
        metric_value(
            &page,
            "modvault_verification_failures_total",
            &[("reason", "checksum_mismatch")]
        ),
        1.0
    );
    let again = client()
        .get(proxy.url("example.com/!upper/!lib/@v/v1.0.0.zip"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::BAD_GATEWAY, "nothing was stored");

    let (_work, output) = go_run_program(&proxy, &db).await;
    assert!(!output.status.success(), "go must not build with a tampered module");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("502"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn unknown_version_is_refused_unless_skipped() {
    let fixture = Fixture::start().await;
    let db = Arc::new(Mutex::new(TestSumdb::new(DB)));
    let known = Module::new("example.com/known", "v1.0.0");
    fixture.add(&known);
    record(&db, &known);
    let private = Module::new("corp.example/private/tool", "v1.0.0");
    fixture.add(&private);
    fixture.serve_sumdb(db.clone());
    let data = tempfile::tempdir().unwrap();
    let proxy = start_proxy(verified_config(data.path(), &fixture, &db)).await;

    let refused = client()
        .get(proxy.url("corp.example/private/tool/@v/v1.0.0.mod"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_GATEWAY);
    assert!(refused.text().await.unwrap().contains("not found in checksum database"));
    proxy.stop().await;

    let mut config = verified_config(data.path(), &fixture, &db);
    config.nosumdb = modvault::module::PathPatterns::parse("corp.example/private").unwrap();
    let proxy = start_proxy(config).await;
    let skipped = client()
        .get(proxy.url("corp.example/private/tool/@v/v1.0.0.zip"))
        .send()
        .await
        .unwrap();
    assert_eq!(skipped.status(), StatusCode::OK);
    assert_eq!(skipped.bytes().await.unwrap().as_ref(), private.zip().as_slice());
}

#[tokio::test]
async fn forked_database_is_refused() {
    let fixture = Fixture::start().await;
    let db = Arc::new(Mutex::new(TestSumdb::new(DB)));
    let first = Module::new("example.com/first", "v1.0.0");
    fixture.add(&first);
    record(&db, &first);
    fixture.serve_sumdb(db.clone());
    let data = tempfile::tempdir().unwrap();
    let proxy = start_proxy(verified_config(data.path(), &fixture, &db)).await;
    let trusted = client()
        .get(proxy.url("example.com/first/@v/v1.0.0.mod"))
        .send()
        .await
        .unwrap();
    assert_eq!(trusted.status(), StatusCode::OK);

    let fork = Arc::new(Mutex::new(db.lock().unwrap().fork()));
    let second = Module::new("example.com/second", "v1.0.0");
    fixture.add(&second);
    {
        let mut fork = fork.lock().unwrap();
        fork.add("example.com/other", "v1.0.0", &first.zip_h1(), &first.mod_h1());
        fork.add(&second.path, &second.version, &second.zip_h1(), &second.mod_h1());
    }
    fixture.serve_sumdb(fork);
    let refused = client()
        .get(proxy.url("example.com/second/@v/v1.0.0.mod"))
        .send()
        .await
        .unwrap();

    assert_eq!(refused.status(), StatusCode::BAD_GATEWAY);
    let reason = refused.text().await.unwrap();
    assert!(reason.contains("SECURITY ERROR"), "{reason}");
    assert!(reason.contains("inconsistent"), "{reason}");
    let page = proxy.metrics().await;
    assert_eq!(
        metric_value(&page, "modvault_verification_failures_total", &[("reason", "fork")]),
        1.0
    );
}

#[tokio::test]
async fn sumdb_endpoint_caches_lookups_and_serves_stale_latest() {
    let mut fixture = Fixture::start().await;
    let db = Arc::new(Mutex::new(TestSumdb::new(DB)));
    let module = Module::new("example.com/hello", "v1.0.0");
    fixture.add(&module);
    record(&db, &module);
    fixture.serve_sumdb(db.clone());
    let data = tempfile::tempdir().unwrap();
    let mut config = verified_config(data.path(), &fixture, &db);
    config.list_ttl = std::time::Duration::ZERO;
    let proxy = start_proxy(config).await;
    let http = client();

    assert_eq!(
        http.get(proxy.url(&format!("sumdb/{DB}/supported")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        http.get(proxy.url("sumdb/sum.golang.org/supported"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let lookup = http
        .get(proxy.url(&format!("sumdb/{DB}/lookup/example.com/hello@v1.0.0")))
        .send()
        .await
        .unwrap();
    assert_eq!(lookup.status(), StatusCode::OK);
    assert_eq!(lookup.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(lookup.headers()["x-cache"], "MISS");
    let body = lookup.text().await.unwrap();
    assert!(
        body.contains(&format!("example.com/hello v1.0.0 {}", module.zip_h1())),
        "{body}"
    );
    let latest = http
        .get(proxy.url(&format!("sumdb/{DB}/latest")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(latest.as_ref(), db.lock().unwrap().signed_tree().as_slice());
    let bad = http
        .get(proxy.url(&format!("sumdb/{DB}/lookup/../../x@v1.0.0")))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::NOT_FOUND);

    fixture.stop();
    let cached = http
        .get(proxy.url(&format!("sumdb/{DB}/lookup/example.com/hello@v1.0.0")))
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::OK);
    assert_eq!(cached.text().await.unwrap(), body);
    let stale = http.get(proxy.url(&format!("sumdb/{DB}/latest"))).send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
    assert!(stale.headers()["warning"].to_str().unwrap().starts_with("110"));
    assert_eq!(stale.headers()["x-cache"], "STALE");
    assert_eq!(stale.headers()["cache-control"], "no-cache");
    assert_eq!(stale.bytes().await.unwrap(), latest);
}

/// Rewrites the uncompressed size `actual` to `declared` in the local header
/// and central directory record of each entry that has it.
fn understate_sizes(mut zip: Vec<u8>, actual: u32, declared: u32) -> Vec<u8> {
    let mut i = 0;
    while i + 4 <= zip.len() {
        let signature = u32::from_le_bytes(zip[i..i + 4].try_into().unwrap());
        let offset = match signature {
            0x04034b50 => Some(22),
            0x02014b50 => Some(24),
            _ => None,
        };
        if let Some(offset) = offset {
            let field = i + offset..i + offset + 4;
            if zip[field.clone()] == actual.to_le_bytes() {
                zip[field].copy_from_slice(&declared.to_le_bytes());
            }
        }
        i += 1;
    }
    zip
}

#[tokio::test]
async fn zip_bomb_and_case_collision_are_refused() {
    let fixture = Fixture::start().await;
    let bomb_files = vec![
        ("go.mod".to_string(), b"module example.com/bomb\n".to_vec()),
        ("zeros.txt".to_string(), vec![0u8; 20 << 20]),
    ];
    let bomb = understate_sizes(build_zip("example.com/bomb@v1.0.0/", &bomb_files), 20 << 20, 100);
    fixture.put("example.com/bomb/@v/v1.0.0.zip", bomb);
    let collision_files = vec![
        ("a.go".to_string(), b"package a\n".to_vec()),
        ("A.go".to_string(), b"package a\n".to_vec()),
    ];
    fixture.put(
        "example.com/collide/@v/v1.0.0.zip",
        build_zip("example.com/collide@v1.0.0/", &collision_files),
    );
    let nested_files = vec![
        ("go.mod".to_string(), b"module example.com/nested\n".to_vec()),
        ("sub/go.mod".to_string(), b"module example.com/nested/sub\n".to_vec()),
    ];
    fixture.put(
        "example.com/nested/@v/v1.0.0.zip",
        build_zip("example.com/nested@v1.0.0/", &nested_files),
    );
    let data = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(data.path(), &fixture.base)).await;
    let http = client();

    let bomb = http
        .get(proxy.url("example.com/bomb/@v/v1.0.0.zip"))
        .send()
        .await
        .unwrap();
    assert_eq!(bomb.status(), StatusCode::BAD_GATEWAY);
    let reason = bomb.text().await.unwrap();
    assert!(reason.contains("zeros.txt"), "{reason}");
    let collision = http
        .get(proxy.url("example.com/collide/@v/v1.0.0.zip"))
        .send()
        .await
        .unwrap();
    assert_eq!(collision.status(), StatusCode::BAD_GATEWAY);
    let reason = collision.text().await.unwrap();
    assert!(reason.to_lowercase().contains("case"), "{reason}");
    let nested = http
        .get(proxy.url("example.com/nested/@v/v1.0.0.zip"))
        .send()
        .await
        .unwrap();
    assert_eq!(nested.status(), StatusCode::BAD_GATEWAY);

    let page = proxy.metrics().await;
    assert_eq!(
        metric_value(
            &page,
            "modvault_verification_failures_total",
            &[("reason", "zip_rules")]
        ),
        3.0
    );
    assert_eq!(std::fs::read_dir(data.path().join("tmp")).unwrap().count(), 0);
}

#[tokio::test]
async fn unreachable_upstream_never_diverts_to_database_url() {
    let database = Fixture::start().await;
    let db = Arc::new(Mutex::new(TestSumdb::new(DB)));
    let module = Module::new("example.com/hello", "v1.0.0");
    record(&db, &module);
    database.serve_sumdb(db.clone());
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path(), &closed_url());
    config.sumdb = sumdb_setting(&db, &format!("{}/sumdb/{DB}", database.base));
    let proxy = start_proxy(config).await;
    let http = client();

    for _ in 0..3 {
        let lookup = http
            .get(proxy.url(&format!("sumdb/{DB}/lookup/example.com/hello@v1.0.0")))
            .send()
            .await
            .unwrap();
        assert_eq!(lookup.status(), StatusCode::BAD_GATEWAY);
    }

    assert_eq!(
        database.total_count(),
        0,
        "the database's own URL is only for upstreams that do not support it"
    );
}
