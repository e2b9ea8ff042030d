//! What every channel says, before it is shaped for one: a title, the facts (what is down,
//! since when, from which regions, the last error) and a link.
//!
//! Channels render these pieces in their own format (Slack attachment, Discord embed, Teams
//! card, PagerDuty payload, e-mail text, push notification) so that every kind tells the same
//! story. Text from tenants (monitor names, targets, errors) is carried as is here; each
//! channel escapes it for its own markup. Two more things every kind agrees on: a notice's
//! [`Urgency`] (what push services turn into a priority) and, for incident tools (PagerDuty,
//! Opsgenie), its [`Lifecycle`] step and the [`alert_key`] that ties an outage's steps together.

use netpulse_core::alert::{AlertEvent, AlertKind};
use netpulse_core::Timestamp;

/// The parts of a notification shared by every channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// `DOWN: Checkout API`, `RESOLVED: Checkout API`, …
    pub title: String,
    /// One sentence: what happened and since when.
    pub headline: String,
    /// Labelled facts in display order (`Target`, `Down since`, `Regions`, `Last error`, …).
    pub facts: Vec<(&'static str, String)>,
    /// The incident in the dashboard (the dashboard itself for a test).
    pub link: String,
    /// Colour for the kind, as `0xRRGGBB`.
    pub color: u32,
}

pub const RED: u32 = 0xD93025;
pub const GREEN: u32 = 0x1E8E3E;
pub const AMBER: u32 = 0xF29900;
pub const BLUE: u32 = 0x1A73E8;

/// The dashboard link for `event`: `{base_url}/incidents/{id}`; the monitor's page for a
/// notice without an incident (degraded); the dashboard for a test.
pub fn link(event: &AlertEvent, base_url: &str) -> String {
    match (&event.incident_id, &event.monitor_id) {
        (Some(id), _) => format!("{base_url}/incidents/{id}"),
        (None, Some(m)) => format!("{base_url}/monitors/{m}"),
        (None, None) => format!("{base_url}/"),
    }
}

/// A timestamp for people: `2024-05-01 12:00:00 UTC`.
pub fn human_time(t: Timestamp) -> String {
    let rfc = t.to_rfc3339();
    // `2024-05-01T12:00:00.000Z` → `2024-05-01 12:00:00 UTC`
    match rfc.split_once('T') {
        Some((date, rest)) => format!("{date} {} UTC", rest.get(..8).unwrap_or(rest)),
        None => rfc,
    }
}

/// "for 5 min", "for 2 h 3 min", … between `since` and `at`.
pub fn duration_words(since: Timestamp, at: Timestamp) -> String {
    let secs = ((at.millis() - since.millis()) / 1000).max(0);
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min", secs / 60),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

/// Compose the message for `event`.
pub fn compose(event: &AlertEvent, base_url: &str) -> Message {
    let name = one_line(&event.monitor_name);
    let (head, color) = match event.kind {
        AlertKind::Opened => ("DOWN", RED),
        AlertKind::Reminder => ("STILL DOWN", RED),
        AlertKind::Acknowledged => ("ACKNOWLEDGED", AMBER),
        AlertKind::Flapping => ("FLAPPING", AMBER),
        AlertKind::Resolved => ("RESOLVED", GREEN),
        AlertKind::Escalated => ("ESCALATED", RED),
        AlertKind::Degraded => ("DEGRADED", AMBER),
        AlertKind::DegradedEnded => ("FAST AGAIN", GREEN),
        AlertKind::DegradedFlapping => ("SLOW ON AND OFF", AMBER),
        AlertKind::Storm => ("STORM", RED),
        AlertKind::StormOver => ("STORM OVER", GREEN),
        AlertKind::Test => ("TEST", BLUE),
    };
    let since = event.since.map(human_time);
    let headline = match (event.kind, &since) {
        (AlertKind::Opened | AlertKind::Reminder, Some(s)) => {
            format!("{name} is down since {s} ({}).", duration_words(event.since.unwrap_or(event.at), event.at))
        }
        (AlertKind::Opened | AlertKind::Reminder, None) => format!("{name} is down."),
        (AlertKind::Acknowledged, _) => format!("The outage of {name} was acknowledged; reminders stop."),
        (AlertKind::Flapping, _) => format!("{name} keeps going up and down; one incident covers it."),
        (AlertKind::Resolved, Some(s)) => format!(
            "{name} is back up after {} (down since {s}).",
            duration_words(event.since.unwrap_or(event.at), event.at)
        ),
        (AlertKind::Resolved, None) => format!("{name} is back up."),
        (AlertKind::Escalated, Some(s)) => format!(
            "{name} is down since {s} ({}) and nobody has acknowledged it: escalated to you.",
            duration_words(event.since.unwrap_or(event.at), event.at)
        ),
        (AlertKind::Escalated, None) => format!("{name} is down and nobody has acknowledged it: escalated to you."),
        (AlertKind::Degraded, _) => format!("{name} is up but slow: checks are over its degraded threshold."),
        (AlertKind::DegradedEnded, Some(s)) => format!(
            "{name} answers at normal speed again after {} slow (since {s}).",
            duration_words(event.since.unwrap_or(event.at), event.at)
        ),
        (AlertKind::DegradedEnded, None) => format!("{name} answers at normal speed again."),
        (AlertKind::DegradedFlapping, _) => format!(
            "{name} keeps turning slow and fast again; one more notice when it has been fast for the flap window."
        ),
        (AlertKind::Storm, _) => format!(
            "{} monitors went down together: one notice instead of a page each (each has its own incident).",
            event.storm.len()
        ),
        (AlertKind::StormOver, _) => {
            let up = event.storm.iter().filter(|m| m.recovered).count();
            format!(
                "The storm is over: {} went down, {up} recovered, {} still down.",
                event.storm.len(),
                event.storm.len() - up
            )
        }
        (AlertKind::Test, _) => "This is a test notification from NetPulse: the channel works.".to_owned(),
    };
    if matches!(event.kind, AlertKind::Storm | AlertKind::StormOver) {
        return storm_message(event, head, headline, color, base_url);
    }
    let mut facts = vec![("Monitor", name.clone()), ("Target", one_line(&event.target))];
    let slow = matches!(event.kind, AlertKind::Degraded | AlertKind::DegradedEnded | AlertKind::DegradedFlapping);
    if let Some(s) = since {
        facts.push((if slow { "Slow since" } else { "Down since" }, s));
    }
    if !event.affected_regions.is_empty() {
        let label = if slow { "Slow from" } else { "Down from" };
        let of = event.regions.len().max(event.affected_regions.len());
        facts.push((
            label,
            format!("{} ({} of {of} regions)", event.affected_regions.join(", "), event.affected_regions.len()),
        ));
    }
    if !event.regions.is_empty() {
        facts.push(("Regions", event.regions.join(", ")));
    }
    if let Some(e) = &event.error {
        let label =
            if matches!(event.kind, AlertKind::Resolved | AlertKind::DegradedEnded) { "Last error" } else { "Error" };
        facts.push((label, truncate(e, 500)));
    }
    if let Some(v) = event.visitors.filter(|v| v.loads > 0) {
        let views = if v.loads == 1 { "page view" } else { "page views" };
        facts.push((
            "Real visitors",
            format!("{} of {} {views} failed since {}", v.failed, v.loads, human_time(v.since)),
        ));
    }
    facts.push(("At", human_time(event.at)));
    Message { title: format!("{head}: {name}"), headline, facts, link: link(event, base_url), color }
}

/// A storm lists its monitors (names only; each links from its own incident).
fn storm_message(event: &AlertEvent, head: &str, headline: String, color: u32, base_url: &str) -> Message {
    let names = |recovered: Option<bool>| {
        let of = event.storm.iter().filter(|m| recovered.is_none_or(|r| m.recovered == r));
        truncate(&of.map(|m| one_line(&m.name)).collect::<Vec<_>>().join(", "), 1000)
    };
    let mut facts = vec![];
    if event.kind == AlertKind::Storm {
        facts.push(("Down", names(None)));
    } else {
        facts.extend([("Recovered", names(Some(true))), ("Still down", names(Some(false)))]);
        facts.retain(|(_, v)| !v.is_empty());
    }
    facts.push(("At", human_time(event.at)));
    let title = format!("{head}: {} monitors", event.storm.len());
    Message { title, headline, facts, link: link(event, base_url), color }
}

/// The message as plain text for push notifications: the headline, then one `Label: value`
/// line per fact.
pub fn plain_text(m: &Message) -> String {
    let mut out = m.headline.clone();
    for (k, v) in &m.facts {
        out.push_str(&format!("\n{k}: {v}"));
    }
    out
}

/// How pressing a notice is; push channels map it to their priority scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Urgency {
    /// Something went down (opened, escalated, a storm): wake someone.
    Critical,
    /// Still down, flapping or slow: worth a sound.
    High,
    /// Good news or bookkeeping (resolved, acknowledged, fast again, a test).
    Normal,
}

/// The urgency of a notice kind.
pub fn urgency(kind: AlertKind) -> Urgency {
    match kind {
        AlertKind::Opened | AlertKind::Escalated | AlertKind::Storm => Urgency::Critical,
        AlertKind::Reminder | AlertKind::Flapping | AlertKind::Degraded | AlertKind::DegradedFlapping => Urgency::High,
        AlertKind::Acknowledged
        | AlertKind::Resolved
        | AlertKind::DegradedEnded
        | AlertKind::StormOver
        | AlertKind::Test => Urgency::Normal,
    }
}

/// What a notice does to the alert an incident tool keeps for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// Open it (or fold into the open one with the same key).
    Open,
    Acknowledge,
    /// Resolve / close it.
    Resolve,
}

/// The lifecycle step of a notice kind.
pub fn lifecycle(kind: AlertKind) -> Lifecycle {
    match kind {
        AlertKind::Opened
        | AlertKind::Reminder
        | AlertKind::Flapping
        | AlertKind::Escalated
        | AlertKind::Degraded
        | AlertKind::DegradedFlapping
        | AlertKind::Storm
        | AlertKind::Test => Lifecycle::Open,
        AlertKind::Acknowledged => Lifecycle::Acknowledge,
        AlertKind::Resolved | AlertKind::DegradedEnded | AlertKind::StormOver => Lifecycle::Resolve,
    }
}

/// The key an incident tool dedups on: the incident id, stable across open → acknowledge →
/// resolve; for a degraded episode or a storm the key of its start (the end resolves what the
/// start opened; a flapping degraded episode re-opens and settles that same key); the event's
/// own (`test:…`) key otherwise. At most 255 characters.
pub fn alert_key(event: &AlertEvent) -> String {
    match &event.incident_id {
        Some(id) => id.to_string(),
        None => {
            let key = &event.dedup_key;
            let storm = key.starts_with("storm:").then(|| key.splitn(4, ':').take(3).collect::<Vec<_>>().join(":"));
            let episode = [":ended", ":flapping", ":settled"].iter().find_map(|s| key.strip_suffix(s)).unwrap_or(key);
            truncate(&storm.unwrap_or_else(|| episode.to_owned()), 255)
        }
    }
}

/// `s` with every control character (CR, LF, tab, …) replaced by a space.
pub fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// At most `max` characters of `s`, with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use netpulse_core::alert::VisitorsSaw;
    use netpulse_core::{IncidentId, TenantId};

    fn event(kind: AlertKind) -> AlertEvent {
        AlertEvent {
            kind,
            dedup_key: "k".into(),
            tenant_id: TenantId::from_trusted("ten_1".into()),
            incident_id: Some(IncidentId::from_trusted("inc_1".into())),
            monitor_id: None,
            monitor_name: "API\r\nBcc: x".into(),
            target: "GET https://api.example.com".into(),
            at: Timestamp::from_secs(1_700_000_600),
            since: Some(Timestamp::from_secs(1_700_000_000)),
            error: Some("expected status 200-399, got 503".into()),
            regions: vec!["eu".into(), "us".into(), "ap".into()],
            affected_regions: vec!["eu".into(), "us".into()],
            storm: vec![],
            visitors: None,
        }
    }

    #[test]
    fn says_what_since_when_where_why_and_links() {
        let m = compose(&event(AlertKind::Opened), "https://np.example");
        assert_eq!(m.title, "DOWN: API  Bcc: x", "control characters become spaces");
        assert!(m.headline.contains("since 2023-11-14 22:13:20 UTC (10 min)"), "{}", m.headline);
        assert!(m.facts.contains(&("Down from", "eu, us (2 of 3 regions)".into())), "{:?}", m.facts);
        assert!(m.facts.contains(&("Regions", "eu, us, ap".into())));
        assert!(m.facts.iter().any(|(k, v)| *k == "Error" && v.contains("503")));
        assert_eq!(m.link, "https://np.example/incidents/inc_1");
        assert_eq!(compose(&event(AlertKind::Resolved), "").color, GREEN);
    }

    #[test]
    fn an_outage_notice_tells_what_real_visitors_saw_when_it_has_them() {
        let mut e = event(AlertKind::Opened);
        assert_eq!(e.visitors_since(), Some(Timestamp::from_secs(1_700_000_000 - 600)), "ten minutes before");
        e.visitors = Some(VisitorsSaw { since: e.visitors_since().unwrap(), loads: 14, failed: 12 });
        let m = compose(&e, "");
        let fact = ("Real visitors", "12 of 14 page views failed since 2023-11-14 22:03:20 UTC".to_owned());
        assert!(m.facts.contains(&fact), "{:?}", m.facts);
        let body: serde_json::Value = serde_json::from_str(&super::super::webhook::render(&e, "")).unwrap();
        assert_eq!(body["real_visitors"]["failed"], 12, "{body}");
        e.visitors = Some(VisitorsSaw { since: Timestamp::from_secs(1), loads: 0, failed: 0 });
        assert!(!compose(&e, "").facts.iter().any(|(k, _)| *k == "Real visitors"), "no views, no line");
        let mut resolved = event(AlertKind::Resolved);
        assert_eq!(resolved.visitors_since(), resolved.since, "a resolved outage counts from its start");
        resolved.kind = AlertKind::Acknowledged;
        assert_eq!(resolved.visitors_since(), None, "only notices of an outage");
        let plain: serde_json::Value = serde_json::from_str(&super::super::webhook::render(&resolved, "")).unwrap();
        assert!(plain.get("real_visitors").is_none(), "absent unless opted in: {plain}");
    }

    #[test]
    fn a_storm_lists_its_monitors_and_its_summary_counts_them() {
        let member = |n: u128, recovered| netpulse_core::storm::Member {
            monitor: netpulse_core::MonitorId::from_parts(1, n),
            name: format!("svc-{n}"),
            incident: None,
            recovered,
            paged: false,
        };
        let mut e = event(AlertKind::Storm);
        (e.incident_id, e.storm) = (None, vec![member(1, false), member(2, false), member(3, false)]);
        let m = compose(&e, "https://np.example");
        assert_eq!(m.title, "STORM: 3 monitors");
        assert!(m.facts.contains(&("Down", "svc-1, svc-2, svc-3".into())), "{:?}", m.facts);
        assert_eq!(m.link, "https://np.example/");
        e.kind = AlertKind::StormOver;
        e.storm[2].recovered = true;
        let m = compose(&e, "");
        assert!(m.headline.contains("3 went down, 1 recovered, 2 still down"), "{}", m.headline);
        assert!(m.facts.contains(&("Still down", "svc-1, svc-2".into())) && m.color == GREEN);
    }

    #[test]
    fn urgency_wakes_people_only_for_outages() {
        assert_eq!(urgency(AlertKind::Opened), Urgency::Critical);
        assert_eq!(urgency(AlertKind::Reminder), Urgency::High);
        assert_eq!(urgency(AlertKind::Resolved), Urgency::Normal);
        assert_eq!(urgency(AlertKind::Test), Urgency::Normal);
    }

    #[test]
    fn truncates_by_characters() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("äöü", 3), "äöü");
    }
}
