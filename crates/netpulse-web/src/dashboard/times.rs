//! How the dashboard and the public status pages write times for people: a `<time>` element
//! whose `datetime` is RFC 3339 to the second (no milliseconds) and whose text is a UTC
//! fallback the server can stand behind — "3 min ago" ([`relative`]) or
//! "2026-12-07 04:16 UTC" ([`exact`]). `local_time.js` (inline on every dashboard page and
//! status page) rewrites them in the viewer's time zone: a relative time keeps its words and
//! gets the exact local time (with the zone's name) as its hover title; an exact one shows
//! the local date and time. Durations read "12 min", "3 h 5 min" ([`duration`]).

use maud::{html, Markup};
use netpulse_core::Timestamp;

/// The script that rewrites [`relative`] and [`exact`] times in the viewer's time zone.
pub const LOCAL_TIME: &str = include_str!("local_time.js");

/// `2026-12-07T04:16:50Z`: a `datetime` attribute, to the second.
pub fn iso_seconds(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    format!("{}Z", &s[..19])
}

/// `2026-12-07 04:16 UTC`.
pub fn utc_minute(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    format!("{} {} UTC", &s[..10], &s[11..16])
}

/// `2026-12-07 04:16:50 UTC`.
pub fn utc_second(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    format!("{} {} UTC", &s[..10], &s[11..19])
}

/// "just now", "42 s ago", "3 min ago", "5 h ago", "2 d ago"; "in 3 min" for a time ahead.
pub fn ago_text(t: Timestamp, now: Timestamp) -> String {
    let s = now.since(t) / 1000;
    if s < 0 {
        return format!("in {}", duration(-s * 1000));
    }
    match s {
        0 => "just now".into(),
        1..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        7200..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// A time as "3 min ago", the exact time on hover (UTC here; the viewer's zone once
/// `local_time.js` ran).
pub fn relative(t: Timestamp, now: Timestamp) -> Markup {
    html! { time datetime=(iso_seconds(t)) title=(utc_second(t)) data-rel { (ago_text(t, now)) } }
}

/// [`relative`], or `never`.
pub fn relative_or_never(t: Option<Timestamp>, now: Timestamp) -> Markup {
    match t {
        Some(t) => relative(t, now),
        None => html! { "never" },
    }
}

/// A time as a date and time: `2026-12-07 04:16 UTC` here, the viewer's local one after
/// `local_time.js`.
pub fn exact(t: Timestamp) -> Markup {
    html! { time datetime=(iso_seconds(t)) title=(utc_second(t)) data-abs { (utc_minute(t)) } }
}

/// A span of time as people say it: "45 s", "12 min", "3 h 5 min", "2 d 4 h".
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => match (s / 3600, s % 3600 / 60) {
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        },
        _ => match (s / 86_400, s % 86_400 / 3600) {
            (d, 0) => format!("{d} d"),
            (d, h) => format!("{d} d {h} h"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_like_people_say_them() {
        let t = Timestamp::from_millis(1_795_568_523_456); // 2026-11-25T01:02:03.456Z
        assert_eq!(iso_seconds(t), "2026-11-25T01:02:03Z");
        assert_eq!(utc_minute(t), "2026-11-25 01:02 UTC");
        assert_eq!(ago_text(t, t.plus_ms(3 * 60_000 + 5_000)), "3 min ago");
        assert_eq!(ago_text(t, t.plus_ms(400)), "just now");
        assert_eq!(ago_text(t.plus_ms(600_000), t), "in 10 min");
        assert_eq!(ago_text(t, t.plus_ms(3 * 86_400_000)), "3 d ago");
        assert_eq!(duration(12 * 60_000 + 30_000), "12 min");
        assert_eq!(duration(3 * 3_600_000 + 5 * 60_000), "3 h 5 min");
        assert_eq!(duration(2 * 86_400_000 + 4 * 3_600_000), "2 d 4 h");
        assert_eq!(duration(45_000), "45 s");
        let html = relative(t, t.plus_ms(180_000)).into_string();
        assert!(html.contains(r#"datetime="2026-11-25T01:02:03Z""#) && !html.contains(".456"), "{html}");
    }
}
