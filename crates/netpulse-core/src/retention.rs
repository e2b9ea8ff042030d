//! Retention horizons and where an uptime window's checks are counted from.
//!
//! Live checks are kept twice, as two independent accounts of the same results:
//! - the *fine* account: raw results, and minute rollups that raw results are folded into
//!   (and deleted from the raw table in the same step) once their whole UTC day is past the
//!   raw horizon, a midnight;
//! - the *coarse* account: hourly rollups written at ingest, and daily rollups that hours are
//!   folded into (and deleted) once they pass the hour horizon.
//!
//! Each check sits in exactly one table of each account, so a window is counted by summing
//! the two tables of one account over the same span — fine where minute rollups still
//! exist, coarse before that. Where a window's start or end lies past the raw horizon it is
//! moved back to the start of its whole minute (past the minute horizon: its whole hour;
//! past the hour horizon: its whole UTC day), because that is the finest unit left. The
//! plan depends only on `now` and the configured ages, never on which rows exist yet, so a
//! figure is the same before and after the retention job runs. Time is a parameter.

use crate::time::Timestamp;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// How many days each kind of row is kept, counted back from now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionDays {
    pub raw: u32,
    pub minute: u32,
    pub hour: u32,
    pub day: u32,
}

/// The cut-off instants of one retention pass (or one uptime read) at some `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Horizons {
    /// The instant they were taken at (PostgreSQL's retention step makes the raw-result
    /// partitions of the days from this one's on).
    pub now: Timestamp,
    /// Raw results started before this UTC midnight are folded into minute rollups: raw
    /// results go by whole UTC days, so PostgreSQL can fold and drop a day's partition at once.
    pub raw: Timestamp,
    /// Minute rollups before this whole hour are deleted (the hourly rollup holds them too).
    pub minute: Timestamp,
    /// Hourly rollups before this whole UTC day are folded into daily rollups.
    pub hour: Timestamp,
    /// Daily rollups before this whole UTC day are deleted.
    pub day: Timestamp,
}

fn floor(t: Timestamp, unit: i64) -> Timestamp {
    Timestamp::from_millis(t.millis().div_euclid(unit) * unit)
}

fn days_before(now: Timestamp, days: u32, unit: i64) -> Timestamp {
    floor(now.minus_ms(i64::from(days) * DAY_MS), unit)
}

impl Horizons {
    pub fn at(now: Timestamp, days: &RetentionDays) -> Self {
        Horizons {
            now,
            raw: days_before(now, days.raw, DAY_MS),
            minute: days_before(now, days.minute, HOUR_MS),
            hour: days_before(now, days.hour, DAY_MS),
            day: days_before(now, days.day, DAY_MS),
        }
    }

    /// `t` moved back to the finest unit still kept for its age.
    fn snap(&self, t: Timestamp) -> Timestamp {
        if t >= self.raw {
            t
        } else if t >= self.minute {
            floor(t, MINUTE_MS)
        } else if t >= self.hour {
            floor(t, HOUR_MS)
        } else {
            floor(t, DAY_MS)
        }
    }
}

/// Where the checks of the window `[from, to)` are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UptimeWindow {
    /// The window actually counted (see the module docs for how its ends move).
    pub from: Timestamp,
    pub to: Timestamp,
    /// Counted from raw results plus minute rollups (empty when both ends are equal).
    pub fine: (Timestamp, Timestamp),
    /// Counted from hourly plus daily rollups (empty when both ends are equal).
    pub coarse: (Timestamp, Timestamp),
}

impl UptimeWindow {
    /// The plan for `[from, to)` under the horizons of now.
    pub fn plan(from: Timestamp, to: Timestamp, h: &Horizons) -> Self {
        let from = h.snap(from);
        let to = h.snap(to).max(from);
        let split = h.minute.clamp(from, to);
        UptimeWindow { from, to, fine: (split, to), coarse: (from, split) }
    }

    /// The tables the window reads, finest first: `results`, `minute_rollup`,
    /// `hourly_rollup`, `daily_rollup`.
    pub fn sources(&self, h: &Horizons) -> Vec<&'static str> {
        let (fine, coarse) = (self.fine.0 < self.fine.1, self.coarse.0 < self.coarse.1);
        let mut out = Vec::with_capacity(4);
        if fine && self.fine.1 > h.raw {
            out.push("results");
        }
        if fine && self.fine.0 < h.raw {
            out.push("minute_rollup");
        }
        if coarse && self.coarse.1 > h.hour {
            out.push("hourly_rollup");
        }
        if coarse && self.coarse.0 < h.hour {
            out.push("daily_rollup");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAYS: RetentionDays = RetentionDays { raw: 30, minute: 60, hour: 100, day: 400 };

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    /// A `now` that is on no minute, hour or day boundary.
    const NOW: i64 = 20_000 * DAY_MS + 13 * HOUR_MS + 17 * MINUTE_MS + 4_321;

    #[test]
    fn horizons_are_whole_units_at_the_configured_ages() {
        let h = Horizons::at(at(NOW), &DAYS);
        assert_eq!(h.raw, at(20_000 * DAY_MS - 30 * DAY_MS));
        assert_eq!(h.minute, at(NOW - 4_321 - 17 * MINUTE_MS - 60 * DAY_MS));
        assert_eq!(h.hour, at(20_000 * DAY_MS - 100 * DAY_MS));
        assert_eq!(h.day, at(20_000 * DAY_MS - 400 * DAY_MS));
    }

    #[test]
    fn a_window_inside_raw_retention_is_exact_and_read_from_results_only() {
        let h = Horizons::at(at(NOW), &DAYS);
        let w = UptimeWindow::plan(at(NOW - 7 * DAY_MS), at(NOW + 1), &h);
        assert_eq!((w.from, w.to), (at(NOW - 7 * DAY_MS), at(NOW + 1)));
        assert_eq!(w.fine, (w.from, w.to));
        assert_eq!(w.coarse.0, w.coarse.1, "no rollup part");
        assert_eq!(w.sources(&h), ["results"]);
    }

    #[test]
    fn older_ends_move_back_to_the_finest_unit_kept_for_their_age() {
        let h = Horizons::at(at(NOW), &DAYS);
        let cases = [
            (45, NOW - 45 * DAY_MS - 4_321, vec!["results", "minute_rollup"]),
            (90, NOW - 90 * DAY_MS - 4_321 - 17 * MINUTE_MS, vec!["results", "minute_rollup", "hourly_rollup"]),
            (365, 20_000 * DAY_MS - 365 * DAY_MS, vec!["results", "minute_rollup", "hourly_rollup", "daily_rollup"]),
        ];
        for (days, from, sources) in cases {
            let w = UptimeWindow::plan(at(NOW - days * DAY_MS), at(NOW + 1), &h);
            assert_eq!(w.from, at(from), "{days} d");
            assert_eq!(w.to, at(NOW + 1), "{days} d: a recent end stays exact");
            assert_eq!(w.sources(&h), sources, "{days} d");
            assert_eq!(w.coarse.1, w.fine.0, "{days} d: the two parts meet");
        }
        let w = UptimeWindow::plan(at(NOW - 90 * DAY_MS), at(NOW + 1), &h);
        assert_eq!((w.coarse.0, w.coarse.1, w.fine.1), (w.from, h.minute, w.to));
    }

    #[test]
    fn a_window_wholly_in_the_past_reads_only_the_rollups_of_its_age() {
        let h = Horizons::at(at(NOW), &DAYS);
        let w = UptimeWindow::plan(at(NOW - 200 * DAY_MS), at(NOW - 150 * DAY_MS), &h);
        assert_eq!(w.sources(&h), ["daily_rollup"]);
        assert_eq!(w.coarse, (w.from, w.to));
        assert_eq!(w.to, at(20_000 * DAY_MS - 150 * DAY_MS));
        let w = UptimeWindow::plan(at(NOW - 10 * DAY_MS), at(NOW - 10 * DAY_MS + 5), &h);
        assert!(w.from < w.to, "a short recent window is not rounded away");
        let w = UptimeWindow::plan(at(NOW - 300 * DAY_MS), at(NOW - 300 * DAY_MS + 5), &h);
        assert_eq!(w.from, w.to, "shorter than the unit kept for its age: an empty window");
        assert!(w.sources(&h).is_empty());
    }
}
