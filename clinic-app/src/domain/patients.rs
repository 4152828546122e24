//! Finding and registering patients at reception: the vault does both and answers with
//! tokens. clinic-app passes the identity through and keeps nothing of it. The consents the
//! patient signed at registration are recorded in the vault right after.

use serde::Serialize;
use utoipa::ToSchema;
use vault_wire::{ConsentPurpose, PatientIdentity, PatientToken, SearchCriterion};

use super::Clinic;
use super::auth::{Capability, StaffPrincipal};
use super::error::ClinicError;
use super::rights::RecordedConsents;

/// A registered patient: the token, and the consents in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    #[schema(value_type = String)]
    pub token: PatientToken,
    pub consents: RecordedConsents,
}

impl Clinic {
    /// Tokens of the patients that match one criterion exactly.
    pub async fn find_patients(
        &self,
        who: &StaffPrincipal,
        criterion: SearchCriterion,
    ) -> Result<Vec<PatientToken>, ClinicError> {
        who.require(Capability::ManageAppointments)?;
        self.vault.search(criterion).await
    }

    /// Registers a patient in the vault and records the consents they signed on paper
    /// (channel `paper`; none is assumed: reminders and the app wait for theirs).
    pub async fn register_patient(
        &self,
        who: &StaffPrincipal,
        identity: PatientIdentity,
        consents: &[ConsentPurpose],
    ) -> Result<Registered, ClinicError> {
        who.require(Capability::ManageAppointments)?;
        if !consents.is_empty() {
            who.require(Capability::PatientRights)?;
        }
        let token = self.vault.register(identity).await?;
        let consents = self.record_registration_consents(&token, consents).await?;
        Ok(Registered { token, consents })
    }
}
