//! The overview's first-run guide: four steps from an empty account to a delivered alert —
//! add a monitor, add a channel, send a test, see it delivered — each with its link, ticked
//! when the account's data says it is done (monitors exist; channels exist; a channel has a
//! delivery attempt; a channel has a delivered one), never a stored flag. It shows until every
//! step is done, then never again; the read-only demo never shows it.

use super::SignedIn;
use maud::{html, Markup};
use netpulse_store::{ChannelHealth, ChannelRecord, MonitorView};

/// One step: whether it is done, its words, where to do it and who may follow the link.
struct Step {
    done: bool,
    text: &'static str,
    href: &'static str,
    link: &'static str,
    offered: bool,
}

/// The guide, or nothing once every step is done.
pub(crate) fn guide(
    auth: &SignedIn,
    monitors: &[MonitorView],
    channels: &[ChannelRecord],
    health: &[ChannelHealth],
) -> Markup {
    let steps = [
        Step {
            done: !monitors.is_empty(),
            text: "Add a monitor",
            href: "/monitors/new",
            link: "New monitor",
            offered: auth.may_write(),
        },
        Step {
            done: !channels.is_empty(),
            text: "Add a channel to be alerted on",
            href: "/channels#new-channel",
            link: "Channels",
            offered: auth.may_admin(),
        },
        Step {
            done: !health.is_empty(),
            text: "Send it a test notification",
            href: "/channels",
            link: "Send test",
            offered: auth.may_admin(),
        },
        Step {
            done: health.iter().any(|h| h.last_delivered_at.is_some()),
            text: "See it delivered",
            href: "/deliveries",
            link: "Delivery log",
            offered: true,
        },
    ];
    // The read-only demo is a tour, not an account to set up.
    if auth.caller.is_demo() || steps.iter().all(|s| s.done) {
        return html! {};
    }
    let done = steps.iter().filter(|s| s.done).count();
    html! {
        section #first-run.guide aria-label="Getting started" {
            h2 { "Getting started " span.sub { (done) " of " (steps.len()) " done" } }
            ol {
                @for (i, s) in steps.iter().enumerate() {
                    li data-step=(i + 1) data-done=(if s.done { "yes" } else { "no" }) {
                        span.tick aria-hidden="true" { @if s.done { "✓" } @else { (i + 1) } }
                        span.text { (s.text) @if s.done { span.visually-hidden { " (done)" } } }
                        @if s.offered { " " a href=(s.href) { (s.link) " →" } }
                    }
                }
            }
        }
    }
}
