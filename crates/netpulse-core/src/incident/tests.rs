//! Table-driven tests: a script of observations, one per interval, and the notices expected.
//!
//! Script tokens: `F` failed check, `S` successful check, `D` degraded check, `A` acknowledge
//! the open incident, `R` resolve it by hand, `M`/`m` maintenance starts/ends, `.` an
//! interval with no result, `H` the parent monitor starts failing, `P`/`p` its incident
//! opens/everything is fine again, `C` the monitor has a parent (that looks fine), `T` the engine's timer sweep ([`Observation::Tick`]).
//! Observation `i` happens at `i × 60 s`. Expected notices are
//! written `kind@i`, with `!` when only the escalation channels get it and `+` when the
//! escalation channels get it too, `~` for the channels that opted in to degraded notices.
//! Multi-region scripts write one step as `eu:F,us:S` (`ap:off`/`ap:on`
//! take a region offline or back).

use super::*;
use crate::ChannelId;

const MINUTE: i64 = 60_000;

fn run(script: &str, policy: &Policy) -> (MonitorState, Vec<String>) {
    let monitor = MonitorId::from_parts(1, 1);
    let mut state = MonitorState::default();
    let mut notices = Vec::new();
    for (i, token) in script.split_whitespace().enumerate() {
        let at = Timestamp::from_millis(i as i64 * MINUTE);
        let current = state.open.as_ref().map(|o| o.id.clone());
        let obs = match (token, current) {
            ("F", _) => check(at, "local", Outcome::Down),
            ("S", _) => check(at, "local", Outcome::Up),
            ("D", _) => check(at, "local", Outcome::Degraded),
            ("P", _) => {
                state.parent_incident = Some(IncidentId::for_outage(&MonitorId::from_parts(9, 9), 1));
                continue;
            }
            ("p", _) => {
                state.parent_incident = None;
                state.parent_failing = false;
                continue;
            }
            ("H", _) => {
                state.parent_failing = true;
                continue;
            }
            ("C", _) => {
                state.has_parent = true;
                continue;
            }
            ("M", _) => Observation::Maintenance { at, active: true },
            ("T", _) => Observation::Tick { at },
            ("m", _) => Observation::Maintenance { at, active: false },
            ("A", Some(id)) => Observation::Acknowledge { incident: id, at, by: "ops".into() },
            ("R", Some(id)) => Observation::Resolve { incident: id, at, by: "ops".into() },
            (".", _) => continue,
            (t, _) => panic!("token {t} at {i} needs an open incident"),
        };
        let (next, effects) = step(&monitor, &state, &obs, policy);
        for e in effects {
            if let Effect::Notify(n) = e {
                let to = match n.audience {
                    Audience::Monitor => "",
                    Audience::Escalation => "!",
                    Audience::MonitorAndEscalation => "+",
                    Audience::DegradedOptIn => "~",
                };
                notices.push(format!("{}@{i}{to}", n.kind.as_str()));
            }
        }
        state = next;
    }
    (state, notices)
}

fn check(at: Timestamp, region: &str, outcome: Outcome) -> Observation {
    let error = outcome.is_failure().then(|| format!("boom in {region}"));
    Observation::Check { at, region: region.into(), outcome, error }
}

/// Run a multi-region script: steps separated by spaces, events in a step by commas.
fn run_regions(script: &str, policy: &Policy) -> (MonitorState, Vec<String>) {
    let monitor = MonitorId::from_parts(1, 9);
    let mut state = MonitorState::default();
    let mut notices = Vec::new();
    for (i, step_text) in script.split_whitespace().enumerate() {
        let at = Timestamp::from_millis(i as i64 * MINUTE);
        for event in step_text.split(',') {
            let (region, what) = event.split_once(':').expect("region:event");
            let obs = match what {
                "F" => check(at, region, Outcome::Down),
                "S" => check(at, region, Outcome::Up),
                "D" => check(at, region, Outcome::Degraded),
                "off" => Observation::RegionAvailability { at, region: region.into(), online: false },
                "on" => Observation::RegionAvailability { at, region: region.into(), online: true },
                other => panic!("unknown event {other}"),
            };
            let (next, effects) = step(&monitor, &state, &obs, policy);
            notices.extend(effects.into_iter().filter_map(|e| match e {
                Effect::Notify(n) if n.audience == Audience::DegradedOptIn => Some(format!("{}@{i}~", n.kind.as_str())),
                Effect::Notify(n) => Some(format!("{}@{i}", n.kind.as_str())),
                _ => None,
            }));
            state = next;
        }
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
        ("degraded counts as up",    "F F D D",             Policy::default(), vec!["opened@1", "resolved@3", "degraded@3~"]),
        ("long outage, one incident", "F F F F F F F F F F S S", Policy::default(), vec!["opened@1", "resolved@11"]),
        ("reminders until ack",      "F F F F F F A F F F F", remind.clone(),         vec!["opened@1", "reminder@4", "acknowledged@6"]),
        ("reminder cadence",         "F F F F F F F F",     remind.clone(),            vec!["opened@1", "reminder@4", "reminder@7"]),
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
        ("outage inside maintenance", "S M F F F S S m S",  Policy::default(), vec![]),
        ("still down when it ends",  "S M F F F m F F S S", Policy::default(), vec!["opened@7", "resolved@9"]),
        ("back up inside, stale down at the end", "S M F F F S m S S", Policy::default(), vec![]),
        ("the end decides from fresh checks only", "S M F F F m S F S S", Policy::default(), vec![]),
        ("no reminders in maintenance", "F F M F F F F F m F", remind.clone(), vec!["opened@1", "reminder@8"]),
        ("resolve inside maintenance", "F F M S S m",       Policy::default(), vec!["opened@1", "resolved@4"]),
        ("behind a failed parent",   "P F F F F p S S",     Policy::default(), vec![]),
        ("still down after the parent", "P F F F p F F S S", Policy::default(), vec!["opened@5", "resolved@8"]),
        ("own outage before the parent", "F F P F S S",     Policy::default(), vec!["opened@1", "resolved@5"]),
        ("child confirms first, parent follows", "H F F P F p S S", Policy::default(), vec![]),
        ("parent was a false alarm", "H F F p F S S",      Policy::default(), vec!["opened@4", "resolved@6"]),
        ("parent looked fine: re-checked first", "C F F F F S S", Policy::default(), vec!["opened@4", "resolved@6"]),
        ("parent's re-check finds it down", "C F F H P F F p S S", Policy::default(), vec![]),
    ];
    for (name, script, p, expected) in cases {
        let (_, got) = run(script, &p);
        assert_eq!(got, expected, "case `{name}`: {script}");
    }
}

fn escalating(after_s: u32) -> Policy {
    let to = vec![ChannelId::from_trusted("chn_oncall".into())];
    Policy { escalate_after_s: Some(after_s), escalate_to: to, ..Policy::default() }
}

#[test]
fn escalation_goes_out_once_unless_acknowledged_or_resolved_first() {
    let esc = escalating(180);
    let remind = Policy { reminder_interval_s: Some(180), ..escalating(180) };
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, Policy, Vec<&str>)> = vec![
        ("unacknowledged: once",      "F F F F F F F F S S",  esc.clone(), vec!["opened@1", "escalated@4!", "resolved@9+"]),
        ("acknowledged first: never", "F F A F F F F S S",    esc.clone(), vec!["opened@1", "acknowledged@2", "resolved@8"]),
        ("ack after it reaches both", "F F F F F A S S",      esc.clone(), vec!["opened@1", "escalated@4!", "acknowledged@5+", "resolved@7+"]),
        ("recovered first: never",    "F F F S S F S S",      esc.clone(), vec!["opened@1", "resolved@4"]),
        ("resolved by hand after it", "F F F F F R",          esc.clone(), vec!["opened@1", "escalated@4!", "resolved@5+"]),
        ("muted in maintenance",      "F F M F F F F m F S S", esc.clone(), vec!["opened@1", "escalated@7!", "resolved@10+"]),
        ("beside reminders",          "F F F F F F F F",      remind,      vec!["opened@1", "reminder@4", "escalated@4!", "reminder@7"]),
        ("a linked child never escalates", "P F F F F F F p S S", esc.clone(), vec![]),
        ("flapping escalates once",   "F F F F S S F F F F F F", escalating(120),
            vec!["opened@1", "escalated@3!", "resolved@5+", "flapping@7+"]),
        ("off by default",            "F F F F F F F F",      Policy::default(), vec!["opened@1"]),
    ];
    for (name, script, p, expected) in cases {
        let (_, got) = run(script, &p);
        assert_eq!(got, expected, "case `{name}`: {script}");
    }
}

#[test]
fn degraded_is_its_own_notice_class_never_an_outage() {
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        ("slow, confirmed, then fast",   "S D D D S S",   vec!["degraded@2~", "degraded_ended@5~"]),
        ("one slow sample is noise",     "S D S D S",     vec![]),
        ("one fast sample is not the end", "D D S D S S", vec!["degraded@1~", "degraded_ended@5~"]),
        ("muted in maintenance",         "M D D D m D D S S", vec!["degraded@6~", "degraded_ended@8~"]),
        ("down while degraded",          "D D F F S S",   vec!["degraded@1~", "opened@3", "resolved@5", "degraded_ended@5~"]),
        ("back up but still slow",       "D D F F D D D S S", vec!["degraded@1~", "opened@3", "resolved@5", "degraded_ended@8~"]),
        ("long slowness, one notice",    "D D D D D D D D D D", vec!["degraded@1~"]),
    ];
    for (name, script, expected) in cases {
        let (_, got) = run(script, &Policy::default());
        assert_eq!(got, expected, "case `{name}`: {script}");
    }
    let p = Policy::default();
    #[rustfmt::skip]
    let regions: Vec<(&str, &str, Vec<&str>)> = vec![
        ("one slow region of three",  "eu:D,us:S,ap:S eu:D,us:S,ap:S eu:D,us:S,ap:S", vec![]),
        ("a majority slow",           "eu:D,us:D,ap:S eu:D,us:D,ap:S eu:S,us:S,ap:S eu:S,us:S,ap:S", vec!["degraded@1~", "degraded_ended@3~"]),
        ("going offline never ends it", "eu:D,us:D eu:D,us:D us:off eu:D eu:S eu:S", vec!["degraded@1~", "degraded_ended@5~"]),
    ];
    for (name, script, expected) in regions {
        let (_, got) = run_regions(script, &p);
        assert_eq!(got, expected, "case `{name}`: {script}");
    }
}

#[test]
fn degraded_notices_have_their_own_dedup_keys() {
    let no_flap = Policy { flap_window_s: 0, ..Policy::default() };
    let (state, _) = run("D D S S D D S S", &no_flap);
    assert_eq!(state.degraded_seq, 2, "two episodes");
    let m = MonitorId::from_parts(1, 7);
    let p = Policy::default();
    let mut s = MonitorState::default();
    let mut keys = Vec::new();
    for (i, o) in [Outcome::Degraded, Outcome::Degraded, Outcome::Up, Outcome::Up].into_iter().enumerate() {
        let (next, fx) = step(&m, &s, &check(Timestamp::from_millis(i as i64 * MINUTE), "local", o), &p);
        keys.extend(fx.into_iter().filter_map(|e| match e {
            Effect::Notify(n) => Some((n.incident, n.dedup_key)),
            _ => None,
        }));
        s = next;
    }
    assert_eq!(keys, [(None, format!("{m}:degraded:1")), (None, format!("{m}:degraded:1:ended"))]);
    assert!(s.open.is_none() && s.health == Health::Up, "no incident");
}

#[test]
fn escalation_survives_a_restart_through_the_stored_state() {
    // The engine stores the state as JSON; a restart reloads it. Escalating from reloaded
    // state must neither forget a due escalation nor repeat a sent one.
    let m = MonitorId::from_parts(1, 6);
    let p = escalating(120);
    let at = |min: i64| Timestamp::from_millis(min * MINUTE);
    let mut state = MonitorState::default();
    let mut kinds = Vec::new();
    for min in 0..8 {
        let stored = serde_json::to_string(&state).unwrap();
        state = serde_json::from_str(&stored).unwrap();
        let (next, fx) = step(&m, &state, &check(at(min), "local", Outcome::Down), &p);
        kinds.extend(fx.into_iter().filter_map(|e| match e {
            Effect::Notify(n) => Some(n.dedup_key),
            _ => None,
        }));
        state = next;
    }
    let id = IncidentId::for_outage(&m, 1);
    assert_eq!(kinds, [format!("{id}:opened"), format!("{id}:escalated")]);
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
    let fail = |t| check(t, "local", Outcome::Down);
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
        let obs = check(Timestamp::from_millis(i as i64 * MINUTE), "local", outcome);
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
    let p = Policy { escalate_after_s: Some(300), ..Policy::default() };
    assert_eq!(p.validate().unwrap_err().field, "policy.escalate_to", "escalating to nobody");
    let p = Policy { escalate_after_s: Some(0), ..escalating(1) };
    assert_eq!(p.validate().unwrap_err().field, "policy.escalate_after_s");
    assert!(escalating(300).validate().is_ok());
}

#[test]
fn regions_vote_and_offline_regions_leave_the_quorum() {
    let p = Policy::default();
    let q1 = Policy { quorum: Some(1), ..Policy::default() };
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, &Policy, Vec<&str>)> = vec![
        ("one region failing under a majority quorum", "eu:F,us:S,ap:S eu:F,us:S,ap:S eu:F,us:S,ap:S eu:F,us:S,ap:S", &p, vec![]),
        ("all regions down",      "eu:F,us:F,ap:F eu:F,us:F,ap:F eu:F,us:F,ap:F eu:F,us:F,ap:F eu:S,us:S,ap:S eu:S,us:S,ap:S", &p, vec!["opened@3", "resolved@5"]),
        ("two of three is a majority", "eu:F,us:F,ap:S eu:F,us:F,ap:S eu:F,us:F,ap:S eu:F,us:F,ap:S eu:S,us:S,ap:S eu:S,us:S,ap:S", &p, vec!["opened@3", "resolved@5"]),
        ("two rounds together are not enough", "eu:F,us:F,ap:S eu:F,us:F,ap:S eu:S,us:S,ap:S eu:S,us:S,ap:S", &p, vec![]),
        ("failures in different rounds never add up", "eu:F,us:S,ap:S eu:F,us:S,ap:S us:F,eu:S,ap:S us:F,eu:S,ap:S", &p, vec![]),
        ("a returning region has no verdict", "eu:F,us:S,ap:S eu:F,us:S,ap:S eu:off us:S,ap:S eu:on us:F,ap:S us:F,ap:S", &p, vec![]),
        ("split results, no majority", "eu:F,us:S eu:F,us:S eu:F,us:S", &p, vec![]),
        ("quorum of one",         "eu:F,us:S,ap:S eu:F,us:S,ap:S eu:S eu:S", &q1, vec!["opened@1", "resolved@3"]),
        ("offline region leaves the quorum", "ap:off eu:F,us:F eu:F,us:F eu:F,us:F eu:F,us:F eu:S,us:S eu:S,us:S", &p, vec!["opened@4", "resolved@6"]),
        ("going offline never resolves", "eu:F,us:F,ap:S eu:F,us:F,ap:S eu:F,us:F,ap:S eu:F,us:F,ap:S us:off eu:F eu:S eu:S", &p, vec!["opened@3", "resolved@7"]),
        ("no live region decides nothing", "eu:F,us:F eu:F,us:F eu:F,us:F eu:F,us:F eu:off,us:off eu:on,eu:S,us:on,us:S", &p, vec!["opened@3"]),
        ("a confirmed recovery of the live regions resolves", "eu:F,us:F eu:F,us:F eu:F,us:F eu:F,us:F eu:off,us:off us:on,us:S us:S", &p, vec!["opened@3", "resolved@6"]),
    ];
    for (name, script, policy, expected) in cases {
        let (_, got) = run_regions(script, policy);
        assert_eq!(got, expected, "case `{name}`: {script}");
    }
}

#[test]
fn a_late_result_from_one_region_is_ignored_for_that_region_only() {
    let m = MonitorId::from_parts(1, 4);
    let p = Policy::default();
    let at = |min: i64| Timestamp::from_millis(min * MINUTE);
    let (s, _) = step(&m, &MonitorState::default(), &check(at(5), "eu", Outcome::Up), &p);
    let (s, fx) = step(&m, &s, &check(at(4), "eu", Outcome::Down), &p);
    assert!(fx.is_empty() && s.regions["eu"].failures == 0, "late eu result ignored");
    let (s, _) = step(&m, &s, &check(at(4), "us", Outcome::Down), &p);
    assert_eq!(s.regions["us"].failures, 1, "us has its own clock");
}

#[test]
fn a_first_failure_asks_for_an_immediate_recheck_once() {
    let m = MonitorId::from_parts(1, 5);
    let p = Policy::default();
    let at = |min: i64| Timestamp::from_millis(min * MINUTE);
    let rechecks = |fx: &[Effect]| fx.iter().filter(|e| matches!(e, Effect::Recheck { .. })).count();
    let (s, fx) = step(&m, &MonitorState::default(), &check(at(1), "local", Outcome::Down), &p);
    assert_eq!(rechecks(&fx), 1);
    let (s, fx) = step(&m, &s, &check(at(2), "local", Outcome::Down), &p);
    assert_eq!(rechecks(&fx), 0, "the second failure confirms; no further re-check");
    assert!(s.open.is_some());
    let one = Policy { confirm_threshold: 1, ..Policy::default() };
    let (_, fx) = step(&m, &MonitorState::default(), &check(at(1), "local", Outcome::Down), &one);
    assert_eq!(rechecks(&fx), 0, "nothing to confirm with a threshold of one");
}

#[test]
fn the_timer_sweep_sends_reminders_and_escalation_on_time_between_checks() {
    // `.` is an interval without a check (a long check interval); `T` the sweep.
    let esc = escalating(120);
    let remind = Policy { reminder_interval_s: Some(120), ..Policy::default() };
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, Policy, Vec<&str>)> = vec![
        ("escalates between checks",  "F F . T . . F",     esc.clone(),    vec!["opened@1", "escalated@3!"]),
        ("not before it is due",      "F F T . . . .",     esc.clone(),    vec!["opened@1"]),
        ("once: the sweep repeats",   "F F . T T T F",     esc.clone(),    vec!["opened@1", "escalated@3!"]),
        ("reminds between checks",    "F F . T . T . T",   remind.clone(), vec!["opened@1", "reminder@3", "reminder@5", "reminder@7"]),
        ("acknowledged: nothing",     "F F A . T T",       esc.clone(),    vec!["opened@1", "acknowledged@2"]),
        ("muted in maintenance",      "F F M . T m T",     esc.clone(),    vec!["opened@1", "escalated@5!"]),
        ("recovered: nothing",        "F F S S T T",       esc.clone(),    vec!["opened@1", "resolved@3"]),
        ("no incident: nothing",      "S F T T",           esc.clone(),    vec![]),
        ("a linked child: nothing",   "P F F . T T",       esc.clone(),    vec![]),
    ];
    for (name, script, p, expected) in cases {
        let (_, got) = run(script, &p);
        assert_eq!(got, expected, "case `{name}`: {script}");
    }
}

#[test]
fn next_timer_is_the_earliest_due_reminder_or_escalation_and_none_when_nothing_runs() {
    let p = Policy { reminder_interval_s: Some(300), ..escalating(120) };
    let (s, _) = run("F F", &p);
    assert_eq!(next_timer(&s, &p), Some(Timestamp::from_millis(3 * MINUTE)), "escalation 120 s after the page at 1");
    let (s, _) = run("F F . T", &p);
    assert_eq!(
        next_timer(&s, &p),
        Some(Timestamp::from_millis(6 * MINUTE)),
        "escalated: the reminder, 300 s after the page"
    );
    let (s, _) = run("F F A", &p);
    assert_eq!(next_timer(&s, &p), None, "acknowledged");
    let (s, _) = run("F F S S", &p);
    assert_eq!(next_timer(&s, &p), None, "resolved");
    let (s, _) = run("F F", &Policy::default());
    assert_eq!(next_timer(&s, &Policy::default()), None, "neither reminders nor escalation");
}

#[test]
fn degraded_flapping_sends_one_notice_and_one_when_it_settles() {
    // Steps are 60 s; a flap window of 300 s is five steps.
    let p = Policy { flap_window_s: 300, ..Policy::default() };
    let swings = "D D S S D D S S D D S S D D S S";
    #[rustfmt::skip]
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        ("swinging faster than the window", format!("{swings} S S S S S S"),
            vec!["degraded@1~", "degraded_ended@3~", "degraded_flapping@5~", "degraded_ended@20~"]),
        ("not settled while still swinging", swings.to_owned(),
            vec!["degraded@1~", "degraded_ended@3~", "degraded_flapping@5~"]),
        ("slower than the window: separate episodes", "D D S S S S S S S S D D S S".to_owned(),
            vec!["degraded@1~", "degraded_ended@3~", "degraded@11~", "degraded_ended@13~"]),
        ("after it settled, a new episode", format!("{swings} S S S S S S D D"),
            vec!["degraded@1~", "degraded_ended@3~", "degraded_flapping@5~", "degraded_ended@20~", "degraded@23~"]),
    ];
    for (name, script, expected) in cases {
        let (_, got) = run(&script, &p);
        assert_eq!(got, expected, "case `{name}`: {script}");
    }
    let (_, off) = run(swings, &Policy { flap_window_s: 0, ..Policy::default() });
    assert_eq!(off.len(), 8, "flap detection off: every episode is told: {off:?}");

    let m = MonitorId::from_parts(1, 1);
    let keys: Vec<String> = {
        let mut state = MonitorState::default();
        let mut keys = Vec::new();
        for (i, t) in format!("{swings} S S S S S S").split_whitespace().enumerate() {
            let o = if t == "D" { Outcome::Degraded } else { Outcome::Up };
            let (next, fx) = step(&m, &state, &check(Timestamp::from_millis(i as i64 * MINUTE), "local", o), &p);
            keys.extend(
                fx.into_iter().filter_map(|e| if let Effect::Notify(n) = e { Some(n.dedup_key) } else { None }),
            );
            state = next;
        }
        keys
    };
    let k = |suffix: &str| format!("{m}:degraded:1{suffix}");
    assert_eq!(keys, [k(""), k(":ended"), k(":flapping"), k(":settled")], "one episode, four keys");
}

/// The PostgreSQL store writes a state back only when it stops behaving like the stored one
/// ([`MonitorState::behaves_like`]); a node that takes over steps from the stored copy. Over
/// long pseudo-random runs (three regions, every outcome, acks, resolves, maintenance, region
/// outages, timer ticks, several policies), stepping the stored copy at any point must give
/// exactly the effects of stepping the state in memory, and a state that again behaves like it.
#[test]
fn a_state_that_behaves_like_the_stored_one_gives_the_same_effects() {
    let policies = [
        policy(1, 1),
        policy(2, 2),
        policy(3, 2),
        Policy { quorum: Some(1), reminder_interval_s: Some(120), ..escalating(180) },
        Policy { flap_window_s: 0, ..policy(2, 3) },
    ];
    let monitor = MonitorId::from_parts(1, 1);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut writes, mut skips) = (0, 0);
    for p in &policies {
        let (mut mem, mut stored) = (MonitorState::default(), MonitorState::default());
        for i in 0..20_000i64 {
            let at = Timestamp::from_millis(i * 20_000);
            let region = ["eu", "us", "ap"][(next() % 3) as usize];
            let roll = next() % 100;
            // Long calm and failing stretches, so counters run far past their thresholds.
            let phase = (i / 300) % 4;
            let outcome = match (phase, roll) {
                (0, 0..=2) => Outcome::Degraded,
                (0, _) => Outcome::Up,
                (1, 0..=89) => Outcome::Down,
                (1, _) => Outcome::Error,
                (2, 0..=59) => Outcome::Degraded,
                (2, _) => Outcome::Up,
                (_, 0..=39) => Outcome::Down,
                _ => Outcome::Up,
            };
            let open = mem.open.as_ref().map(|o| o.id.clone());
            let obs = match (next() % 200, open) {
                (0, Some(id)) => Observation::Acknowledge { incident: id, at, by: "ops".into() },
                (1, Some(id)) => Observation::Resolve { incident: id, at, by: "ops".into() },
                (2, _) => Observation::Maintenance { at, active: !mem.maintenance },
                (3, _) => Observation::RegionAvailability { at, region: region.into(), online: next() % 2 == 0 },
                (4..=9, _) => Observation::Tick { at },
                _ => check(at, region, outcome),
            };
            // A node taking over now would step the stored copy instead of `mem`.
            let (mem_next, fx) = step(&monitor, &mem, &obs, p);
            let (stored_next, fx_stored) = step(&monitor, &stored, &obs, p);
            assert_eq!(fx, fx_stored, "step {i} of {p:?}: effects differ after {obs:?}");
            assert!(mem_next.behaves_like(&stored_next), "step {i}: {mem_next:?} vs {stored_next:?}");
            if mem_next.behaves_like(&stored) {
                skips += 1;
            } else {
                writes += 1;
                stored = mem_next.clone();
            }
            mem = mem_next;
        }
    }
    // Both paths ran many times.
    assert!(skips > 10_000 && writes > 10_000, "{skips} skipped, {writes} written");
}

#[test]
fn counters_and_report_times_do_not_count_as_behaviour_but_verdicts_do() {
    let p = policy(2, 2);
    let m = MonitorId::from_parts(1, 1);
    let up =
        |s: &MonitorState, i: i64| step(&m, s, &check(Timestamp::from_millis(i * MINUTE), "eu", Outcome::Up), &p).0;
    let down =
        |s: &MonitorState, i: i64| step(&m, s, &check(Timestamp::from_millis(i * MINUTE), "eu", Outcome::Down), &p).0;
    let a = up(&MonitorState::default(), 0);
    let b = up(&up(&a, 1), 2);
    assert_ne!(a, b);
    assert!(b.behaves_like(&a), "more successes of an up region change nothing");
    let c = down(&b, 3);
    assert!(!c.behaves_like(&b), "a first failure is a change");
    let d = down(&c, 4);
    assert!(!d.behaves_like(&c), "the confirming failure is a change");
    assert!(down(&d, 5).behaves_like(&d), "more failures of a down region change nothing");
    assert!(!up(&d, 5).behaves_like(&d), "a success of a down region counts toward recovery");
}
