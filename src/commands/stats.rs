//! `modvault stats`: what the store contains (size, objects by kind, oldest and
//! newest entry) and, from a running server's metrics, the hit ratio since
//! it started.

use std::fmt::Write;

use crate::store::Store;

/// Totals read from the index.
#[derive(Debug, Default)]
pub struct StoreStats {
    pub info: u64,
    pub modfiles: u64,
    pub zips: u64,
    pub bytes: u64,
    pub oldest: Option<u64>,
    pub newest: Option<u64>,
}

pub fn store_stats(store: &Store) -> anyhow::Result<StoreStats> {
    let mut stats = StoreStats::default();
    for (key, record) in store.file_entries()? {
        match key.rsplit_once('/').map(|(_, kind)| kind) {
            Some("info") => stats.info += 1,
            Some("mod") => stats.modfiles += 1,
            Some("zip") => stats.zips += 1,
            _ => {}
        }
        stats.bytes += record.size;
        stats.oldest = Some(stats.oldest.map_or(record.stored_at, |t| t.min(record.stored_at)));
        stats.newest = Some(stats.newest.map_or(record.stored_at, |t| t.max(record.stored_at)));
    }
    Ok(stats)
}

fn format_time(secs: Option<u64>) -> String {
    match secs {
        Some(secs) => httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)),
        None => "none".into(),
    }
}

/// Renders the store totals as aligned lines.
pub fn render_store(stats: &StoreStats) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "store size:     {} bytes ({:.1} MiB)",
        stats.bytes,
        stats.bytes as f64 / (1 << 20) as f64
    );
    let _ = writeln!(
        out,
        "objects:        {} zip, {} mod, {} info",
        stats.zips, stats.modfiles, stats.info
    );
    let _ = writeln!(out, "oldest entry:   {}", format_time(stats.oldest));
    let _ = writeln!(out, "newest entry:   {}", format_time(stats.newest));
    out
}

/// Sums the samples of `name` whose labels include all of `labels`.
pub fn metric_sum(page: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    page.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            let (metric, label_text) = series.split_once('{').unwrap_or((series, ""));
            metric == name && labels.iter().all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|(_, value)| value.parse::<f64>().ok())
        .sum()
}

/// Renders the hit ratio of canonical files from a server's /metrics page.
pub fn render_server(page: &str) -> String {
    let mut hits = 0.0;
    let mut misses = 0.0;
    for endpoint in ["info", "mod", "zip"] {
        hits += metric_sum(
            page,
            "modvault_http_requests_total",
            &[("endpoint", endpoint), ("outcome", "hit")],
        );
        misses += metric_sum(
            page,
            "modvault_http_requests_total",
            &[("endpoint", endpoint), ("outcome", "miss")],
        );
    }
    let ratio = if hits + misses > 0.0 {
        format!("{:.1} %", 100.0 * hits / (hits + misses))
    } else {
        "no requests yet".into()
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "hit ratio:      {ratio} ({hits} hits, {misses} misses since the server started)"
    );
    let _ = writeln!(
        out,
        "server objects: {} zip, {} mod, {} info, {} bytes",
        metric_sum(page, "modvault_store_objects", &[("kind", "zip")]),
        metric_sum(page, "modvault_store_objects", &[("kind", "mod")]),
        metric_sum(page, "modvault_store_objects", &[("kind", "info")]),
        metric_sum(page, "modvault_store_bytes", &[])
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_ratio_counts_canonical_files_only() {
        let page = "# HELP x\nmodvault_http_requests_total{endpoint=\"zip\",outcome=\"hit\",status_class=\"2xx\"} 3\n\
                    modvault_http_requests_total{endpoint=\"zip\",outcome=\"miss\",status_class=\"2xx\"} 1\n\
                    modvault_http_requests_total{endpoint=\"list\",outcome=\"hit\",status_class=\"2xx\"} 50\n";
        let text = render_server(page);
        assert!(text.contains("75.0 %"), "{text}");
    }
}
