//! Alerts raised by rules over the audit stream.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One alert. `principal` is a staff id or `service:<domain>`; `seq_first`..`seq_last` are the
/// audit events that raised it (look them up with searchAudit). No personal data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AlertView {
    pub alert_id: String,
    pub raised_at: i64,
    /// break_glass_started, after_hours_access, patient_volume, repeated_denials,
    /// service_resolve_rate or colleague_record.
    pub rule: String,
    pub principal: String,
    pub seq_first: i64,
    pub seq_last: i64,
    pub details: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ListAlertsResponse {
    pub alerts: Vec<AlertView>,
}
