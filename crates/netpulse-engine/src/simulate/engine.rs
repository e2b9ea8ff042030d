//! The engine as `netpulse simulate` runs it: each monitor's state in memory, stepped through
//! the engine's own decision code — `store::plan` (which runs `core::incident::step`: the
//! rounds, quorum, dependency and maintenance rules), `core::incident::next_timer` for the
//! timer sweep, `store::maintenance::advance` for windows, and the dispatcher's storm control
//! over an in-memory outbox ([`super::outbox`]). What the store adds around those decisions
//! (rows, transactions) is left out, so a check costs no I/O and nothing keeps a result
//! after ingest. A restart reads every saved state back (a cold start from what the store
//! would hold).

use super::outbox::SimOutbox;
use netpulse_core::alert::AlertEvent;
use netpulse_core::incident::rounds::same_round;
use netpulse_core::incident::{next_timer, MonitorState, Observation};
use netpulse_core::monitor::Interval;
use netpulse_core::schedule::recheck_due;
use netpulse_core::storm::StormPolicy;
use netpulse_core::{ChannelId, CheckResult, MonitorId, ResultId, Timestamp};
use netpulse_pipeline::alerts::storm;
use netpulse_store::plan::{parent_failing, plan, MonitorFacts, Write};
use netpulse_store::{advance, maintenance_ends, MaintenanceWindow};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

/// One simulated monitor as the engine holds it.
pub struct Monitored {
    pub facts: MonitorFacts,
    pub state: MonitorState,
    pub interval: Interval,
    /// The scenario index of the monitor it depends on.
    pub parent: Option<usize>,
    pub windows: Vec<MaintenanceWindow>,
    timer_at: Option<Timestamp>,
    /// Re-check rounds queued and not yet run (the scheduler queues one per round).
    rechecks: Vec<Timestamp>,
    /// Result ids ingested lately, oldest first (ingest stores one row per id).
    seen: VecDeque<(Timestamp, ResultId)>,
    seen_ids: HashSet<ResultId>,
}

impl Monitored {
    pub fn new(
        facts: MonitorFacts,
        interval: Interval,
        parent: Option<usize>,
        windows: Vec<MaintenanceWindow>,
    ) -> Self {
        let (state, timer_at, rechecks) = (MonitorState::default(), None, Vec::new());
        let (seen, seen_ids) = (VecDeque::new(), HashSet::new());
        Self { facts, state, interval, parent, windows, timer_at, rechecks, seen, seen_ids }
    }

    /// Whether `r` is new (not ingested before); ids older than `horizon` are forgotten.
    fn first_copy(&mut self, r: &CheckResult, horizon: Timestamp) -> bool {
        while self.seen.front().is_some_and(|(at, _)| *at < horizon) {
            let (_, id) = self.seen.pop_front().expect("front exists");
            self.seen_ids.remove(&id);
        }
        if !self.seen_ids.insert(r.id.clone()) {
            return false;
        }
        self.seen.push_back((r.started_at, r.id.clone()));
        true
    }
}

/// A re-check round the engine's scheduler runs: of monitor `monitor` at `at`.
pub struct Recheck {
    pub monitor: usize,
    pub at: Timestamp,
}

/// The simulated engine: monitors, the timer index and the outbox.
pub struct SimEngine {
    pub monitors: Vec<Monitored>,
    index: HashMap<MonitorId, usize>,
    pub outbox: SimOutbox,
    timers: BTreeSet<(Timestamp, usize)>,
    /// How long a redelivered copy of a result can trail it; `None`: results arrive once.
    redelivery_ms: Option<i64>,
}

impl SimEngine {
    pub fn new(monitors: Vec<Monitored>, outbox: SimOutbox, redelivery_ms: Option<i64>) -> Self {
        let index = monitors.iter().enumerate().map(|(i, m)| (m.facts.id.clone(), i)).collect();
        Self { monitors, index, outbox, timers: BTreeSet::new(), redelivery_ms }
    }

    /// Ingest one batch (as the store's `ingest`: each monitor's new results in start order,
    /// one plan per monitor); returns the re-check rounds it queued and how many notices.
    pub fn ingest(&mut self, batch: &mut [CheckResult], now: Timestamp) -> (Vec<Recheck>, usize) {
        batch.sort_by(|a, b| (&a.monitor_id, a.started_at, &a.id).cmp(&(&b.monitor_id, b.started_at, &b.id)));
        let (mut rechecks, mut notices) = (Vec::new(), 0);
        for group in batch.chunk_by(|a, b| a.monitor_id == b.monitor_id) {
            let Some(&i) = self.index.get(&group[0].monitor_id) else { continue };
            let observations: Vec<Observation> = match self.redelivery_ms {
                None => group.iter().map(Observation::of_result).collect(),
                Some(ms) => {
                    let horizon = now.minus_ms(ms);
                    let fresh = group.iter().filter(|r| self.monitors[i].first_copy(r, horizon));
                    fresh.map(Observation::of_result).collect()
                }
            };
            if !observations.is_empty() {
                notices += self.step(i, &observations, now, &mut rechecks);
            }
        }
        (rechecks, notices)
    }

    /// Step monitor `i` through `observations` (as the store's `observe`); how many notices.
    pub fn observe(&mut self, i: usize, obs: Observation, now: Timestamp) -> (Vec<Recheck>, usize) {
        let mut rechecks = Vec::new();
        let notices = self.step(i, &[obs], now, &mut rechecks);
        (rechecks, notices)
    }

    /// A person acknowledges monitor `i`'s open incident, if it has one not yet acknowledged.
    pub fn acknowledge(&mut self, i: usize, now: Timestamp) {
        let open = self.monitors[i].state.open.as_ref().filter(|o| !o.acknowledged);
        let Some(incident) = open.map(|o| o.id.clone()) else { return };
        self.observe(i, Observation::Acknowledge { incident, at: now, by: "simulated on-call".into() }, now);
    }

    /// Start and end monitor `i`'s due windows at `now`, oldest first, as the store's
    /// `advance_maintenance` does: overlapping windows keep the monitor in maintenance.
    pub fn advance_maintenance(&mut self, i: usize, now: Timestamp) {
        let due = |w: &MaintenanceWindow| {
            (w.phase == "scheduled" && w.starts_at <= now) || (w.phase == "active" && w.ends_at <= now)
        };
        let mut order: Vec<usize> =
            (0..self.monitors[i].windows.len()).filter(|&n| due(&self.monitors[i].windows[n])).collect();
        order.sort_by_key(|&n| self.monitors[i].windows[n].starts_at);
        for n in order {
            let moved = advance(&self.monitors[i].windows[n], now);
            if let Some(obs) = moved.starts {
                self.observe(i, obs, now);
            }
            let w = &mut self.monitors[i].windows[n];
            (w.phase, w.starts_at, w.ends_at) = (moved.phase.into(), moved.starts_at, moved.ends_at);
            let others_active = self.monitors[i].windows.iter().any(|w| w.phase == "active");
            if let Some(obs) = moved.stopped.then(|| maintenance_ends(others_active, now)).flatten() {
                self.observe(i, obs, now);
            }
        }
    }

    /// The dispatcher's pass at `now`: the timer sweep, quiet storms ended, then every queued
    /// notice screened for storms and "sent"; returns what each channel received.
    pub async fn dispatch(
        &mut self,
        now: Timestamp,
        storm: &StormPolicy,
    ) -> anyhow::Result<Vec<(ChannelId, AlertEvent)>> {
        let due: Vec<usize> = self.timers.iter().take_while(|(at, _)| *at <= now).map(|(_, i)| *i).collect();
        for i in due {
            self.observe(i, Observation::Tick { at: now }, now);
        }
        storm::settle(&self.outbox, now, storm).await?;
        let mut sent = Vec::new();
        loop {
            let items = self.outbox.claim();
            if items.is_empty() {
                break;
            }
            let to_send = storm::screen(&self.outbox, items, now, storm).await?;
            sent.extend(to_send.into_iter().map(|item| (item.channel.id, item.event)));
        }
        Ok(sent)
    }

    /// When the dispatcher must look again on its own: the next armed timer, or at once
    /// while a storm runs.
    pub fn next_poll(&self, now: Timestamp) -> Option<Timestamp> {
        let timer = self.timers.first().map(|(at, _)| *at);
        if self.outbox.has_storms() {
            return Some(now);
        }
        timer
    }

    /// Monitor `i`'s re-check round is running: it is no longer queued.
    pub fn recheck_ran(&mut self, i: usize, at: Timestamp) {
        self.monitors[i].rechecks.retain(|t| *t != at);
    }

    /// A cold start: every monitor's state and the storms are read back from what was saved.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        for m in &mut self.monitors {
            m.state = serde_json::from_str(&serde_json::to_string(&m.state)?)?;
        }
        Ok(self.outbox.reload()?)
    }

    fn step(&mut self, i: usize, observations: &[Observation], now: Timestamp, rechecks: &mut Vec<Recheck>) -> usize {
        if let Some(p) = self.monitors[i].parent {
            let parent = &self.monitors[p].state;
            let incident = parent.open.as_ref().map(|o| o.id.clone());
            let failing = parent_failing(parent.health.as_str());
            (self.monitors[i].facts.parent_incident, self.monitors[i].facts.parent_failing) = (incident, failing);
        }
        let m = &mut self.monitors[i];
        let p = plan(&m.facts, std::mem::take(&mut m.state), observations);
        for w in &p.writes {
            if let Write::Outbox { channel, event } = w {
                self.outbox.insert(channel, (**event).clone(), now);
            }
        }
        let asked: Vec<(Option<usize>, bool)> =
            p.rechecks(&m.facts.id).map(|r| (self.index.get(&r.monitor).copied(), r.at_once)).collect();
        for (target, at_once) in asked {
            if let Some(target) = target {
                self.queue_recheck(target, at_once, now, rechecks);
            }
        }
        let m = &mut self.monitors[i];
        m.state = p.state;
        let timer = next_timer(&m.state, &m.facts.policy);
        if timer != m.timer_at {
            if let Some(old) = m.timer_at {
                self.timers.remove(&(old, i));
            }
            if let Some(new) = timer {
                self.timers.insert((new, i));
            }
            self.monitors[i].timer_at = timer;
        }
        p.notices
    }

    /// The scheduler's `ask_recheck`: one round per monitor per round time.
    fn queue_recheck(&mut self, i: usize, at_once: bool, now: Timestamp, out: &mut Vec<Recheck>) {
        let m = &mut self.monitors[i];
        let at = recheck_due(m.interval, at_once, now);
        if m.rechecks.iter().any(|t| same_round(*t, at)) {
            return;
        }
        m.rechecks.push(at);
        out.push(Recheck { monitor: i, at });
    }
}
