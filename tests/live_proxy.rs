//! Real input: fills modvault from the machine's configured Go module proxy
//! (the first http(s) entry of `go env GOPROXY`, read at run time) and builds
//! a small real program whose go.sum is committed, so the go command checks
//! every downloaded zip against it.
//!
//! When the machine's proxy serves the machine's checksum database under
//! `/sumdb/`, modvault verifies every fill against it, and a last build
//! without go.sum makes the go command verify through modvault as well. Then
//! the program builds again from a clean module cache with the upstream
//! unreachable. The test skips loudly when the machine's proxy cannot be
//! reached at all.

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use modvault::config::Config;
use modvault::verify::sumdb::SumdbConfig;
use support::{metric_value, start_proxy, test_config};

fn go_env(name: &str) -> String {
    let output = Command::new("go")
        .args(["env", name])
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    String::from_utf8_lossy(&output).trim().to_string()
}

fn machine_proxy() -> Option<String> {
    go_env("GOPROXY")
        .split([',', '|'])
        .map(str::trim)
        .find(|entry| entry.starts_with("https://") || entry.starts_with("http://"))
        .map(|entry| entry.trim_end_matches('/').to_string())
}

async fn answers_200(url: &str) -> bool {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    match client.get(url).send().await {
        Ok(response) => response.status().is_success(),
        Err(_) => false,
    }
}

fn copy_program(to: &Path, with_go_sum: bool) {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/realprog");
    for name in ["go.mod", "go.sum", "main.go"] {
        if name != "go.sum" || with_go_sum {
            std::fs::copy(source.join(name), to.join(name)).unwrap();
        }
    }
}

fn clean_module_cache(home: &Path) {
    let clean = Command::new("go")
        .args(["clean", "-modcache"])
        .env("GOMODCACHE", home.join("modcache"))
        .env("GOPATH", home.join("gopath"))
        .env("HOME", home)
        .env("GOTOOLCHAIN", "local")
        .output()
        .unwrap();
    assert!(clean.status.success());
}

fn live_config(data: &Path, upstream: &str, sumdb: &SumdbConfig) -> Config {
    let mut config = test_config(data, upstream);
    config.header_timeout = Duration::from_secs(30);
    config.idle_timeout = Duration::from_secs(30);
    config.total_timeout = Duration::from_secs(120);
    config.sumdb = sumdb.clone();
    config
}

async fn build(work: &Path, home: &Path, proxy: &str, gosumdb: &str, flags: &str) -> std::process::Output {
    let (dir, home_dir, base, gosumdb, flags) = (
        work.to_path_buf(),
        home.to_path_buf(),
        proxy.to_string(),
        gosumdb.to_string(),
        flags.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        support::go(
            &dir,
            &home_dir,
            &base,
            &gosumdb,
            &flags,
            &["build", "-o", "realprog", "."],
        )
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn real_program_builds_through_modvault_then_offline() {
    let Some(upstream) = machine_proxy() else {
        eprintln!("\n*** SKIPPED real_program_builds_through_modvault_then_offline: `go env GOPROXY` lists no http(s) proxy ***\n");
        return;
    };
    if !answers_200(&format!("{upstream}/github.com/spf13/cobra/@v/v1.10.2.info")).await {
        eprintln!("\n*** SKIPPED real_program_builds_through_modvault_then_offline: the machine's Go module proxy cannot be reached ***\n");
        return;
    }
    let machine_sumdb = go_env("GOSUMDB");
    let sumdb_name = machine_sumdb.split(['+', ' ']).next().unwrap_or("").to_string();
    let through_upstream = machine_sumdb != "off"
        && !sumdb_name.is_empty()
        && answers_200(&format!("{upstream}/sumdb/{sumdb_name}/supported")).await;
    let sumdb = if through_upstream {
        SumdbConfig::parse(&machine_sumdb).unwrap()
    } else {
        SumdbConfig::Off
    };
    if through_upstream {
        eprintln!("live test: checksum database path: {sumdb_name} through the machine's proxy (/sumdb/); modvault verifies every fill");
    } else {
        eprintln!("\n*** live test: checksum database path: none (GOSUMDB={machine_sumdb:?} is off or not served by the machine's proxy); verification is not exercised ***\n");
    }

    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    copy_program(work.path(), true);
    let proxy = start_proxy(live_config(data.path(), &upstream, &sumdb)).await;

    let output = build(work.path(), home.path(), &proxy.base, "off", "-mod=readonly").await;
    assert!(
        output.status.success(),
        "online build failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metrics = proxy.metrics().await;
    let zips_stored = metric_value(&metrics, "modvault_store_objects", &[("kind", "zip")]);
    assert!(
        zips_stored >= 8.0,
        "expected the program's module zips in the store, found {zips_stored}"
    );
    assert_eq!(metric_value(&metrics, "modvault_verification_failures_total", &[]), 0.0);

    if through_upstream {
        let fresh = tempfile::tempdir().unwrap();
        let fresh_home = tempfile::tempdir().unwrap();
        copy_program(fresh.path(), false);
        let output = build(fresh.path(), fresh_home.path(), &proxy.base, &machine_sumdb, "-mod=mod").await;
        assert!(
            output.status.success(),
            "build verified through modvault failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let committed: HashSet<String> = std::fs::read_to_string(work.path().join("go.sum"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let verified = std::fs::read_to_string(fresh.path().join("go.sum")).unwrap();
        for line in verified.lines() {
            assert!(
                committed.contains(line),
                "go.sum line verified through modvault differs from the committed go.sum: {line}"
            );
        }
        let metrics = proxy.metrics().await;
        let sumdb_requests = metric_value(&metrics, "modvault_http_requests_total", &[("endpoint", "sumdb")]);
        assert!(
            sumdb_requests >= 1.0,
            "the go command sent its checksum database requests to modvault"
        );
        eprintln!(
            "live test: the go command verified {} go.sum lines through modvault ({sumdb_requests} /sumdb/ requests)",
            verified.lines().count()
        );
    }
    proxy.stop().await;

    let unreachable = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let proxy = start_proxy(live_config(data.path(), &unreachable, &sumdb)).await;
    let home_dir = home.path().to_path_buf();
    tokio::task::spawn_blocking(move || clean_module_cache(&home_dir))
        .await
        .unwrap();
    std::fs::remove_file(work.path().join("realprog")).unwrap();
    let output = build(work.path(), home.path(), &proxy.base, "off", "-mod=readonly").await;
    assert!(
        output.status.success(),
        "offline build failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(work.path().join("realprog").exists());
}
