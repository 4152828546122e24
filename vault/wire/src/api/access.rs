//! Access grounds the policy checks: care relationships and break-glass.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ParseError;
use crate::ids::PatientToken;
use crate::text::Justification;

/// A staff id as it may appear in a request: 1 to 128 characters, no whitespace, no control
/// characters and none of `/ ? # %`, so it is always one clean URL path segment.
pub(crate) fn check_staff_id(id: &str) -> Result<(), ParseError> {
    let ok = (1..=128).contains(&id.chars().count())
        && !id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '?' | '#' | '%'));
    if ok {
        Ok(())
    } else {
        Err(ParseError::new(
            "doctor_staff_id",
            "expected 1 to 128 characters without spaces or / ? # %",
        ))
    }
}

/// `PUT /v1/care-relationships`: the doctor treats the patient from `from` until `until` (Unix
/// seconds, `from < until`). Putting the same doctor and patient again replaces the window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "CareRelationshipWire")]
pub struct CareRelationshipRequest {
    doctor_staff_id: String,
    patient: PatientToken,
    from: i64,
    until: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CareRelationshipWire {
    doctor_staff_id: String,
    patient: PatientToken,
    from: i64,
    until: i64,
}

impl TryFrom<CareRelationshipWire> for CareRelationshipRequest {
    type Error = ParseError;
    fn try_from(w: CareRelationshipWire) -> Result<Self, ParseError> {
        Self::new(w.doctor_staff_id, w.patient, w.from, w.until)
    }
}

impl CareRelationshipRequest {
    pub fn new(
        doctor_staff_id: String,
        patient: PatientToken,
        from: i64,
        until: i64,
    ) -> Result<Self, ParseError> {
        check_staff_id(&doctor_staff_id)?;
        if from >= until {
            return Err(ParseError::new("until", "must be later than from"));
        }
        Ok(Self {
            doctor_staff_id,
            patient,
            from,
            until,
        })
    }

    pub fn doctor_staff_id(&self) -> &str {
        &self.doctor_staff_id
    }

    pub fn patient(&self) -> &PatientToken {
        &self.patient
    }

    /// Start of the window, Unix seconds.
    pub fn from(&self) -> i64 {
        self.from
    }

    /// End of the window (exclusive), Unix seconds.
    pub fn until(&self) -> i64 {
        self.until
    }
}

/// Why the glass is broken: HL7 v3 ActReason codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum BreakGlassReason {
    /// Break the glass: access outside the normal rules for a reason given in the justification.
    #[serde(rename = "BTG")]
    Btg,
    /// Emergency treatment.
    #[serde(rename = "ETREAT")]
    Etreat,
}

/// Starts a break-glass grant for one patient. `minutes` is 1 to 240 and defaults to 60.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "StartBreakGlassWire")]
pub struct StartBreakGlassRequest {
    patient: PatientToken,
    reason: BreakGlassReason,
    justification: Justification,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 240, default = 60)]
    minutes: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBreakGlassWire {
    patient: PatientToken,
    reason: BreakGlassReason,
    justification: Justification,
    #[serde(default)]
    minutes: Option<u32>,
}

impl TryFrom<StartBreakGlassWire> for StartBreakGlassRequest {
    type Error = ParseError;
    fn try_from(w: StartBreakGlassWire) -> Result<Self, ParseError> {
        Self::new(w.patient, w.reason, w.justification, w.minutes)
    }
}

impl StartBreakGlassRequest {
    pub const DEFAULT_MINUTES: u32 = 60;
    pub const MAX_MINUTES: u32 = 240;

    pub fn new(
        patient: PatientToken,
        reason: BreakGlassReason,
        justification: Justification,
        minutes: Option<u32>,
    ) -> Result<Self, ParseError> {
        if minutes.is_some_and(|m| !(1..=Self::MAX_MINUTES).contains(&m)) {
            return Err(ParseError::new("minutes", "expected 1 to 240"));
        }
        Ok(Self {
            patient,
            reason,
            justification,
            minutes,
        })
    }

    pub fn patient(&self) -> &PatientToken {
        &self.patient
    }

    pub fn reason(&self) -> BreakGlassReason {
        self.reason
    }

    pub fn justification(&self) -> &Justification {
        &self.justification
    }

    /// The grant's length in minutes, the default applied.
    pub fn minutes(&self) -> u32 {
        self.minutes.unwrap_or(Self::DEFAULT_MINUTES)
    }
}

/// A break-glass grant: valid until `expires_at` (Unix seconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BreakGlassGrant {
    pub grant_id: Uuid,
    pub expires_at: i64,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn token() -> PatientToken {
        PatientToken::from_random([7; 16])
    }

    #[test]
    fn care_relationship_shape_and_window() {
        let req = CareRelationshipRequest::new("dr-petrov".into(), token(), 100, 200).unwrap();
        let json = serde_json::to_value(&req).unwrap();
        assert_eq!(
            json,
            json!({"doctor_staff_id": "dr-petrov", "patient": token().to_string(), "from": 100, "until": 200})
        );
        assert_eq!(
            serde_json::from_value::<CareRelationshipRequest>(json).unwrap(),
            req
        );
        for (doctor, from, until, what) in [
            ("dr", 200, 200, "invalid until"),
            ("dr", 300, 200, "invalid until"),
            ("", 1, 2, "invalid doctor_staff_id"),
            ("dr petrov", 1, 2, "invalid doctor_staff_id"),
            ("../admin", 1, 2, "invalid doctor_staff_id"),
        ] {
            let err = serde_json::from_value::<CareRelationshipRequest>(json!({
                "doctor_staff_id": doctor, "patient": token().to_string(), "from": from, "until": until
            }))
            .unwrap_err();
            assert!(err.to_string().starts_with(what), "{err}");
        }
        assert!(serde_json::from_value::<CareRelationshipRequest>(json!({
            "doctor_staff_id": "dr", "patient": token().to_string(), "from": 1, "until": 2, "branch": "x"
        }))
        .is_err());
    }

    #[test]
    fn break_glass_reasons_are_hl7_codes() {
        assert_eq!(
            serde_json::to_value(BreakGlassReason::Btg).unwrap(),
            json!("BTG")
        );
        assert_eq!(
            serde_json::to_value(BreakGlassReason::Etreat).unwrap(),
            json!("ETREAT")
        );
        assert!(serde_json::from_value::<BreakGlassReason>(json!("btg")).is_err());
    }

    #[test]
    fn break_glass_minutes_default_to_60_and_stay_within_240() {
        let base = json!({
            "patient": token().to_string(),
            "reason": "ETREAT",
            "justification": "Пациент без сознания, лечащий врач недоступен"
        });
        let req: StartBreakGlassRequest = serde_json::from_value(base.clone()).unwrap();
        assert_eq!(req.minutes(), 60);
        assert_eq!(serde_json::to_value(&req).unwrap(), base);
        for (m, ok) in [(1, true), (240, true), (0, false), (241, false)] {
            let mut v = base.clone();
            v["minutes"] = json!(m);
            let r = serde_json::from_value::<StartBreakGlassRequest>(v);
            assert_eq!(r.is_ok(), ok, "{m}");
            if ok {
                assert_eq!(r.unwrap().minutes(), m);
            }
        }
        let mut short = base.clone();
        short["justification"] = json!("срочно");
        let err = serde_json::from_value::<StartBreakGlassRequest>(short).unwrap_err();
        assert!(
            err.to_string().starts_with("invalid justification"),
            "{err}"
        );
        let grant: BreakGlassGrant = serde_json::from_value(
            json!({"grant_id": "6f1c2e0a-8a4b-4c39-9a55-0d6c1f2b3a4d", "expires_at": 1_764_205_200}),
        )
        .unwrap();
        assert_eq!(grant.expires_at, 1_764_205_200);
    }
}
