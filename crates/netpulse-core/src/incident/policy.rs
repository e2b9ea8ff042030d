//! The alerting policy of one monitor: thresholds, quorum, flapping window, reminders,
//! escalation; what each means is documented on its field, and [`Policy::validate`] names
//! the field of a value it refuses (`policy.confirm_threshold`, …).

use crate::ids::ChannelId;
use crate::monitor::FieldError;
use serde::{Deserialize, Serialize};

/// Alerting policy of one monitor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Consecutive failed checks that confirm an outage.
    pub confirm_threshold: u32,
    /// Consecutive successful checks that confirm recovery.
    pub recovery_threshold: u32,
    /// Re-notify while down and unacknowledged; `None` = never.
    pub reminder_interval_s: Option<u32>,
    /// Send a notice when an incident resolves.
    pub notify_on_resolve: bool,
    /// Flapping window: a relapse this soon after a resolve reopens the incident, and a
    /// flapping incident resolves after this long up. `0` disables flap detection.
    pub flap_window_s: u32,
    /// Live regions that must be down; `None` = a majority of them.
    pub quorum: Option<u32>,
    /// Escalate an incident still unacknowledged this long after it paged; `None` = never.
    pub escalate_after_s: Option<u32>,
    /// The further channels an escalation notifies (of the same account).
    pub escalate_to: Vec<ChannelId>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            confirm_threshold: 2,
            recovery_threshold: 2,
            reminder_interval_s: None,
            notify_on_resolve: true,
            flap_window_s: 900,
            quorum: None,
            escalate_after_s: None,
            escalate_to: Vec::new(),
        }
    }
}

impl Policy {
    /// Regions that must be down among `live` live regions (never 0 for a non-empty set).
    pub fn needed(&self, live: usize) -> usize {
        match self.quorum {
            Some(q) => (q as usize).min(live),
            None => live / 2 + 1,
        }
    }

    /// Every rule, naming the field of a value it refuses.
    pub fn validate(&self) -> Result<(), FieldError> {
        self.validate_values()?;
        match self.escalate_after_s {
            Some(_) if self.escalate_to.is_empty() => Err(FieldError::new(
                "policy.escalate_to",
                "name at least one channel id to escalate to, or set escalate_after_s to null",
            )),
            _ => Ok(()),
        }
    }

    /// The range of each field on its own (everything but "escalation needs channels").
    pub fn validate_values(&self) -> Result<(), FieldError> {
        if !(1..=20).contains(&self.confirm_threshold) {
            return Err(FieldError::new("policy.confirm_threshold", "must be between 1 and 20"));
        }
        if !(1..=20).contains(&self.recovery_threshold) {
            return Err(FieldError::new("policy.recovery_threshold", "must be between 1 and 20"));
        }
        if matches!(self.reminder_interval_s, Some(s) if s < 60) {
            return Err(FieldError::new(
                "policy.reminder_interval_s",
                "must be at least 60 seconds, or null for no reminders",
            ));
        }
        if self.quorum == Some(0) {
            return Err(FieldError::new("policy.quorum", "must be at least 1, or null for a majority of live regions"));
        }
        if self.flap_window_s > 86_400 {
            return Err(FieldError::new(
                "policy.flap_window_s",
                "must be at most 86400 (one day); 0 disables flap detection",
            ));
        }
        match self.escalate_after_s {
            Some(s) if !(1..=604_800).contains(&s) => Err(FieldError::new(
                "policy.escalate_after_s",
                "must be between 1 and 604800 seconds (one week), or null for no escalation",
            )),
            _ if self.escalate_to.len() > 20 => Err(FieldError::new("policy.escalate_to", "at most 20 channels")),
            _ => Ok(()),
        }
    }
}

/// The policy fields set at one level — a monitor, or an organisation's defaults — each
/// `None` when that level leaves it to the next. [`Policy::resolve`] is the one place that
/// turns the levels into the policy `step` runs with: the monitor's field, else the
/// organisation's default, else [`Policy::default`].
///
/// Nullable policy fields (`reminder_interval_s`, `quorum`, `escalate_after_s`) are
/// `Option<Option<_>>`: `Some(None)` is an explicit "never" / "a majority", set at this level.
/// In JSON a field left out is not set here; `null` for a nullable field sets "none".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyLayer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm_threshold: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_threshold: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub reminder_interval_s: Option<Option<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_on_resolve: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flap_window_s: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub quorum: Option<Option<u32>>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub escalate_after_s: Option<Option<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalate_to: Option<Vec<ChannelId>>,
}

/// A field that is present in the JSON is set, even when it is `null`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Every policy field name, in the order the API shows them.
pub const POLICY_FIELDS: [&str; 8] = [
    "confirm_threshold",
    "recovery_threshold",
    "reminder_interval_s",
    "notify_on_resolve",
    "flap_window_s",
    "quorum",
    "escalate_after_s",
    "escalate_to",
];

impl PolicyLayer {
    /// The names of the fields this level does not set (so they come from the next level).
    pub fn unset_fields(&self) -> Vec<&'static str> {
        let set = [
            self.confirm_threshold.is_some(),
            self.recovery_threshold.is_some(),
            self.reminder_interval_s.is_some(),
            self.notify_on_resolve.is_some(),
            self.flap_window_s.is_some(),
            self.quorum.is_some(),
            self.escalate_after_s.is_some(),
            self.escalate_to.is_some(),
        ];
        POLICY_FIELDS.iter().zip(set).filter(|(_, set)| !set).map(|(f, _)| *f).collect()
    }

    /// Every field set, to the values of `p` (a policy written out in full).
    pub fn all_of(p: &Policy) -> Self {
        Self {
            confirm_threshold: Some(p.confirm_threshold),
            recovery_threshold: Some(p.recovery_threshold),
            reminder_interval_s: Some(p.reminder_interval_s),
            notify_on_resolve: Some(p.notify_on_resolve),
            flap_window_s: Some(p.flap_window_s),
            quorum: Some(p.quorum),
            escalate_after_s: Some(p.escalate_after_s),
            escalate_to: Some(p.escalate_to.clone()),
        }
    }

    /// This level's fields over `below`'s: what is set here wins, the rest comes from `below`.
    pub fn over(&self, below: &PolicyLayer) -> PolicyLayer {
        let b = below.clone();
        PolicyLayer {
            confirm_threshold: self.confirm_threshold.or(b.confirm_threshold),
            recovery_threshold: self.recovery_threshold.or(b.recovery_threshold),
            reminder_interval_s: self.reminder_interval_s.or(b.reminder_interval_s),
            notify_on_resolve: self.notify_on_resolve.or(b.notify_on_resolve),
            flap_window_s: self.flap_window_s.or(b.flap_window_s),
            quorum: self.quorum.or(b.quorum),
            escalate_after_s: self.escalate_after_s.or(b.escalate_after_s),
            escalate_to: self.escalate_to.clone().or(b.escalate_to),
        }
    }

    /// Range checks of the fields set here, naming the field (`policy.confirm_threshold`);
    /// the cross-field rule (escalation needs channels) is checked on the resolved policy.
    pub fn validate_values(&self) -> Result<(), FieldError> {
        Policy::resolve(self, &PolicyLayer::default()).validate_values()
    }
}

impl Policy {
    /// The effective policy of a monitor: each field from the monitor's own `monitor` level
    /// when set there, else from the organisation's `defaults`, else [`Policy::default`].
    /// Every caller (both stores' ingest, the API, the dashboard, the simulator) uses this.
    pub fn resolve(monitor: &PolicyLayer, defaults: &PolicyLayer) -> Policy {
        let l = monitor.over(defaults);
        let d = Policy::default();
        Policy {
            confirm_threshold: l.confirm_threshold.unwrap_or(d.confirm_threshold),
            recovery_threshold: l.recovery_threshold.unwrap_or(d.recovery_threshold),
            reminder_interval_s: l.reminder_interval_s.unwrap_or(d.reminder_interval_s),
            notify_on_resolve: l.notify_on_resolve.unwrap_or(d.notify_on_resolve),
            flap_window_s: l.flap_window_s.unwrap_or(d.flap_window_s),
            quorum: l.quorum.unwrap_or(d.quorum),
            escalate_after_s: l.escalate_after_s.unwrap_or(d.escalate_after_s),
            escalate_to: l.escalate_to.unwrap_or(d.escalate_to),
        }
    }
}
