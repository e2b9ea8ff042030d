//! `netpulse-worker`: runs checks for one region and streams the results to the engine's
//! gateway over mutual TLS. Its identity and region come from the certificate bundle issued
//! by `netpulse ca issue`; everything else is flags or `NETPULSE_WORKER_*` variables.

use clap::Parser;
use netpulse_checker::worker::{Worker, WorkerConfig};
use netpulse_checker::{HttpClient, ProbeContext, Resolver, SsrfGuard};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "netpulse-worker", version, about = "NetPulse regional worker (mTLS to the engine gateway)")]
struct Args {
    /// The engine gateway, host:port; several separated by commas (any node's gateway serves
    /// any worker: when one stops answering the worker moves on to the next).
    #[arg(long, env = "NETPULSE_WORKER_ENGINE", default_value = "127.0.0.1:8443")]
    engine: String,
    /// Name to expect in the gateways' certificates (default: the host part of each address).
    #[arg(long, env = "NETPULSE_WORKER_SERVER_NAME")]
    server_name: Option<String>,
    /// Bundle directory written by `netpulse ca issue` (worker.pem, worker.key, ca.pem).
    #[arg(long, env = "NETPULSE_WORKER_BUNDLE")]
    bundle: PathBuf,
    /// Checks running at the same time.
    #[arg(long, env = "NETPULSE_WORKER_CONCURRENCY", default_value_t = 64)]
    concurrency: usize,
    /// Where undelivered results wait (default: <bundle>/buffer).
    #[arg(long, env = "NETPULSE_WORKER_BUFFER_DIR")]
    buffer_dir: Option<PathBuf>,
    /// Most results buffered; beyond it the oldest are dropped (and counted in the log).
    #[arg(long, env = "NETPULSE_WORKER_BUFFER_MAX", default_value_t = 100_000)]
    buffer_max: usize,
    /// Refuse private/loopback targets (SSRF guard), as a multi-tenant engine does.
    #[arg(long, env = "NETPULSE_WORKER_BLOCK_PRIVATE", default_value_t = false)]
    block_private: bool,
    /// Answer every job without probing, with `up` results labelled `synthetic` (stored and
    /// shown, never counted as live evidence): to load an engine's write path.
    #[arg(long, env = "NETPULSE_WORKER_SYNTHETIC", default_value_t = false)]
    synthetic: bool,
}

fn main() -> ExitCode {
    tracing_subscriber_init();
    let args = Args::parse();
    let guard = if args.block_private { SsrfGuard::strict(vec![]) } else { SsrfGuard::allow_all() };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let cfg = WorkerConfig {
            server_name: args.server_name.clone().unwrap_or_default(),
            engine: args.engine.clone(),
            buffer_dir: args.buffer_dir.clone().unwrap_or_else(|| args.bundle.join("buffer")),
            bundle: args.bundle,
            concurrency: args.concurrency.max(1),
            buffer_max: args.buffer_max,
            lease_wait: Duration::from_secs(20),
            probe: ProbeContext::new(HttpClient::new(guard, Resolver::from_system())),
            synthetic: args.synthetic,
        };
        let worker = match Worker::start(cfg) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        eprintln!("netpulse-worker: leasing checks from {}", args.engine);
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("stopping: finishing checks in flight and delivering results");
        worker.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// Log to stderr at `RUST_LOG` (default `info`).
fn tracing_subscriber_init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hickory_proto=warn,hickory_resolver=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
