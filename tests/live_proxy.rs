//! Real input: fills modvault from the machine's configured Go module proxy
//! (the first http(s) entry of `go env GOPROXY`, read at run time) and builds
//! a small real program whose go.sum is committed, so the go command checks
//! every downloaded zip against it. Then builds again from a clean module
//! cache with the upstream unreachable. Skips loudly when the machine's proxy
//! cannot be reached at all.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{start_proxy, test_config};

fn machine_proxy() -> Option<String> {
    let output = Command::new("go").args(["env", "GOPROXY"]).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .split([',', '|'])
        .map(str::trim)
        .find(|entry| entry.starts_with("https://") || entry.starts_with("http://"))
        .map(|entry| entry.trim_end_matches('/').to_string())
}

async fn reachable(proxy: &str) -> bool {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    match client
        .get(format!("{proxy}/github.com/spf13/cobra/@v/v1.10.2.info"))
        .send()
        .await
    {
        Ok(response) => response.status().is_success(),
        Err(_) => false,
    }
}

fn copy_program(to: &Path) {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/realprog");
    for name in ["go.mod", "go.sum", "main.go"] {
        std::fs::copy(source.join(name), to.join(name)).unwrap();
    }
}

fn go_build(dir: &Path, home: &Path, proxy: &str) -> std::process::Output {
    Command::new("go")
        .args(["build", "-o", "realprog", "."])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GOPATH", home.join("gopath"))
        .env("GOMODCACHE", home.join("modcache"))
        .env("GOCACHE", home.join("gocache"))
        .env("GOENV", "off")
        .env("GOPROXY", proxy)
        .env("GOSUMDB", "off")
        .env("GOFLAGS", "-mod=readonly")
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .output()
        .expect("go runs")
}

#[tokio::test]
async fn real_program_builds_through_modvault_then_offline() {
    let Some(upstream) = machine_proxy() else {
        eprintln!("\n*** SKIPPED real_program_builds_through_modvault_then_offline: `go env GOPROXY` lists no http(s) proxy ***\n");
        return;
    };
    if !reachable(&upstream).await {
        eprintln!("\n*** SKIPPED real_program_builds_through_modvault_then_offline: the machine's Go module proxy cannot be reached ***\n");
        return;
    }
    eprintln!("live test: filling from the machine's configured Go module proxy");

    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    copy_program(work.path());
    let mut config = test_config(data.path(), &upstream);
    config.header_timeout = Duration::from_secs(30);
    config.idle_timeout = Duration::from_secs(30);
    config.total_timeout = Duration::from_secs(120);
    let proxy = start_proxy(config).await;

    let (dir, home_dir, base) = (work.path().to_path_buf(), home.path().to_path_buf(), proxy.base.clone());
    let output = tokio::task::spawn_blocking(move || go_build(&dir, &home_dir, &base))
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "online build failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metrics = support::client()
        .get(proxy.url("metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let zips_stored = support::metric_value(&metrics, "modvault_store_objects", &[("kind", "zip")]);
    assert!(
        zips_stored >= 8.0,
        "expected the program's module zips in the store, found {zips_stored}"
    );
    proxy.stop().await;

    let unreachable = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let proxy = start_proxy(test_config(data.path(), &unreachable)).await;
    let (dir, home_dir, base) = (work.path().to_path_buf(), home.path().to_path_buf(), proxy.base.clone());
    let output = tokio::task::spawn_blocking(move || {
        let clean = Command::new("go")
            .args(["clean", "-modcache"])
            .env("GOMODCACHE", home_dir.join("modcache"))
            .env("GOPATH", home_dir.join("gopath"))
            .env("HOME", &home_dir)
            .env("GOTOOLCHAIN", "local")
            .output()
            .unwrap();
        assert!(clean.status.success());
        std::fs::remove_file(dir.join("realprog")).unwrap();
        go_build(&dir, &home_dir, &base)
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "offline build failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(work.path().join("realprog").exists());
}
