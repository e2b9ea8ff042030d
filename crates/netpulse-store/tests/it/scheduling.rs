//! What a scheduler reads: the monitors of the partitions it schedules (never the demo
//! organisation's, never a paused one), then at each reload only their ids and versions, and
//! the monitors whose version it does not hold. An edit, a change of the organisation's
//! defaults, a pause, a resume and a delete each show in the versions.

use super::{add_monitor, setup};
use netpulse_core::incident::Policy;
use netpulse_core::monitor::Interval;
use netpulse_core::{MonitorId, Timestamp};
use netpulse_store::testing::{draft, Backend};
use netpulse_store::{partition_of, AlertingDefaults, ScheduledMonitor};
use std::collections::{BTreeMap, BTreeSet};

fn ids(monitors: &[ScheduledMonitor]) -> BTreeSet<String> {
    monitors.iter().map(|m| m.record.id.as_str().to_owned()).collect()
}

fn of(monitors: &[MonitorId], parts: &[u32]) -> BTreeSet<String> {
    monitors.iter().filter(|m| parts.contains(&partition_of(m))).map(|m| m.as_str().to_owned()).collect()
}

pub async fn a_scheduler_reads_its_partitions_then_only_ids_versions_and_what_changed(backend: Backend) {
    let (store, t, first) = setup(backend).await;
    let mut monitors = vec![first];
    for i in 0..40 {
        monitors.push(add_monitor(&*store, &t, draft(&format!("m{i}"), Policy::default())).await);
    }
    let demo = netpulse_store::demo::tenant();
    store.ensure_tenant(&demo, "demo", Timestamp::from_secs(1)).await.unwrap();
    add_monitor(&*store, &demo, draft("seeded", Policy::default())).await;
    let all: Vec<u32> = (0..64).collect();

    let everything = store.schedulable_monitors_in(&all).await.unwrap();
    assert_eq!(ids(&everything), of(&monitors, &all), "every partition: every monitor but the demo's");
    let some = [partition_of(&monitors[0]), partition_of(&monitors[1]), 63];
    assert_eq!(ids(&store.schedulable_monitors_in(&some).await.unwrap()), of(&monitors, &some));
    assert!(store.schedulable_monitors_in(&[]).await.unwrap().is_empty());

    let versions = |parts: Vec<u32>| {
        let store = &store;
        async move {
            let v = store.schedulable_versions_in(&parts).await.unwrap();
            v.into_iter().map(|(id, at)| (id.as_str().to_owned(), at)).collect::<BTreeMap<_, _>>()
        }
    };
    let before = versions(all.clone()).await;
    assert_eq!(before.keys().cloned().collect::<BTreeSet<_>>(), of(&monitors, &all));
    assert!(before.values().all(|v| *v == Timestamp::from_secs(1)));
    assert_eq!(versions(some.to_vec()).await.len(), of(&monitors, &some).len());

    // An edit moves the edited monitor's version; a change of defaults every one of the tenant's.
    let (edited, paused, deleted) = (&monitors[1], &monitors[2], &monitors[3]);
    let mut longer = draft("m0", Policy::default());
    longer.interval = Interval::from_trusted(120);
    assert!(store.update_monitor(&t, edited, &longer, Timestamp::from_secs(5)).await.unwrap());
    let after = versions(all.clone()).await;
    let moved: Vec<&String> = after.iter().filter(|(id, v)| before[*id] != **v).map(|(id, _)| id).collect();
    assert_eq!(moved, [edited.as_str()], "only the edited monitor's version moved");
    store.set_alerting_defaults(&t, &AlertingDefaults::default(), Timestamp::from_secs(9)).await.unwrap();
    let defaults = versions(all.clone()).await;
    assert!(defaults.iter().all(|(id, v)| *v > after[id]), "a change of defaults moves every version");

    // A pause and a delete take the monitor out; a resume brings it back at a new version.
    let mut off = draft("m1", Policy::default());
    off.paused = true;
    assert!(store.update_monitor(&t, paused, &off, Timestamp::from_secs(10)).await.unwrap());
    assert!(store.delete_monitor(&t, deleted).await.unwrap());
    let now = versions(all.clone()).await;
    assert!(!now.contains_key(paused.as_str()) && !now.contains_key(deleted.as_str()));
    assert_eq!(now.len(), monitors.len() - 2);
    assert!(!ids(&store.schedulable_monitors_in(&all).await.unwrap()).contains(paused.as_str()));

    let asked = [edited.clone(), paused.clone(), deleted.clone()];
    let read = store.schedulable_monitors_by_id(&asked).await.unwrap();
    assert_eq!(ids(&read), BTreeSet::from([edited.as_str().to_owned()]), "only what exists and is not paused");
    assert_eq!(read[0].record.draft.interval.secs(), 120, "as it is now");
    assert_eq!(read[0].record.updated_at, now[edited.as_str()]);
    assert!(store.schedulable_monitors_by_id(&[]).await.unwrap().is_empty());

    off.paused = false;
    assert!(store.update_monitor(&t, paused, &off, Timestamp::from_secs(11)).await.unwrap());
    let resumed = versions(all.clone()).await;
    assert!(resumed[paused.as_str()] > defaults[paused.as_str()]);
}
