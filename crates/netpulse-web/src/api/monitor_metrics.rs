//! `GET /metrics/monitors`: one organisation's monitors as Prometheus metrics, for Grafana.
//!
//! Scraped with an API token of the organisation (`Authorization: Bearer np_…`; a `read`
//! token is enough), so each organisation sees only its own monitors and the engine's own
//! `/metrics` stays about the engine. Per monitor: its state, whether an incident is open,
//! uptime over 24 h, and from its newest result (in the last day) the latency with its phases
//! and, for TLS and HTTPS, the certificate's expiry. Labels: `monitor_id`, `name`, `kind`,
//! `tags` (comma-joined) and, on the newest result's figures, `region`.
//!
//! A scrape reads the monitor list, one tally query and one indexed newest-result read per
//! monitor, run together.

use crate::base::caller::Caller;
use crate::base::{ApiResult, AppState};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use netpulse_core::uptime::Tally;
use netpulse_core::{CheckResult, MonitorId, TenantId, Timestamp};
use netpulse_store::{clock, MonitorView};
use std::collections::HashMap;
use std::fmt::Write;

const DAY_MS: i64 = 86_400_000;
const STATES: [&str; 6] = ["up", "degraded", "suspect", "down", "paused", "unknown"];

pub async fn monitor_metrics(State(s): State<AppState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    let t = caller.tenant();
    let now = clock::now();
    let views = s.store.list_monitors(t).await?;
    let tallies = s.store.tallies_since(t, now.minus_ms(DAY_MS), caller.evidence()).await?;
    let ids: Vec<&MonitorId> = views.iter().map(|v| &v.record.id).collect();
    let newest = newest_results(&s, t, &ids, now, DAY_MS).await;
    let text = render(&views, &tallies, &newest);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text))
}

/// Each of `ids`' newest result of the last `look_back_ms`, one indexed read per monitor, run
/// together; a monitor without one (or whose read failed) is left out.
pub(crate) async fn newest_results(
    s: &AppState,
    t: &TenantId,
    ids: &[&MonitorId],
    now: Timestamp,
    look_back_ms: i64,
) -> HashMap<MonitorId, CheckResult> {
    let reads = ids.iter().map(|id| s.store.list_results(t, id, now.minus_ms(look_back_ms), now.plus_ms(1), 1, None));
    let pages = futures_util::future::join_all(reads).await;
    ids.iter()
        .zip(pages)
        .filter_map(|(id, page)| Some(((*id).clone(), page.ok()?.results.into_iter().next()?)))
        .collect()
}

/// One metric family: its help and type line, then one sample per monitor that has a value.
struct Family<'a> {
    name: &'a str,
    help: &'a str,
    out: String,
}

impl<'a> Family<'a> {
    fn new(name: &'a str, help: &'a str) -> Self {
        Self { name, help, out: String::new() }
    }
    fn sample(&mut self, labels: &str, extra: &str, value: f64) {
        let sep = if extra.is_empty() { "" } else { "," };
        let _ = writeln!(self.out, "{}{{{labels}{sep}{extra}}} {value}", self.name);
    }
    fn finish(self, text: &mut String) {
        let _ = writeln!(text, "# HELP {} {}\n# TYPE {} gauge", self.name, self.help, self.name);
        text.push_str(&self.out);
    }
}

fn render(
    views: &[MonitorView],
    tallies: &HashMap<MonitorId, Tally>,
    newest: &HashMap<MonitorId, CheckResult>,
) -> String {
    let mut state = Family::new("netpulse_monitor_state", "The monitor's state: 1 for the one it is in.");
    let mut up = Family::new("netpulse_monitor_up", "0 while the monitor is down, 1 while it is checked and not down.");
    let mut open = Family::new("netpulse_monitor_open_incident", "1 while the monitor has an open incident.");
    let mut uptime =
        Family::new("netpulse_monitor_uptime_ratio", "Share of live checks up or degraded over the window (0-1).");
    let mut latency = Family::new("netpulse_monitor_latency_seconds", "Total time of the newest check.");
    let mut phase =
        Family::new("netpulse_monitor_phase_seconds", "A phase of the newest check (dns, connect, tls, ttfb).");
    let mut cert = Family::new(
        "netpulse_monitor_certificate_expiry_timestamp_seconds",
        "When the certificate the newest check saw expires (Unix time).",
    );
    for v in views {
        let labels = monitor_labels(v);
        let current = current_state(v);
        for s in STATES {
            state.sample(&labels, &format!("state=\"{s}\""), f64::from(u8::from(s == current)));
        }
        match current {
            "up" | "degraded" | "suspect" => up.sample(&labels, "", 1.0),
            "down" => up.sample(&labels, "", 0.0),
            _ => {}
        }
        open.sample(&labels, "", f64::from(u8::from(v.status.open_incident.is_some())));
        if let Some(pct) = tallies.get(&v.record.id).and_then(Tally::uptime_percent) {
            uptime.sample(&labels, "window=\"24h\"", pct / 100.0);
        }
        let Some(r) = newest.get(&v.record.id) else { continue };
        let region = format!("region=\"{}\"", escape(&r.region));
        if let (false, Some(ms)) = (r.outcome.is_failure(), r.timings.total_ms) {
            latency.sample(&labels, &region, seconds(ms));
            let phases = [("dns", r.timings.dns_ms), ("connect", r.timings.connect_ms), ("tls", r.timings.tls_ms)];
            for (name, ms) in phases.into_iter().chain([("ttfb", r.timings.ttfb_ms)]) {
                if let Some(ms) = ms {
                    phase.sample(&labels, &format!("{region},phase=\"{name}\""), seconds(ms));
                }
            }
        }
        if let Some(at) = r.cert_expires_at {
            cert.sample(&labels, "", at.millis() as f64 / 1000.0);
        }
    }
    let mut text = String::new();
    for family in [state, up, open, uptime, latency, phase, cert] {
        family.finish(&mut text);
    }
    text
}

/// The words the API's `status.health` uses (`suspect`: failing, not yet confirmed).
fn current_state(v: &MonitorView) -> &'static str {
    if v.record.draft.paused {
        "paused"
    } else {
        v.status.health.as_str()
    }
}

fn monitor_labels(v: &MonitorView) -> String {
    let d = &v.record.draft;
    format!(
        "monitor_id=\"{}\",name=\"{}\",kind=\"{}\",tags=\"{}\"",
        v.record.id,
        escape(&d.name),
        d.spec.kind(),
        escape(&d.tags.join(","))
    )
}

fn seconds(ms: u32) -> f64 {
    f64::from(ms) / 1000.0
}

/// A label value in the exposition format: backslash, double quote and line break escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn label_values_escape_what_the_format_requires() {
        assert_eq!(escape("a \"b\"\\c\nd"), "a \\\"b\\\"\\\\c\\nd");
    }
}
