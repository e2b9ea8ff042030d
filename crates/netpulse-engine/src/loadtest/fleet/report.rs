//! The report of `netpulse loadtest fleet`: the run's shape, the phases' durations, the
//! steady-state rates (results acknowledged and stored per second), check→dashboard latency
//! percentiles (steady state and ramp), PostgreSQL server connections at peak, CPU and memory,
//! the audit and the per-second timeline; printed for a terminal or serialised as JSON.

use super::audit::Audit;
use super::dashboards::{Histogram, Seen};
use super::sampler::Tick;
use super::swarm::SwarmCounts;
use super::FleetArgs;
use serde::Serialize;

/// Everything a run measured, before it is summarised.
pub struct Inputs {
    pub args: FleetArgs,
    pub nofile: u64,
    pub setup_s: f64,
    pub issue_s: f64,
    pub ramp_s: f64,
    pub steady_s: f64,
    pub drain_s: f64,
    pub acked_steady: u64,
    pub stored_steady: u64,
    pub during: SwarmCounts,
    pub after: SwarmCounts,
    pub cpu_process_cores: f64,
    pub cpu_services_cores: f64,
    pub rss_peak_mib: u64,
    pub load1: (f64, f64),
    pub pg_peak: i64,
    pub per_node: Vec<(String, u64)>,
    pub seen: Vec<Seen>,
    pub audit: Audit,
    pub timeline: Vec<Tick>,
}

/// Percentiles of one histogram, ms.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

impl From<&Histogram> for Latency {
    fn from(h: &Histogram) -> Self {
        Self {
            samples: h.count(),
            p50_ms: h.quantile(0.5),
            p95_ms: h.quantile(0.95),
            p99_ms: h.quantile(0.99),
            max_ms: h.max_ms,
        }
    }
}

/// The report, as `--json` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub workers: usize,
    pub regions: usize,
    pub nodes: usize,
    pub monitors: usize,
    pub interval_s: u32,
    pub synthetic: bool,
    pub dashboards: usize,
    pub dashboards_connected: usize,
    pub nofile_limit: u64,
    pub setup_s: f64,
    pub certificates_s: f64,
    pub ramp_s: f64,
    pub steady_s: f64,
    pub drain_s: f64,
    /// Workers whose last lease was answered, at the end of the steady state.
    pub workers_connected: usize,
    pub acked_per_s: f64,
    pub stored_per_s: f64,
    /// Check→dashboard latency over the steady state (every arrival at every client).
    pub latency_steady: Latency,
    /// The same while workers were still connecting.
    pub latency_ramp: Latency,
    /// Result events dashboard clients lost by falling behind (`lagged`), all clients.
    pub dashboard_events_lost: u64,
    pub pg_connections_peak: i64,
    /// Cores busy during the steady state: this process (nodes, workers and dashboard
    /// clients share it) and PostgreSQL + PgBouncer + Redis.
    pub cpu_process_cores: f64,
    pub cpu_services_cores: f64,
    pub rss_peak_mib: u64,
    /// The machine's 1-minute load average when the steady state began and ended: above the
    /// number of cores, other work competed with the run for them.
    pub load_average: (f64, f64),
    pub cores: usize,
    /// Results each node's ingest stored.
    pub stored_by_node: Vec<(String, u64)>,
    pub audit: Audit,
    pub timeline: Vec<Tick>,
}

impl Report {
    pub fn build(i: Inputs) -> Self {
        let (mut steady, mut ramp) = (Histogram::default(), Histogram::default());
        for s in &i.seen {
            steady.merge(&s.steady);
            ramp.merge(&s.ramp);
        }
        let a = &i.args;
        Self {
            workers: a.workers,
            regions: a.regions,
            nodes: a.nodes,
            monitors: a.monitors,
            interval_s: a.interval_s,
            synthetic: a.synthetic,
            dashboards: a.dashboards,
            dashboards_connected: i.seen.iter().filter(|s| s.connected).count(),
            nofile_limit: i.nofile,
            setup_s: i.setup_s,
            certificates_s: i.issue_s,
            ramp_s: i.ramp_s,
            steady_s: i.steady_s,
            drain_s: i.drain_s,
            workers_connected: i.during.connected,
            acked_per_s: i.acked_steady as f64 / i.steady_s.max(0.001),
            stored_per_s: i.stored_steady as f64 / i.steady_s.max(0.001),
            latency_steady: (&steady).into(),
            latency_ramp: (&ramp).into(),
            dashboard_events_lost: i.seen.iter().map(|s| s.lagged).sum(),
            pg_connections_peak: i.pg_peak,
            cpu_process_cores: i.cpu_process_cores,
            cpu_services_cores: i.cpu_services_cores,
            rss_peak_mib: i.rss_peak_mib,
            load_average: i.load1,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            stored_by_node: i.per_node,
            audit: i.audit,
            timeline: i.timeline,
        }
    }

    /// The terminal summary.
    pub fn print(&self) {
        let mode = if self.synthetic { "synthetic (no probing)" } else { "real probes of a local target farm" };
        println!(
            "netpulse loadtest fleet: {} workers in {} regions on {} nodes (in-process, PgBouncer transaction mode + Redis), {} monitors at {} s, {mode}, {} dashboard clients ({} connected); fd limit {}",
            self.workers, self.regions, self.nodes, self.monitors, self.interval_s, self.dashboards, self.dashboards_connected, self.nofile_limit
        );
        println!(
            "phases:     setup {:.1} s, certificates {:.1} s, ramp {:.1} s, steady {:.1} s, stop + drain {:.1} s",
            self.setup_s, self.certificates_s, self.ramp_s, self.steady_s, self.drain_s
        );
        println!(
            "steady:     {}/{} workers connected; {:.0} results/s acknowledged, {:.0} results/s stored",
            self.workers_connected, self.workers, self.acked_per_s, self.stored_per_s
        );
        let l = |x: &Latency| {
            format!(
                "p50 {} ms, p95 {} ms, p99 {} ms, max {} ms ({} arrivals)",
                x.p50_ms, x.p95_ms, x.p99_ms, x.max_ms, x.samples
            )
        };
        println!("check→dashboard (steady): {}", l(&self.latency_steady));
        println!("check→dashboard (ramp):   {}", l(&self.latency_ramp));
        println!("dashboard result events lost to lag: {}", self.dashboard_events_lost);
        println!("PostgreSQL server connections (pg_stat_activity, peak): {}", self.pg_connections_peak);
        println!(
            "CPU (steady): {:.2} cores this process (nodes + workers + dashboards), {:.2} cores PostgreSQL + PgBouncer + Redis; peak RSS {} MiB",
            self.cpu_process_cores, self.cpu_services_cores, self.rss_peak_mib
        );
        println!(
            "machine:    {} cores, 1-minute load average {:.1} at the steady state's start, {:.1} at its end",
            self.cores, self.load_average.0, self.load_average.1
        );
        let nodes: Vec<String> = self.stored_by_node.iter().map(|(n, c)| format!("{n}: {c}")).collect();
        println!("stored by node: {}", nodes.join(", "));
        let a = &self.audit;
        let prov: Vec<String> = a.by_provenance.iter().map(|(p, c)| format!("{p} {c}")).collect();
        println!(
            "audit:      acked {} → rows {} ({}), distinct ids {} → lost {}, duplicated {}; still in outboxes {}; dashboard ids {} of which not stored {}",
            a.acked, a.rows, prov.join(", "), a.distinct_ids, a.lost, a.duplicated, a.undelivered, a.dashboard_ids, a.dashboard_ids_not_stored
        );
        println!(
            "verdict:    {}",
            if a.verdict().is_ok() { "PASS (every acknowledged result stored exactly once)" } else { "FAIL" }
        );
    }
}
