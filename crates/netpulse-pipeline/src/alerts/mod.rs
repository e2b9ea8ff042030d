//! Alert delivery: the outbox dispatcher and the channels it sends through.
//!
//! One file per channel kind renders a notice in that channel's format: [`webhook`] (signed
//! JSON), [`slack`], [`discord`], [`teams`], [`pagerduty`] (Events API v2), [`email`]
//! (through the small SMTP client in [`smtp`]), and the push, chat and incident services
//! [`ntfy`], [`telegram`], [`gotify`], [`pushover`], [`opsgenie`], [`matrix`],
//! [`google_chat`] and the user-written [`templated_webhook`]. [`message`] is what they all
//! say and [`post`] the shared HTTP send and answer classification. Each HTTP channel is its
//! request builder: [`Sender::request`] picks it by kind, and [`Sender::send`] sends what it
//! built.
//!
//! Notices are written to the outbox by ingest, in the transaction that caused them. The
//! dispatcher claims due rows (leasing them), sends each once per attempt, and records the
//! outcome: sent; retry later with exponential backoff (`alerts.retry_base_ms`, doubling, max 1 h) or the
//! receiver's `Retry-After`, whichever is later; or failed for good (a 4xx other than
//! 408/425/429, or `alerts.max_attempts` reached). Each row's dedup key is unique per channel,
//! so a transition is queued once however often its result is redelivered. Before claiming,
//! each pass runs the [`netpulse_store::timers`] sweep, so reminders and escalation fall due on time.
//! Each pass also delivers the notices owed to status-page subscribers ([`subscribers`]: one
//! per subscriber and incident update, queued by the store when the update is posted), with
//! the same retries and backoff.
//! [`Dispatcher::drain`] delivers what is due while the loop runs (tests call it instead of
//! polling a receiver).

pub mod discord;
pub mod email;
pub mod google_chat;
pub mod gotify;
pub mod matrix;
pub mod message;
pub mod ntfy;
pub mod opsgenie;
pub mod pagerduty;
pub mod post;
pub mod pushover;
pub mod slack;
pub mod smtp;
pub mod storm;
pub mod subscribers;
pub mod teams;
pub mod telegram;
pub mod templated_webhook;
pub mod webhook;

use crate::metrics::Metrics;
use crate::progress::{PassGate, Progress};
use netpulse_checker::http::HttpClient;
use netpulse_core::alert::{AlertEvent, VisitorsSaw};
use netpulse_core::Timestamp;
use netpulse_store::clock;
use netpulse_store::{
    ChannelKind, ChannelRecord, Delivery, DeliveryResult, Evidence, OutboxItem, Store, SubscriberNotice,
};
use post::Outbound;
use serde::Deserialize;
use smtp::SmtpConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tracing::Instrument;

const LEASE_MS: i64 = 120_000;
const MAX_BACKOFF_MS: i64 = 3_600_000;

/// Alert delivery (`[alerts]`): the dispatcher's pace, retries and storm control.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    pub poll_interval_ms: u64,
    pub max_attempts: u32,
    pub retry_base_ms: i64,
    pub timeout_ms: u64,
    /// Storm control, the default of every organisation that sets none of its own
    /// (`storm_threshold`/`storm_window_s` in `/api/v1/settings/alerting`): this many monitors
    /// paging within the window page once.
    pub storm_threshold: u32,
    pub storm_window_s: u32,
}

impl AlertsConfig {
    /// The engine's storm control, the default of every organisation that sets none.
    pub fn storm(&self) -> netpulse_core::storm::StormPolicy {
        netpulse_core::storm::StormPolicy { threshold: self.storm_threshold, window_s: self.storm_window_s }
    }

    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(100..=3_600_000).contains(&self.retry_base_ms) {
            return Err(("alerts.retry_base_ms", "must be between 100 and 3600000".into()));
        }
        if self.max_attempts == 0 {
            return Err(("alerts.max_attempts", "must be at least 1".into()));
        }
        if !(1..=3600).contains(&self.storm_window_s) {
            return Err(("alerts.storm_window_s", "must be between 1 and 3600 seconds".into()));
        }
        Ok(())
    }
}

/// The outcome of one attempt to deliver one notice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    Delivered {
        status: u16,
    },
    /// Worth retrying; `retry_after_ms` when the receiver asked for a delay; `status` when
    /// the receiver answered.
    Transient {
        error: String,
        retry_after_ms: Option<i64>,
        status: Option<u16>,
    },
    Permanent {
        error: String,
        status: Option<u16>,
    },
}

impl Attempt {
    /// The receiver's status code, when it answered (250 for an accepted mail).
    pub fn status(&self) -> Option<u16> {
        match self {
            Attempt::Delivered { status } => Some(*status),
            Attempt::Transient { status, .. } | Attempt::Permanent { status, .. } => *status,
        }
    }
}

/// Sends notices through channels.
#[derive(Clone)]
pub struct Sender {
    pub http: HttpClient,
    pub base_url: String,
    pub timeout: Duration,
    /// The `[smtp]` section, for e-mail channels.
    pub smtp: Arc<SmtpConfig>,
}

/// What e-mail channels answer while no SMTP server is configured.
pub const NO_SMTP: &str = "e-mail channels need an SMTP server: set smtp.host and smtp.from in the configuration";

impl Sender {
    /// One delivery attempt of `event` to `channel`, in the channel's format.
    pub async fn send(&self, channel: &ChannelRecord, event: &AlertEvent) -> Attempt {
        if channel.kind == ChannelKind::Email {
            return self.send_email(channel, event).await;
        }
        match self.request(channel, event) {
            Ok(out) => post::send(&self.http, out, self.timeout).await,
            Err(error) => Attempt::Permanent { error, status: None },
        }
    }

    /// The HTTP request that delivers `event` through `channel` (every kind but e-mail), or
    /// why the channel cannot send (a setting it needs is missing).
    pub fn request(&self, channel: &ChannelRecord, event: &AlertEvent) -> Result<Outbound, String> {
        let (base, url, secret) = (self.base_url.as_str(), channel.url.as_str(), channel.secret.expose());
        Ok(match channel.kind {
            ChannelKind::Webhook => {
                let body = webhook::render(event, base);
                let headers = webhook::headers(event, secret, clock::now().millis() / 1000, &body);
                Outbound::json(url, headers, body)
            }
            ChannelKind::Slack => Outbound::json(url, vec![], slack::render(event, base)),
            ChannelKind::Discord => Outbound::json(url, vec![], discord::render(event, base)),
            ChannelKind::Teams => Outbound::json(url, vec![], teams::render(event, base)),
            ChannelKind::Pagerduty => Outbound::json(url, vec![], pagerduty::render(event, secret, base)),
            ChannelKind::Ntfy => ntfy::request(channel, event, base)?,
            ChannelKind::Telegram => telegram::request(channel, event, base)?,
            ChannelKind::Gotify => gotify::request(channel, event, base)?,
            ChannelKind::Pushover => pushover::request(channel, event, base)?,
            ChannelKind::Opsgenie => opsgenie::request(channel, event, base)?,
            ChannelKind::Matrix => matrix::request(channel, event, base)?,
            ChannelKind::GoogleChat => google_chat::request(channel, event, base),
            ChannelKind::TemplatedWebhook => templated_webhook::request(channel, event, base)?,
            ChannelKind::Email => return Err("e-mail channels are not sent over HTTP".into()),
        })
    }

    async fn send_email(&self, channel: &ChannelRecord, event: &AlertEvent) -> Attempt {
        let to = match email::parse_recipients(&channel.url) {
            Ok(to) => to,
            Err(e) => return Attempt::Permanent { error: format!("recipients: {e}"), status: None },
        };
        let message = email::render(event, &self.smtp.from, &to, &self.base_url, email::date_now());
        self.mail(&to, &message).await
    }

    /// One attempt to hand `message` for `to` to the configured SMTP server.
    pub(crate) async fn mail(&self, to: &[String], message: &str) -> Attempt {
        if !self.smtp.is_configured() {
            return Attempt::Permanent { error: NO_SMTP.into(), status: None };
        }
        let from = self.smtp.from.as_str();
        match smtp::send(&self.smtp, smtp::Mail { from, to, message }, self.timeout).await {
            Ok(()) => Attempt::Delivered { status: 250 },
            Err(e) if e.transient => Attempt::Transient { error: e.message, retry_after_ms: None, status: None },
            Err(e) => Attempt::Permanent { error: e.message, status: None },
        }
    }
}

/// The kind-specific setting `key` of `channel` (stored in its `settings`), or why it cannot send.
pub fn setting<'a>(channel: &'a ChannelRecord, key: &str) -> Result<&'a str, String> {
    match channel.settings.get(key).and_then(serde_json::Value::as_str) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(format!("the channel has no `{key}`; set it with PATCH /api/v1/channels/{}", channel.id)),
    }
}

/// `Retry-After` as delay-seconds or an HTTP-date, in milliseconds from `now`.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<i64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<i64>() {
        return Some(secs.max(0) * 1000);
    }
    let date = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    Some(((date.unix_timestamp() * 1000) - now.millis()).max(0))
}

/// When to try again after `attempts` failed attempts, starting from `base_ms`.
pub fn next_attempt_delay_ms(base_ms: i64, attempts: u32, retry_after_ms: Option<i64>) -> i64 {
    let backoff = base_ms.saturating_mul(1 << attempts.min(20)).min(MAX_BACKOFF_MS);
    retry_after_ms.map_or(backoff, |r| r.clamp(backoff, MAX_BACKOFF_MS))
}

/// The outbox dispatcher.
pub struct Dispatcher {
    pub store: Arc<dyn Store>,
    pub sender: Sender,
    pub metrics: Arc<Metrics>,
    pub policy: RetryPolicy,
    /// With several engine nodes: dispatch only while holding the `alerts` lease (the outbox
    /// rows are leased one by one too; this keeps one node sending).
    pub lease: Option<crate::lease::Lease>,
    /// Storm control ([`storm`]): many monitors paging at once page once per channel.
    pub storm: netpulse_core::storm::StormPolicy,
    /// The loop's passes, which [`Dispatcher::drain`] waits for and holds back.
    pub passes: PassGate,
    /// Notified when notices were written (by ingest): the loop's idle sleep ends.
    pub wake: Arc<Notify>,
}

/// The longest idle sleep of a dispatcher alone on a store that does not say when it was
/// given work (see [`ALONE_SLEEP_MAX`]): how late a retry, reminder or escalation timer, or a
/// notice written outside ingest (an incident acknowledged in the API, a maintenance window)
/// may be picked up after a quiet spell.
pub const IDLE_POLL_MAX: Duration = Duration::from_secs(2);

/// The longest sleep of a dispatcher alone on a store that tells it of every notice, storm
/// and timer it commits (SQLite, [`netpulse_store::ChannelStore::alert_work_written`]): it
/// sleeps until the next work is due ([`netpulse_store::ChannelStore::next_alert_work`]) or
/// it is told, and at most this long.
pub const ALONE_SLEEP_MAX: Duration = Duration::from_secs(60);

/// How often and how long to retry a notification.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_ms: i64,
}

impl Dispatcher {
    /// Claim and deliver what is due now (up to 32 notices). Progressed when it claimed any,
    /// even if storm control grouped them all (the storm's own notice is then due).
    pub async fn try_run_once(&self) -> Progress {
        if let Some(lease) = &self.lease {
            if !lease.hold(clock::now()).await {
                return Progress::Idle;
            }
        }
        let now = clock::now();
        if let Err(e) = netpulse_store::timers::sweep(&*self.store, now).await {
            tracing::warn!(error = %e, "cannot sweep reminder and escalation timers; will retry");
        }
        if let Err(e) = storm::settle(&*self.store, now, &self.storm).await {
            tracing::warn!(error = %e, "cannot settle alert storms; will retry");
        }
        let claimed = match self.store.claim_outbox(now, 32, LEASE_MS).await {
            Ok(claimed) if claimed.is_empty() => Ok(claimed),
            Ok(claimed) => storm::screen(&*self.store, claimed, now, &self.storm).await,
            Err(e) => Err(e),
        };
        let items = claimed.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the alert outbox; will retry");
            Vec::new()
        });
        let notices = self.store.claim_subscriber_notices(now, 32, LEASE_MS).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the status-page subscribers' notices; will retry");
            Vec::new()
        });
        if items.is_empty() && notices.is_empty() {
            return Progress::Idle;
        }
        let mut sends = tokio::task::JoinSet::new();
        for item in items {
            let this = (self.sender.clone(), self.store.clone(), self.metrics.clone(), self.policy);
            let span = tracing::info_span!("deliver", channel = %item.channel.id, tenant = %item.channel.tenant_id, key = %item.event.dedup_key);
            sends.spawn(deliver(this.0, this.1, this.2, this.3, item).instrument(span));
        }
        for notice in notices {
            let this = (self.sender.clone(), self.store.clone(), self.metrics.clone(), self.policy);
            let span = tracing::info_span!("notify_subscriber", subscriber = %notice.subscriber.id, tenant = %notice.tenant_id, subject = %notice.subject.id());
            sends.spawn(notify_subscriber(this.0, this.1, this.2, this.3, notice).instrument(span));
        }
        while sends.join_next().await.is_some() {}
        Progress::Progressed
    }

    /// How long an idle dispatcher alone may sleep: until the store's next alert work is due
    /// (`poll` when it is due already — a storm in progress, a notice whose channel is gone —
    /// or the store cannot say), at most [`ALONE_SLEEP_MAX`].
    pub async fn until_next_work(&self, poll: Duration) -> Duration {
        match self.store.next_alert_work().await {
            Ok(Some(at)) => match at.since(clock::now()) {
                ms if ms <= 0 => poll,
                ms => Duration::from_millis(ms as u64).min(ALONE_SLEEP_MAX),
            },
            Ok(None) => ALONE_SLEEP_MAX,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read when alert work is next due; will retry");
                poll
            }
        }
    }

    /// Deliver every notice due now: waits for the loop's pass in flight, holds its next one
    /// back, and runs passes until one finds nothing due. Each notice due before the call is
    /// then sent, scheduled for a retry, or failed for good (a storm's own notice, queued by a
    /// pass, goes out too). With several nodes, one that does not hold the `alerts` lease
    /// delivers nothing: its passes are idle.
    pub async fn drain(&self) {
        let _alone = self.passes.alone().await;
        while self.try_run_once().await == Progress::Progressed {}
    }

    /// Pass after pass until `stop`, sleeping `poll` after an idle one. Alone (no lease, so
    /// every notice is written by this node), consecutive idle passes double the sleep up to
    /// [`IDLE_POLL_MAX`] — or, on a store that tells it of new work, it sleeps until the next
    /// work is due ([`Dispatcher::until_next_work`]) — and [`Dispatcher::wake`] (ingest wrote
    /// notices) or the store's signal ends the sleep at once: an idle engine does not wake for
    /// nothing.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>, poll: Duration) {
        let mut sleep = poll;
        let told = self.store.alert_work_written().filter(|_| self.lease.is_none());
        while !*stop.borrow() {
            let pass = self.passes.pass().await;
            let progress = self.try_run_once().await;
            drop(pass);
            if progress == Progress::Progressed {
                sleep = poll;
                continue;
            }
            let nap = match &told {
                Some(_) => self.until_next_work(sleep).await,
                None => sleep,
            };
            let store_told = async {
                match &told {
                    Some(n) => n.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = self.wake.notified() => {}
                _ = store_told => {}
                Ok(()) = stop.changed() => {}
            }
            if self.lease.is_none() {
                sleep = (sleep * 2).min(IDLE_POLL_MAX.max(poll));
            }
        }
        if let Some(lease) = &self.lease {
            lease.release().await;
        }
    }
}

async fn deliver(sender: Sender, store: Arc<dyn Store>, metrics: Arc<Metrics>, policy: RetryPolicy, item: OutboxItem) {
    let event = with_visitors(store.as_ref(), &item.event).await;
    let attempt = sender.send(&item.channel, event.as_ref().unwrap_or(&item.event)).await;
    let delivery = judge(attempt, item.attempts, &metrics, policy);
    if let Err(e) = store.record_delivery(&item, delivery).await {
        tracing::error!(error = %e, "could not record delivery; it will be retried after its lease");
    }
}

/// `event` with what the monitor's real visitors saw, when it is a notice of an outage and
/// every real-visitor source of the monitor is opted in to alerts; `None` otherwise (or when
/// the store cannot say: the notice goes out without it).
async fn with_visitors(store: &dyn Store, event: &AlertEvent) -> Option<AlertEvent> {
    let (m, since) = (event.monitor_id.as_ref()?, event.visitors_since()?);
    let t = &event.tenant_id;
    let sources = store
        .visit_sources(t, Some(m))
        .await
        .map_err(|e| tracing::warn!(error = %e, "reading visitor sources"))
        .ok()?;
    if sources.is_empty() || !sources.iter().all(|s| s.in_alerts) {
        return None;
    }
    let range = (since, event.at.plus_ms(1));
    let tallies = store
        .visit_tallies(t, std::slice::from_ref(m), range, Evidence::Live)
        .await
        .map_err(|e| tracing::warn!(error = %e, "reading what real visitors saw"))
        .ok()?;
    let seen = tallies.get(m).copied().unwrap_or_default();
    let visitors = Some(VisitorsSaw { since, loads: seen.loads, failed: seen.failed });
    Some(AlertEvent { visitors, ..event.clone() })
}

async fn notify_subscriber(
    sender: Sender,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    policy: RetryPolicy,
    notice: SubscriberNotice,
) {
    let attempt = sender.notify_subscriber(&notice).await;
    let delivery = judge(attempt, notice.attempts, &metrics, policy);
    if let Err(e) = store.record_subscriber_notice(notice.id, &delivery).await {
        tracing::error!(error = %e, "could not record a subscriber notice; it will be retried after its lease");
    }
}

/// What attempt number `attempts + 1` means for its row: sent, retried later (backoff, or the
/// receiver's `Retry-After`), or failed for good; counted and logged.
fn judge(attempt: Attempt, attempts: u32, metrics: &Metrics, policy: RetryPolicy) -> Delivery {
    let now = clock::now();
    let status = attempt.status();
    let result = match attempt {
        Attempt::Delivered { status } => {
            metrics.alerts_sent.add(1);
            tracing::info!(status, "notification delivered");
            DeliveryResult::Sent
        }
        Attempt::Transient { error, retry_after_ms, .. } if attempts + 1 < policy.max_attempts => {
            metrics.alerts_retried.add(1);
            let delay = next_attempt_delay_ms(policy.base_ms, attempts, retry_after_ms);
            tracing::warn!(%error, retry_in_ms = delay, "delivery failed; will retry");
            DeliveryResult::Retry { next_at: now.plus_ms(delay), error }
        }
        Attempt::Transient { error, .. } | Attempt::Permanent { error, .. } => {
            metrics.alerts_failed.add(1);
            tracing::error!(%error, "delivery failed for good");
            DeliveryResult::Failed { error }
        }
    };
    Delivery { at: now, status, result }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_honours_retry_after() {
        assert_eq!(next_attempt_delay_ms(5_000, 0, None), 5_000);
        assert_eq!(next_attempt_delay_ms(5_000, 1, None), 10_000);
        assert_eq!(next_attempt_delay_ms(5_000, 30, None), MAX_BACKOFF_MS);
        assert_eq!(next_attempt_delay_ms(5_000, 0, Some(60_000)), 60_000, "a longer Retry-After wins");
        assert_eq!(next_attempt_delay_ms(5_000, 3, Some(1_000)), 40_000, "never sooner than the backoff");
        assert_eq!(next_attempt_delay_ms(5_000, 0, Some(99_999_999)), MAX_BACKOFF_MS);
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = Timestamp::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(parse_retry_after("120", now), Some(120_000));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:29:00 GMT", now), Some(60_000));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
