//! Integration tests of the proxy protocol against a fixture upstream on
//! loopback: fills, hits, absence, upstream faults, coalescing, lists,
//! freshness, HTTP semantics and restarts.

mod support;

use std::sync::Arc;
use std::time::Duration;

use modvault::cache::ManualClock;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use support::{client, metric_value, start_proxy, start_proxy_with_clock, test_config, Fault, Fixture, Module};

const ZIP: &str = "example.com/hello/@v/v1.0.0.zip";
const MOD: &str = "example.com/hello/@v/v1.0.0.mod";
const INFO: &str = "example.com/hello/@v/v1.0.0.info";

async fn hello_fixture() -> (Fixture, Module) {
    let fixture = Fixture::start().await;
    let module = Module::new("example.com/hello", "v1.0.0").file("hello.go", "package hello\n");
    fixture.add(&module);
    (fixture, module)
}

fn stored_blobs(dir: &std::path::Path) -> usize {
    let mut count = 0;
    for shard in std::fs::read_dir(dir.join("blobs")).unwrap() {
        count += std::fs::read_dir(shard.unwrap().path()).unwrap().count();
    }
    count
}

#[tokio::test]
async fn zip_fill_then_hit_uses_upstream_once() {
    let (fixture, module) = hello_fixture().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let http = client();

    let first = http.get(proxy.url(ZIP)).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["x-cache"], "MISS");
    assert_eq!(first.headers()["content-type"], "application/zip");
    let first_body = first.bytes().await.unwrap();
    assert_eq!(first_body.as_ref(), module.zip().as_slice());

    let second = http.get(proxy.url(ZIP)).send().await.unwrap();
    assert_eq!(second.headers()["x-cache"], "HIT");
    let expected_etag = format!("\"{}\"", hex::encode(Sha256::digest(module.zip())));
    assert_eq!(second.headers()["etag"].to_str().unwrap(), expected_etag);
    assert_eq!(second.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(second.bytes().await.unwrap(), first_body);

    assert_eq!(fixture.count(ZIP), 1);
}

#[tokio::test]
async fn mod_request_never_fetches_zip() {
    let (fixture, module) = hello_fixture().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;

    let response = client().get(proxy.url(MOD)).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(response.bytes().await.unwrap().as_ref(), module.mod_file().as_slice());
    assert_eq!(fixture.count(MOD), 1);
    assert_eq!(fixture.count(ZIP), 0);
}

/// Waits until the proxy's metrics count `count` prefetches of `file` with
/// `result`; panics after 10 s.
async fn wait_for_prefetches(proxy: &support::Proxy, file: &str, result: &str, count: f64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let page = proxy.metrics().await;
        let seen = metric_value(
            &page,
            "modvault_prefetches_total",
            &[("file", file), ("result", result)],
        );
        if seen == count {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "expected {count} {result} prefetches of .{file}, saw {seen}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn small_fill_prefetches_other_file() {
    let (fixture, module) = hello_fixture().await;
    let newer = Module::new("example.com/hello", "v1.1.0").file("hello.go", "package hello\n");
    fixture.add(&newer);
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let http = client();

    let first = http.get(proxy.url(MOD)).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["x-cache"], "MISS");
    wait_for_prefetches(&proxy, "info", "filled", 1.0).await;
    let info = http.get(proxy.url(INFO)).send().await.unwrap();
    assert_eq!(info.headers()["x-cache"], "HIT");
    assert_eq!(info.bytes().await.unwrap().as_ref(), module.info().as_slice());

    let newer_info = http
        .get(proxy.url("example.com/hello/@v/v1.1.0.info"))
        .send()
        .await
        .unwrap();
    assert_eq!(newer_info.headers()["x-cache"], "MISS");
    wait_for_prefetches(&proxy, "mod", "filled", 1.0).await;
    let newer_mod = http
        .get(proxy.url("example.com/hello/@v/v1.1.0.mod"))
        .send()
        .await
        .unwrap();
    assert_eq!(newer_mod.headers()["x-cache"], "HIT");
    assert_eq!(newer_mod.bytes().await.unwrap().as_ref(), newer.mod_file().as_slice());

    assert_eq!(fixture.count(MOD), 1);
    assert_eq!(fixture.count(INFO), 1);
    assert_eq!(fixture.count("example.com/hello/@v/v1.1.0.info"), 1);
    assert_eq!(fixture.count("example.com/hello/@v/v1.1.0.mod"), 1);
    assert_eq!(fixture.count(ZIP), 0, "a prefetch never fetches a zip");
    assert_eq!(fixture.count("example.com/hello/@v/v1.1.0.zip"), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn prefetch_off_fetches_only_the_requested_file() {
    let (fixture, _) = hello_fixture().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), &fixture.base);
    config.prefetch = false;
    let proxy = start_proxy(config).await;

    let response = client().get(proxy.url(MOD)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // A prefetch would start as soon as the fill commits; give it time to
    // reach the upstream.
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(fixture.count(MOD), 1);
    assert_eq!(fixture.count(INFO), 0);
    let page = proxy.metrics().await;
    assert_eq!(metric_value(&page, "modvault_prefetches_total", &[]), 0.0);
    proxy.stop().await;
}

#[tokio::test]
async fn prefetch_of_absent_info_is_remembered_as_absent() {
    let (fixture, _) = hello_fixture().await;
    fixture.remove(INFO);
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let http = client();

    let response = http.get(proxy.url(MOD)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    wait_for_prefetches(&proxy, "info", "failed", 1.0).await;

    let info = http.get(proxy.url(INFO)).send().await.unwrap();
    assert_eq!(info.status(), StatusCode::NOT_FOUND);
    assert_eq!(fixture.count(INFO), 1, "the 404 from the prefetch is remembered");
    proxy.stop().await;
}

#[tokio::test]
async fn lost_blob_is_filled_again() {
    let (fixture, module) = hello_fixture().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), &fixture.base);
    // Without the memory cache, every response reads its blob from disk.
    config.memory_cache = 0;
    let proxy = start_proxy(config).await;
    let http = client();
    for _ in 0..2 {
        let response = http.get(proxy.url(ZIP)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.bytes().await.unwrap();
    }
    let sha256 = hex::encode(Sha256::digest(module.zip()));
    let blob = dir.path().join("blobs").join(&sha256[..2]).join(&sha256[2..]);
    std::fs::remove_file(&blob).unwrap();

    let again = http.get(proxy.url(ZIP)).send().await.unwrap();

    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.headers()["x-cache"], "MISS");
    assert_eq!(again.bytes().await.unwrap().as_ref(), module.zip().as_slice());
    assert_eq!(fixture.count(ZIP), 2);
    assert_eq!(std::fs::read(&blob).unwrap(), module.zip());
    let hit = http.get(proxy.url(ZIP)).send().await.unwrap();
    assert_eq!(hit.headers()["x-cache"], "HIT");
    assert_eq!(fixture.count(ZIP), 2);
    proxy.stop().await;
}

#[tokio::test]
async fn lost_blob_after_restart_is_filled_again() {
    let (fixture, module) = hello_fixture().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let first = client().get(proxy.url(MOD)).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    proxy.stop().await;
    let sha256 = hex::encode(Sha256::digest(module.mod_file()));
    let blob = dir.path().join("blobs").join(&sha256[..2]).join(&sha256[2..]);
    std::fs::remove_file(&blob).unwrap();

    // A new process has no known paths yet, so the request reads the index.
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let again = client().get(proxy.url(MOD)).send().await.unwrap();

    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.headers()["x-cache"], "MISS");
    assert_eq!(again.bytes().await.unwrap().as_ref(), module.mod_file().as_slice());
    assert_eq!(fixture.count(MOD), 2);
    assert_eq!(std::fs::read(&blob).unwrap(), module.mod_file());
    proxy.stop().await;
}

#[tokio::test]
async fn upstream_404_passes_through_and_is_remembered() {
    let (fixture, _) = hello_fixture().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let http = client();
    let missing = "example.com/hello/@v/v9.9.9.info";

    for _ in 0..3 {
        let response = http
            .get(proxy.url("example.com/hello/@v/v1.9.9.info"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
        let body = response.text().await.unwrap();
        assert_eq!(body.lines().count(), 1, "one-line reason: {body:?}");
    }
    for _ in 0..3 {
        let response = http.get(proxy.url("example.com/missing/@v/list")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    assert_eq!(fixture.count("example.com/hello/@v/v1.9.9.info"), 1);
    assert_eq!(fixture.count("example.com/missing/@v/list"), 1);
    assert_eq!(fixture.count(missing), 0);
}

#[tokio::test]
async fn negative_entry_expires_after_ttl() {
    let (fixture, _) = hello_fixture().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let proxy = start_proxy_with_clock(test_config(dir.path(), &fixture.base), Some(clock.clone())).await;
    let http = client();
    let path = "example.com/later/@v/v1.0.0.mod";

    assert_eq!(
        http.get(proxy.url(path)).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    fixture.put(path, "module example.com/later\n");
    assert_eq!(
        http.get(proxy.url(path)).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    clock.advance(Duration::from_secs(61));
    assert_eq!(http.get(proxy.url(path)).send().await.unwrap().status(), StatusCode::OK);

    assert_eq!(fixture.count(path), 2);
}

#[tokio::test]
async fn upstream_5xx_gives_502_and_stores_nothing() {
    let (fixture, module) = hello_fixture().await;
    fixture.fault(ZIP, Fault::Status(500));
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let http = client();

    let response = http.get(proxy.url(ZIP)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let reason = response.text().await.unwrap();
    assert!(reason.contains("500"), "{reason}");
    assert_eq!(fixture.count(ZIP), 2, "one request plus one retry");
    assert_eq!(stored_blobs(dir.path()), 0);

    fixture.clear_fault(ZIP);
    let response = http.get(proxy.url(ZIP)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "a 5xx is never remembered");
    assert_eq!(response.bytes().await.unwrap().as_ref(), module.zip().as_slice());
}

#[tokio::test]
async fn stalled_body_gives_504_and_stores_nothing() {
    let (fixture, _) = hello_fixture().await;
    fixture.fault(ZIP, Fault::Stall);
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;

    let response = client().get(proxy.url(ZIP)).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let reason = response.text().await.unwrap();
    assert!(reason.contains("stalled"), "{reason}");
    assert_eq!(stored_blobs(dir.path()), 0);
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0,
        "temporary file removed"
    );
}

#[tokio::test]
async fn slow_headers_give_504() {
    let (fixture, _) = hello_fixture().await;
    fixture.fault(INFO, Fault::Delay(Duration::from_secs(4)));
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;

    let response = client().get(proxy.url(INFO)).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(response.text().await.unwrap().contains("response headers"));
}

#[tokio::test]
async fn truncated_body_gives_502_and_stores_nothing() {
    let (fixture, _) = hello_fixture().await;
    fixture.fault(ZIP, Fault::Truncate);
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;

    let response = client().get(proxy.url(ZIP)).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(stored_blobs(dir.path()), 0);
    assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
}

#[tokio::test]
async fn garbage_zip_is_rejected() {
    let (fixture, _) = hello_fixture().await;
    fixture.put(ZIP, "this is not a zip file at all");
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;

    let response = client().get(proxy.url(ZIP)).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let reason = response.text().await.unwrap();
    assert!(reason.contains("example.com/hello@v1.0.0"), "{reason}");
    assert_eq!(stored_blobs(dir.path()), 0);
}

#[tokio::test]
async fn zip_with_foreign_prefix_is_rejected() {
    let (fixture, _) = hello_fixture().await;
    let other = Module::new("example.com/other", "v1.0.0");
    fixture.put(ZIP, other.zip());
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;

    let response = client().get(proxy.url(ZIP)).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(stored_blobs(dir.path()), 0);
}

#[tokio::test]
async fn info_naming_another_version_is_rejected() {
    let (fixture, _) = hello_fixture().await;
    fixture.put(INFO, r#"{"Version":"v1.0.1","Time":"2024-01-01T00:00:00Z"}"#);
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;

    let response = client().get(proxy.url(INFO)).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(response.text().await.unwrap().contains("v1.0.1"));
}

#[tokio::test]
async fn concurrent_misses_share_one_fetch() {
    let (fixture, module) = hello_fixture().await;
    fixture.fault(ZIP, Fault::Delay(Duration::from_millis(300)));
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let http = client();

    let requests = (0..50).map(|_| {
        let http = http.clone();
        let url = proxy.url(ZIP);
        tokio::spawn(async move {
            let response = http.get(url).send().await.unwrap();
            (response.status(), response.bytes().await.unwrap())
        })
    });
    let results = futures::future::join_all(requests).await;

    for result in results {
        let (status, body) = result.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.as_ref(), module.zip().as_slice());
    }
    assert_eq!(fixture.count(ZIP), 1);
}

#[tokio::test]
async fn concurrent_misses_share_one_negative_answer() {
    let fixture = Fixture::start().await;
    fixture.fault("example.com/none/@v/list", Fault::Delay(Duration::from_millis(300)));
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let http = client();

    let requests = (0..20).map(|_| {
        let http = http.clone();
        let url = proxy.url("example.com/none/@v/list");
        tokio::spawn(async move { http.get(url).send().await.unwrap().status() })
    });
    for status in futures::future::join_all(requests).await {
        assert_eq!(status.unwrap(), StatusCode::NOT_FOUND);
    }
    assert_eq!(fixture.count("example.com/none/@v/list"), 1);
}

#[tokio::test]
async fn list_merges_store_and_drops_pseudo_versions() {
    let fixture = Fixture::start().await;
    let list = "example.com/hello/@v/list";
    fixture.put(
        list,
        "v1.0.0\nv0.0.0-20191109021931-daa7c04131f5\nv1.10.0 2024-01-01T00:00:00Z\n",
    );
    let unlisted = Module::new("example.com/hello", "v1.2.0");
    fixture.add(&unlisted);
    fixture.put(
        list,
        "v1.0.0\nv0.0.0-20191109021931-daa7c04131f5\nv1.10.0 2024-01-01T00:00:00Z\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let http = client();

    let info = http
        .get(proxy.url("example.com/hello/@v/v1.2.0.info"))
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), StatusCode::OK);
    let response = http.get(proxy.url(list)).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "public, max-age=60");
    assert_eq!(response.text().await.unwrap(), "v1.0.0\nv1.2.0\nv1.10.0\n");
}

#[tokio::test]
async fn list_refreshes_after_ttl_and_serves_stale_on_failure() {
    let (fixture, _) = hello_fixture().await;
    let list = "example.com/hello/@v/list";
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let proxy = start_proxy_with_clock(test_config(dir.path(), &fixture.base), Some(clock.clone())).await;
    let http = client();

    assert_eq!(
        http.get(proxy.url(list)).send().await.unwrap().text().await.unwrap(),
        "v1.0.0\n"
    );
    fixture.add(&Module::new("example.com/hello", "v1.1.0"));
    let cached = http.get(proxy.url(list)).send().await.unwrap();
    assert_eq!(cached.headers()["x-cache"], "HIT");
    assert_eq!(
        cached.text().await.unwrap(),
        "v1.0.0\n",
        "fresh answer served within the TTL"
    );
    assert_eq!(fixture.count(list), 1);

    clock.advance(Duration::from_secs(61));
    assert_eq!(
        http.get(proxy.url(list)).send().await.unwrap().text().await.unwrap(),
        "v1.0.0\nv1.1.0\n"
    );
    assert_eq!(fixture.count(list), 2);

    fixture.fault(list, Fault::Status(503));
    clock.advance(Duration::from_secs(61));
    let stale = http.get(proxy.url(list)).send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
    assert_eq!(stale.headers()["x-cache"], "STALE");
    assert!(stale.headers()["warning"].to_str().unwrap().starts_with("110"));
    assert_eq!(stale.text().await.unwrap(), "v1.0.0\nv1.1.0\n");

    let page = proxy.metrics().await;
    assert_eq!(
        metric_value(&page, "modvault_stale_responses_total", &[("endpoint", "list")]),
        1.0
    );
    assert_eq!(
        metric_value(
            &page,
            "modvault_http_requests_total",
            &[("endpoint", "list"), ("outcome", "stale")]
        ),
        1.0
    );
}

#[tokio::test]
async fn latest_and_query_resolve_and_store_info() {
    let (fixture, module) = hello_fixture().await;
    fixture.put("example.com/hello/@latest", module.info());
    fixture.put("example.com/hello/@v/main.info", module.info());
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let http = client();

    let latest = http.get(proxy.url("example.com/hello/@latest")).send().await.unwrap();
    assert_eq!(latest.status(), StatusCode::OK);
    assert_eq!(latest.headers()["content-type"], "application/json");
    assert_eq!(latest.bytes().await.unwrap().as_ref(), module.info().as_slice());

    let query = http
        .get(proxy.url("example.com/hello/@v/main.info"))
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), StatusCode::OK);
    assert_eq!(query.bytes().await.unwrap().as_ref(), module.info().as_slice());

    let info = http.get(proxy.url(INFO)).send().await.unwrap();
    assert_eq!(
        info.headers()["x-cache"],
        "HIT",
        "the query's answer was stored as the canonical .info"
    );
    assert_eq!(fixture.count(INFO), 0);
}

#[tokio::test]
async fn moved_tag_upstream_never_replaces_stored_zip() {
    let (fixture, module) = hello_fixture().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let http = client();
    let original = http.get(proxy.url(ZIP)).send().await.unwrap().bytes().await.unwrap();

    let moved = module.clone().file("extra.go", "package hello\n");
    fixture.put(ZIP, moved.zip());
    let again = http.get(proxy.url(ZIP)).send().await.unwrap().bytes().await.unwrap();

    assert_eq!(again, original);
    assert_eq!(again.as_ref(), module.zip().as_slice());
}

#[tokio::test]
async fn head_range_and_validators_follow_http() {
    let (fixture, module) = hello_fixture().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let http = client();
    let zip = module.zip();
    http.get(proxy.url(ZIP)).send().await.unwrap().bytes().await.unwrap();

    let head = http.head(proxy.url(ZIP)).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()["content-length"].to_str().unwrap(),
        zip.len().to_string()
    );
    let etag = head.headers()["etag"].to_str().unwrap().to_string();
    let last_modified = head.headers()["last-modified"].to_str().unwrap().to_string();
    assert!(head.bytes().await.unwrap().is_empty());

    let part = http
        .get(proxy.url(ZIP))
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"].to_str().unwrap(),
        format!("bytes 10-19/{}", zip.len())
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &zip[10..20]);

    let resumed = http
        .get(proxy.url(ZIP))
        .header("range", "bytes=20-")
        .header("if-range", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(resumed.bytes().await.unwrap().as_ref(), &zip[20..]);

    let changed = http
        .get(proxy.url(ZIP))
        .header("range", "bytes=20-")
        .header("if-range", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(changed.bytes().await.unwrap().as_ref(), zip.as_slice());

    let beyond = http
        .get(proxy.url(ZIP))
        .header("range", format!("bytes={}-", zip.len() + 5))
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    let unchanged = http
        .get(proxy.url(ZIP))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    let unchanged = http
        .get(proxy.url(ZIP))
        .header("if-modified-since", &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn gzip_applies_to_text_never_to_zips() {
    let fixture = Fixture::start().await;
    let versions: String = (0..200).map(|i| format!("v1.{i}.0\n")).collect();
    fixture.put("example.com/many/@v/list", versions.clone());
    let module =
        Module::new("example.com/many", "v1.0.0").file("big.go", &format!("package many\n// {}\n", "x".repeat(5000)));
    fixture.add(&module);
    fixture.put("example.com/many/@v/list", versions.clone());
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let http = client();

    let list = http
        .get(proxy.url("example.com/many/@v/list"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(list.headers()["content-encoding"], "gzip");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(list.bytes().await.unwrap().as_ref()),
        &mut text,
    )
    .unwrap();
    assert_eq!(text.lines().count(), 200);

    let zip = http
        .get(proxy.url("example.com/many/@v/v1.0.0.zip"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(zip.headers().get("content-encoding").is_none());
    assert_eq!(zip.bytes().await.unwrap().as_ref(), module.zip().as_slice());
}

#[tokio::test]
async fn compressed_upstream_body_is_stored_decoded() {
    let (fixture, module) = hello_fixture().await;
    fixture.fault(MOD, Fault::Gzip);
    fixture.fault(ZIP, Fault::Gzip);
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let http = client();

    let go_mod = http.get(proxy.url(MOD)).send().await.unwrap();
    assert!(go_mod.headers().get("content-encoding").is_none());
    assert_eq!(go_mod.bytes().await.unwrap().as_ref(), module.mod_file().as_slice());
    let zip = http.get(proxy.url(ZIP)).send().await.unwrap();
    assert_eq!(zip.status(), StatusCode::OK);
    assert_eq!(zip.bytes().await.unwrap().as_ref(), module.zip().as_slice());
}

#[tokio::test]
async fn redirects_are_followed_server_side() {
    let (fixture, module) = hello_fixture().await;
    fixture.put("storage/hello.zip", module.zip());
    fixture.fault(ZIP, Fault::Redirect("storage/hello.zip".into()));
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;

    let response = client().get(proxy.url(ZIP)).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), module.zip().as_slice());
    assert_eq!(fixture.count("storage/hello.zip"), 1);
}

#[tokio::test]
async fn oversized_mod_is_rejected() {
    let (fixture, _) = hello_fixture().await;
    let huge = format!("module example.com/hello\n\n// {}\n", "x".repeat(17 << 20));
    fixture.put(MOD, huge);
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;

    let response = client().get(proxy.url(MOD)).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(response.text().await.unwrap().contains("limit"));
    assert_eq!(stored_blobs(dir.path()), 0);
}

#[tokio::test]
async fn gzip_mod_is_separate_representation() {
    let fixture = Fixture::start().await;
    let mut module = Module::new("example.com/bigmod", "v1.0.0");
    let padding: String = (0..100).map(|i| format!("// requirement note {i}\n")).collect();
    module.go_mod = Some(format!("module example.com/bigmod\n\ngo 1.21\n{padding}"));
    fixture.add(&module);
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(dir.path(), &fixture.base)).await;
    let http = client();
    let url = proxy.url("example.com/bigmod/@v/v1.0.0.mod");
    let identity_tag = format!("\"{}\"", hex::encode(Sha256::digest(module.mod_file())));
    let gzip_tag = format!("\"{}-gzip\"", hex::encode(Sha256::digest(module.mod_file())));

    let plain = http.get(&url).send().await.unwrap();
    let encoded = http.get(&url).header("accept-encoding", "gzip").send().await.unwrap();
    let head = http.head(&url).header("accept-encoding", "gzip").send().await.unwrap();
    let revalidated = http
        .get(&url)
        .header("accept-encoding", "gzip")
        .header("if-none-match", &gzip_tag)
        .send()
        .await
        .unwrap();
    let ranged = http
        .get(&url)
        .header("accept-encoding", "gzip")
        .header("range", "bytes=0-5")
        .send()
        .await
        .unwrap();
    let declined = http
        .get(&url)
        .header("accept-encoding", "gzip;q=0")
        .send()
        .await
        .unwrap();

    assert_eq!(plain.headers()["etag"].to_str().unwrap(), identity_tag);
    assert_eq!(plain.headers()["vary"], "Accept-Encoding");
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.bytes().await.unwrap().as_ref(), module.mod_file().as_slice());

    assert_eq!(encoded.headers()["etag"].to_str().unwrap(), gzip_tag);
    assert_eq!(encoded.headers()["content-encoding"], "gzip");
    assert_eq!(encoded.headers()["vary"], "Accept-Encoding");
    let length: usize = encoded.headers()["content-length"].to_str().unwrap().parse().unwrap();
    let compressed = encoded.bytes().await.unwrap();
    assert_eq!(compressed.len(), length);
    assert!(length < module.mod_file().len() / 2, "gzip left {length} bytes");
    let mut decoded = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(compressed.as_ref()), &mut decoded).unwrap();
    assert_eq!(decoded, module.mod_file());

    assert_eq!(head.headers()["content-length"].to_str().unwrap(), length.to_string());
    assert_eq!(head.headers()["content-encoding"], "gzip");
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert!(ranged.headers().get("content-encoding").is_none());
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), &module.mod_file()[..6]);
    assert!(declined.headers().get("content-encoding").is_none());
    assert_eq!(fixture.count("example.com/bigmod/@v/v1.0.0.mod"), 1);

    let page = proxy.metrics().await;
    assert_eq!(
        metric_value(&page, "modvault_memory_cache_lookups_total", &[("result", "miss")]),
        1.0
    );
    assert_eq!(
        metric_value(&page, "modvault_memory_cache_lookups_total", &[("result", "hit")]),
        5.0
    );
}
