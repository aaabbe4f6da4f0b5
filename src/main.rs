//! The modvault command line: parse arguments, set up logging, call the
//! library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use modvault::config::{Config, LogFormat, ServeArgs};

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = match args.resolve() {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("modvault: {e}");
                    return ExitCode::from(2);
                }
            };
            init_logging(&config);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime starts");
            match runtime.block_on(serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "modvault failed");
                    eprintln!("modvault: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {} ({e}); set --listen or MODVAULT_LISTEN to a free address",
            config.listen
        )
    })?;
    modvault::run(listener, config, shutdown_signal()).await
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

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level).unwrap_or_else(|e| {
        eprintln!(
            "modvault: invalid log_level {:?} ({e}); using \"info\"",
            config.log_level
        );
        tracing_subscriber::EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}
