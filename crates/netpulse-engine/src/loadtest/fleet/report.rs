//! The report of `netpulse loadtest fleet`: the run's shape, the phases' durations, the
//! steady-state rates (results acknowledged and stored per second), check→dashboard latency
//! percentiles (steady state and ramp), PostgreSQL server connections at peak, CPU and memory,
//! the audit and the per-second timeline; printed for a terminal or serialised as JSON.

use super::alerts::AlertAudit;
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
    /// When the steady state began, seconds into the timeline.
    pub steady_from_s: f64,
    pub drain_s: f64,
    pub acked_steady: u64,
    pub stored_steady: u64,
    pub dispatch_lag: DispatchLag,
    pub scheduler_reads: SchedulerReads,
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
    pub alerts: Option<AlertAudit>,
    pub faults: Vec<Fault>,
    pub timeline: Vec<Tick>,
}

/// The schedulers' delay from a check's due time to its dispatch over the steady state, all
/// nodes together, from their `netpulse_scheduler_dispatch_lag_seconds` histograms: each
/// quantile is the bound of the bucket that holds it (`None`: above the largest bound).
#[derive(Clone, Debug, Default, Serialize)]
pub struct DispatchLag {
    pub dispatches: u64,
    pub p50_at_most_ms: Option<f64>,
    pub p99_at_most_ms: Option<f64>,
}

impl DispatchLag {
    pub fn of(b: &super::nodes::Buckets) -> Self {
        let finite = |q: f64| b.quantile_le_ms(q).filter(|ms| ms.is_finite());
        Self { dispatches: b.count(), p50_at_most_ms: finite(0.5), p99_at_most_ms: finite(0.99) }
    }

    pub fn describe(&self) -> String {
        let q = |v: Option<f64>| v.map_or("above the largest bucket".to_owned(), |ms| format!("≤ {ms} ms"));
        match self.dispatches {
            0 => "no dispatches".into(),
            n => format!("p50 {}, p99 {} ({n} dispatches)", q(self.p50_at_most_ms), q(self.p99_at_most_ms)),
        }
    }
}

/// The schedulers' reads of monitors from the store over the steady state (partitions taken,
/// reloads), all nodes together, from their `netpulse_scheduler_read_seconds` histograms.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SchedulerReads {
    pub reads: u64,
    pub p50_at_most_ms: Option<f64>,
    pub p99_at_most_ms: Option<f64>,
}

impl SchedulerReads {
    pub fn of(b: &super::nodes::Buckets) -> Self {
        let lag = DispatchLag::of(b);
        Self { reads: lag.dispatches, p50_at_most_ms: lag.p50_at_most_ms, p99_at_most_ms: lag.p99_at_most_ms }
    }

    pub fn describe(&self) -> String {
        let q = |v: Option<f64>| v.map_or("above the largest bucket".to_owned(), |ms| format!("≤ {ms} ms"));
        match self.reads {
            0 => "none measured".into(),
            n => format!("p50 {}, p99 {} ({n} reads)", q(self.p50_at_most_ms), q(self.p99_at_most_ms)),
        }
    }
}

/// One fault of `--chaos`, its times in seconds into the timeline.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Fault {
    pub name: String,
    pub at_s: f64,
    pub ended_s: f64,
    /// Workers connected just before the fault.
    pub workers_before: usize,
    /// Seconds from the fault's end until 99 % of them were connected again (none: not
    /// within 60 s).
    pub back_after_s: Option<f64>,
    /// Check→dashboard latency from the fault's start until 10 s after the workers came back.
    pub latency_recovery: Latency,
}

/// Per engine node over the steady state: mean cores busy, peak resident memory.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NodeUse {
    pub node: String,
    pub stored: u64,
    pub cpu_cores: f64,
    pub rss_peak_mib: u64,
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

/// A percentile as printed: the histogram's last bucket holds everything from 10 s up.
pub fn capped(ms: u64) -> String {
    if ms >= 10_000 {
        "≥ 10000".into()
    } else {
        ms.to_string()
    }
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
    /// With `--chaos`: the steady state outside the faults (each from its start until 10 s
    /// after the workers came back), from the first dashboard client of each node.
    pub latency_outside_faults: Option<Latency>,
    /// The schedulers' dispatch lag over the steady state.
    pub dispatch_lag: DispatchLag,
    /// The schedulers' reads of monitors over the steady state.
    pub scheduler_reads: SchedulerReads,
    /// Result events dashboard clients lost by falling behind (`lagged`), all clients.
    pub dashboard_events_lost: u64,
    pub pg_connections_peak: i64,
    /// Cores busy during the steady state: this process (the dashboard clients and, with
    /// `--chaos`, the cut-off proxies) and PostgreSQL + PgBouncer + Redis.
    pub cpu_process_cores: f64,
    pub cpu_services_cores: f64,
    pub rss_peak_mib: u64,
    /// Each engine node over the steady state, and the worker processes together.
    pub per_node: Vec<NodeUse>,
    pub cpu_workers_cores: f64,
    pub rss_workers_peak_mib: u64,
    /// Cores and MiB per 1,000 workers: the worker processes, and the engine nodes together.
    pub per_1000_workers: (f64, f64, f64, f64),
    /// The machine's 1-minute load average when the steady state began and ended: above the
    /// number of cores, other work competed with the run for them.
    pub load_average: (f64, f64),
    pub cores: usize,
    /// Results each node's ingest stored.
    pub stored_by_node: Vec<(String, u64)>,
    pub audit: Audit,
    /// The alert audit (real-probe mode only; none with `--synthetic`).
    pub alerts: Option<AlertAudit>,
    /// The faults of `--chaos` (empty without it).
    pub faults: Vec<Fault>,
    pub timeline: Vec<Tick>,
}

impl Report {
    pub fn build(mut i: Inputs) -> Self {
        let (mut steady, mut ramp) = (Histogram::default(), Histogram::default());
        let mut seconds: Vec<Histogram> = Vec::new();
        for s in &i.seen {
            steady.merge(&s.steady);
            ramp.merge(&s.ramp);
            if seconds.len() < s.per_second.len() {
                seconds.resize(s.per_second.len(), Histogram::default());
            }
            for (into, h) in seconds.iter_mut().zip(&s.per_second) {
                into.merge(h);
            }
        }
        // Tick k (at t_s, the end of its second) shows the arrivals of the second before it.
        for t in &mut i.timeline {
            if let Some(h) = (t.t_s.floor() as usize).checked_sub(1).and_then(|k| seconds.get(k)) {
                (t.p50_ms, t.p95_ms, t.p99_ms, t.max_ms) =
                    (h.quantile(0.5), h.quantile(0.95), h.quantile(0.99), h.max_ms);
            }
        }
        let window =
            |f: &Fault| (f.at_s.floor() as usize, (f.ended_s + f.back_after_s.unwrap_or(60.0) + 10.0).ceil() as usize);
        for f in &mut i.faults {
            let (from, until) = window(f);
            let mut h = Histogram::default();
            for s in seconds.iter().take(until).skip(from) {
                h.merge(s);
            }
            f.latency_recovery = (&h).into();
        }
        let latency_outside_faults = (!i.faults.is_empty()).then(|| {
            let mut h = Histogram::default();
            for (k, s) in seconds.iter().enumerate().skip(i.steady_from_s.ceil() as usize) {
                if !i.faults.iter().any(|f| (window(f).0..window(f).1).contains(&k)) {
                    h.merge(s);
                }
            }
            Latency::from(&h)
        });
        let in_steady: Vec<&Tick> = i.timeline.iter().filter(|t| t.t_s > i.steady_from_s + 1.0).collect();
        let mean =
            |v: &dyn Fn(&Tick) -> f64| in_steady.iter().map(|t| v(t)).sum::<f64>() / in_steady.len().max(1) as f64;
        let per_node: Vec<NodeUse> = i
            .per_node
            .iter()
            .enumerate()
            .map(|(k, (node, stored))| NodeUse {
                node: node.clone(),
                stored: *stored,
                cpu_cores: mean(&|t| t.cpu_nodes.get(k).copied().unwrap_or(0.0)),
                rss_peak_mib: in_steady.iter().filter_map(|t| t.rss_nodes_mib.get(k)).copied().max().unwrap_or(0),
            })
            .collect();
        let cpu_workers_cores = mean(&|t| t.cpu_workers);
        let rss_workers_peak_mib = in_steady.iter().map(|t| t.rss_workers_mib).max().unwrap_or(0);
        let thousands = (i.args.workers as f64 / 1000.0).max(0.001);
        let per_1000_workers = (
            cpu_workers_cores / thousands,
            rss_workers_peak_mib as f64 / thousands,
            per_node.iter().map(|n| n.cpu_cores).sum::<f64>() / thousands,
            per_node.iter().map(|n| n.rss_peak_mib).sum::<u64>() as f64 / thousands,
        );
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
            latency_outside_faults,
            dispatch_lag: i.dispatch_lag.clone(),
            scheduler_reads: i.scheduler_reads.clone(),
            dashboard_events_lost: i.seen.iter().map(|s| s.lagged).sum(),
            pg_connections_peak: i.pg_peak,
            cpu_process_cores: i.cpu_process_cores,
            cpu_services_cores: i.cpu_services_cores,
            rss_peak_mib: i.rss_peak_mib,
            per_node,
            cpu_workers_cores,
            rss_workers_peak_mib,
            per_1000_workers,
            load_average: i.load1,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            stored_by_node: i.per_node,
            audit: i.audit,
            alerts: i.alerts,
            faults: i.faults,
            timeline: i.timeline,
        }
    }

    /// The terminal summary.
    pub fn print(&self) {
        let mode = if self.synthetic { "synthetic (no probing)" } else { "real probes of a local target farm" };
        println!(
            "netpulse loadtest fleet: {} workers in {} regions on {} nodes (processes; PgBouncer transaction mode + Redis), {} monitors at {} s, {mode}, {} dashboard clients ({} connected); fd limit {}",
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
                capped(x.p50_ms),
                capped(x.p95_ms),
                capped(x.p99_ms),
                x.max_ms,
                x.samples
            )
        };
        println!("check→dashboard (steady): {}", l(&self.latency_steady));
        println!("check→dashboard (ramp):   {}", l(&self.latency_ramp));
        if let Some(calm) = &self.latency_outside_faults {
            println!("check→dashboard (steady, outside the faults): {}", l(calm));
        }
        println!("scheduler dispatch lag (steady, all nodes): {}", self.dispatch_lag.describe());
        println!("scheduler reads (steady, all nodes): {}", self.scheduler_reads.describe());
        println!("dashboard result events lost to lag: {}", self.dashboard_events_lost);
        println!("PostgreSQL server connections (pg_stat_activity, peak): {}", self.pg_connections_peak);
        for n in &self.per_node {
            println!("{}:     {:.2} cores, peak RSS {} MiB, stored {}", n.node, n.cpu_cores, n.rss_peak_mib, n.stored);
        }
        let (wc, wm, nc, nm) = self.per_1000_workers;
        println!(
            "workers:    {:.2} cores, peak RSS {} MiB in all; per 1,000 workers: {wc:.2} cores and {wm:.0} MiB in the workers, {nc:.2} cores and {nm:.0} MiB in the nodes",
            self.cpu_workers_cores, self.rss_workers_peak_mib
        );
        println!(
            "CPU (steady): {:.2} cores this process (dashboard clients), {:.2} cores PostgreSQL + PgBouncer + Redis",
            self.cpu_process_cores, self.cpu_services_cores
        );
        for f in &self.faults {
            let back = f.back_after_s.map_or("NOT within 60 s".to_owned(), |s| format!("{s:.1} s after it ended"));
            println!(
                "fault at {:.0}–{:.0} s: {}; {} workers connected before, back {back}; check→dashboard from the fault to 10 s after: {}",
                f.at_s, f.ended_s, f.name, f.workers_before, l(&f.latency_recovery)
            );
        }
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
        match &self.alerts {
            Some(x) => println!(
                "alerts:     {} monitors' target failed from {:.0} to {:.0} s: {} incidents ({} resolved), {} false alarms; {} deliveries of {} dedup keys: {} missed, {} duplicated",
                x.failing_monitors, x.outage_s.0, x.outage_s.1, x.incidents, x.resolved, x.false_alarms, x.deliveries, x.keys, x.missed, x.duplicated
            ),
            None => println!("alerts:     not exercised (--synthetic results never fail)"),
        }
        let alerts_ok = self.alerts.as_ref().is_none_or(AlertAudit::ok);
        println!(
            "verdict:    {}",
            match (a.verdict().is_ok(), alerts_ok) {
                (true, true) =>
                    "PASS (every acknowledged result stored exactly once; every incident paged once per transition)",
                _ => "FAIL",
            }
        );
    }
}
