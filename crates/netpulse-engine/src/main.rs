//! `netpulse`: the engine binary. `serve` runs it; `check-config` validates configuration;
//! `migrate` brings the database schema up to date.

use clap::{Parser, Subcommand};
use netpulse_engine::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "netpulse", version, about = "Self-hosted uptime monitoring with alerts you can trust")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine (API, dashboard, scheduler, checker, ingest, alerts).
    Serve {
        /// TOML configuration file (layered over the built-in defaults; NETPULSE_* env wins).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate the configuration and print the effective values.
    CheckConfig {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

fn load(path: Option<&PathBuf>) -> Result<Config, ExitCode> {
    Config::from_env(path.map(PathBuf::as_path)).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{},hickory_proto=warn,hickory_resolver=warn", config.log.level))
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config } => match load(config.as_ref()) {
            Ok(c) => {
                println!("configuration is valid:\n{c:#?}");
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Migrate { config } => {
            let Ok(c) = load(config.as_ref()) else {
                return ExitCode::from(2);
            };
            match netpulse_engine::store::sqlite::SqliteStore::open(&c.database_path()) {
                Ok(_) => {
                    println!("database {} is up to date", c.database_path().display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("migration failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve { config } => {
            let Ok(c) = load(config.as_ref()) else {
                return ExitCode::from(2);
            };
            init_tracing(&c);
            match serve(c).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let data_dir = config.storage.data_dir.clone();
    let generated = config.admin_token.is_none();
    let running = netpulse_engine::app::start(config).await?;
    println!("NetPulse is running: dashboard and API at {}", running.base_url);
    println!("data: {}", data_dir.display());
    match (&running.admin_token, generated) {
        (Some(token), true) => {
            println!(
                "\nAdmin API token (shown once; also saved to {}):\n\n    {token}\n",
                data_dir.join("admin-token").display()
            );
        }
        (Some(_), false) => println!("admin token: from NETPULSE_ADMIN_TOKEN"),
        (None, _) => println!("admin token: created at first start (see {})", data_dir.join("admin-token").display()),
    }
    shutdown_signal().await;
    tracing::info!("shutting down: finishing checks in flight and storing queued results");
    running.shutdown().await;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
