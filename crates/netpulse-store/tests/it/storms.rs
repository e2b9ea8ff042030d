//! Storm control rows, on every backend: grouping pending outbox rows, saving a storm and
//! queueing its notice commit together; a notice is queued once per dedup key; another
//! tenant sees nothing. An incident whose page was grouped says so (`grouped_notices`).

use super::*;
use netpulse_core::alert::{AlertEvent, AlertKind};
use netpulse_core::storm::{Member, Storm};

fn storm_event(t: &TenantId, key: &str, kind: AlertKind, members: Vec<Member>) -> AlertEvent {
    AlertEvent {
        kind,
        dedup_key: key.into(),
        tenant_id: t.clone(),
        incident_id: None,
        monitor_id: None,
        monitor_name: format!("{} monitors", members.len()),
        target: String::new(),
        at: Timestamp::from_secs(300),
        since: Some(Timestamp::from_secs(300)),
        error: None,
        regions: vec![],
        affected_regions: vec![],
        storm: members,
        visitors: None,
    }
}

pub async fn a_storm_groups_its_rows_and_queues_its_notice_once(backend: Backend) {
    let (store, t, m) = setup(backend).await;
    let down = [result(&t, &m, 100, Outcome::Down), result(&t, &m, 160, Outcome::Down)];
    store.ingest(&down, Timestamp::from_secs(200)).await.unwrap();
    let ch = store.list_channels(&t).await.unwrap().remove(0).id;
    let pages = store.recent_pages(&t, &ch, Timestamp::from_secs(150)).await.unwrap();
    assert_eq!(pages.len(), 1, "the opened notice is a recent page");
    assert_eq!(pages[0].1.kind, AlertKind::Opened);
    assert!(store.recent_pages(&t, &ch, Timestamp::from_secs(201)).await.unwrap().is_empty(), "outside the window");

    let incident = pages[0].1.incident_id.clone();
    let inc = incident.clone().expect("an incident's page");
    assert!(store.grouped_notices(&t, &inc).await.unwrap().is_empty(), "not grouped yet");
    let member = Member { monitor: m.clone(), name: "db".into(), incident, recovered: false, paged: false };
    let key = format!("storm:{ch}:300000");
    let storm = Storm {
        key: key.clone(),
        started_at: Timestamp::from_secs(300),
        last_page_at: Timestamp::from_secs(300),
        members: vec![member.clone()],
        announced: 1,
        announced_at: Timestamp::from_secs(300),
    };
    let notice = storm_event(&t, &key, AlertKind::Storm, vec![member]);
    let grouped = [pages[0].0];
    store.save_storm(&t, &ch, Some(&storm), &grouped, Some(&notice), Timestamp::from_secs(300)).await.unwrap();
    store.save_storm(&t, &ch, Some(&storm), &grouped, Some(&notice), Timestamp::from_secs(301)).await.unwrap();
    assert_eq!(store.storm(&t, &ch).await.unwrap(), Some(storm.clone()));
    assert_eq!(store.active_storms().await.unwrap(), [(t.clone(), ch.clone())]);
    let due = store.claim_outbox(Timestamp::from_secs(400), 10, 60_000).await.unwrap();
    let kinds: Vec<AlertKind> = due.iter().map(|i| i.event.kind).collect();
    assert_eq!(kinds, [AlertKind::Storm], "the grouped page is not sent; the storm notice is, once");
    assert_eq!(due[0].event.storm.len(), 1);
    let log = store.list_deliveries(&t, &ch, 10).await.unwrap();
    let statuses: Vec<(&str, &str)> = log.iter().map(|d| (d.kind.as_str(), d.status.as_str())).collect();
    assert_eq!(statuses, [("storm", "pending"), ("opened", "grouped")], "grouping shows in the delivery log");
    let folded = store.grouped_notices(&t, &inc).await.unwrap();
    let seen: Vec<(&str, Option<&str>)> =
        folded.iter().map(|g| (g.event.as_str(), g.channel_name.as_deref())).collect();
    assert_eq!(seen, [("opened", Some("ops"))], "the incident's page went out inside the storm notice");
    assert_eq!(folded[0].channel_id, ch);

    let other: TenantId = fresh();
    assert_eq!(store.storm(&other, &ch).await.unwrap(), None, "another tenant sees no storm");
    assert!(store.grouped_notices(&other, &inc).await.unwrap().is_empty(), "tenant-scoped");
    assert!(store.recent_pages(&other, &ch, Timestamp::from_secs(0)).await.unwrap().is_empty());
    store.save_storm(&t, &ch, None, &[], None, Timestamp::from_secs(500)).await.unwrap();
    assert_eq!(store.storm(&t, &ch).await.unwrap(), None);
    assert!(store.active_storms().await.unwrap().is_empty());
}
