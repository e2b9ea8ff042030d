//! Probes: run one [`CheckSpec`] against the network and turn what happened into a
//! [`ProbeReport`].
//!
//! [`run_check`] is the single entry point used by the engine's in-process checker and by
//! regional workers. It never panics and never returns an error: every failure becomes a
//! report with an outcome and an `error` an operator can act on. Failed attempts are retried
//! up to `retries` times after a short pause; the last attempt is reported.

mod dns;
mod grpc;
mod http;
mod ping;
mod tcp;
mod tls;
mod websocket;

use crate::error::HttpError;
use crate::guard::SsrfGuard;
use crate::http::HttpClient;
use crate::resolver::Resolver;
use netpulse_core::check::ProbeReport;
use netpulse_core::{CheckSpec, Outcome, Timestamp, Timings};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Pause between a failed attempt and the next one.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// What probes need: the HTTP client, whose resolver and SSRF guard they also use.
#[derive(Clone, Debug)]
pub struct ProbeContext {
    pub http: HttpClient,
}

impl ProbeContext {
    pub fn new(http: HttpClient) -> Self {
        Self { http }
    }
    pub fn resolver(&self) -> &Resolver {
        self.http.resolver()
    }
    pub fn guard(&self) -> &SsrfGuard {
        self.http.guard()
    }
}

/// Run `spec` with `timeout` per attempt, retrying failed attempts up to `retries` times.
pub async fn run_check(spec: &CheckSpec, timeout: Duration, retries: u8, ctx: &ProbeContext) -> ProbeReport {
    let mut report = attempt(spec, timeout, ctx).await;
    for _ in 0..retries {
        if !worth_retrying(&report) {
            break;
        }
        tokio::time::sleep(RETRY_PAUSE).await;
        report = attempt(spec, timeout, ctx).await;
    }
    report
}

async fn attempt(spec: &CheckSpec, timeout: Duration, ctx: &ProbeContext) -> ProbeReport {
    match spec {
        CheckSpec::Http(s) => http::probe(s, timeout, ctx).await,
        CheckSpec::Tcp(s) => tcp::probe(s, timeout, ctx).await,
        CheckSpec::Dns(s) => dns::probe(s, timeout, ctx).await,
        CheckSpec::Tls(s) => tls::probe(s, timeout, ctx, now()).await,
        CheckSpec::WebSocket(s) => websocket::probe(s, timeout, ctx).await,
        CheckSpec::Ping(s) => ping::probe(s, timeout, ctx).await,
        CheckSpec::Grpc(s) => grpc::probe(s, timeout, ctx).await,
        CheckSpec::Heartbeat(_) => ProbeReport::failed(
            Outcome::Error,
            "heartbeat monitors are evaluated by the engine from received beats, not probed",
            Timings::default(),
        ),
    }
}

/// Down results may be transient; `Error` (SSRF refusal, heartbeat) will not change.
fn worth_retrying(report: &ProbeReport) -> bool {
    report.outcome == Outcome::Down
}

/// A transport failure as a report: SSRF refusals are `Error` (the check was not carried
/// out), everything else `Down`.
fn transport_failure(err: &HttpError, timings: Timings) -> ProbeReport {
    let outcome = match err {
        HttpError::Refused(_) => Outcome::Error,
        _ => Outcome::Down,
    };
    ProbeReport::failed(outcome, err.to_string(), timings)
}

/// Up, or degraded (with why) when the check took longer than `degraded_after_ms`.
fn slowness(total_ms: Option<u32>, degraded_after_ms: Option<u32>) -> (Outcome, Option<String>) {
    let total = total_ms.unwrap_or(0);
    match degraded_after_ms {
        Some(limit) if total > limit => (Outcome::Degraded, Some(format!("slow: {total} ms > {limit} ms threshold"))),
        _ => (Outcome::Up, None),
    }
}

/// Timings holding only the total.
fn total_only(ms: u32) -> Timings {
    Timings { total_ms: Some(ms), ..Timings::default() }
}

/// `N` unpredictable bytes (WebSocket keys and masks, ping tags). They need not be secret,
/// only unpredictable to intermediaries; should the system's generator fail, the clock's
/// nanoseconds do.
fn random_bytes<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; N];
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        let t = std::time::SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        b.iter_mut().enumerate().for_each(|(i, x)| *x = (t >> ((i % 16) * 8)) as u8);
    }
    b
}

fn now() -> Timestamp {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    Timestamp::from_millis(i64::try_from(ms).unwrap_or(i64::MAX))
}
