//! Settings of a modvault instance: built-in defaults, then an optional TOML
//! file, then `MODVAULT_*` environment variables, then command-line flags.
//!
//! Go client variables such as `GOPROXY` are never read: the machine that
//! runs modvault is often a Go client too.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::module::PathPatterns;
use crate::upstream::UpstreamList;
use crate::verify::sumdb::SumdbConfig;

pub const DEFAULT_UPSTREAM: &str = "https://goproxy.cn";

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The checked settings the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub upstream: UpstreamList,
    pub log_format: LogFormat,
    pub log_level: String,
    pub upstream_concurrency: usize,
    pub connect_timeout: Duration,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub total_timeout: Duration,
    pub retries: u32,
    pub list_ttl: Duration,
    pub negative_ttl: Duration,
    pub shutdown_timeout: Duration,
    /// Store size budget in bytes; `None` means unbounded.
    pub max_size: Option<u64>,
    /// Bytes of small stored files kept in memory, or 0 for none.
    pub memory_cache: u64,
    /// Modules never evicted.
    pub pins: PathPatterns,
    /// Never contact an upstream; respond from the store only.
    pub offline: bool,
    /// Fill a version's `.info` in the background after its `.mod`, and
    /// the reverse.
    pub prefetch: bool,
    /// How often the background pass evicts and removes orphan blobs.
    pub gc_interval: Duration,
    /// The checksum database every fill is verified against.
    pub sumdb: SumdbConfig,
    /// Modules whose fills skip the checksum database.
    pub nosumdb: PathPatterns,
}

impl Config {
    /// Defaults with a given data directory and upstream; used by tests and
    /// embedders.
    pub fn new(data_dir: impl Into<PathBuf>, upstream: UpstreamList) -> Config {
        Config {
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            data_dir: data_dir.into(),
            upstream,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            upstream_concurrency: 64,
            connect_timeout: Duration::from_secs(5),
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(600),
            retries: 2,
            list_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(30),
            max_size: None,
            memory_cache: 64 << 20,
            pins: PathPatterns::default(),
            offline: false,
            prefetch: true,
            gc_interval: Duration::from_secs(600),
            sumdb: SumdbConfig::parse("sum.golang.org").expect("built-in key parses"),
            nosumdb: PathPatterns::default(),
        }
    }
}

/// A setting that failed to parse; the message names the setting, the value
/// and what would fix it.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {setting} = {value:?}: {problem}. {fix}")]
pub struct ConfigError {
    pub setting: String,
    pub value: String,
    pub problem: String,
    pub fix: String,
}

impl ConfigError {
    pub fn new(setting: &str, value: &str, problem: impl Into<String>, fix: impl Into<String>) -> ConfigError {
        ConfigError {
            setting: setting.into(),
            value: value.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

/// Settings as written in the TOML file; every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub upstream: Option<String>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    pub upstream_concurrency: Option<usize>,
    pub connect_timeout: Option<String>,
    pub header_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub total_timeout: Option<String>,
    pub retries: Option<u32>,
    pub list_ttl: Option<String>,
    pub negative_ttl: Option<String>,
    pub shutdown_timeout: Option<String>,
    #[serde(default, deserialize_with = "size")]
    pub max_size: Option<String>,
    #[serde(default, deserialize_with = "size")]
    pub memory_cache: Option<String>,
    #[serde(default, deserialize_with = "globs")]
    pub pin: Option<String>,
    pub offline: Option<bool>,
    pub prefetch: Option<bool>,
    pub gc_interval: Option<String>,
    pub sumdb: Option<String>,
    #[serde(default, deserialize_with = "globs")]
    pub nosumdb: Option<String>,
}

/// Reads a glob list written either as one comma-separated string or as an
/// array of strings, and returns it comma-separated.
fn globs<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Globs {
        Text(String),
        List(Vec<String>),
    }

    let globs = Globs::deserialize(deserializer).map_err(|_| {
        serde::de::Error::custom("invalid glob list: write a comma-separated string or an array of strings")
    })?;
    Ok(Some(match globs {
        Globs::Text(text) => text,
        Globs::List(list) => list.join(","),
    }))
}

/// Reads a size written as a string with a unit (`"64MiB"`) or as a whole
/// number of bytes, and returns it as text for `parse_size`.
fn size<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Text(String),
        Bytes(u64),
    }

    let size = Size::deserialize(deserializer)
        .map_err(|_| serde::de::Error::custom("invalid size: write a string such as \"64MiB\" or a number of bytes"))?;
    Ok(Some(match size {
        Size::Text(text) => text,
        Size::Bytes(bytes) => bytes.to_string(),
    }))
}

/// The server flags; clap fills each from its flag or, failing that, from its
/// `MODVAULT_*` variable, so a flag wins over the environment.
#[derive(Debug, Default, Clone, clap::Args)]
#[command(next_help_heading = "Settings (shared by every subcommand)")]
pub struct ServeArgs {
    /// TOML file with settings; flags and MODVAULT_* variables override it.
    #[arg(long, env = "MODVAULT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address and port to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "MODVAULT_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<String>,

    /// Directory of the embedded store (index, blobs, temporary files) [default: ./modvault-data]
    #[arg(long, env = "MODVAULT_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Upstream proxies in GOPROXY list syntax: "a,b" falls through on 404/410, "a|b" on any error; file:///dir reads a module cache download directory [default: https://goproxy.cn]
    #[arg(long, env = "MODVAULT_UPSTREAM", value_name = "LIST")]
    pub upstream: Option<String>,

    /// Log format [default: text]
    #[arg(long, env = "MODVAULT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,

    /// Log filter in tracing's EnvFilter syntax, e.g. "info" or "modvault=debug" [default: info]
    #[arg(long, env = "MODVAULT_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,

    /// Maximum upstream fetches running at once, across all modules [default: 64]
    #[arg(long, env = "MODVAULT_UPSTREAM_CONCURRENCY", value_name = "N")]
    pub upstream_concurrency: Option<usize>,

    /// Time to establish an upstream connection, e.g. 5s [default: 5s]
    #[arg(long, env = "MODVAULT_CONNECT_TIMEOUT", value_name = "DURATION")]
    pub connect_timeout: Option<String>,

    /// Time to wait for upstream response headers [default: 30s]
    #[arg(long, env = "MODVAULT_HEADER_TIMEOUT", value_name = "DURATION")]
    pub header_timeout: Option<String>,

    /// Maximum pause between two chunks of an upstream body before the fetch fails [default: 30s]
    #[arg(long, env = "MODVAULT_IDLE_TIMEOUT", value_name = "DURATION")]
    pub idle_timeout: Option<String>,

    /// Deadline for one whole upstream fetch, retries included [default: 10m]
    #[arg(long, env = "MODVAULT_TOTAL_TIMEOUT", value_name = "DURATION")]
    pub total_timeout: Option<String>,

    /// Retries of an upstream request after a connection error, 429 or 5xx [default: 2]
    #[arg(long, env = "MODVAULT_RETRIES", value_name = "N")]
    pub retries: Option<u32>,

    /// How long list, @latest and query responses stay fresh [default: 60s]
    #[arg(long, env = "MODVAULT_LIST_TTL", value_name = "DURATION")]
    pub list_ttl: Option<String>,

    /// How long an upstream 404/410 is remembered [default: 60s]
    #[arg(long, env = "MODVAULT_NEGATIVE_TTL", value_name = "DURATION")]
    pub negative_ttl: Option<String>,

    /// Time in-flight requests get to finish after SIGTERM or SIGINT, and then background fills [default: 30s]
    #[arg(long, env = "MODVAULT_SHUTDOWN_TIMEOUT", value_name = "DURATION")]
    pub shutdown_timeout: Option<String>,

    /// Store size budget, e.g. 50GiB or 500MB; least recently served entries are evicted past it [default: unbounded]
    #[arg(long, env = "MODVAULT_MAX_SIZE", value_name = "SIZE")]
    pub max_size: Option<String>,

    /// Memory for small stored files (.info, .mod, small zips) and their gzip encoding, e.g. 256MiB, or 0 to turn it off [default: 64MiB]
    #[arg(long, env = "MODVAULT_MEMORY_CACHE", value_name = "SIZE")]
    pub memory_cache: Option<String>,

    /// Modules never evicted: comma-separated globs matched against path prefixes, as in GONOSUMDB [default: none]
    #[arg(long, env = "MODVAULT_PIN", value_name = "PATTERNS")]
    pub pin: Option<String>,

    /// Never contact an upstream; serve list and @latest from the store and return 404 for other misses
    #[arg(long, env = "MODVAULT_OFFLINE", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub offline: Option<bool>,

    /// After filling a version's .mod, fill its .info in the background, and the reverse, because the go command requests both [default: true]
    #[arg(long, env = "MODVAULT_PREFETCH", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub prefetch: Option<bool>,

    /// How often the server evicts past the budget and removes orphan blobs [default: 10m]
    #[arg(long, env = "MODVAULT_GC_INTERVAL", value_name = "DURATION")]
    pub gc_interval: Option<String>,

    /// Checksum database that verifies every fill, in GOSUMDB syntax: a name with a known key, name+hash+key with an optional URL, or off [default: sum.golang.org]
    #[arg(long, env = "MODVAULT_SUMDB", value_name = "DATABASE")]
    pub sumdb: Option<String>,

    /// Modules whose fills skip the checksum database: comma-separated globs matched against path prefixes, as in GONOSUMDB [default: none]
    #[arg(long, env = "MODVAULT_NOSUMDB", value_name = "PATTERNS")]
    pub nosumdb: Option<String>,
}

impl ServeArgs {
    /// Layers defaults, the TOML file, then these arguments (which already
    /// carry the environment) into a checked [`Config`].
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let file = match &self.config {
            Some(path) => read_file_settings(path)?,
            None => FileSettings::default(),
        };
        let pick = |flag: &Option<String>, file: &Option<String>| flag.clone().or_else(|| file.clone());

        let upstream_text = pick(&self.upstream, &file.upstream).unwrap_or_else(|| DEFAULT_UPSTREAM.to_string());
        let upstream = UpstreamList::parse(&upstream_text)
            .map_err(|e| ConfigError::new("upstream", &upstream_text, e.to_string(), e.fix()))?;
        let data_dir = self
            .data_dir
            .clone()
            .or(file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("modvault-data"));
        let mut config = Config::new(data_dir, upstream);

        if let Some(listen) = pick(&self.listen, &file.listen) {
            config.listen = listen_address(&listen).ok_or_else(|| {
                ConfigError::new(
                    "listen",
                    &listen,
                    "not an address and port, or a host name that resolves to one",
                    "Use a form like 127.0.0.1:8080, [::]:8080 or localhost:8080.",
                )
            })?;
        }
        if let Some(format) = self.log_format.or(file.log_format) {
            config.log_format = format;
        }
        if let Some(level) = pick(&self.log_level, &file.log_level) {
            config.log_level = level;
        }
        if let Some(n) = self.upstream_concurrency.or(file.upstream_concurrency) {
            if n == 0 {
                return Err(ConfigError::new(
                    "upstream_concurrency",
                    "0",
                    "must be at least 1",
                    "Use a positive number such as 64.",
                ));
            }
            config.upstream_concurrency = n;
        }
        if let Some(n) = self.retries.or(file.retries) {
            config.retries = n;
        }

        if let Some(text) = pick(&self.max_size, &file.max_size) {
            let bytes = parse_size(&text).map_err(|problem| {
                ConfigError::new(
                    "max_size",
                    &text,
                    problem,
                    "Write a size with a unit, such as 50GiB, 500MB or 2TiB.",
                )
            })?;
            config.max_size = Some(bytes);
        }
        if let Some(text) = pick(&self.memory_cache, &file.memory_cache) {
            config.memory_cache = match text.trim() {
                "0" => 0,
                _ => parse_size(&text).map_err(|problem| {
                    ConfigError::new(
                        "memory_cache",
                        &text,
                        problem,
                        "Write a size with a unit, such as 64MiB or 1GiB, or 0 to turn the memory cache off.",
                    )
                })?,
            };
        }
        if let Some(text) = pick(&self.pin, &file.pin) {
            config.pins = PathPatterns::parse(&text).map_err(|problem| {
                ConfigError::new(
                    "pin",
                    &text,
                    problem,
                    "Write comma-separated globs such as corp.example/*,github.com/team.",
                )
            })?;
        }
        if let Some(text) = pick(&self.sumdb, &file.sumdb) {
            config.sumdb = SumdbConfig::parse(&text).map_err(|e| {
                ConfigError::new("sumdb", &text, e.reason, "Use off, sum.golang.org, or a verifier key <name>+<hash>+<key> optionally followed by a space and the database URL.")
            })?;
        }
        if let Some(text) = pick(&self.nosumdb, &file.nosumdb) {
            config.nosumdb = PathPatterns::parse(&text).map_err(|problem| {
                ConfigError::new(
                    "nosumdb",
                    &text,
                    problem,
                    "Write comma-separated globs such as corp.example/*,github.com/team.",
                )
            })?;
        }
        if let Some(offline) = self.offline.or(file.offline) {
            config.offline = offline;
        }
        if let Some(prefetch) = self.prefetch.or(file.prefetch) {
            config.prefetch = prefetch;
        }

        let durations: [(&str, &Option<String>, &Option<String>, &mut Duration); 8] = [
            (
                "connect_timeout",
                &self.connect_timeout,
                &file.connect_timeout,
                &mut config.connect_timeout,
            ),
            (
                "header_timeout",
                &self.header_timeout,
                &file.header_timeout,
                &mut config.header_timeout,
            ),
            (
                "idle_timeout",
                &self.idle_timeout,
                &file.idle_timeout,
                &mut config.idle_timeout,
            ),
            (
                "total_timeout",
                &self.total_timeout,
                &file.total_timeout,
                &mut config.total_timeout,
            ),
            ("list_ttl", &self.list_ttl, &file.list_ttl, &mut config.list_ttl),
            (
                "negative_ttl",
                &self.negative_ttl,
                &file.negative_ttl,
                &mut config.negative_ttl,
            ),
            (
                "shutdown_timeout",
                &self.shutdown_timeout,
                &file.shutdown_timeout,
                &mut config.shutdown_timeout,
            ),
            (
                "gc_interval",
                &self.gc_interval,
                &file.gc_interval,
                &mut config.gc_interval,
            ),
        ];
        for (name, flag, from_file, slot) in durations {
            if let Some(text) = pick(flag, from_file) {
                *slot = parse_duration(&text).map_err(|problem| {
                    ConfigError::new(
                        name,
                        &text,
                        problem,
                        "Write a whole number with a unit: ms, s, m or h (for example 30s or 10m).",
                    )
                })?;
                let may_be_zero = matches!(name, "list_ttl" | "negative_ttl" | "shutdown_timeout");
                if slot.is_zero() && !may_be_zero {
                    return Err(ConfigError::new(
                        name,
                        &text,
                        "must be longer than zero",
                        "Use a positive duration such as 5s.",
                    ));
                }
            }
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&config.log_level) {
            let fix = "Use a level such as info or debug, or per-module levels such as info,modvault=debug.";
            return Err(ConfigError::new(
                "log_level",
                &config.log_level.clone(),
                e.to_string(),
                fix,
            ));
        }
        Ok(config)
    }
}

fn read_file_settings(path: &Path) -> Result<FileSettings, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            "config",
            &shown,
            format!("cannot read the file: {e}"),
            "Check the path given to --config or MODVAULT_CONFIG.",
        )
    })?;
    toml::from_str(&text).map_err(|e| {
        let problem = match e.span() {
            Some(span) => {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("line {line}, column {column}: {}", one_line(e.message()))
            }
            None => one_line(e.message()),
        };
        ConfigError::new("config", &shown, problem, "Fix the TOML file; keys are those of `modvault serve --help` with underscores, such as list_ttl = \"60s\".")
    })
}

/// Reads `ADDR:PORT`, resolving a host name such as `localhost` to its
/// first address.
fn listen_address(text: &str) -> Option<SocketAddr> {
    if let Ok(address) = text.parse() {
        return Some(address);
    }
    std::net::ToSocketAddrs::to_socket_addrs(text).ok()?.next()
}

/// Joins a multi-line parser message into one line.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses sizes such as `500MB`, `50GiB` or `1073741824`: decimal units
/// (kB, MB, GB, TB) are powers of 1000, binary ones (KiB, MiB, GiB, TiB) of
/// 1024.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = (&text[..split], text[split..].trim());
    let value: f64 = number.parse().map_err(|_| "expected a number".to_string())?;
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1_000,
        "mb" | "m" => 1_000_000,
        "gb" | "g" => 1_000_000_000,
        "tb" | "t" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        other => return Err(format!("unknown unit {other:?}")),
    };
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err("size out of range".into());
    }
    Ok(bytes as u64)
}

/// Parses durations such as `250ms`, `30s`, `10m`, `1h` or `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err("expected a number".into());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| "number too large".to_string())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.saturating_mul(60)),
            "h" => Duration::from_secs(number.saturating_mul(3600)),
            "" => return Err("missing unit".into()),
            other => return Err(format!("unknown unit {other:?}")),
        };
        total += part;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_duration_reads_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn parse_size_reads_units() {
        assert_eq!(parse_size("50GiB"), Ok(50 << 30));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("0GB").is_err());
    }

    #[test]
    fn flags_override_file_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("modvault.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nlist_ttl = \"5m\"\nupstream_concurrency = 8\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(file),
            listen: Some("127.0.0.1:9100".into()),
            ..Default::default()
        };

        let config = args.resolve().unwrap();

        assert_eq!(config.listen.to_string(), "127.0.0.1:9100");
        assert_eq!(config.list_ttl, Duration::from_secs(300));
        assert_eq!(config.upstream_concurrency, 8);
        assert_eq!(config.negative_ttl, Duration::from_secs(60));
    }

    #[test]
    fn bad_setting_names_setting_value_and_fix() {
        let args = ServeArgs {
            list_ttl: Some("soon".into()),
            ..Default::default()
        };
        let message = args.resolve().unwrap_err().to_string();
        assert!(message.contains("list_ttl"), "{message}");
        assert!(message.contains("\"soon\""), "{message}");
        assert!(message.contains("30s"), "{message}");
    }

    #[test]
    fn toml_globs_take_string_or_array() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("modvault.toml");
        std::fs::write(
            &file,
            "pin = [\"corp.example/*\", \"rsc.io/quote\"]\nnosumdb = \"git.example.com\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(file),
            ..Default::default()
        };

        let config = args.resolve().unwrap();

        assert!(config.pins.matches("corp.example/team/tool"));
        assert!(config.pins.matches("rsc.io/quote"));
        assert!(!config.pins.matches("rsc.io/other"));
        assert!(config.nosumdb.matches("git.example.com/private"));
    }

    #[test]
    fn toml_error_names_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("modvault.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:8080\"\nlist_ttl = 60\n").unwrap();
        let args = ServeArgs {
            config: Some(file),
            ..Default::default()
        };

        let message = args.resolve().unwrap_err().to_string();

        assert!(message.contains("line 2, column 12"), "{message}");
    }

    #[test]
    fn toml_sizes_take_numbers_and_bad_globs_explain() {
        let dir = tempfile::tempdir().unwrap();
        let sizes = dir.path().join("sizes.toml");
        std::fs::write(&sizes, "memory_cache = 0\nmax_size = 1048576\n").unwrap();
        let globs = dir.path().join("globs.toml");
        std::fs::write(&globs, "pin = [1, 2]\n").unwrap();
        let read = |file: &std::path::Path| {
            ServeArgs {
                config: Some(file.to_path_buf()),
                ..Default::default()
            }
            .resolve()
        };

        let config = read(&sizes).unwrap();
        let message = read(&globs).unwrap_err().to_string();

        assert_eq!(config.memory_cache, 0);
        assert_eq!(config.max_size, Some(1 << 20));
        assert!(message.contains("array of strings"), "{message}");
        assert!(!message.contains("Globs"), "{message}");
    }

    #[test]
    fn listen_takes_host_names() {
        let args = ServeArgs {
            listen: Some("localhost:18085".into()),
            ..Default::default()
        };

        let listen = args.resolve().unwrap().listen;

        assert!(listen.ip().is_loopback(), "{listen}");
        assert_eq!(listen.port(), 18085);
    }

    #[test]
    fn memory_cache_takes_size_or_zero() {
        let with = |text: &str| ServeArgs {
            memory_cache: Some(text.into()),
            ..Default::default()
        };

        assert_eq!(ServeArgs::default().resolve().unwrap().memory_cache, 64 << 20);
        assert_eq!(with("256MiB").resolve().unwrap().memory_cache, 256 << 20);
        assert_eq!(with("0").resolve().unwrap().memory_cache, 0);
        let message = with("plenty").resolve().unwrap_err().to_string();
        assert!(message.contains("memory_cache"), "{message}");
        assert!(message.contains("\"plenty\""), "{message}");
    }

    #[test]
    fn zero_timeouts_and_bad_log_filter_are_rejected() {
        let zero = ServeArgs {
            connect_timeout: Some("0s".into()),
            ..Default::default()
        };
        assert!(zero.resolve().unwrap_err().to_string().contains("connect_timeout"));
        let gc = ServeArgs {
            gc_interval: Some("0s".into()),
            ..Default::default()
        };
        assert!(gc.resolve().unwrap_err().to_string().contains("gc_interval"));
        let ttl = ServeArgs {
            list_ttl: Some("0s".into()),
            ..Default::default()
        };
        assert!(ttl.resolve().is_ok(), "a zero TTL means always refresh");
        let filter = ServeArgs {
            log_level: Some("nonsense=[[".into()),
            ..Default::default()
        };
        assert!(filter.resolve().unwrap_err().to_string().contains("log_level"));
    }

    #[test]
    fn unknown_file_key_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("modvault.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        let args = ServeArgs {
            config: Some(file),
            ..Default::default()
        };
        let message = args.resolve().unwrap_err().to_string();
        assert!(message.contains("lisen"), "{message}");
    }
}
