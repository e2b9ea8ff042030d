//! The delivery log, on every backend: each attempt at an outbox row is logged with its
//! answer in the same write that moves the row on (retry, then failed for good); a channel's
//! health is its newest attempt, failing since the first failure after its last delivery;
//! the log reads newest first, pages by id and filters by channel and incident; a test send
//! joins it; another tenant sees nothing; retention ages it out with the outbox.

use super::*;
use netpulse_store::{AttemptOutcome, AttemptQuery, Delivery, DeliveryAttempt, DeliveryResult};

fn delivery(at_s: i64, status: Option<u16>, result: DeliveryResult) -> Delivery {
    Delivery { at: Timestamp::from_secs(at_s), status, result }
}

pub async fn every_attempt_is_logged_and_a_channel_fails_until_it_delivers(backend: Backend) {
    let (store, t, m) = setup(backend).await;
    let down = [result(&t, &m, 100, Outcome::Down), result(&t, &m, 160, Outcome::Down)];
    store.ingest(&down, Timestamp::from_secs(200)).await.unwrap();
    let ch = store.list_channels(&t).await.unwrap().remove(0);
    assert!(store.channel_health(&t).await.unwrap().is_empty(), "no attempt yet, no health");

    let item = store.claim_outbox(Timestamp::from_secs(200), 10, 60_000).await.unwrap().remove(0);
    let error = "receiver answered HTTP 500".to_owned();
    let retry = DeliveryResult::Retry { next_at: Timestamp::from_secs(205), error: error.clone() };
    store.record_delivery(&item, delivery(201, Some(500), retry)).await.unwrap();
    let item = store.claim_outbox(Timestamp::from_secs(205), 10, 60_000).await.unwrap().remove(0);
    assert_eq!(item.attempts, 1);
    let failed = DeliveryResult::Failed { error: "could not connect: connection refused".into() };
    store.record_delivery(&item, delivery(206, None, failed)).await.unwrap();
    assert!(store.claim_outbox(Timestamp::from_secs(999), 10, 60_000).await.unwrap().is_empty(), "failed for good");

    let all = AttemptQuery { limit: 10, ..AttemptQuery::default() };
    let log = store.delivery_attempts(&t, &all).await.unwrap();
    let seen: Vec<(u32, AttemptOutcome, Option<u16>)> =
        log.iter().map(|a| (a.attempt, a.outcome, a.http_status)).collect();
    assert_eq!(seen, [(2, AttemptOutcome::Failed, None), (1, AttemptOutcome::Retrying, Some(500))], "newest first");
    let newest = &log[0];
    assert_eq!((newest.channel_id.clone(), newest.channel_name.as_str()), (ch.id.clone(), "ops"));
    assert_eq!((newest.event.as_str(), newest.monitor_id.clone()), ("opened", Some(m.clone())));
    assert!(newest.incident_id.is_some() && newest.dedup_key.ends_with(":opened"), "{newest:?}");
    assert_eq!(log[1].error.as_deref(), Some(error.as_str()));
    assert_eq!(log[1].next_attempt_at, Some(Timestamp::from_secs(205)));

    let health = store.channel_health(&t).await.unwrap();
    assert_eq!(health.len(), 1);
    assert!(health[0].is_failing());
    assert_eq!((health[0].failing_since, health[0].last_delivered_at), (Some(Timestamp::from_secs(201)), None));
    assert_eq!(health[0].last.error.as_deref(), Some("could not connect: connection refused"));

    // Paging, filters, another tenant.
    let page = AttemptQuery { before: Some(log[0].id), limit: 10, ..AttemptQuery::default() };
    assert_eq!(store.delivery_attempts(&t, &page).await.unwrap().len(), 1);
    let by_incident = AttemptQuery { incident: newest.incident_id.clone(), limit: 10, ..AttemptQuery::default() };
    assert_eq!(store.delivery_attempts(&t, &by_incident).await.unwrap().len(), 2);
    let other_channel = AttemptQuery { channel: Some(fresh()), limit: 10, ..AttemptQuery::default() };
    assert!(store.delivery_attempts(&t, &other_channel).await.unwrap().is_empty());
    let _ = register(&*store, "first@example.com", Timestamp::from_secs(300)).await; // joins `t`
    let (_, other) = register(&*store, "other@example.com", Timestamp::from_secs(300)).await;
    assert_ne!(other, t);
    assert!(store.delivery_attempts(&other, &all).await.unwrap().is_empty(), "tenant-scoped");
    assert!(store.channel_health(&other).await.unwrap().is_empty(), "tenant-scoped");

    // A test send that gets through makes the channel healthy again.
    let mut test = item.event.clone();
    (test.kind, test.dedup_key, test.incident_id, test.monitor_id) =
        (netpulse_core::alert::AlertKind::Test, "test:1".into(), None, None);
    let sent = DeliveryAttempt::of(&ch, &test, 1, &delivery(300, Some(200), DeliveryResult::Sent));
    store.record_test_delivery(&t, &sent).await.unwrap();
    let health = store.channel_health(&t).await.unwrap();
    assert!(!health[0].is_failing(), "{health:?}");
    assert_eq!((health[0].failing_since, health[0].last_delivered_at), (None, Some(Timestamp::from_secs(300))));
    assert_eq!(health[0].last.event, "test");
    assert_eq!(store.delivery_attempts(&t, &all).await.unwrap().len(), 3);
}
