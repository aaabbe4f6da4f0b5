//! Prometheus metrics. Labels are bounded sets (endpoint, outcome, status
//! class, fetch kind); a module path is never a label.

use std::sync::atomic::Ordering;
use std::time::Duration;

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::store::Store;

const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    pub upstream_requests: IntCounterVec,
    pub upstream_duration: HistogramVec,
    pub bytes_served: IntCounterVec,
    pub bytes_fetched: IntCounterVec,
    pub fills_in_flight: IntGauge,
    /// Background fills of a version's other small file (see
    /// `CacheSettings::prefetch`), by file and result.
    pub prefetches: IntCounterVec,
    pub stale_responses: IntCounterVec,
    pub verification_failures: IntCounterVec,
    pub evictions: prometheus::IntCounter,
    pub freed_bytes: IntCounterVec,
    /// Lookups in the memory cache of small files, by result (hit, miss).
    pub memory_cache_lookups: IntCounterVec,
    pub memory_cache_bytes: IntGauge,
    store_objects: IntGaugeVec,
    store_bytes: IntGauge,
    disk_available: Gauge,
    disk_total: Gauge,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry.register(Box::new(metric.clone())).expect("unique metric");
    metric
}

fn histogram(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let metric = HistogramVec::new(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()), labels)
        .expect("valid metric");
    registry.register(Box::new(metric.clone())).expect("unique metric");
    metric
}

fn gauge(registry: &Registry, name: &str, help: &str) -> Gauge {
    let metric = Gauge::new(name, help).expect("valid metric");
    registry.register(Box::new(metric.clone())).expect("unique metric");
    metric
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new();
        let fills_in_flight =
            IntGauge::new("modvault_fills_in_flight", "Upstream fills running now.").expect("valid metric");
        r.register(Box::new(fills_in_flight.clone())).expect("unique metric");
        let store_objects = IntGaugeVec::new(
            Opts::new("modvault_store_objects", "Stored objects by kind."),
            &["kind"],
        )
        .expect("valid metric");
        r.register(Box::new(store_objects.clone())).expect("unique metric");
        let store_bytes =
            IntGauge::new("modvault_store_bytes", "Bytes of stored canonical files.").expect("valid metric");
        r.register(Box::new(store_bytes.clone())).expect("unique metric");
        let evictions = prometheus::IntCounter::new(
            "modvault_evictions_total",
            "Entries evicted to keep the store within its budget.",
        )
        .expect("valid metric");
        r.register(Box::new(evictions.clone())).expect("unique metric");
        let memory_cache_bytes = IntGauge::new(
            "modvault_memory_cache_bytes",
            "Bytes of small stored files (and their gzip encoding) held in memory.",
        )
        .expect("valid metric");
        r.register(Box::new(memory_cache_bytes.clone())).expect("unique metric");
        let build_info = GaugeVec::new(
            Opts::new("modvault_build_info", "Build information; always 1."),
            &["version"],
        )
        .expect("valid metric");
        r.register(Box::new(build_info.clone())).expect("unique metric");
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1.0);

        let metrics = Metrics {
            requests: counter(
                &r,
                "modvault_http_requests_total",
                "HTTP requests by endpoint, outcome and status class.",
                &["endpoint", "outcome", "status_class"],
            ),
            request_duration: histogram(
                &r,
                "modvault_http_request_duration_seconds",
                "HTTP request duration until the response head is ready.",
                &["endpoint"],
            ),
            upstream_requests: counter(
                &r,
                "modvault_upstream_requests_total",
                "Upstream requests by kind and outcome.",
                &["kind", "outcome"],
            ),
            upstream_duration: histogram(
                &r,
                "modvault_upstream_request_duration_seconds",
                "Upstream request duration including the body.",
                &["kind"],
            ),
            bytes_served: counter(
                &r,
                "modvault_bytes_served_total",
                "Body bytes sent to clients.",
                &["endpoint"],
            ),
            bytes_fetched: counter(
                &r,
                "modvault_bytes_fetched_total",
                "Body bytes received from upstreams.",
                &["kind"],
            ),
            prefetches: counter(
                &r,
                "modvault_prefetches_total",
                "Background fills of a version's .info after its .mod, or the reverse, by file and result.",
                &["file", "result"],
            ),
            stale_responses: counter(
                &r,
                "modvault_stale_responses_total",
                "Answers served stale because every upstream failed.",
                &["endpoint"],
            ),
            verification_failures: counter(
                &r,
                "modvault_verification_failures_total",
                "Fetched files rejected by verification.",
                &["reason"],
            ),
            disk_available: gauge(
                &r,
                "modvault_store_disk_available_bytes",
                "Free bytes on the data directory's file system.",
            ),
            disk_total: gauge(
                &r,
                "modvault_store_disk_total_bytes",
                "Size of the data directory's file system.",
            ),
            freed_bytes: counter(
                &r,
                "modvault_freed_bytes_total",
                "Bytes removed from the store, by reason (evicted, orphan).",
                &["reason"],
            ),
            memory_cache_lookups: counter(
                &r,
                "modvault_memory_cache_lookups_total",
                "Lookups of small stored files in memory, by result (hit, miss).",
                &["result"],
            ),
            memory_cache_bytes,
            evictions,
            fills_in_flight,
            store_objects,
            store_bytes,
            registry: r,
        };
        metrics.create_series();
        metrics
    }

    /// Creates the common series at zero, so every metric name appears on
    /// /metrics from startup and rate() queries have a starting point.
    fn create_series(&self) {
        for endpoint in ["list", "info", "mod", "zip", "latest"] {
            for outcome in ["hit", "miss"] {
                self.requests.with_label_values(&[endpoint, outcome, "2xx"]);
            }
            self.requests.with_label_values(&[endpoint, "not_found", "4xx"]);
            self.requests.with_label_values(&[endpoint, "error", "5xx"]);
            self.request_duration.with_label_values(&[endpoint]);
            self.bytes_served.with_label_values(&[endpoint]);
            self.upstream_requests.with_label_values(&[endpoint, "ok"]);
            self.upstream_requests.with_label_values(&[endpoint, "error"]);
            self.upstream_duration.with_label_values(&[endpoint]);
            self.bytes_fetched.with_label_values(&[endpoint]);
        }
        for endpoint in ["list", "latest", "info"] {
            self.stale_responses.with_label_values(&[endpoint]);
        }
        for result in ["hit", "miss"] {
            self.memory_cache_lookups.with_label_values(&[result]);
        }
        for reason in ["evicted", "orphan"] {
            self.freed_bytes.with_label_values(&[reason]);
        }
        for reason in ["zip_rules", "checksum_mismatch", "proof"] {
            self.verification_failures.with_label_values(&[reason]);
        }
    }

    pub fn observe_upstream(&self, kind: &str, outcome: &str, elapsed: Duration) {
        self.upstream_requests.with_label_values(&[kind, outcome]).inc();
        self.upstream_duration
            .with_label_values(&[kind])
            .observe(elapsed.as_secs_f64());
    }

    /// Renders the registry in the Prometheus text format, refreshing the
    /// store gauges first.
    pub fn render(&self, store: &Store) -> String {
        let totals = store.totals();
        self.store_objects
            .with_label_values(&["info"])
            .set(totals.info.load(Ordering::Relaxed) as i64);
        self.store_objects
            .with_label_values(&["mod"])
            .set(totals.modfiles.load(Ordering::Relaxed) as i64);
        self.store_objects
            .with_label_values(&["zip"])
            .set(totals.zips.load(Ordering::Relaxed) as i64);
        self.store_bytes.set(totals.bytes.load(Ordering::Relaxed) as i64);
        if let Some((available, total)) = disk_space(store.root()) {
            self.disk_available.set(available as f64);
            self.disk_total.set(total as f64);
        }

        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("metrics are UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Free and total bytes of the file system holding `path`.
fn disk_space(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is a valid NUL-terminated string and stat a writable struct.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) };
    if rc != 0 {
        return None;
    }
    let block = stat.f_frsize as u64;
    Some((stat.f_bavail as u64 * block, stat.f_blocks as u64 * block))
}
