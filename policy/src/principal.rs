//! Who asks: a member of staff with a job role, or a consumer service.

use serde::{Deserialize, Serialize};

use crate::names::closed_names;

/// A member of staff's job role. The vault keeps it per account; the policy decides by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Doctor,
    Nurse,
    Receptionist,
    Cashier,
    Accountant,
    SecurityOfficer,
    Administrator,
}

closed_names!(Role, "role", {
    Doctor => "doctor",
    Nurse => "nurse",
    Receptionist => "receptionist",
    Cashier => "cashier",
    Accountant => "accountant",
    SecurityOfficer => "security_officer",
    Administrator => "administrator",
});

/// A consumer domain: a service that holds its own, unlinkable pseudonym tokens.
///
/// A closed list because every new consumer of patient data is a decision of the data
/// protection officer and needs its own rules in `vault.cedar`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsumerDomain {
    /// Scheduling, billing and the patient app's back end.
    ClinicApp,
    /// Statistics; holds tokens but gets no personal data from the vault.
    Analytics,
    /// The vault's own staff sessions (doctors, security officer): the tokens staff see. Not a
    /// service: no service may authenticate as it.
    VaultStaff,
}

closed_names!(ConsumerDomain, "consumer domain", {
    ClinicApp => "clinic-app",
    Analytics => "analytics",
    VaultStaff => "vault-staff",
});

/// The principal of a request, as the vault authenticated it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Principal {
    Staff {
        role: Role,
        staff_id: String,
        branch: String,
    },
    Service(ConsumerDomain),
}
