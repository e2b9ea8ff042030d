//! Uptime maths: how results count toward availability.
//!
//! Uptime over a window is the share of checks that were up or degraded among all checks
//! that ran in it. Errors (the check could not be carried out) count as failures, because a
//! monitor that cannot check is not evidence of health. Windows without any result have no
//! uptime (`None`), never 100 %. Checks made during a maintenance window are counted apart
//! (`maintenance`): recorded and shown, but neither for nor against uptime.

use crate::check::Outcome;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Counts of outcomes over a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub up: u64,
    pub degraded: u64,
    pub down: u64,
    pub error: u64,
    /// Checks made during a maintenance window, whatever their outcome; not in [`Tally::total`].
    #[serde(default)]
    pub maintenance: u64,
}

impl Tally {
    pub fn add(&mut self, outcome: Outcome, n: u64) {
        match outcome {
            Outcome::Up => self.up += n,
            Outcome::Degraded => self.degraded += n,
            Outcome::Down => self.down += n,
            Outcome::Error => self.error += n,
        }
    }
    /// A check made during a maintenance window.
    pub fn add_maintenance(&mut self, n: u64) {
        self.maintenance += n;
    }
    /// The checks that count toward uptime (maintenance checks excluded).
    pub fn total(&self) -> u64 {
        self.up + self.degraded + self.down + self.error
    }
    /// Both tallies together.
    pub fn plus(&self, o: &Tally) -> Tally {
        Tally {
            up: self.up + o.up,
            degraded: self.degraded + o.degraded,
            down: self.down + o.down,
            error: self.error + o.error,
            maintenance: self.maintenance + o.maintenance,
        }
    }
    /// Availability in percent, or `None` without data.
    pub fn uptime_percent(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| (self.up + self.degraded) as f64 * 100.0 / total as f64)
    }
}

/// One hour of the rollup: the hour's start and its live tally.
pub type HourTally = (Timestamp, Tally);

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// A status page's uptime over one window: the exact range, what counted, the percentage.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WindowFigure {
    /// `24h`, `7d`, `30d` or `90d`.
    pub label: &'static str,
    pub from: Timestamp,
    pub to: Timestamp,
    pub tally: Tally,
    /// `None` without any live result in the window: no figure, never 100 %.
    pub percent: Option<f64>,
}

/// One UTC day of a status page's bars.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DayBar {
    pub day_start: Timestamp,
    pub tally: Tally,
    pub percent: Option<f64>,
}

/// Everything a status page says about one monitor's availability.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PageFigures {
    /// 90 UTC days, oldest first; the last is today (so far).
    pub daily: Vec<DayBar>,
    /// 24 h, 7 d, 30 d and 90 d.
    pub windows: Vec<WindowFigure>,
}

/// How the demo organisation's own status page counts, in place of [`COUNTING_RULES`]'s
/// sentence on live checks (its checks are all sample data, and it says so).
pub const DEMO_COUNTING: (&str, &str) = (
    "Only live checks count; synthetic and demo data never do.",
    "This is NetPulse's demo organisation: its page counts its sample (demo) checks, which no other page ever counts.",
);

/// How a status page counts (printed on the page).
pub const COUNTING_RULES: &str = "Uptime is the share of live checks that were up or degraded (slow counts as up); \
down and error results count against it. Only live checks count; synthetic and demo data never do. Time without \
any check result (monitor paused, no region reporting, before the monitor existed) is not counted either way, and \
a period without results shows no figure rather than 100 %. Each region's check counts on its own: a region that \
sees the service down counts as down, a region that stops reporting adds nothing. Checks keep running during \
maintenance windows; they are shown apart and count neither for nor against uptime. Windows are whole UTC hours \
up to now; daily bars are UTC days.";

/// The windows of a status page, in whole UTC hours: a window of `d` days covers the
/// current (partial) hour and the `24·d − 1` hours before it, up to `now`.
pub const WINDOWS: [(&str, i64); 4] = [("24h", 1), ("7d", 7), ("30d", 30), ("90d", 90)];

/// The first hour of each of [`WINDOWS`] at `now`, in that order (24 h first, the latest).
pub fn window_starts(now: Timestamp) -> [Timestamp; 4] {
    let this_hour = now.millis().div_euclid(HOUR_MS) * HOUR_MS;
    WINDOWS.map(|(_, days)| Timestamp::from_millis(this_hour - (days * 24 - 1) * HOUR_MS))
}

/// Which sum an hour's tally may go into before [`page_figures`]: the later of its UTC day's
/// start and the latest window start at or before it. Hours with the same bucket share their
/// day bar and every window, so feeding `page_figures` one summed tally per bucket (stamped
/// with the bucket's start) gives the same figures as the hours one by one. `None` for an
/// hour the page ignores (before the 90 d window, after `now`). The stores do this sum in
/// SQL; this is its definition.
pub fn bucket_start(hour: Timestamp, now: Timestamp) -> Option<Timestamp> {
    let h = hour.millis();
    let starts = window_starts(now);
    let window = starts.iter().find(|s| h >= s.millis())?.millis();
    (h <= now.millis()).then(|| Timestamp::from_millis(window.max(h.div_euclid(DAY_MS) * DAY_MS)))
}

/// A status page's figures from live tallies of hours, or of buckets of hours summed by
/// [`bucket_start`] (any order). Tallies before the 90 days and after `now` (clock skew)
/// are ignored.
pub fn page_figures(hours: &[HourTally], now: Timestamp) -> PageFigures {
    let today = now.millis().div_euclid(DAY_MS) * DAY_MS;
    let first_day = today - 89 * DAY_MS;
    let mut daily: Vec<DayBar> = (0..90)
        .map(|k| DayBar {
            day_start: Timestamp::from_millis(first_day + k * DAY_MS),
            tally: Tally::default(),
            percent: None,
        })
        .collect();
    let mut windows: Vec<WindowFigure> = WINDOWS
        .iter()
        .zip(window_starts(now))
        .map(|(&(label, _), from)| WindowFigure { label, from, to: now, tally: Tally::default(), percent: None })
        .collect();
    for (hour, t) in hours.iter().filter(|(h, _)| h.millis() <= now.millis()) {
        let h = hour.millis();
        if h >= first_day {
            let bar = &mut daily[((h - first_day) / DAY_MS) as usize];
            bar.tally = bar.tally.plus(t);
        }
        for w in windows.iter_mut().filter(|w| h >= w.from.millis()) {
            w.tally = w.tally.plus(t);
        }
    }
    for bar in &mut daily {
        bar.percent = bar.tally.uptime_percent();
    }
    for w in &mut windows {
        w.percent = w.tally.uptime_percent();
    }
    PageFigures { daily, windows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_replaces_a_sentence_the_rules_hold() {
        assert!(COUNTING_RULES.contains(DEMO_COUNTING.0), "the demo page's counting rules would say live only");
    }

    fn t(up: u64, degraded: u64, down: u64, error: u64) -> Tally {
        Tally { up, degraded, down, error, maintenance: 0 }
    }

    const H: i64 = 3_600_000;

    #[test]
    fn page_figures_without_data_have_no_figure_not_100() {
        let now = Timestamp::from_millis(1_000 * 86_400_000 + 5 * H + 123);
        let f = page_figures(&[], now);
        assert_eq!(f.daily.len(), 90);
        assert!(f.daily.iter().all(|d| d.percent.is_none()));
        assert!(f.windows.iter().all(|w| w.percent.is_none()));
        assert_eq!(f.windows.iter().map(|w| w.label).collect::<Vec<_>>(), ["24h", "7d", "30d", "90d"]);
    }

    #[test]
    fn page_figures_count_windows_in_whole_hours_and_days_in_utc() {
        let day = 1_000 * 86_400_000;
        let now = Timestamp::from_millis(day + 5 * H + 123);
        let hours = vec![
            // this hour: 1 up, 1 degraded (counts as up)
            (Timestamp::from_millis(day + 5 * H), t(1, 1, 0, 0)),
            // 23 hours before this hour: still inside 24 h
            (Timestamp::from_millis(day + 5 * H - 23 * H), t(0, 0, 1, 1)),
            // 24 hours before this hour: outside 24 h, inside 7 d
            (Timestamp::from_millis(day + 5 * H - 24 * H), t(0, 0, 4, 0)),
            // 40 days ago: only 90 d
            (Timestamp::from_millis(day - 40 * 86_400_000), t(10, 0, 0, 0)),
            // 100 days ago: nowhere
            (Timestamp::from_millis(day - 100 * 86_400_000), t(0, 0, 7, 0)),
            // the future (clock skew): nowhere
            (Timestamp::from_millis(day + 9 * H), t(0, 0, 9, 0)),
        ];
        let f = page_figures(&hours, now);
        let w = |l: &str| f.windows.iter().find(|w| w.label == l).unwrap().clone();
        assert_eq!(w("24h").tally, t(1, 1, 1, 1));
        assert_eq!(w("24h").percent, Some(50.0));
        assert_eq!(w("24h").from, Timestamp::from_millis(day + 5 * H - 23 * H));
        assert_eq!(w("24h").to, now);
        assert_eq!(w("7d").tally, t(1, 1, 5, 1));
        assert_eq!(w("30d").tally, t(1, 1, 5, 1));
        assert_eq!(w("90d").tally, t(11, 1, 5, 1));
        // today holds this hour's results; yesterday the other two recent hours
        assert_eq!(f.daily[89].day_start, Timestamp::from_millis(day));
        assert_eq!(f.daily[89].tally, t(1, 1, 0, 0));
        assert_eq!(f.daily[89].percent, Some(100.0));
        assert_eq!(f.daily[88].tally, t(0, 0, 5, 1));
        assert_eq!(f.daily[88].percent, Some(0.0));
        assert_eq!(f.daily[49].tally, t(10, 0, 0, 0));
        // days without results (paused, no region reporting) have no figure
        assert_eq!(f.daily[50].percent, None);
    }

    #[test]
    fn page_figures_from_bucket_sums_equal_page_figures_from_hours() {
        // Every hour of 91 days with a tally that varies, at a `now` inside an hour.
        let day = 1_000 * 86_400_000;
        let now = Timestamp::from_millis(day + 17 * H + 1_234);
        let hours: Vec<HourTally> = (0..91 * 24 + 3)
            .map(|k| {
                let h = day + 17 * H - k * H + 2 * H;
                (Timestamp::from_millis(h), t(k as u64 % 5, k as u64 % 2, k as u64 % 3, (k % 7 == 0) as u64))
            })
            .collect();
        let mut sums: std::collections::BTreeMap<i64, Tally> = Default::default();
        for (h, tally) in &hours {
            let Some(b) = bucket_start(*h, now) else { continue };
            let sum = sums.entry(b.millis()).or_default();
            *sum = sum.plus(tally);
        }
        let buckets: Vec<HourTally> = sums.into_iter().map(|(b, t)| (Timestamp::from_millis(b), t)).collect();
        assert!(buckets.len() < 100, "about one bucket a day, not one an hour: {}", buckets.len());
        assert_eq!(page_figures(&buckets, now), page_figures(&hours, now));
    }

    #[test]
    fn uptime_counts_degraded_as_up_and_errors_as_down() {
        let mut t = Tally::default();
        assert_eq!(t.uptime_percent(), None, "no data is not 100 %");
        t.add(Outcome::Up, 6);
        t.add(Outcome::Degraded, 2);
        t.add(Outcome::Down, 1);
        t.add(Outcome::Error, 1);
        assert_eq!(t.uptime_percent(), Some(80.0));
    }

    #[test]
    fn maintenance_checks_are_counted_apart_and_never_for_or_against_uptime() {
        let mut hour = t(3, 0, 1, 0);
        hour.add_maintenance(5);
        assert_eq!((hour.total(), hour.uptime_percent()), (4, Some(75.0)), "maintenance checks are not in the figure");
        let mut only_maintenance = Tally::default();
        only_maintenance.add_maintenance(12);
        assert_eq!(only_maintenance.uptime_percent(), None, "a window spent in maintenance has no figure, not 100 %");
        let day = 1_000 * 86_400_000;
        let now = Timestamp::from_millis(day + 2 * H);
        let f = page_figures(
            &[(Timestamp::from_millis(day + H), hour), (Timestamp::from_millis(day), only_maintenance)],
            now,
        );
        let w24 = &f.windows[0];
        assert_eq!((w24.tally.maintenance, w24.tally.total(), w24.percent), (17, 4, Some(75.0)));
        assert_eq!(f.daily[89].tally.maintenance, 17);
    }
}
