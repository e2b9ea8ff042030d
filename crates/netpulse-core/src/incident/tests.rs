//! Table-driven tests: a script of observations, one per interval, and the notices expected.
//!
//! Script tokens: `F` failed check, `S` successful check, `D` degraded check, `A` acknowledge
//! the open incident, `R` resolve it by hand, `.` an interval with no result. Observation `i`
//! happens at `i × 60 s`. Expected notices are written `kind@i`.

use super::*;

const MINUTE: i64 = 60_000;

fn run(script: &str, policy: &Policy) -> (MonitorState, Vec<String>) {
    let monitor = MonitorId::from_parts(1, 1);
    let mut state = MonitorState::default();
    let mut notices = Vec::new();
    for (i, token) in script.split_whitespace().enumerate() {
        let at = Timestamp::from_millis(i as i64 * MINUTE);
        let current = state.open.as_ref().map(|o| o.id.clone());
        let obs = match (token, current) {
            ("F", _) => Observation::Check { at, outcome: Outcome::Down, error: Some("boom".into()) },
            ("S", _) => Observation::Check { at, outcome: Outcome::Up, error: None },
            ("D", _) => Observation::Check { at, outcome: Outcome::Degraded, error: None },
            ("A", Some(id)) => Observation::Acknowledge { incident: id, at, by: "ops".into() },
            ("R", Some(id)) => Observation::Resolve { incident: id, at, by: "ops".into() },
            (".", _) => continue,
            (t, _) => panic!("token {t} at {i} needs an open incident"),
        };
        let (next, effects) = step(&monitor, &state, &obs, policy);
        for e in effects {
            if let Effect::Notify(n) = e {
                notices.push(format!("{}@{i}", n.kind.as_str()));
            }
        }
        state = next;
    }
    (state, notices)
}

fn policy(confirm: u32, recover: u32) -> Policy {
    Policy { confirm_threshold: confirm, recovery_threshold: recover, ..Policy::default() }
}

#[test]
fn notices_follow_the_policy() {
    let no_flap = Policy { flap_window_s: 0, ..Policy::default() };
    let remind = Policy { reminder_interval_s: Some(180), ..Policy::default() };
    let quiet = Policy { notify_on_resolve: false, ..Policy::default() };
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, Policy, Vec<&str>)> = vec![
        ("all good",                 "S S S S",             Policy::default(), vec![]),
        ("single failed sample",     "S F S S F S",         Policy::default(), vec![]),
        ("confirmed outage",         "S F F F S S",         Policy::default(), vec!["opened@2", "resolved@5"]),
        ("one success is not recovery", "F F S F S S",      Policy::default(), vec!["opened@1", "resolved@5"]),
        ("threshold of three",       "F F S F F F",         policy(3, 2),      vec!["opened@5"]),
        ("threshold of one",         "F S",                 policy(1, 1),      vec!["opened@0", "resolved@1"]),
        ("degraded counts as up",    "F F D D",             Policy::default(), vec!["opened@1", "resolved@3"]),
        ("long outage, one incident", "F F F F F F F F F F S S", Policy::default(), vec!["opened@1", "resolved@11"]),
        ("reminders until ack",      "F F F F F F A F F F F", remind.clone(),         vec!["opened@1", "reminder@4", "acknowledged@6"]),
        ("reminder cadence",         "F F F F F F F F",     remind,            vec!["opened@1", "reminder@4", "reminder@7"]),
        ("no resolve notice",        "F F S S",             quiet,             vec!["opened@1"]),
        ("manual resolve",           "F F F R F F",         Policy::default(), vec!["opened@1", "resolved@3", "opened@5"]),
        ("ack twice is once",        "F F A A S S",         Policy::default(), vec!["opened@1", "acknowledged@2", "resolved@5"]),
        ("flapping at the threshold", "F F S S F F S S F F S S F F S S", Policy::default(),
            vec!["opened@1", "resolved@3", "flapping@5"]),
        ("flapping settles once",    "F F S S F F S S F F S S S S S S S S S S S S S S S S S S S", policy(2, 2),
            vec!["opened@1", "resolved@3", "flapping@5", "resolved@26"]),
        ("no flap detection",        "F F S S F F S S",     no_flap,           vec!["opened@1", "resolved@3", "opened@5", "resolved@7"]),
        ("relapse after the window", "F F S S . . . . . . . . . . . . . . F F", Policy { flap_window_s: 600, ..Policy::default() },
            vec!["opened@1", "resolved@3", "opened@19"]),
    ];
    for (name, script, p, expected) in cases {
        let (_, got) = run(script, &p);
        assert_eq!(got, expected, "case `{name}`: {script}");
    }
}

#[test]
fn health_tracks_confirmation() {
    let p = Policy::default();
    assert_eq!(run("S", &p).0.health, Health::Up);
    assert_eq!(run("S F", &p).0.health, Health::Suspect);
    assert_eq!(run("S F F", &p).0.health, Health::Down);
    assert_eq!(run("F F S", &p).0.health, Health::Down, "one success does not recover");
    assert_eq!(run("F F S D", &p).0.health, Health::Degraded);
}

#[test]
fn late_results_do_not_move_the_state() {
    let m = MonitorId::from_parts(1, 2);
    let p = Policy::default();
    let at = |min: i64| Timestamp::from_millis(min * MINUTE);
    let fail = |t| Observation::Check { at: t, outcome: Outcome::Down, error: None };
    let (s1, _) = step(&m, &MonitorState::default(), &fail(at(5)), &p);
    let (s2, fx) = step(&m, &s1, &fail(at(4)), &p);
    assert!(fx.is_empty());
    assert_eq!(s2, s1, "a result older than the last one is ignored");
}

#[test]
fn replaying_an_observation_on_the_stored_state_is_stable() {
    // The engine stores the state with the result in one transaction, so a redelivered result
    // is never stepped twice; and the same history always yields the same incident ids and keys.
    let p = Policy::default();
    let (a, na) = run("F F F S S F F", &p);
    let (b, nb) = run("F F F S S F F", &p);
    assert_eq!(a, b);
    assert_eq!(na, nb);
}

#[test]
fn dedup_keys_are_unique_per_transition() {
    let m = MonitorId::from_parts(1, 3);
    let p = Policy { reminder_interval_s: Some(60), ..Policy::default() };
    let mut state = MonitorState::default();
    let mut keys = Vec::new();
    for (i, outcome) in
        [Outcome::Down, Outcome::Down, Outcome::Down, Outcome::Down, Outcome::Up, Outcome::Up].into_iter().enumerate()
    {
        let obs = Observation::Check { at: Timestamp::from_millis(i as i64 * MINUTE), outcome, error: None };
        let (next, fx) = step(&m, &state, &obs, &p);
        keys.extend(fx.into_iter().filter_map(|e| match e {
            Effect::Notify(n) => Some(n.dedup_key),
            _ => None,
        }));
        state = next;
    }
    let id = IncidentId::for_outage(&m, 1);
    assert_eq!(
        keys,
        vec![
            format!("{id}:opened"),
            format!("{id}:reminder:1"),
            format!("{id}:reminder:2"),
            format!("{id}:resolved:1")
        ]
    );
}

#[test]
fn policy_validation_names_the_field() {
    let p = Policy { confirm_threshold: 0, ..Policy::default() };
    assert_eq!(p.validate().unwrap_err().field, "policy.confirm_threshold");
    let p = Policy { reminder_interval_s: Some(5), ..Policy::default() };
    assert_eq!(p.validate().unwrap_err().field, "policy.reminder_interval_s");
}
