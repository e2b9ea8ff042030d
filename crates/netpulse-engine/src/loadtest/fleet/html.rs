//! `netpulse loadtest fleet --html FILE`: the report as one self-contained HTML page (no
//! script, no external file): the summary table, the faults of `--chaos`, the audit, and
//! inline SVG charts of the per-second timeline — results stored per second, the backlog,
//! check→dashboard p95, workers connected, PostgreSQL server connections, and CPU (the engine
//! nodes, the worker processes, the services), with the faults shaded.

use super::report::Report;
use super::sampler::Tick;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// One line chart of `value` over the timeline, 720 × 160, with its maximum labelled and the
/// faults (`from`–`to` seconds) shaded.
fn chart(title: &str, ticks: &[Tick], faults: &[(f64, f64)], value: impl Fn(&Tick) -> f64) -> String {
    let (w, h) = (720.0, 160.0);
    let t_max = ticks.last().map_or(1.0, |t| t.t_s).max(1.0);
    let v_max = ticks.iter().map(&value).fold(0.0f64, f64::max).max(1e-9);
    let points: Vec<String> =
        ticks.iter().map(|t| format!("{:.1},{:.1}", t.t_s / t_max * w, h - value(t) / v_max * (h - 10.0))).collect();
    let shades: String = faults
        .iter()
        .map(|(a, b)| {
            format!(
                "<rect x=\"{:.1}\" width=\"{:.1}\" height=\"{h}\" fill=\"#f59e0b\" fill-opacity=\"0.2\"/>",
                a / t_max * w,
                ((b - a) / t_max * w).max(2.0)
            )
        })
        .collect();
    format!(
        "<figure><figcaption>{} (max {:.2})</figcaption><svg viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{}\">\
         <rect width=\"{w}\" height=\"{h}\" fill=\"#fafafa\" stroke=\"#ccc\"/>{shades}\
         <polyline fill=\"none\" stroke=\"#2563eb\" stroke-width=\"1.5\" points=\"{}\"/></svg>\
         <div class=\"axis\">0 s … {t_max:.0} s</div></figure>",
        esc(title),
        v_max,
        esc(title),
        points.join(" ")
    )
}

/// The page.
pub fn render(r: &Report) -> String {
    let a = &r.audit;
    let rows = [
        ("workers (connected at the end of the steady state)", format!("{} ({})", r.workers, r.workers_connected)),
        ("regions / nodes / monitors", format!("{} / {} / {} at {} s", r.regions, r.nodes, r.monitors, r.interval_s)),
        ("mode", if r.synthetic { "synthetic (no probing)".into() } else { "real probes of a local target farm".into() }),
        ("steady state", format!("{:.1} s", r.steady_s)),
        ("results/s acknowledged · stored", format!("{:.0} · {:.0}", r.acked_per_s, r.stored_per_s)),
        (
            "check→dashboard p50 / p95 / p99 / max (steady)",
            format!(
                "{} / {} / {} / {} ms ({} arrivals)",
                r.latency_steady.p50_ms,
                r.latency_steady.p95_ms,
                r.latency_steady.p99_ms,
                r.latency_steady.max_ms,
                r.latency_steady.samples
            ),
        ),
        ("scheduler dispatch lag (steady, all nodes)", r.dispatch_lag.describe()),
        ("scheduler reads (steady, all nodes)", r.scheduler_reads.describe()),
        ("dashboard result events lost to lag", r.dashboard_events_lost.to_string()),
        ("PostgreSQL server connections (peak)", r.pg_connections_peak.to_string()),
        ("CPU: process · services (cores)", format!("{:.2} · {:.2}", r.cpu_process_cores, r.cpu_services_cores)),
        ("peak RSS", format!("{} MiB", r.rss_peak_mib)),
        ("load average (start → end), cores", format!("{:.1} → {:.1}, {}", r.load_average.0, r.load_average.1, r.cores)),
        (
            "audit",
            format!(
                "acked {} · rows {} · distinct {} · lost {} · duplicated {} · in outboxes {} · dashboard ids {} (not stored {}): {}",
                a.acked,
                a.rows,
                a.distinct_ids,
                a.lost,
                a.duplicated,
                a.undelivered,
                a.dashboard_ids,
                a.dashboard_ids_not_stored,
                if a.verdict().is_ok() { "PASS" } else { "FAIL" }
            ),
        ),
    ];
    let table: String = rows.iter().map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v))).collect();
    let (t, f) = (&r.timeline, &r.faults.iter().map(|f| (f.at_s, f.ended_s)).collect::<Vec<_>>());
    let charts = [
        chart("results stored per second", t, f, |x| x.stored_per_s),
        chart("backlog: acknowledged, not yet stored", t, f, |x| x.backlog as f64),
        chart("check→dashboard p95 of each second (ms)", t, f, |x| x.p95_ms as f64),
        chart("workers connected", t, f, |x| x.workers_connected as f64),
        chart("PostgreSQL server connections", t, f, |x| x.pg_connections as f64),
        chart("CPU of the engine nodes together (cores)", t, f, |x| x.cpu_nodes.iter().sum()),
        chart("CPU of the worker processes (cores)", t, f, |x| x.cpu_workers),
        chart("CPU of PostgreSQL + PgBouncer + Redis (cores)", t, f, |x| x.cpu_services),
        chart("machine load average (1 min)", t, f, |x| x.load1),
    ]
    .join("\n");
    let faults: String = r
        .faults
        .iter()
        .map(|f| {
            let back = f.back_after_s.map_or("not within 60 s".to_owned(), |s| format!("{s:.1} s"));
            format!(
                "<tr><td>{:.0}–{:.0} s</td><td>{}</td><td>{back}</td><td>{} / {} ms</td></tr>",
                f.at_s,
                f.ended_s,
                esc(&f.name),
                super::report::capped(f.latency_recovery.p95_ms),
                f.latency_recovery.max_ms
            )
        })
        .collect();
    let faults = if faults.is_empty() {
        String::new()
    } else {
        format!("<h2>Faults</h2><table><tr><th>when</th><th>fault</th><th>workers back after</th><th>p95 / max during recovery</th></tr>{faults}</table>")
    };
    let nodes: String = r
        .per_node
        .iter()
        .map(|n| {
            format!(
                "<tr><th>{}</th><td>{:.2} cores, peak RSS {} MiB, stored {}</td></tr>",
                esc(&n.node),
                n.cpu_cores,
                n.rss_peak_mib,
                n.stored
            )
        })
        .collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>netpulse loadtest fleet</title>\
         <style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:60em}}th{{text-align:left;padding-right:1em;font-weight:500}}\
         td,th{{border-bottom:1px solid #eee;padding:.3em}}figure{{margin:1.5em 0}}.axis{{color:#666;font-size:12px}}</style></head>\
         <body><h1>netpulse loadtest fleet</h1><table>{table}{nodes}</table>\n{faults}\n{charts}\n</body></html>\n"
    )
}
