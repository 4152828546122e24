//! Finding and registering patients at reception: the vault does both and answers with
//! tokens. clinic-app passes the identity through and keeps nothing of it.

use vault_wire::{PatientIdentity, PatientToken, SearchCriterion};

use super::Clinic;
use super::auth::{Capability, StaffPrincipal};
use super::error::ClinicError;

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

    /// Registers a patient in the vault; the answer is the clinic-app token.
    pub async fn register_patient(
        &self,
        who: &StaffPrincipal,
        identity: PatientIdentity,
    ) -> Result<PatientToken, ClinicError> {
        who.require(Capability::ManageAppointments)?;
        self.vault.register(identity).await
    }
}
