//! Real-visitor evidence: what one page view's beacon may say (parsed from the browser's
//! report into a [`Visit`]), how a range of them is counted ([`VisitTally`]), the line
//! dashboards and status pages print of it, and when visitors confirm an outage.
//!
//! Anonymous by construction: a visit holds an outcome, two timings, the coarse network type
//! the browser reports and the continent part of its time zone, nothing that names a visitor.

use serde::{Deserialize, Serialize};

/// The longest timing a beacon may report (10 minutes); longer is refused as malformed.
pub const MAX_TIMING_MS: u32 = 600_000;

/// The network types `navigator.connection.effectiveType` reports.
pub const NETWORKS: [&str; 4] = ["slow-2g", "2g", "3g", "4g"];

/// The areas a visit may carry: the first part of an IANA time zone name, as browsers report
/// it (`Europe/Paris` → `Europe`). Coarse by construction: no address is looked at.
pub const AREAS: [&str; 9] =
    ["Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific"];

/// A beacon's body as the script sends it; every field optional (old browsers report less).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeaconIn {
    /// The signed page token the script was served with (missing: refused as a bad token).
    #[serde(default)]
    pub t: String,
    /// Navigation timing: the page's load, in ms since navigation start.
    pub page_ms: Option<u32>,
    /// The page's HTTP status (`PerformanceNavigationTiming.responseStatus`) when known.
    pub page_status: Option<u16>,
    /// Whether the owner's health URL answered, and how fast.
    pub health_ok: Option<bool>,
    pub health_ms: Option<u32>,
    /// `navigator.connection.effectiveType`.
    pub net: Option<String>,
    /// The browser's time zone name; only its continent part is kept.
    pub tz: Option<String>,
}

/// One page view as stored: did it load (and its health URL answer), and how fast.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Visit {
    pub ok: bool,
    pub page_ms: Option<u32>,
    pub health_ms: Option<u32>,
    pub network: Option<&'static str>,
    pub area: Option<&'static str>,
}

/// Why a beacon's body was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadBeacon(pub &'static str);

impl BeaconIn {
    /// The visit this beacon reports; timings beyond [`MAX_TIMING_MS`] are malformed, an
    /// unknown network type or time zone is dropped (kept out, not refused).
    pub fn visit(&self) -> Result<Visit, BadBeacon> {
        for (ms, field) in [(self.page_ms, "page_ms"), (self.health_ms, "health_ms")] {
            if ms.is_some_and(|ms| ms > MAX_TIMING_MS) {
                return Err(BadBeacon(field));
            }
        }
        if self.page_status.is_some_and(|s| !(100..600).contains(&s)) {
            return Err(BadBeacon("page_status"));
        }
        let page_ok = self.page_status.is_none_or(|s| s < 400);
        Ok(Visit {
            ok: page_ok && self.health_ok != Some(false),
            page_ms: self.page_ms,
            health_ms: self.health_ms.filter(|_| self.health_ok == Some(true)),
            network: self.net.as_deref().and_then(|n| NETWORKS.into_iter().find(|k| *k == n)),
            area: self.tz.as_deref().and_then(area_of),
        })
    }
}

/// The continent part of an IANA time zone name, if it is one of [`AREAS`].
pub fn area_of(tz: &str) -> Option<&'static str> {
    let head = tz.split('/').next()?;
    AREAS.into_iter().find(|a| *a == head)
}

/// Page views counted over a range: how many, how many failed, and the median page load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VisitTally {
    pub loads: u64,
    pub failed: u64,
    /// Median page load over the views that reported one (raw visits only).
    pub median_page_ms: Option<u32>,
}

impl VisitTally {
    /// The share of page views that loaded, in percent.
    pub fn percent_ok(&self) -> Option<f64> {
        (self.loads > 0).then(|| (self.loads - self.failed) as f64 * 100.0 / self.loads as f64)
    }

    /// `Seen by real visitors: 99.95 % of 12,410 page loads in 24 h`; `None` without visits.
    pub fn seen_line(&self, span: &str) -> Option<String> {
        let pct = self.percent_ok()?;
        let plural = if self.loads == 1 { "" } else { "s" };
        Some(format!(
            "Seen by real visitors: {} % of {} page load{plural} in {span}",
            percent_text(pct),
            thousands(self.loads)
        ))
    }

    /// Whether these visits, made while an incident was open, confirm it: at least two page
    /// views failed, and at least half of those made did.
    pub fn confirms_outage(&self) -> bool {
        self.failed >= 2 && self.failed * 2 >= self.loads
    }
}

/// A share with as many decimals as it needs to stay honest (never 100 unless all loaded).
fn percent_text(p: f64) -> String {
    if p >= 100.0 {
        "100".into()
    } else {
        let s = format!("{:.2}", (p * 100.0).floor() / 100.0);
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// `12410` → `12,410`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beacon() -> BeaconIn {
        BeaconIn { t: "x".into(), ..Default::default() }
    }

    #[test]
    fn a_view_fails_when_its_page_errs_or_its_health_url_does_not_answer() {
        assert!(beacon().visit().unwrap().ok, "a bare view (the pixel's) loaded");
        assert!(!BeaconIn { page_status: Some(503), ..beacon() }.visit().unwrap().ok);
        assert!(!BeaconIn { health_ok: Some(false), health_ms: Some(40), ..beacon() }.visit().unwrap().ok);
        let v = BeaconIn { health_ok: Some(false), health_ms: Some(40), ..beacon() }.visit().unwrap();
        assert_eq!(v.health_ms, None, "a failed fetch has no answer time");
        assert_eq!(BeaconIn { page_ms: Some(MAX_TIMING_MS + 1), ..beacon() }.visit(), Err(BadBeacon("page_ms")));
        assert_eq!(BeaconIn { page_status: Some(99), ..beacon() }.visit(), Err(BadBeacon("page_status")));
    }

    #[test]
    fn only_coarse_network_and_continent_are_kept() {
        let v = BeaconIn { net: Some("4g".into()), tz: Some("Europe/Paris".into()), ..beacon() }.visit().unwrap();
        assert_eq!((v.network, v.area), (Some("4g"), Some("Europe")));
        let v = BeaconIn { net: Some("wifi;id=7".into()), tz: Some("Etc/GMT+3".into()), ..beacon() }.visit().unwrap();
        assert_eq!((v.network, v.area), (None, None));
    }

    #[test]
    fn the_line_people_read() {
        let t = VisitTally { loads: 12_410, failed: 6, median_page_ms: None };
        assert_eq!(t.seen_line("24 h").unwrap(), "Seen by real visitors: 99.95 % of 12,410 page loads in 24 h");
        let t = VisitTally { loads: 3, failed: 1, median_page_ms: None };
        assert_eq!(t.seen_line("24 h").unwrap(), "Seen by real visitors: 66.66 % of 3 page loads in 24 h");
        let all = VisitTally { loads: 1, failed: 0, median_page_ms: None };
        assert_eq!(all.seen_line("24 h").unwrap(), "Seen by real visitors: 100 % of 1 page load in 24 h");
        let t = VisitTally { loads: 100_000, failed: 1, median_page_ms: None };
        assert!(t.seen_line("7 d").unwrap().contains("99.99 %"), "one failure never rounds to 100");
        assert_eq!(VisitTally::default().seen_line("24 h"), None);
    }

    #[test]
    fn visitors_confirm_an_outage_when_most_of_their_views_failed() {
        let t = |loads, failed| VisitTally { loads, failed, median_page_ms: None };
        assert!(t(40, 37).confirms_outage());
        assert!(t(2, 2).confirms_outage());
        assert!(!t(1, 1).confirms_outage(), "one failed view is not evidence enough");
        assert!(!t(100, 3).confirms_outage(), "a few failures among many loads are noise");
        assert!(!t(0, 0).confirms_outage());
    }
}
