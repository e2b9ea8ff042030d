//! `netpulse`: the engine binary. `serve` runs it; `check-config` validates configuration;
//! `migrate` brings the database schema up to date; `plan`, `apply` and `export` manage an
//! organisation from a file through the API; `import` writes such a file from a Gatus
//! configuration or an Uptime Kuma backup.

use clap::{Parser, Subcommand};
use netpulse_engine::config::Config;
use std::io::IsTerminal;
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
        /// Roles this node runs, e.g. `api,dashboard` (default all; wins over NETPULSE_ROLES).
        #[arg(long)]
        roles: Option<String>,
        /// Seed the read-only demo organisation and serve it at `/demo` (= `accounts.demo`).
        #[arg(long)]
        demo: bool,
    },
    /// Validate the configuration and print the effective values.
    CheckConfig {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Run an alerting scenario under a virtual clock and judge the notifications.
    Simulate {
        /// The scenario (JSON; see scenarios/).
        scenario: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage the worker CA: init, issue, revoke, list (in <storage.data_dir>/ca/).
    Ca {
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: netpulse_engine::ca_cli::CaCommand,
    },
    /// Benchmarks against real services: `loadtest ingest` (Redis → ingest → PgBouncer → PostgreSQL),
    /// `loadtest retention` (retention steps over a backlog, via PgBouncer).
    Loadtest {
        #[command(subcommand)]
        command: netpulse_engine::loadtest::LoadtestCommand,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    #[command(flatten)]
    AsCode(netpulse_engine::as_code::Command),
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
    // Colours only for a person at a terminal, never into a file, a pipe or a journal.
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(std::io::stdout().is_terminal());
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// mimalloc returns freed memory to the system; glibc's per-thread arenas kept the transient
/// allocations of scheduler reloads and SQLite calls (measured: 253 MiB vs ~60 MiB at 10k
/// monitors).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `serve` reads its configuration before the runtime starts: it says how many workers.
    let serve_config = match &cli.command {
        Command::Serve { config, roles, demo } => match serve_config(config.as_deref(), roles.clone(), *demo) {
            Ok(c) => Some(c),
            Err(code) => return code,
        },
        _ => None,
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(c) = &serve_config {
        builder.worker_threads(c.runtime.workers(c.storage.backend));
    }
    // Blocking threads run SQLite calls (one writer, four readers) and password hashes (two
    // at once): eight are plenty, and a spare one leaves after 2 s idle, so a burst does not
    // keep a dozen threads (and their allocator pages) alive.
    let runtime =
        builder.enable_all().max_blocking_threads(8).thread_keep_alive(std::time::Duration::from_secs(2)).build();
    match runtime {
        Ok(rt) => rt.block_on(run(cli, serve_config)),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration of `serve`: `--roles` and `--demo` are applied as the last layer, like
/// environment variables.
fn serve_config(path: Option<&std::path::Path>, roles: Option<String>, demo: bool) -> Result<Config, ExitCode> {
    let demo = demo.then(|| ("NETPULSE_ACCOUNTS__DEMO".to_owned(), "true".to_owned()));
    let env = std::env::vars().chain(roles.map(|r| ("NETPULSE_ROLES".to_owned(), r))).chain(demo);
    Config::load(path, env).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })
}

async fn run(cli: Cli, serve_config: Option<Config>) -> ExitCode {
    match cli.command {
        Command::CheckConfig { config } => match load(config.as_ref()) {
            Ok(c) => match toml::to_string(&c) {
                Ok(text) => {
                    println!(
                        "# configuration is valid. The configuration in effect (defaults, the file and NETPULSE_*\n\
                         # variables) as TOML you can save and load with --config. Not printed: the secrets\n\
                         # (admin_token, admin_password, smtp.password) and database URLs' passwords; give\n\
                         # them again in the file or as NETPULSE_* variables.\n\n{text}"
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("configuration is valid, but could not be printed as TOML: {e}");
                    ExitCode::FAILURE
                }
            },
            Err(code) => code,
        },
        Command::Migrate { config } => {
            let Ok(c) = load(config.as_ref()) else {
                return ExitCode::from(2);
            };
            match netpulse_engine::app::migrate(&c).await {
                Ok(done) => {
                    println!("{done}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("migration failed: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Loadtest { command } => {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .init();
            match command.run().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("loadtest failed: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Simulate { scenario, json } => simulate(&scenario, json).await,
        Command::AsCode(command) => {
            let out = netpulse_engine::as_code::run(command, &|name| std::env::var(name).ok()).await;
            print!("{}", out.stdout);
            eprint!("{}", out.stderr);
            ExitCode::from(out.code)
        }
        Command::Ca { config, command } => {
            let Ok(c) = load(config.as_ref()) else {
                return ExitCode::from(2);
            };
            match netpulse_engine::ca_cli::run(&c.storage.data_dir, command) {
                Ok(out) => {
                    println!("{out}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve { .. } => {
            let Some(c) = serve_config else {
                return ExitCode::FAILURE; // read in `main` before the runtime started
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

async fn simulate(path: &std::path::Path, json: bool) -> ExitCode {
    use netpulse_engine::simulate::{run, scenario::Scenario};
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let scenario = match Scenario::parse(&text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    match run(&scenario).await {
        Ok(report) if json => {
            println!("{}", serde_json::to_string_pretty(&report).expect("report serializes"));
            if report.trustworthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Ok(report) => {
            print!("{}", netpulse_engine::simulate::report::render(&report));
            if report.trustworthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("simulation failed: {e:#}");
            ExitCode::FAILURE
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
