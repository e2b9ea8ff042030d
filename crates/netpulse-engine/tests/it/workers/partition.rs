//! A worker cut off from the gateway for 30 s by a real break of the link: a TCP relay on
//! 127.0.0.1 between worker and gateway that the test cuts (every live connection dropped,
//! new ones refused) and later restores. Checks keep running during the cut; after the
//! reconnect every result produced in it is stored exactly once, the monitor stays up (no
//! flap, no page), and re-sending a flushed batch or reloading a stale outbox file adds nothing.

use super::{all_results, bundle, duplicates, engine, gateway, ids_of, raw, worker_at, WIRE};
use crate::harness::{wait_for, Receiver, Target};
use netpulse_core::wire::WIRE_VERSION;
use serde_json::json;
use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the link stays cut.
const CUT: Duration = Duration::from_secs(30);

/// A TCP relay between a worker and the gateway that the test can cut (drop every live
/// connection, refuse new ones) and restore.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(to: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let live: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (up2, live2) = (up.clone(), live.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound); // refused: closed at once
                    continue;
                }
                let relay = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                let mut live = live2.lock().unwrap();
                live.retain(|h| !h.is_finished());
                live.push(relay.abort_handle());
            }
        });
        Self { addr, up, live, accept }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.live.lock().unwrap().drain(..).for_each(|h| h.abort());
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

#[tokio::test]
async fn a_worker_cut_off_for_30_s_delivers_what_it_checked_exactly_once_without_a_flap() {
    let (app, tmp) = engine(&["eu"]).await;
    let target = Target::start().await;
    let hooks = Receiver::start().await;
    app.create_webhook(&hooks).await;
    let b = tmp.path().join("b-eu");
    bundle(&b, tmp.path(), tmp.path(), "eu", "eu-1");
    let proxy = Proxy::start(gateway(&app)).await;
    let w = worker_at(&proxy.addr.to_string(), &b);
    let id = app
        .create_monitor(
            json!({"name": "site", "kind": "http", "url": target.url(), "interval_s": 1, "regions": ["eu"]}),
        )
        .await;
    wait_for(20, "3 results from eu and the monitor up", || async {
        let up = app.monitor(&id).await["status"]["health"] == "up";
        (up && all_results(&app, &id).await.len() >= 3).then_some(())
    })
    .await;

    // Whatever waits in the outbox at the cut may have crossed already (an ack lost in the
    // cut); what the worker produces from here on cannot have.
    let waiting_at_cut = ids_of_envelopes(&w.outbox.peek(1000));
    let produced_at_cut = w.stats.produced.load(Ordering::SeqCst);
    let hits_at_cut = target.hits.load(Ordering::SeqCst);
    proxy.cut();
    let (mut healths, mut region_states) = (BTreeSet::new(), BTreeSet::new());
    let until = Instant::now() + CUT;
    while Instant::now() < until {
        healths.insert(health(&app, &id).await);
        region_states.insert(region_status(&app, "eu").await);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(!w.stats.connected.load(Ordering::SeqCst), "the worker noticed the cut");
    let buffered = w.outbox.peek(1000);
    let during: Vec<_> = buffered.iter().filter(|e| !waiting_at_cut.contains(e.result.id.as_str())).collect();
    let produced = w.stats.produced.load(Ordering::SeqCst) - produced_at_cut;
    assert!(during.len() >= 20, "checks kept running through the 30 s cut: {} results", during.len());
    assert_eq!(during.len() as u64, produced, "every result produced in the cut is buffered");
    assert_eq!(w.outbox.dropped.load(Ordering::SeqCst), 0);
    assert!(target.hits.load(Ordering::SeqCst) >= hits_at_cut + during.len(), "the checks reached the target");
    let stored = ids_of(&all_results(&app, &id).await);
    assert!(during.iter().all(|e| !stored.contains(e.result.id.as_str())), "nothing crossed the cut");
    assert!(region_states.contains("offline"), "eu showed as region offline during the cut: {region_states:?}");

    proxy.restore();
    wait_for(60, "every result of the cut stored after reconnecting", || async {
        let ids = ids_of(&all_results(&app, &id).await);
        (w.outbox.is_empty() && during.iter().all(|e| ids.contains(e.result.id.as_str()))).then_some(())
    })
    .await;
    wait_for(60, "leasing again and eu online", || async {
        let online = region_status(&app, "eu").await == "online";
        (w.stats.connected.load(Ordering::SeqCst) && online).then_some(())
    })
    .await;
    healths.insert(health(&app, &id).await);
    let after = all_results(&app, &id).await; // asserts that no id is stored twice
    for e in &during {
        assert_eq!(after.iter().filter(|r| r["id"] == e.result.id.as_str()).count(), 1, "{}", e.result.id);
    }
    assert_eq!(healths, BTreeSet::from(["up".to_owned()]), "the monitor stayed up: no flap");
    assert!(app.incidents(&id).await.is_empty(), "a cut-off worker opens no incident");
    assert!(hooks.events().is_empty(), "nobody was paged: {:?}", hooks.events());

    // A flushed batch sent again (an ack lost on the way back) is stored once.
    let batch: Vec<_> = during.iter().map(|e| (*e).clone()).collect();
    let dup_before = duplicates(&app);
    let body = json!({"version": WIRE_VERSION, "results": batch});
    let (status, ack) = raw(gateway(&app), &b, "/v1/results", &[("x-netpulse-wire", WIRE)], &body).await;
    assert_eq!((status, ack["accepted"].as_u64()), (200, Some(batch.len() as u64)), "{ack}");
    app.drain_ingest().await;
    let dups = duplicates(&app) - dup_before;
    assert!(dups >= batch.len() as u64, "the re-sent batch ingested as duplicates: {dups} of {}", batch.len());
    // The same after a restart that reloads an outbox file still holding delivered results.
    w.shutdown().await;
    let text: String = batch.iter().map(|e| serde_json::to_string(e).unwrap() + "\n").collect();
    std::fs::write(b.join("buffer").join("outbox.jsonl"), text).unwrap();
    let dup_before = duplicates(&app);
    let w = worker_at(&gateway(&app).to_string(), &b);
    wait_for(10, "the reloaded outbox to be flushed", || async {
        (w.outbox.is_empty() && duplicates(&app) >= dup_before + batch.len() as u64).then_some(())
    })
    .await;
    let after = all_results(&app, &id).await;
    for e in &batch {
        assert_eq!(after.iter().filter(|r| r["id"] == e.result.id.as_str()).count(), 1);
    }
    w.shutdown().await;
}

fn ids_of_envelopes(envs: &[netpulse_core::wire::ResultEnvelope]) -> HashSet<String> {
    envs.iter().map(|e| e.result.id.as_str().to_owned()).collect()
}

async fn health(app: &crate::harness::TestApp, monitor: &str) -> String {
    app.monitor(monitor).await["status"]["health"].as_str().unwrap_or("?").to_owned()
}

/// `online` / `offline` of `region` in `GET /api/v1/regions`.
async fn region_status(app: &crate::harness::TestApp, region: &str) -> String {
    let (_, v) = app.api("GET", "/api/v1/regions", None).await;
    let found = v["data"].as_array().and_then(|rs| rs.iter().find(|r| r["region"] == region).cloned());
    found.map_or_else(|| "missing".into(), |r| r["status"].as_str().unwrap_or("?").to_owned())
}
