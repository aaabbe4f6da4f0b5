//! The modvault command line: parse arguments, set up logging, call the
//! library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};
use modvault::commands::{self, bundle, gc, healthcheck, stats, verify, warm};
use modvault::config::{parse_duration, Config, LogFormat, ServeArgs};
use modvault::verify::sumdb::SumdbConfig;

#[derive(Parser)]
#[command(name = "modvault", version, about = "A caching Go module proxy (GOPROXY server)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the module proxy protocol, filling misses from the upstream.
    Serve(ServeArgs),
    /// Re-read every stored file, check its SHA-256 and h1: hash, and move failures to quarantine/.
    Verify(ServeArgs),
    /// Evict past --max-size and remove blobs no index entry points to.
    Gc(ServeArgs),
    /// Show store size, objects by kind, oldest and newest entry, and a server's hit ratio.
    Stats {
        /// URL of a running modvault whose /metrics add the hit ratio, e.g. http://127.0.0.1:8080
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        #[command(flatten)]
        settings: ServeArgs,
    },
    /// Fill the store ahead of use from go.mod, go.sum, go.work files, folders, or module@version arguments.
    Warm {
        /// Files, folders to scan for go.mod/go.sum/go.work, or module@version
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<String>,
        /// Fill through a running modvault at this URL instead of opening the data directory
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Module versions filled at once
        #[arg(long, default_value_t = 8, value_name = "N")]
        jobs: usize,
        #[command(flatten)]
        settings: ServeArgs,
    },
    /// Write chosen modules, their checksum database records and proofs to a bundle for an air-gapped store.
    Export {
        /// Bundle file to write (a gzip-compressed tar)
        #[arg(long, value_name = "BUNDLE")]
        out: PathBuf,
        /// Files, folders or module@version, as for warm; missing ones are filled first
        #[arg(value_name = "INPUT")]
        inputs: Vec<String>,
        /// Export every stored module
        #[arg(long)]
        all: bool,
        /// Export stored modules matching these globs (GONOSUMDB syntax)
        #[arg(long, value_name = "PATTERNS")]
        pattern: Option<String>,
        #[command(flatten)]
        settings: ServeArgs,
    },
    /// Verify every artifact of a bundle and, only if all pass, store them.
    Import {
        /// Bundle written by modvault export
        #[arg(value_name = "BUNDLE")]
        bundle: PathBuf,
        #[command(flatten)]
        settings: ServeArgs,
    },
    /// Probe a running server: exit 0 when GET /healthz (or --url) returns 200, 1 otherwise.
    Healthcheck {
        /// URL to probe [default: /healthz on the configured listen address]
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Connect and response deadline, e.g. 3s
        #[arg(long, default_value = "3s", value_name = "DURATION")]
        timeout: String,
        #[command(flatten)]
        settings: ServeArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match &cli.command {
        Command::Serve(s) | Command::Verify(s) | Command::Gc(s) => s,
        Command::Stats { settings, .. }
        | Command::Warm { settings, .. }
        | Command::Export { settings, .. }
        | Command::Import { settings, .. }
        | Command::Healthcheck { settings, .. } => settings,
    };
    let config = match settings.resolve() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("modvault: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::Healthcheck { url, timeout, .. } = &cli.command {
        return run_healthcheck(&config, url.as_deref(), timeout);
    }

    init_logging(&config);
    for name in unknown_settings_variables() {
        tracing::warn!(variable = %name, "unknown MODVAULT_ variable is ignored; `modvault serve --help` lists the variables");
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime starts");
    match runtime.block_on(run(cli.command, config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("modvault: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(_) => serve(config).await.map(|()| ExitCode::SUCCESS),
        Command::Verify(_) => run_verify(config).await,
        Command::Gc(_) => run_gc(config).await,
        Command::Stats { server, .. } => run_stats(config, server).await,
        Command::Warm {
            inputs, server, jobs, ..
        } => run_warm(config, &inputs, server, jobs).await,
        Command::Export {
            out,
            inputs,
            all,
            pattern,
            ..
        } => run_export(config, &out, &inputs, all, pattern).await,
        Command::Import { bundle, .. } => run_import(config, &bundle).await,
        Command::Healthcheck { .. } => unreachable!("handled before the runtime starts"),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen).await.map_err(|e| {
        anyhow!(
            "cannot listen on {} ({e}); set --listen or MODVAULT_LISTEN to a free address",
            config.listen
        )
    })?;
    modvault::run(listener, config, shutdown_signal()).await
}

fn run_healthcheck(config: &Config, url: Option<&str>, timeout: &str) -> ExitCode {
    let Ok(timeout) = parse_duration(timeout) else {
        eprintln!("modvault: invalid --timeout {timeout:?}; write a duration such as 3s");
        return ExitCode::from(2);
    };
    let url = url
        .map(str::to_string)
        .unwrap_or_else(|| healthcheck::default_url(config.listen));
    match healthcheck::probe(&url, timeout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("modvault healthcheck: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_verify(config: Config) -> anyhow::Result<ExitCode> {
    let data_dir = config.data_dir.clone();
    let report = tokio::task::spawn_blocking(move || {
        let store = commands::open_existing_store(&data_dir)?;
        let report = verify::verify_store(&store)?;
        store.flush_blocking()?;
        anyhow::Ok(report)
    })
    .await??;
    println!(
        "checked {} files ({} bytes): {} ok, {} quarantined",
        report.checked,
        report.bytes,
        report.checked - report.bad.len(),
        report.bad.len()
    );
    for (key, reason) in &report.bad {
        println!("quarantined {key}: {reason}");
    }
    Ok(if report.bad.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn run_gc(config: Config) -> anyhow::Result<ExitCode> {
    let (evicted, orphans) = tokio::task::spawn_blocking(move || {
        let store = commands::open_existing_store(&config.data_dir)?;
        gc::collect(&store, &config)
    })
    .await??;
    println!(
        "evicted {} entries ({} bytes); removed {} orphan blobs ({} bytes)",
        evicted.entries, evicted.bytes, orphans.entries, orphans.bytes
    );
    Ok(ExitCode::SUCCESS)
}

async fn run_stats(config: Config, server: Option<String>) -> anyhow::Result<ExitCode> {
    let data_dir = config.data_dir.clone();
    let local = tokio::task::spawn_blocking(move || {
        commands::open_existing_store(&data_dir).and_then(|s| stats::store_stats(&s))
    })
    .await?;
    match &local {
        Ok(totals) => print!("{}", stats::render_store(totals)),
        Err(e) if server.is_none() => return Err(anyhow!("{e:#}")),
        Err(e) => println!("store:          not readable here ({e:#}); totals below come from the server's metrics"),
    }
    if let Some(base) = server {
        let url = format!("{}/metrics", base.trim_end_matches('/'));
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        match client.get(&url).send().await.and_then(|r| r.error_for_status()) {
            Ok(response) => print!("{}", stats::render_server(&response.text().await?)),
            Err(e) => println!("hit ratio:      unavailable ({url}: {e})"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_warm(config: Config, inputs: &[String], server: Option<String>, jobs: usize) -> anyhow::Result<ExitCode> {
    let targets = warm::collect_targets(inputs).map_err(|e| anyhow!(e))?;
    if targets.is_empty() {
        bail!("no module versions found in {}", inputs.join(" "));
    }
    let via = match server {
        Some(base) => warm::WarmVia::Server {
            client: reqwest::Client::builder().timeout(config.total_timeout).build()?,
            base,
        },
        None => warm::WarmVia::Cache(modvault::build_state(&config).await?.cache),
    };
    let report = warm::warm(&via, &targets, jobs, "warming").await;
    if let warm::WarmVia::Cache(cache) = &via {
        cache.store().flush().await?;
    }
    println!(
        "warmed {} of {} module versions; {} failed",
        report.filled,
        targets.len(),
        report.failed.len()
    );
    for (target, error) in &report.failed {
        println!("failed {target}: {error}");
    }
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn run_export(
    config: Config,
    out: &std::path::Path,
    inputs: &[String],
    all: bool,
    pattern: Option<String>,
) -> anyhow::Result<ExitCode> {
    let state = modvault::build_state(&config).await?;
    let store = state.cache.store().clone();
    let mut keys = Vec::new();
    if !inputs.is_empty() {
        let targets = warm::collect_targets(inputs).map_err(|e| anyhow!(e))?;
        let via = warm::WarmVia::Cache(state.cache.clone());
        let report = warm::warm(&via, &targets, 8, "filling before export").await;
        if let Some((target, error)) = report.failed.first() {
            bail!("cannot export {target}: {error}");
        }
        for target in &targets {
            for kind in ["info", "mod", "zip"].iter().take(if target.zip { 3 } else { 2 }) {
                keys.push(format!(
                    "{}@{}/{kind}",
                    target.module.encoded(),
                    modvault::module::encode_element(target.version.as_str())
                ));
            }
        }
    }
    let patterns = pattern
        .as_deref()
        .map(modvault::module::PathPatterns::parse)
        .transpose()
        .map_err(|e| anyhow!(e))?;
    if all || patterns.is_some() {
        for (key, _) in store.file_entries()? {
            let module = verify::module_and_version(&key).map(|(m, _)| m).unwrap_or_default();
            if all || patterns.as_ref().is_some_and(|p| p.matches(&module)) {
                keys.push(key);
            }
        }
    }
    keys.sort();
    keys.dedup();
    if keys.is_empty() {
        bail!("nothing to export: the store has no module matching the inputs, --all or --pattern");
    }

    let sumdb = match (state.cache.sumdb(), &config.sumdb) {
        (Some(db), SumdbConfig::On(settings)) => Some(bundle::ExportSumdb {
            transport: db.transport().clone(),
            verifier: settings.verifier.clone(),
            skip: db.skip().clone(),
        }),
        _ => None,
    };
    let manifest = bundle::export(&store, &keys, sumdb, out)
        .await
        .with_context(|| format!("cannot export to {}", out.display()))?;
    println!(
        "exported {} files and {} checksum database answers to {}",
        manifest.files.len(),
        manifest.sumdb_paths.len(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn run_import(config: Config, bundle_path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let data_dir = config.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || commands::open_store(&data_dir)).await??;
    let sumdb = match &config.sumdb {
        SumdbConfig::On(settings) => Some(bundle::ImportSumdb {
            verifier: settings.verifier.clone(),
            skip: config.nosumdb.clone(),
        }),
        SumdbConfig::Off => None,
    };
    match bundle::import(&store, bundle_path, sumdb).await {
        Ok(count) => {
            println!("imported {count} files from {}", bundle_path.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!(
                "modvault: rejected {}: {e:#}; nothing was stored",
                bundle_path.display()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = interrupt => tracing::info!(signal = "SIGINT", "signal received"),
        _ = terminate.recv() => tracing::info!(signal = "SIGTERM", "signal received"),
    }
}

/// Returns the `MODVAULT_*` variables that modvault does not read. They are
/// most likely misspelled settings, which would otherwise go unnoticed.
/// Names used by the test and benchmark scripts are not reported.
fn unknown_settings_variables() -> Vec<String> {
    const SCRIPT_VARIABLES: [&str; 4] = [
        "MODVAULT_BENCH_DATA",
        "MODVAULT_BIN",
        "MODVAULT_SKIP_BUILD",
        "MODVAULT_CONFORMANCE_DIR",
    ];
    let command = <Cli as clap::CommandFactory>::command();
    let mut known: Vec<String> = Vec::new();
    for subcommand in command.get_subcommands() {
        for argument in subcommand.get_arguments() {
            if let Some(name) = argument.get_env() {
                known.push(name.to_string_lossy().into_owned());
            }
        }
    }

    let mut unknown: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| name.starts_with("MODVAULT_"))
        .filter(|name| !known.contains(name) && !SCRIPT_VARIABLES.contains(&name.as_str()))
        .collect();
    unknown.sort();
    unknown
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level).unwrap_or_else(|e| {
        eprintln!(
            "modvault: invalid log_level {:?} ({e}); using \"info\"",
            config.log_level
        );
        tracing_subscriber::EnvFilter::new("info")
    });
    // Colour codes only for a terminal: in a file or a journal they are noise.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}
