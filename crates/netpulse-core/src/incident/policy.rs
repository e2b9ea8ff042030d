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

    pub fn validate(&self) -> Result<(), FieldError> {
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
        self.validate_escalation()
    }

    fn validate_escalation(&self) -> Result<(), FieldError> {
        match self.escalate_after_s {
            Some(s) if !(1..=604_800).contains(&s) => Err(FieldError::new(
                "policy.escalate_after_s",
                "must be between 1 and 604800 seconds (one week), or null for no escalation",
            )),
            Some(_) if self.escalate_to.is_empty() => Err(FieldError::new(
                "policy.escalate_to",
                "name at least one channel id to escalate to, or set escalate_after_s to null",
            )),
            _ if self.escalate_to.len() > 20 => Err(FieldError::new("policy.escalate_to", "at most 20 channels")),
            _ => Ok(()),
        }
    }
}
