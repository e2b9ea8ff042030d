//! The gateway's HTTP/1.1 protocol, JSON bodies of `core::wire` types:
//! `POST /v1/lease` (long poll for the certificate's region) and `POST /v1/results`
//! (answered once the results are durable, so an ack means "safe to forget": published to
//! Redis, or stored by ingest when the queue is the in-process one).
//! Every request re-checks the certificate against the registry; a peer speaking another
//! wire version gets 409 with the reason.

use super::{Identity, Shared};
use crate::queue::QueueError;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use netpulse_core::wire::{
    LeaseRequest, LeaseResponse, RefusedResult, ResultAck, ResultBatch, VersionMismatch, WireError, WIRE_HEADER,
    WIRE_VERSION,
};
use netpulse_core::{TenantId, Timings};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

const MAX_BODY: usize = 16 * 1024 * 1024;
const MAX_LEASE: u32 = 1000;
/// How long a results request waits for ingest to store its results (in-process queue).
pub const DURABLE_WAIT: Duration = Duration::from_secs(10);

type Answer = Response<Full<Bytes>>;

fn json<T: Serialize>(status: StatusCode, body: &T) -> Answer {
    let bytes = serde_json::to_vec(body).expect("wire types serialize");
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    *r.status_mut() = status;
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    r.headers_mut().insert(WIRE_HEADER, http::HeaderValue::from(WIRE_VERSION));
    r
}

fn refuse(status: StatusCode, code: &str, message: impl Into<String>) -> Answer {
    json(status, &WireError { code: code.into(), message: message.into() })
}

fn mismatch(peer: u16) -> Answer {
    refuse(StatusCode::CONFLICT, "wire_version", VersionMismatch { peer }.to_string())
}

/// One request from an authenticated worker.
pub async fn handle(shared: Arc<Shared>, id: Arc<Identity>, req: Request<Incoming>) -> Result<Answer, Infallible> {
    if let Err(r) = shared.trust.check(&id) {
        tracing::warn!(worker = %id.worker(), reason = %r, "request refused");
        return Ok(refuse(StatusCode::FORBIDDEN, "certificate_refused", r.to_string()));
    }
    let header = req.headers().get(WIRE_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u16>().ok());
    match header {
        Some(WIRE_VERSION) => {}
        Some(peer) => return Ok(mismatch(peer)),
        None => {
            let msg = format!("missing or unreadable {WIRE_HEADER} header; this build speaks v{WIRE_VERSION}");
            return Ok(refuse(StatusCode::CONFLICT, "wire_version", msg));
        }
    }
    let path = req.uri().path().to_owned();
    Ok(match (req.method(), path.as_str()) {
        (&Method::POST, "/v1/lease") => match body::<LeaseRequest>(req).await {
            Ok(l) => lease(&shared, &id, l).await,
            Err(a) => a,
        },
        (&Method::POST, "/v1/results") => match body::<ResultBatch>(req).await {
            Ok(b) => results(&shared, &id, b).await,
            Err(a) => a,
        },
        _ => refuse(StatusCode::NOT_FOUND, "not_found", "routes: POST /v1/lease, POST /v1/results"),
    })
}

async fn body<T: DeserializeOwned>(req: Request<Incoming>) -> Result<T, Answer> {
    let bytes = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, "body", format!("cannot read the body: {e}")))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| refuse(StatusCode::BAD_REQUEST, "json", e.to_string()))
}

/// Jobs for the certificate's region only; whatever region the body might claim is ignored.
async fn lease(shared: &Shared, id: &Identity, l: LeaseRequest) -> Answer {
    if l.version != WIRE_VERSION {
        return mismatch(l.version);
    }
    let now = netpulse_store::clock::now();
    shared.fleet.seen(id, Some((&l.agent, l.in_flight)), now);
    let wait = Duration::from_millis(u64::from(l.wait_ms)).min(shared.fleet.lease_period());
    let jobs = shared.fleet.take(&id.region, l.max_jobs.clamp(1, MAX_LEASE) as usize, wait, now).await;
    shared.fleet.seen(id, None, netpulse_store::clock::now());
    json(StatusCode::OK, &LeaseResponse { version: WIRE_VERSION, region: id.region.clone(), worker: id.worker(), jobs })
}

/// Publish every result with the region and worker of the certificate and the tenant of its
/// monitor, then acknowledge: with the in-process queue only once ingest stored them all
/// (503 `not_stored` after [`DURABLE_WAIT`]: the worker keeps them and sends them again).
/// A result for a monitor that does not check from the certificate's region (or does not
/// exist), or one that started before the raw-retention horizon
/// ([`crate::retention::RetentionConfig::accepts_from`]), or one with a timing longer than
/// [`Timings::MAX_MS`] (it would not fit the stores' int4 columns), is refused: logged, not stored,
/// listed in the ack's `refused` with why, and still acknowledged so the worker does not
/// resend it forever. Once published, the jobs the results answer are done
/// ([`super::fleet::Fleet::jobs_done`]): no other worker is handed them.
async fn results(shared: &Shared, id: &Identity, batch: ResultBatch) -> Answer {
    if batch.version != WIRE_VERSION {
        return mismatch(batch.version);
    }
    if let Some(bad) = batch.results.iter().find(|e| e.check_version().is_err()) {
        return mismatch(bad.version);
    }
    let n = batch.results.len();
    let answered: Vec<String> = batch.results.iter().filter_map(|e| e.job.clone()).collect();
    shared.fleet.seen(id, None, netpulse_store::clock::now());
    let mut envs = Vec::with_capacity(n);
    let mut refused = Vec::new();
    let from = shared.retention.accepts_from(netpulse_store::clock::now());
    for mut env in batch.results {
        let Some(tenant) = shared.directory.tenant_for(&env.result.monitor_id, &id.region).await else {
            tracing::warn!(worker = %id.worker(), monitor = %env.result.monitor_id, "refused a result for a monitor that does not check from this worker's region");
            refused.push(RefusedResult {
                id: env.result.id,
                code: "unknown_monitor".into(),
                message: format!("no monitor {} checks from region {}", env.result.monitor_id, id.region),
            });
            continue;
        };
        if env.result.started_at < from {
            let message = format!(
                "started at {}, before the raw-retention horizon {}: too old to be counted once",
                env.result.started_at.to_rfc3339(),
                from.to_rfc3339()
            );
            tracing::warn!(worker = %id.worker(), monitor = %env.result.monitor_id, result = %env.result.id, "refused a result: {message}");
            shared.metrics.results_too_old.add(1);
            refused.push(RefusedResult { id: env.result.id, code: "too_old".into(), message });
            continue;
        }
        if let Some((field, ms)) = env.result.timings.implausible() {
            let message =
                format!("{field} {ms} is longer than {} ms (one day), longer than any check can take", Timings::MAX_MS);
            tracing::warn!(worker = %id.worker(), monitor = %env.result.monitor_id, result = %env.result.id, "refused a result: {message}");
            refused.push(RefusedResult { id: env.result.id, code: "implausible_timing".into(), message });
            continue;
        }
        env.result.tenant_id = tenant;
        env.result.region = id.region.clone();
        env.result.worker = id.worker();
        envs.push(env);
    }
    let ticket = shared.commits.as_ref().map(|c| c.expect(envs.iter().map(|e| e.result.id.clone())));
    let mut accepted = HashMap::<TenantId, u64>::new();
    for env in &envs {
        *accepted.entry(env.result.tenant_id.clone()).or_default() += 1;
    }
    // All or none: on a refusal the worker keeps the whole batch and sends it again.
    match shared.results.publish_many(envs).await {
        Ok(()) => {}
        Err(QueueError::Closed) => {
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "the engine is stopping; retry later")
        }
        Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, "queue_unavailable", e.to_string()),
    }
    shared.fleet.jobs_done(&id.region, &answered).await;
    let now = netpulse_store::clock::now();
    for (tenant, count) in &accepted {
        shared.fleet.accepted(&id.region, Some(id), tenant, *count, now);
    }
    if let Some(t) = ticket {
        if !t.wait(DURABLE_WAIT).await {
            tracing::warn!(worker = %id.worker(), results = n, "results not stored in time; the worker sends them again");
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "not_stored", "results not stored yet; send them again");
        }
    }
    json(StatusCode::OK, &ResultAck { version: WIRE_VERSION, accepted: (n - refused.len()) as u32, refused })
}
