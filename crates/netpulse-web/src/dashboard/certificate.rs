//! TLS certificates in the dashboard: the monitor page of a TLS monitor shows the certificate
//! its newest check saw (expiry date, days left, issuer), and the overview flags TLS monitors whose
//! certificate expires within the monitor's `warn_days` (or has expired). Both read the
//! expiry every TLS check records (`cert_expires_at` of a result); the overview reads the
//! newest result of each TLS monitor it shows, one indexed step each, run together.

use super::times;
use crate::base::AppState;
use maud::{html, Markup};
use netpulse_core::CheckSpec;
use netpulse_core::{CheckResult, MonitorId, TenantId, Timestamp};
use netpulse_store::MonitorView;
use std::collections::HashMap;

const DAY_MS: i64 = 86_400_000;
/// How far back the overview looks for a TLS monitor's newest result.
const LOOK_BACK_MS: i64 = 7 * DAY_MS;

/// Whole days from `now` to `expires_at` (negative once expired).
pub fn days_left(expires_at: Timestamp, now: Timestamp) -> i64 {
    expires_at.since(now).div_euclid(DAY_MS)
}

/// The warning threshold of a TLS monitor (`warn_days`), or `None` for other kinds.
pub fn warn_days(v: &MonitorView) -> Option<u32> {
    match &v.record.draft.spec {
        CheckSpec::Tls(t) => Some(t.warn_days),
        _ => None,
    }
}

/// "expires in 12 days", "expires today", "expired 3 days ago".
fn left_words(days: i64) -> String {
    match days {
        ..=-1 => format!("expired {} day{} ago", -days, if days == -1 { "" } else { "s" }),
        0 => "expires today".into(),
        1 => "expires tomorrow".into(),
        d => format!("expires in {d} days"),
    }
}

/// The monitor page's certificate section: from the newest shown result that saw one.
pub fn section(results: &[CheckResult], warn_days: u32, now: Timestamp) -> Markup {
    let Some(seen) = results.iter().find(|r| r.cert_expires_at.is_some()) else {
        return html! { h2 { "Certificate" } p.empty #certificate { "No certificate seen yet." } };
    };
    let expires = seen.cert_expires_at.unwrap_or(now);
    let days = days_left(expires, now);
    let warn = days < i64::from(warn_days);
    html! {
        h2 { "Certificate" }
        table #certificate.compact data-days-left=(days) data-warn=[warn.then_some("1")] {
            tbody {
                tr { th { "Expires" } td #cert-expires { (times::exact(expires)) } }
                tr { th { "Days left" } td #cert-days-left {
                    @if warn { span.badge.down { (left_words(days)) } } @else { (left_words(days)) }
                    span.sub { " (warns below " (warn_days) " days)" } } }
                tr { th { "Issuer" } td #cert-issuer { (seen.cert_issuer.as_deref().unwrap_or("not recorded")) } }
                tr { th { "Seen" } td { (times::relative(seen.started_at, now)) " from " (seen.region) } }
            }
        }
    }
}

/// The expiry each shown TLS monitor's newest result saw (in the last week).
pub async fn expiries(
    s: &AppState,
    t: &TenantId,
    shown: &[&MonitorView],
    now: Timestamp,
) -> HashMap<MonitorId, Timestamp> {
    let tls: Vec<&MonitorId> = shown.iter().filter(|v| warn_days(v).is_some()).map(|v| &v.record.id).collect();
    let newest = crate::api::monitor_metrics::newest_results(s, t, &tls, now, LOOK_BACK_MS).await;
    newest.into_iter().filter_map(|(id, r)| Some((id, r.cert_expires_at?))).collect()
}

/// The overview's flag under a TLS monitor's name when its certificate expires within
/// `warn_days`; nothing otherwise.
pub fn flag(v: &MonitorView, expiries: &HashMap<MonitorId, Timestamp>, now: Timestamp) -> Markup {
    let (Some(warn), Some(expires)) = (warn_days(v), expiries.get(&v.record.id)) else { return html! {} };
    let days = days_left(*expires, now);
    html! {
        @if days < i64::from(warn) {
            " " span.tag.cert-warn data-cert-days=(days) title={ "certificate expires " (times::utc_minute(*expires)) } {
                "certificate " (left_words(days)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_left_read_as_people_say_them() {
        let now = Timestamp::from_secs(1_800_000_000);
        assert_eq!(left_words(days_left(now.plus_ms(12 * DAY_MS + 5), now)), "expires in 12 days");
        assert_eq!(left_words(days_left(now.plus_ms(DAY_MS / 2), now)), "expires today");
        assert_eq!(left_words(days_left(now.minus_ms(3 * DAY_MS - 5), now)), "expired 3 days ago");
        assert_eq!(left_words(days_left(now.minus_ms(5), now)), "expired 1 day ago");
    }
}
