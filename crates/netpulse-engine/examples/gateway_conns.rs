//! How many concurrent mTLS worker connections one engine's gateway holds, and what a
//! handshake costs (`scripts/bench-gateway.sh` starts the engine and runs this).
//!
//! For each N in `--connections`: opens N connections to the gateway from this one process
//! (TCP connect + TLS 1.3 handshake with the worker certificate of `--bundle`, at most
//! `--parallel` handshakes at a time), then each connection long-polls `POST /v1/lease` in a
//! loop, as an idle worker does. Reports handshakes/s, p50/p99 handshake time, connections
//! still alive after `--hold-secs`, and the engine's RSS and CPU (read from /proc of
//! `--engine-pid`). Closes everything before the next N. Loopback only; stops by itself.
//!
//! Usage: `gateway_conns --addr 127.0.0.1:18443 --bundle DIR --engine-pid PID
//!         [--connections 2000,5000,10000] [--hold-secs 30] [--parallel 64]`

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use netpulse_core::wire::{LeaseRequest, WIRE_HEADER, WIRE_VERSION};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

struct Args {
    addr: String,
    bundle: std::path::PathBuf,
    engine_pid: u32,
    connections: Vec<usize>,
    hold: Duration,
    parallel: usize,
}

fn args() -> Args {
    let mut a = Args {
        addr: "127.0.0.1:18443".into(),
        bundle: "bundle".into(),
        engine_pid: 0,
        connections: vec![2000, 5000, 10_000],
        hold: Duration::from_secs(30),
        parallel: 64,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let v = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--addr" => a.addr = v,
            "--bundle" => a.bundle = v.into(),
            "--engine-pid" => a.engine_pid = v.parse().expect("--engine-pid"),
            "--connections" => a.connections = v.split(',').map(|n| n.trim().parse().expect("--connections")).collect(),
            "--hold-secs" => a.hold = Duration::from_secs(v.parse().expect("--hold-secs")),
            "--parallel" => a.parallel = v.parse::<usize>().expect("--parallel").max(1),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// (RSS in MiB, CPU seconds user+system) of a process, from /proc.
fn usage(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15 (clock ticks, 100/s).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    let ticks = f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0);
    (rss_kb / 1024.0, ticks / 100.0)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[derive(Default)]
struct Counters {
    alive: AtomicUsize,
    failed: AtomicUsize,
    dropped: AtomicUsize,
    leases: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Counters {
    fn fail(&self, e: impl std::fmt::Display) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.first_error.lock().unwrap().get_or_insert_with(|| e.to_string());
    }
}

/// One worker connection: handshake (timed), then lease long-polls until `stop`.
async fn connection(
    a: Arc<(String, tokio_rustls::TlsConnector)>,
    gate: Arc<Semaphore>,
    c: Arc<Counters>,
    times: Arc<Mutex<Vec<f64>>>,
    mut stop: watch::Receiver<bool>,
) {
    let (addr, tls) = (&a.0, &a.1);
    let permit = gate.acquire().await.expect("open");
    let started = Instant::now();
    let tcp = match tokio::net::TcpStream::connect(addr.as_str()).await {
        Ok(t) => t,
        Err(e) => return c.fail(format!("connect: {e}")),
    };
    let _ = tcp.set_nodelay(true);
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let stream = match tokio::time::timeout(Duration::from_secs(30), tls.connect(name, tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return c.fail(format!("TLS handshake: {e}")),
        Err(_) => return c.fail("TLS handshake timed out (30 s)"),
    };
    times.lock().unwrap().push(started.elapsed().as_secs_f64() * 1000.0);
    drop(permit);
    let (mut send, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
        Ok(x) => x,
        Err(e) => return c.fail(format!("http: {e}")),
    };
    let driver = tokio::spawn(conn);
    c.alive.fetch_add(1, Ordering::Relaxed);
    let body = serde_json::to_vec(&LeaseRequest {
        version: WIRE_VERSION,
        max_jobs: 1,
        wait_ms: 20_000,
        in_flight: 0,
        agent: "gateway_conns".into(),
    })
    .expect("json");
    let body = Bytes::from(body);
    loop {
        let req = http::Request::post("/v1/lease")
            .header(http::header::HOST, addr.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(WIRE_HEADER, WIRE_VERSION)
            .body(Full::new(body.clone()))
            .expect("request");
        let answer = tokio::select! {
            r = send.send_request(req) => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        match answer {
            Ok(resp) if resp.status().is_success() => {
                let _ = resp.into_body().collect().await;
                c.leases.fetch_add(1, Ordering::Relaxed);
            }
            Ok(resp) => {
                c.dropped.fetch_add(1, Ordering::Relaxed);
                c.fail(format!("lease answered {}", resp.status()));
                c.alive.fetch_sub(1, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                c.dropped.fetch_add(1, Ordering::Relaxed);
                c.fail(format!("lease: {e}"));
                c.alive.fetch_sub(1, Ordering::Relaxed);
                return;
            }
        }
    }
    c.alive.fetch_sub(1, Ordering::Relaxed);
    drop(send);
    driver.abort();
}

async fn round(args: &Args, tls: &tokio_rustls::TlsConnector, n: usize) {
    let c = Arc::new(Counters::default());
    let times = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let gate = Arc::new(Semaphore::new(args.parallel));
    let (stop_tx, stop) = watch::channel(false);
    let shared = Arc::new((args.addr.clone(), tls.clone()));
    let (rss0, cpu0) = usage(args.engine_pid);
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        tasks.spawn(connection(shared.clone(), gate.clone(), c.clone(), times.clone(), stop.clone()));
    }
    // The handshake phase ends when every connection succeeded or failed.
    while times.lock().unwrap().len() + c.failed.load(Ordering::Relaxed) < n && t0.elapsed() < Duration::from_secs(300)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let phase = t0.elapsed().as_secs_f64();
    let (rss1, cpu1) = usage(args.engine_pid);
    let mut t = times.lock().unwrap().clone();
    t.sort_by(f64::total_cmp);
    let ok = t.len();
    println!("--- N = {n} connections (at most {} handshakes in parallel)", args.parallel);
    println!(
        "handshakes: {ok} ok, {} failed in {phase:.2} s = {:.0} handshakes/s; handshake (TCP+TLS) p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        c.failed.load(Ordering::Relaxed),
        ok as f64 / phase,
        pct(&t, 0.5),
        pct(&t, 0.99),
        t.last().copied().unwrap_or(f64::NAN),
    );
    println!(
        "engine during handshakes: CPU {:.2} s ({:.0} % of one core) = {:.0} µs engine CPU per handshake; RSS {rss0:.0} → {rss1:.0} MiB",
        cpu1 - cpu0,
        (cpu1 - cpu0) / phase * 100.0,
        (cpu1 - cpu0) / ok.max(1) as f64 * 1e6,
    );
    let hold0 = Instant::now();
    let mut peak = rss1;
    while hold0.elapsed() < args.hold {
        tokio::time::sleep(Duration::from_secs(1)).await;
        peak = peak.max(usage(args.engine_pid).0);
    }
    let (rss2, cpu2) = usage(args.engine_pid);
    let held = hold0.elapsed().as_secs_f64();
    println!(
        "after {held:.0} s held: {} connections alive, {} dropped, {} lease long-polls answered; engine RSS {rss2:.0} MiB (peak {peak:.0}, {:.1} KiB per connection over the round start), CPU {:.1} % of one core while holding",
        c.alive.load(Ordering::Relaxed),
        c.dropped.load(Ordering::Relaxed),
        c.leases.load(Ordering::Relaxed),
        (rss2 - rss0) * 1024.0 / ok.max(1) as f64,
        (cpu2 - cpu1) / held * 100.0,
    );
    println!("client (this process): RSS {:.0} MiB", usage(std::process::id()).0);
    if let Some(e) = c.first_error.lock().unwrap().as_ref() {
        println!("first failure: {e}");
    }
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    tokio::time::sleep(Duration::from_secs(3)).await; // let the engine close its side
    let (rss3, _) = usage(args.engine_pid);
    println!("closed all: engine RSS {rss3:.0} MiB");
}

#[tokio::main]
async fn main() {
    let args = args();
    assert!(args.engine_pid > 0, "--engine-pid is required (engine RSS and CPU come from /proc)");
    let config = netpulse_checker::worker::link::client_config(&args.bundle).expect("worker bundle");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config));
    let (rss, _) = usage(args.engine_pid);
    println!(
        "engine pid {} idle RSS {rss:.0} MiB; gateway {}; hold {} s",
        args.engine_pid,
        args.addr,
        args.hold.as_secs()
    );
    for &n in &args.connections {
        round(&args, &tls, n).await;
    }
}
