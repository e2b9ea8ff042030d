//! An organisation's alerting defaults: the policy fields its monitors inherit and its storm
//! control, stored per tenant (table `tenant_settings`) and edited through
//! `/api/v1/settings/alerting` and the dashboard's `/settings/alerting`.
//!
//! Each value is optional: unset policy fields fall back to [`Policy::default`], unset storm
//! values to the engine's `[alerts] storm_threshold` / `storm_window_s`. The effective policy
//! of a monitor is [`Policy::resolve`] of its own fields over these, and nothing else.

use crate::error::StoreResult;
use async_trait::async_trait;
use netpulse_core::incident::{Policy, PolicyLayer};
use netpulse_core::monitor::FieldError;
use netpulse_core::storm::StormPolicy;
use netpulse_core::{TenantId, Timestamp};
use serde::{Deserialize, Serialize};

/// A tenant's alerting defaults as stored (JSON in `tenant_settings.alerting`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingDefaults {
    /// The policy fields every monitor that does not set them inherits.
    pub policy: PolicyLayer,
    /// Distinct monitors paging within the window that make a storm; `0` turns it off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storm_threshold: Option<u32>,
    /// The storm window, and how long a storm must be quiet to end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storm_window_s: Option<u32>,
}

impl AlertingDefaults {
    /// The tenant's storm control: its own values over the engine's config.
    pub fn storm(&self, engine: &StormPolicy) -> StormPolicy {
        StormPolicy {
            threshold: self.storm_threshold.unwrap_or(engine.threshold),
            window_s: self.storm_window_s.unwrap_or(engine.window_s),
        }
    }

    /// The effective policy of a monitor whose own fields are `monitor`.
    pub fn policy_for(&self, monitor: &PolicyLayer) -> Policy {
        Policy::resolve(monitor, &self.policy)
    }

    /// The defaults must make a valid policy on their own (a monitor that sets nothing gets
    /// exactly them); the storm values have the engine config's bounds.
    pub fn validate(&self) -> Result<(), FieldError> {
        self.policy_for(&PolicyLayer::default()).validate()?;
        if self.storm_threshold.is_some_and(|t| t > 1000) {
            return Err(FieldError::new("storm_threshold", "must be between 0 (off) and 1000"));
        }
        if self.storm_window_s.is_some_and(|w| !(1..=3600).contains(&w)) {
            return Err(FieldError::new("storm_window_s", "must be between 1 and 3600 seconds"));
        }
        Ok(())
    }
}

/// An organisation's alerting defaults, read and replaced.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// The tenant's defaults; all unset when it has none.
    async fn alerting_defaults(&self, t: &TenantId) -> StoreResult<AlertingDefaults>;
    /// Replace the tenant's defaults and, in the same transaction, bump `updated_at` of all
    /// its monitors (their effective policy changed: every cache keyed by the monitor row's
    /// version must see it).
    async fn set_alerting_defaults(&self, t: &TenantId, d: &AlertingDefaults, now: Timestamp) -> StoreResult<()>;
}
