//! Tests of the server around the protocol: methods, rejected paths,
//! service endpoints, upstream chains, credentials, restarts and crashes.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use support::{client, metric_value, start_proxy, test_config, Fault, Fixture, Module};

const ZIP: &str = "example.com/hello/@v/v1.0.0.zip";

#[tokio::test]
async fn other_methods_get_405_with_allow() {
    let fixture = Fixture::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;

    for path in [ZIP, "healthz", "metrics", ""] {
        for method in [reqwest::Method::POST, reqwest::Method::PUT, reqwest::Method::DELETE] {
            let response = client().request(method.clone(), proxy.url(path)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} /{path}");
            assert_eq!(response.headers()["allow"], "GET, HEAD", "{method} /{path}");
            assert_eq!(
                response.text().await.unwrap(),
                "only GET and HEAD are allowed\n",
                "{method} /{path}"
            );
        }
    }
    assert_eq!(fixture.total_count(), 0);
}

#[tokio::test]
async fn invalid_paths_get_404_text_and_touch_nothing() {
    let fixture = Fixture::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let http = client();

    for path in [
        "github.com/Azure/go/@v/list",
        "example.com/x/@v/v1.0.mod",
        "example.com/x/@v/master.zip",
        "example.com/x/v2/@v/v1.0.0.mod",
        "example.com/x/@v/v2.0.0.mod",
        "example.com/x/@v/v1.0.0+incompatible.mod",
        "example.com/%2e%2e/%2e%2e/etc/@v/list",
        "example.com/x/@v/..%2f..%2f..%2fetc%2fpasswd.info",
        "example.com/con/@v/list",
        "golang.org",
        "favicon.ico",
        "example.com/x/@v/%ff.info",
        "example.com/x/@v/",
    ] {
        let response = http.get(proxy.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8",
            "{path}"
        );
        let body = response.text().await.unwrap();
        assert_eq!(body.lines().count(), 1, "{path}: {body:?}");
    }
    assert_eq!(fixture.total_count(), 0, "rejected paths never reach the upstream");
    let page = proxy.metrics().await;
    assert_eq!(
        metric_value(&page, "modvault_http_requests_total", &[("outcome", "rejected")]),
        13.0
    );
}

#[tokio::test]
async fn capitals_encoded_either_way_reach_one_entry() {
    let fixture = Fixture::start().await;
    let module = Module::new("github.com/Azure/Thing", "v1.0.0-RC1");
    fixture.add(&module);
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let http = client();

    let plain = http
        .get(proxy.url("github.com/!azure/!thing/@v/v1.0.0-!r!c1.mod"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
    let percent = http
        .get(proxy.url("github.com/%21azure/%21thing/@v/v1.0.0-%21r%21c1.mod"))
        .send()
        .await
        .unwrap();
    assert_eq!(percent.headers()["x-cache"], "HIT");
    assert_eq!(percent.bytes().await.unwrap().as_ref(), module.mod_file().as_slice());
    assert_eq!(fixture.count("github.com/!azure/!thing/@v/v1.0.0-!r!c1.mod"), 1);
}

#[tokio::test]
async fn service_endpoints_answer() {
    let fixture = Fixture::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let http = client();

    assert_eq!(
        http.get(proxy.url("healthz")).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        http.get(proxy.url("readyz")).send().await.unwrap().status(),
        StatusCode::OK
    );

    let landing = http.get(proxy.url("")).send().await.unwrap();
    assert_eq!(landing.status(), StatusCode::OK);
    assert!(landing.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = landing.text().await.unwrap();
    assert!(html.contains(&format!("GOPROXY=http://{}", proxy.addr)), "{html}");

    let metrics = proxy.metrics().await;
    for name in [
        "modvault_http_requests_total",
        "modvault_store_objects",
        "modvault_store_bytes",
        "modvault_fills_in_flight",
        "modvault_store_disk_available_bytes",
        "modvault_build_info",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
}

#[tokio::test]
async fn readyz_fails_when_data_dir_is_not_writable() {
    let fixture = Fixture::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;

    std::fs::remove_dir_all(dir.path().join("tmp")).unwrap();
    let response = client().get(proxy.url("readyz")).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        client().get(proxy.url("healthz")).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn comma_falls_through_only_on_not_found() {
    let first = Fixture::start().await;
    let second = Fixture::start().await;
    let module = Module::new("example.com/hello", "v1.0.0");
    second.add(&module);
    first.put("example.com/broken/@v/list", "v1.0.0\n");
    first.fault("example.com/broken/@v/list", Fault::Status(500));
    second.put("example.com/broken/@v/list", "v1.0.0\n");
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &format!("{},{}", first.base, second.base))).await;
    let http = client();

    let found = http.get(proxy.url(ZIP)).send().await.unwrap();
    assert_eq!(found.status(), StatusCode::OK, "404 on the first entry falls through");
    assert_eq!(found.bytes().await.unwrap().as_ref(), module.zip().as_slice());
    assert_eq!(first.count(ZIP), 1);

    let broken = http.get(proxy.url("example.com/broken/@v/list")).send().await.unwrap();
    assert_eq!(
        broken.status(),
        StatusCode::BAD_GATEWAY,
        "a 5xx after ',' stops the chain"
    );
    assert_eq!(second.count("example.com/broken/@v/list"), 0);
}

#[tokio::test]
async fn pipe_falls_through_on_any_error() {
    let mut first = Fixture::start().await;
    let second = Fixture::start().await;
    let module = Module::new("example.com/hello", "v1.0.0");
    second.add(&module);
    let first_base = first.base.clone();
    first.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &format!("{first_base}|{}", second.base))).await;

    let response = client().get(proxy.url(ZIP)).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), module.zip().as_slice());
}

#[tokio::test]
async fn file_upstream_serves_a_download_directory() {
    let cache = tempfile::tempdir().unwrap();
    let module = Module::new("example.com/Offline", "v1.2.3");
    let version_dir = cache.path().join("example.com/!offline/@v");
    std::fs::create_dir_all(&version_dir).unwrap();
    std::fs::write(version_dir.join("list"), "v1.2.3\n").unwrap();
    std::fs::write(version_dir.join("v1.2.3.info"), module.info()).unwrap();
    std::fs::write(version_dir.join("v1.2.3.mod"), module.mod_file()).unwrap();
    std::fs::write(version_dir.join("v1.2.3.zip"), module.zip()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let upstream = format!("file://{}", cache.path().display());
    let proxy = start_proxy(test_config(dir.path(), &upstream)).await;
    let http = client();

    let zip = http
        .get(proxy.url("example.com/!offline/@v/v1.2.3.zip"))
        .send()
        .await
        .unwrap();
    assert_eq!(zip.status(), StatusCode::OK);
    assert_eq!(zip.bytes().await.unwrap().as_ref(), module.zip().as_slice());
    let list = http
        .get(proxy.url("example.com/!offline/@v/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(list.text().await.unwrap(), "v1.2.3\n");
    let missing = http
        .get(proxy.url("example.com/!offline/@v/v9.0.0.info"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn credentials_reach_upstream_but_never_clients() {
    let fixture = Fixture::start().await;
    fixture.put("example.com/secret/@v/list", "v1.0.0\n");
    fixture.fault("example.com/secret/@v/list", Fault::Status(502));
    let module = Module::new("example.com/hello", "v1.0.0");
    fixture.add(&module);
    let dir = tempfile::tempdir().unwrap();
    let upstream = format!("http://robot:hunter2-token@{}", fixture.addr);
    let proxy = start_proxy(test_config(dir.path(), &upstream)).await;
    let http = client();

    let ok = http.get(proxy.url(ZIP)).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let failed = http.get(proxy.url("example.com/secret/@v/list")).send().await.unwrap();
    assert_eq!(failed.status(), StatusCode::BAD_GATEWAY);
    let headers = format!("{:?}", failed.headers());
    let body = failed.text().await.unwrap();
    let metrics = proxy.metrics().await;

    assert!(fixture
        .authorization_seen()
        .iter()
        .all(|a| a == "Basic cm9ib3Q6aHVudGVyMi10b2tlbg=="));
    assert!(!fixture.authorization_seen().is_empty());
    for text in [&body, &headers, &metrics] {
        assert!(!text.contains("hunter2"), "secret leaked: {text}");
    }
    assert!(body.contains("***@"), "{body}");
}

#[tokio::test]
async fn restart_serves_stored_files_without_upstream() {
    let mut fixture = Fixture::start().await;
    let module = Module::new("example.com/hello", "v1.0.0");
    fixture.add(&module);
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let http = client();
    for path in [
        ZIP,
        "example.com/hello/@v/v1.0.0.mod",
        "example.com/hello/@v/v1.0.0.info",
        "example.com/hello/@v/list",
    ] {
        assert_eq!(
            http.get(proxy.url(path)).send().await.unwrap().status(),
            StatusCode::OK,
            "{path}"
        );
    }
    proxy.stop().await;
    fixture.stop();

    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;

    let zip = http.get(proxy.url(ZIP)).send().await.unwrap();
    assert_eq!(zip.headers()["x-cache"], "HIT");
    assert_eq!(zip.bytes().await.unwrap().as_ref(), module.zip().as_slice());
    let list = http.get(proxy.url("example.com/hello/@v/list")).send().await.unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    assert_eq!(list.text().await.unwrap(), "v1.0.0\n");
    let metrics = proxy.metrics().await;
    assert_eq!(
        metric_value(&metrics, "modvault_store_objects", &[("kind", "zip")]),
        1.0
    );
}

/// A modvault process started from the built binary.
struct Process {
    child: Child,
    base: String,
}

impl Process {
    fn start(data_dir: &std::path::Path, upstream: &str) -> Process {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_modvault"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--upstream",
                upstream,
                "--idle-timeout",
                "30s",
                "--sumdb",
                "off",
            ])
            .env("MODVAULT_DATA_DIR", data_dir)
            .env("MODVAULT_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Process {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn wait_ready(&self) {
        for _ in 0..100 {
            if let Ok(response) = client().get(format!("{}/healthz", self.base)).send().await {
                if response.status() == StatusCode::OK {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("modvault did not start");
    }

    fn terminate(&self) {
        // SAFETY: kill(2) with a child pid we own and a valid signal number.
        let rc = unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        assert_eq!(rc, 0);
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Process {
    /// Stops the process when a test fails before killing it.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn kill_during_fill_leaves_no_partial_entry() {
    let fixture = Fixture::start().await;
    let big = "x".repeat(3 << 20);
    let module = Module::new("example.com/hello", "v1.0.0").file("big.txt", &big);
    fixture.add(&module);
    fixture.fault(ZIP, Fault::Stall);
    let dir = tempfile::tempdir().unwrap();

    let process = Process::start(dir.path(), &fixture.base);
    process.wait_ready().await;
    let pending = tokio::spawn(client().get(format!("{}/{ZIP}", process.base)).send());
    while std::fs::read_dir(dir.path().join("tmp")).unwrap().count() == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    process.kill();
    assert!(pending.await.unwrap().is_err(), "the client saw the connection drop");
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        1,
        "the partial fill is on disk"
    );

    fixture.clear_fault(ZIP);
    let process = Process::start(dir.path(), &fixture.base);
    process.wait_ready().await;
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0,
        "startup removed it"
    );
    let zip = client().get(format!("{}/{ZIP}", process.base)).send().await.unwrap();
    assert_eq!(zip.headers()["x-cache"], "MISS", "no partial entry was indexed");
    assert_eq!(zip.bytes().await.unwrap().as_ref(), module.zip().as_slice());
    process.kill();
}

#[tokio::test]
async fn kill_after_fill_keeps_the_entry() {
    let mut fixture = Fixture::start().await;
    let module = Module::new("example.com/hello", "v1.0.0");
    fixture.add(&module);
    let dir = tempfile::tempdir().unwrap();

    let process = Process::start(dir.path(), &fixture.base);
    process.wait_ready().await;
    let first = client().get(format!("{}/{ZIP}", process.base)).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    first.bytes().await.unwrap();
    process.kill();
    fixture.stop();

    let process = Process::start(dir.path(), &fixture.base);
    process.wait_ready().await;
    let again = client().get(format!("{}/{ZIP}", process.base)).send().await.unwrap();
    assert_eq!(again.headers()["x-cache"], "HIT");
    assert_eq!(again.bytes().await.unwrap().as_ref(), module.zip().as_slice());
    process.kill();
}

#[test]
fn bad_setting_stops_startup_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_modvault"))
        .args(["serve", "--upstream", "https://proxy.example,direct"])
        .env("MODVAULT_DATA_DIR", dir.path())
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("upstream"), "{message}");
    assert!(message.contains("direct"), "{message}");
    assert!(message.contains("not supported yet"), "{message}");
}

#[test]
fn misspelled_variable_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_modvault"))
        .args(["gc", "--upstream", "off"])
        .env("MODVAULT_DATA_DIR", dir.path())
        .env("MODVAULT_MAXSIZE", "5GiB")
        .env("MODVAULT_LOG_FORMAT", "json")
        .output()
        .unwrap();

    let log = String::from_utf8_lossy(&output.stderr);
    let warning = log
        .lines()
        .find(|line| line.contains("unknown MODVAULT_ variable"))
        .unwrap_or_else(|| panic!("no warning in: {log}"));
    assert!(warning.contains("MODVAULT_MAXSIZE"), "{warning}");
    assert!(!log.contains("\"variable\":\"MODVAULT_DATA_DIR\""), "{log}");
}

#[test]
fn stats_on_missing_store_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo");
    let output = Command::new(env!("CARGO_BIN_EXE_modvault"))
        .args(["stats", "--upstream", "off"])
        .env("MODVAULT_DATA_DIR", &missing)
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("no modvault store"), "{message}");
    assert!(!missing.exists(), "stats created {}", missing.display());
}

#[test]
fn serve_help_documents_units_and_defaults() {
    let output = Command::new(env!("CARGO_BIN_EXE_modvault"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);

    for needle in [
        "--listen",
        "MODVAULT_LISTEN",
        "--data-dir",
        "--upstream",
        "--list-ttl",
        "[default: 60s]",
        "--idle-timeout",
        "--upstream-concurrency",
        "--log-format",
    ] {
        assert!(help.contains(needle), "{needle} missing from help:\n{help}");
    }
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests() {
    let fixture = Fixture::start().await;
    let module = Module::new("example.com/hello", "v1.0.0");
    fixture.add(&module);
    fixture.fault(ZIP, Fault::Delay(Duration::from_millis(800)));
    let dir = tempfile::tempdir().unwrap();
    let mut process = Process::start(dir.path(), &fixture.base);
    process.wait_ready().await;

    let pending = tokio::spawn(client().get(format!("{}/{ZIP}", process.base)).send());
    while fixture.count(ZIP) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    process.terminate();

    let response = pending.await.unwrap().expect("in-flight request completes");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), module.zip().as_slice());
    let status = tokio::task::spawn_blocking(move || process.child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status}");
}

/// Runs the binary in a private mount namespace whose data directory is a
/// small tmpfs, so writes past its size fail with ENOSPC.
fn start_on_small_disk(data_dir: &std::path::Path, upstream: &str, size: &str) -> Option<Process> {
    let probe = Command::new("unshare").args(["-Urm", "true"]).status();
    if !probe.map(|s| s.success()).unwrap_or(false) {
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = r#"mount -t tmpfs -o size="$1" none "$2" && exec "$3" serve --sumdb off --listen "$4" --upstream "$5" --data-dir "$2""#;
    let child = Command::new("unshare")
        .args(["-Urm", "sh", "-c", script, "sh", size])
        .arg(data_dir)
        .arg(env!("CARGO_BIN_EXE_modvault"))
        .arg(format!("127.0.0.1:{port}"))
        .arg(upstream)
        .env("MODVAULT_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Some(Process {
        child,
        base: format!("http://127.0.0.1:{port}"),
    })
}

#[tokio::test]
async fn full_disk_fails_fill_and_keeps_stored_files() {
    let fixture = Fixture::start().await;
    let small = Module::new("example.com/hello", "v1.0.0");
    fixture.add(&small);
    let noise: String = (0..(24 << 20) / 16)
        .map(|i| format!("{:016x}", (i as u64).wrapping_mul(0x9e3779b97f4a7c15)))
        .collect();
    let big = Module::new("example.com/big", "v1.0.0").file("noise.txt", &noise);
    fixture.add(&big);
    let dir = tempfile::tempdir().unwrap();
    let Some(process) = start_on_small_disk(dir.path(), &fixture.base, "8m") else {
        eprintln!(
            "\n*** SKIPPED full_disk_fails_fill_and_keeps_stored_files: unshare -Urm is not permitted here ***\n"
        );
        return;
    };
    process.wait_ready().await;
    let http = client();

    let first = http.get(format!("{}/{ZIP}", process.base)).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    first.bytes().await.unwrap();
    let full = http
        .get(format!("{}/example.com/big/@v/v1.0.0.zip", process.base))
        .send()
        .await
        .unwrap();
    assert_eq!(full.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let reason = full.text().await.unwrap();
    assert!(reason.contains("No space left"), "{reason}");

    let again = http.get(format!("{}/{ZIP}", process.base)).send().await.unwrap();
    assert_eq!(again.headers()["x-cache"], "HIT");
    assert_eq!(again.bytes().await.unwrap().as_ref(), small.zip().as_slice());
    let retry = http
        .get(format!("{}/example.com/big/@v/v1.0.0.zip", process.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        retry.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "a disk error is never remembered as absence"
    );
    assert_eq!(fixture.count("example.com/big/@v/v1.0.0.zip"), 2);
    process.kill();
}
