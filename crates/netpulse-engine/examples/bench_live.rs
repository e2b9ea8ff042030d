//! Check-to-dashboard latency benchmark (`scripts/bench-live.sh`).
//!
//! Starts a real engine (SQLite in a temp dir, default ingest settings), creates paused
//! monitors (so the scheduler adds no load), subscribes to `GET /events` with a plain HTTP
//! SSE client, then publishes synthetic results (provenance `synthetic`) into the engine's
//! result queue at each target rate. For every `result` event received it measures
//! now − envelope `sent_at`: the path queue publish → live bus →
//! SSE stream → socket → client. `sent_at` has millisecond resolution (truncated), so the
//! figures err up to 1 ms on the high side.
//!
//! With `--clients N`, N dashboards (SSE clients) each receive every result, as the fleet's
//! dashboards do; latencies are taken at all of them, and the table adds the process's CPU
//! per delivered event (the clients' own reading included: they find `sent_at` in the line
//! without parsing the JSON).
//!
//! Usage: `bench_live [rate …] [--secs N] [--monitors N] [--clients N]` (defaults: 1000 5000,
//! 10 s, 200 monitors, 1 client).

use netpulse_core::check::Timings;
use netpulse_core::wire::ResultEnvelope;
use netpulse_core::{CheckResult, MonitorId, Outcome, Provenance, TenantId};
use netpulse_engine::app::start;
use netpulse_engine::config::Config;
use netpulse_store::clock;
use netpulse_store::Secret;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const TOKEN: &str = "np_bench_owner_token_0123456789abcdef";

fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The `sent_at` of a `data:` line of a result event, found without parsing the JSON.
fn sent_at(line: &str) -> Option<f64> {
    let data = line.strip_prefix("data: ")?;
    let at = data.find("\"sent_at\":")? + 10;
    let digits = data[at..].split(|c: char| c != '.' && !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

/// This process's CPU time so far (user + system), from /proc/self/stat, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<f64>().ok()).sum();
    ticks / 100.0
}

#[derive(Default)]
struct Window {
    open: bool,
    samples: Vec<f64>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut rates = Vec::new();
    let (mut secs, mut monitors, mut clients) = (10u64, 200usize, 1usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--secs" => secs = args.next().expect("--secs N").parse()?,
            "--monitors" => monitors = args.next().expect("--monitors N").parse()?,
            "--clients" => clients = args.next().expect("--clients N").parse()?,
            r => rates.push(r.parse::<u64>()?),
        }
    }
    if rates.is_empty() {
        rates = vec![1000, 5000];
    }

    let tmp = std::env::temp_dir().join(format!("netpulse-bench-live-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let mut config = Config::load(None, [])?;
    config.http.listen = "127.0.0.1:0".parse()?;
    config.storage.data_dir = tmp.clone();
    config.admin_token = Some(Secret::new(TOKEN));
    config.log.level = "warn".into();
    let linger = config.ingest.linger_ms;
    let running = start(config).await?;
    let base = running.base_url.clone();
    let tenant: TenantId =
        running.store.authenticate(&clock::token_hash(TOKEN)).await?.expect("owner token authenticates").tenant_id;

    // Paused HTTP monitors: real rows for ingest to step, no scheduled checks.
    let client = netpulse_checker::HttpClient::new(
        netpulse_checker::SsrfGuard::allow_all(),
        netpulse_checker::Resolver::from_system(),
    );
    let mut ids = Vec::with_capacity(monitors);
    for i in 0..monitors {
        let mut req = netpulse_checker::HttpRequest::new(
            http::Method::POST,
            format!("{base}/api/v1/monitors").parse()?,
            Duration::from_secs(10),
        );
        req.headers.push(("authorization".into(), format!("Bearer {TOKEN}")));
        req.headers.push(("content-type".into(), "application/json".into()));
        let body = serde_json::json!({ "name": format!("bench {i}"), "kind": "http", "url": "http://127.0.0.1:9/", "interval_s": 60, "paused": true });
        req.body = Some(body.to_string().into());
        let resp = client.send(req).await?;
        let json: serde_json::Value = serde_json::from_slice(&resp.body)?;
        ids.push(MonitorId::parse(json["id"].as_str().expect("monitor id"))?);
    }

    // The SSE clients: plain HTTP/1.1, bearer token, lines of the chunked body.
    let window = Arc::new(Mutex::new(Window::default()));
    for _ in 0..clients {
        let mut stream = tokio::net::TcpStream::connect(running.addr).await?;
        stream.set_nodelay(true)?;
        let req = format!(
            "GET /events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\n\r\n",
            running.addr
        );
        stream.write_all(req.as_bytes()).await?;
        let reader_window = window.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            let mut mine = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                let Some(sent) = sent_at(&line) else { continue };
                mine.push(now_ms() - sent);
                if mine.len() >= 256 {
                    let mut w = reader_window.lock().unwrap();
                    if w.open {
                        w.samples.append(&mut mine);
                    }
                    mine.clear();
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    println!("check-to-dashboard latency (queue accepts → live bus → SSE → client), ingest.linger_ms={linger} (1 ms while subscribed), {monitors} monitors, {clients} clients, SQLite");
    println!(
        "{:>8} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10}",
        "rate/s", "sent", "received", "p50 ms", "p95 ms", "p99 ms", "max ms", "batches", "cpu µs/ev"
    );
    for rate in rates {
        // 2 s of warm-up, then `secs` measured.
        let batches_before = running.metrics.ingest_batches.get();
        let mut sent = 0u64;
        let mut measured_sent = 0u64;
        let started = Instant::now();
        let warmup = Duration::from_secs(2);
        let total = warmup + Duration::from_secs(secs);
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut batches_at_open = batches_before;
        let mut cpu_at_open = cpu_seconds();
        while started.elapsed() < total {
            tick.tick().await;
            let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
            if started.elapsed() >= warmup && !window.lock().unwrap().open {
                window.lock().unwrap().open = true;
                batches_at_open = running.metrics.ingest_batches.get();
                cpu_at_open = cpu_seconds();
            }
            while sent < due {
                let now = clock::now();
                let m = &ids[(sent as usize) % ids.len()];
                let result = CheckResult {
                    id: clock::fresh(),
                    tenant_id: tenant.clone(),
                    monitor_id: m.clone(),
                    region: "local".into(),
                    worker: "bench".into(),
                    started_at: now,
                    finished_at: now,
                    outcome: Outcome::Up,
                    timings: Timings { total_ms: Some(12), ..Timings::default() },
                    status_code: Some(200),
                    error: None,
                    cert_expires_at: None,
                    cert_issuer: None,
                    provenance: Provenance::Synthetic,
                };
                running.results.publish(ResultEnvelope::new(result, clock::now())).await?;
                sent += 1;
                if window.lock().unwrap().open {
                    measured_sent += 1;
                }
            }
        }
        let cpu = cpu_seconds() - cpu_at_open;
        tokio::time::sleep(Duration::from_millis(500)).await; // let the tail arrive
        let mut w = window.lock().unwrap();
        w.open = false;
        let mut s = std::mem::take(&mut w.samples);
        drop(w);
        s.sort_by(|a, b| a.total_cmp(b));
        let batches = running.metrics.ingest_batches.get() - batches_at_open;
        println!(
            "{:>8} {:>8} {:>9} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8} {:>10.2}",
            rate,
            measured_sent,
            s.len(),
            percentile(&s, 0.50),
            percentile(&s, 0.95),
            percentile(&s, 0.99),
            s.last().copied().unwrap_or(f64::NAN),
            batches,
            cpu * 1e6 / s.len().max(1) as f64
        );
    }
    let hist = running.metrics.check_to_dashboard_ms.count();
    println!("netpulse_check_to_dashboard_ms_count={hist} (server side, all phases)");
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
