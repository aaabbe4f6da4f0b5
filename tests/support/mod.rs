//! Test support: a fixture upstream on loopback that serves modules built by
//! the tests and counts the requests it gets, and helpers that start
//! modvault on a port chosen by the system.
#![allow(dead_code, unused_imports)]

pub mod fixture;
pub mod modules;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use modvault::cache::ManualClock;
use modvault::config::Config;
use modvault::upstream::UpstreamList;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use fixture::{Fault, Fixture};
pub use modules::{build_zip, Module};

/// A running modvault instance.
pub struct Proxy {
    pub addr: SocketAddr,
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Proxy {
    /// Stops the server and waits until its store is flushed and closed.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server stops cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    /// Fetches the `/metrics` page.
    pub async fn metrics(&self) -> String {
        client()
            .get(self.url("metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Test settings: short timeouts so fault tests finish quickly.
pub fn test_config(data_dir: &Path, upstream: &str) -> Config {
    let mut config = Config::new(data_dir, UpstreamList::parse(upstream).expect("valid upstream"));
    config.connect_timeout = Duration::from_secs(2);
    config.header_timeout = Duration::from_secs(2);
    config.idle_timeout = Duration::from_millis(500);
    config.total_timeout = Duration::from_secs(20);
    config.retries = 1;
    config.shutdown_timeout = Duration::from_secs(5);
    config.sumdb = modvault::verify::sumdb::SumdbConfig::Off;
    config
}

/// Starts modvault with `config` on 127.0.0.1 and an unused port.
pub async fn start_proxy(config: Config) -> Proxy {
    start_proxy_with_clock(config, None).await
}

pub async fn start_proxy_with_clock(config: Config, clock: Option<Arc<ManualClock>>) -> Proxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().unwrap();
    let state = match clock {
        Some(clock) => modvault::build_state_with_clock(&config, clock).await,
        None => modvault::build_state(&config).await,
    }
    .expect("state builds");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        modvault::serve(listener, state, &config, async move {
            let _ = stopped.await;
        })
        .await
    });
    Proxy {
        addr,
        base: format!("http://{addr}"),
        stop: Some(stop),
        task: Some(task),
    }
}

/// Builds an HTTP client that does not request compression, so tests see
/// the bytes and headers exactly as served.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Runs the go command in `dir` with an environment isolated in `home`: its
/// own module and build caches, no go.env file, no private-module patterns,
/// and the given proxy, checksum database and GOFLAGS.
pub fn go(dir: &Path, home: &Path, proxy: &str, gosumdb: &str, flags: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new("go")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GOPATH", home.join("gopath"))
        .env("GOMODCACHE", home.join("modcache"))
        .env("GOCACHE", home.join("gocache"))
        .env("GOENV", "off")
        .env("GOPROXY", proxy)
        .env("GOSUMDB", gosumdb)
        .env("GOFLAGS", flags)
        .env("GOTOOLCHAIN", "local")
        .env("GOPRIVATE", "")
        .env("GONOPROXY", "")
        .env("GONOSUMDB", "")
        .env("CGO_ENABLED", "0")
        .output()
        .expect("go runs")
}

/// Reads one counter or gauge sample from a Prometheus text page.
pub fn metric_value(page: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut total = 0.0;
    for line in page.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (metric, label_text) = match series.split_once('{') {
            Some((m, rest)) => (m, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if metric != name {
            continue;
        }
        if labels
            .iter()
            .all(|(k, v)| label_text.split(',').any(|pair| pair == format!("{k}=\"{v}\"")))
        {
            total += value.parse::<f64>().unwrap_or(0.0);
        }
    }
    total
}
