//! A result whose texts hold `\0` (a worker may send any error string) is stored on every
//! backend instead of failing its batch forever; PostgreSQL text cannot hold NUL, so there
//! it reads back with U+FFFD in its place.

use super::{result, setup};
use netpulse_core::{CheckResult, Outcome, Timestamp};
use netpulse_store::testing::Backend;

fn with_nul(mut r: CheckResult) -> CheckResult {
    r.error = Some("keyword `a\0b` not found".into());
    r.worker = "w\0rker".into();
    r
}

pub async fn results_with_nul_in_their_texts_are_stored(backend: Backend) {
    let (store, t, m) = setup(backend).await;
    let first = with_nul(result(&t, &m, 100, Outcome::Down));
    let r = store.ingest(std::slice::from_ref(&first), Timestamp::from_secs(200)).await.unwrap();
    assert_eq!(r.inserted, 1, "the COPY path stores it");
    // A redelivered id sends the batch down the UNNEST path, which must clean the texts too.
    let second = with_nul(result(&t, &m, 160, Outcome::Down));
    let r = store.ingest(&[first, second], Timestamp::from_secs(201)).await.unwrap();
    assert_eq!((r.inserted, r.duplicates), (1, 1), "the UNNEST path stores it");

    let page = store.list_results(&t, &m, Timestamp::from_secs(0), Timestamp::from_secs(1000), 10, None).await.unwrap();
    assert_eq!(page.results.len(), 2);
    for got in &page.results {
        let error = got.error.as_deref().unwrap();
        assert_eq!(error.replace('\0', "\u{FFFD}"), "keyword `a\u{FFFD}b` not found");
        if backend != Backend::Sqlite {
            assert!(!error.contains('\0') && !got.worker.contains('\0'), "NUL replaced: {error:?} {:?}", got.worker);
        }
    }
    let view = store.get_monitor(&t, &m).await.unwrap().unwrap();
    assert!(view.status.last_error.is_some_and(|e| e.contains("not found")), "the monitor shows the error");
}
