//! The rule against noise ([`super::rounds`]) as a property over seeded random runs: three
//! regions, each failing at random at its own rate of 1–10 %, independently, with the
//! engine's cadence (a round every 30 s, a synchronized re-check 11 s after a round that
//! asked for one: half an interval at most 10 s, plus a second to ingest). Over simulated
//! weeks nothing pages; and a real outage of a majority lasting at least
//! `confirm_threshold + 1` intervals, laid over the same noise, always pages within one
//! interval plus three re-check delays of its start.

use super::*;
use std::collections::BTreeSet;

const INTERVAL_MS: i64 = 30_000;
const RECHECK_MS: i64 = 11_000;
const REGIONS: [&str; 3] = ["eu", "us", "ap"];

type Rng = crate::rng::SplitMix64;

/// One monitor's run: rounds at the grid and at the re-checks the machine asks for; each
/// region fails when `down(region, t)` or at random at its rate. The times of `opened` notices.
fn run(rates: [f64; 3], until_ms: i64, rng: &mut Rng, down: impl Fn(usize, i64) -> bool) -> Vec<i64> {
    let (m, p) = (MonitorId::from_parts(1, 1), Policy::default());
    let mut state = MonitorState::default();
    let mut rounds: BTreeSet<i64> = (0..until_ms / INTERVAL_MS).map(|i| i * INTERVAL_MS + 5_000).collect();
    let mut opened = Vec::new();
    while let Some(t) = rounds.pop_first() {
        if t >= until_ms {
            break;
        }
        for (i, region) in REGIONS.iter().enumerate() {
            let failed = down(i, t) || rng.unit() < rates[i];
            let outcome = if failed { Outcome::Down } else { Outcome::Up };
            let obs =
                Observation::Check { at: Timestamp::from_millis(t), region: (*region).into(), outcome, error: None };
            let (next, fx) = step(&m, &state, &obs, &p);
            for e in fx {
                match e {
                    Effect::Recheck { .. } => drop(rounds.insert(t + RECHECK_MS)),
                    Effect::Notify(n) if n.kind == NoticeKind::Opened => opened.push(t),
                    _ => {}
                }
            }
            state = next;
        }
    }
    opened
}

fn rates(rng: &mut Rng) -> [f64; 3] {
    [0; 3].map(|_| 0.01 + 0.09 * rng.unit())
}

#[test]
fn random_failures_in_every_region_never_page_over_simulated_weeks() {
    let mut rng = Rng::new(0x5eed_0001);
    let two_weeks = 14 * 24 * 3_600_000;
    for monitor in 0..10 {
        let r = rates(&mut rng);
        let pages = run(r, two_weeks, &mut rng, |_, _| false);
        assert!(pages.is_empty(), "monitor {monitor} at rates {r:?} paged at {pages:?} ms");
    }
    // The worst case of the range, every region at 10 %, for a further four weeks.
    let pages = run([0.10; 3], 2 * two_weeks, &mut rng, |_, _| false);
    assert!(pages.is_empty(), "10 % everywhere paged at {pages:?} ms");
}

#[test]
fn a_real_majority_outage_over_the_noise_always_pages_within_the_bound() {
    let mut rng = Rng::new(0x5eed_0002);
    let bound = INTERVAL_MS + 3 * RECHECK_MS;
    for case in 0..200 {
        let r = rates(&mut rng);
        let start = 600_000 + (rng.next_u64() % 600_000) as i64;
        let len = 3 * INTERVAL_MS + (rng.next_u64() % 300_000) as i64; // at least threshold + 1 intervals
        let spared = (rng.next_u64() % 4) as usize; // 3: every region down; else that one spared
        let down = |i: usize, t: i64| i != spared && (start..start + len).contains(&t);
        let pages = run(r, start + len + 600_000, &mut rng, down);
        let first = pages.iter().find(|t| **t >= start).copied();
        assert!(
            first.is_some_and(|t| t - start <= bound),
            "case {case}: outage at {start} ms for {len} ms (region {spared} spared, rates {r:?}) paged at {pages:?}"
        );
    }
}
