//! Who is calling and what they may do.
//!
//! Staff sign in with a username and password (argon2id) and get a bearer session `cs_...`;
//! patients sign in to the mobile app by a one-time code (see [`super::patient_app`]) and get
//! `cp_...`. Only the SHA-256 of a session is stored. What each staff role may do is the table
//! in [`Role::can`]; nobody in clinic-app sees medical data, because clinic-app has none and the
//! vault refuses it to the clinic-app domain.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};
use vault_wire::PatientToken;
use zeroize::Zeroizing;

use super::error::ClinicError;
use crate::clock::Clock;
use crate::store::{self, Database};

/// Staff roles of clinic-app (the clinic's own staff, not the vault's accounts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Receptionist,
    Cashier,
    Doctor,
    Accountant,
    Administrator,
}

/// What a request wants to do; [`Role::can`] is the whole permission table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    /// See the day's schedule with patients' names (resolved by the vault, purpose scheduling).
    ViewSchedule,
    /// Book, cancel, reschedule, mark arrival or no-show; find and register patients.
    ManageAppointments,
    /// Mark a visit in progress or completed.
    ConductVisit,
    /// Branches, rooms, services, prices, weekly templates, leave and sick days.
    EditDirectory,
    /// Invoices, payments, refunds, shifts, receipts.
    TakePayments,
    /// Daily 1C export, tax certificates.
    Accounting,
    /// A patient's rights at the desk: record the consents they sign, file their access and
    /// deletion requests (152-FZ art. 9, 14, 21). The vault's policy gives this to reception
    /// alone among staff, and so does this table.
    PatientRights,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Receptionist,
        Role::Cashier,
        Role::Doctor,
        Role::Accountant,
        Role::Administrator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Receptionist => "receptionist",
            Role::Cashier => "cashier",
            Role::Doctor => "doctor",
            Role::Accountant => "accountant",
            Role::Administrator => "administrator",
        }
    }

    /// The permission table. A cashier sees the schedule (to bill a visit) but cannot change
    /// it; a doctor conducts visits but books nothing; only the administrator edits the
    /// directory; only reception takes a patient's consents and data requests.
    pub fn can(self, capability: Capability) -> bool {
        use Capability::*;
        match self {
            Role::Receptionist => matches!(
                capability,
                ViewSchedule | ManageAppointments | TakePayments | PatientRights
            ),
            Role::Cashier => matches!(capability, ViewSchedule | TakePayments),
            Role::Doctor => matches!(capability, ViewSchedule | ConductVisit),
            Role::Accountant => matches!(capability, Accounting),
            Role::Administrator => matches!(
                capability,
                ViewSchedule | ManageAppointments | ConductVisit | EditDirectory | Accounting
            ),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ClinicError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                ClinicError::invalid(
                    "invalid_role",
                    "role",
                    "role: use receptionist, cashier, doctor, accountant or administrator",
                )
            })
    }
}

/// The caller of a request.
#[derive(Clone, Debug)]
pub enum Principal {
    Staff(StaffPrincipal),
    Patient(PatientToken),
}

#[derive(Clone, Debug)]
pub struct StaffPrincipal {
    pub staff_id: String,
    pub role: Role,
    pub branch_id: Option<String>,
}

impl StaffPrincipal {
    /// Refuses the request unless the role has the capability.
    pub fn require(&self, capability: Capability) -> Result<(), ClinicError> {
        if self.role.can(capability) {
            Ok(())
        } else {
            Err(ClinicError::Forbidden(format!(
                "the {} role cannot do this",
                self.role
            )))
        }
    }
}

/// Staff sessions last a working shift.
pub const STAFF_SESSION_SECONDS: i64 = 12 * 3600;
/// Patient app sessions last 30 days; signing out or a deletion request ends them.
pub const PATIENT_SESSION_SECONDS: i64 = 30 * 24 * 3600;
/// Failed sign-ins per username before it is locked for [`THROTTLE_WINDOW`] seconds.
const MAX_FAILURES: usize = 5;
const THROTTLE_WINDOW: i64 = 15 * 60;

pub struct Auth {
    db: Database,
    clock: Arc<dyn Clock>,
    /// Recent failed sign-ins per username (in memory: per process).
    failures: Mutex<HashMap<String, Vec<i64>>>,
}

pub struct SignedIn {
    pub session: Zeroizing<String>,
    pub expires_at: i64,
    pub role: Role,
    pub staff_id: String,
}

pub fn session_hash(session: &str) -> [u8; 32] {
    Sha256::digest(session.as_bytes()).into()
}

/// A new bearer secret: a prefix and 256 random bits in hex.
pub fn new_secret(prefix: &str) -> Result<Zeroizing<String>, ClinicError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut())
        .map_err(|_| ClinicError::VaultUnavailable("the system random source failed".into()))?;
    Ok(Zeroizing::new(format!("{prefix}{}", hex::encode(*bytes))))
}

pub fn hash_password(password: &str) -> Result<String, ClinicError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| {
            ClinicError::invalid("invalid_password", "password", "password: cannot be hashed")
        })
}

impl Auth {
    pub fn new(db: Database, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            clock,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Adds a staff account. Doctors may have no password (they work in the vault, and
    /// appear here in the directory); everybody who signs in here needs one of 12+ characters.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_staff(
        &self,
        username: &str,
        display_name: &str,
        role: Role,
        branch_id: Option<&str>,
        specialty: Option<&str>,
        vault_staff_id: Option<&str>,
        password: Option<&str>,
    ) -> Result<String, ClinicError> {
        if username.is_empty()
            || username.len() > 64
            || !username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(ClinicError::invalid(
                "invalid_username",
                "username",
                "username: 1 to 64 letters, digits, '.', '-' or '_'",
            ));
        }
        let password_hash = match password {
            Some(p) if p.chars().count() < 12 => {
                return Err(ClinicError::invalid(
                    "weak_password",
                    "password",
                    "password: at least 12 characters",
                ));
            }
            Some(p) => {
                let p = Zeroizing::new(p.to_owned());
                Some(
                    tokio::task::spawn_blocking(move || hash_password(&p))
                        .await
                        .map_err(|_| {
                            ClinicError::VaultUnavailable("password hashing stopped".into())
                        })??,
                )
            }
            None => None,
        };
        let staff_id = store::new_id();
        let row = store::staff::NewStaff {
            staff_id: &staff_id,
            username,
            display_name,
            role: role.as_str(),
            branch_id,
            specialty,
            vault_staff_id,
            password_hash: password_hash.as_deref(),
        };
        store::staff::insert_staff(&self.db, &row, self.clock.now())
            .await
            .map_err(|e| match e {
                store::StoreError::Conflict => ClinicError::conflict(
                    "username_taken",
                    "this username is taken; choose another",
                ),
                other => other.into(),
            })?;
        Ok(staff_id)
    }

    fn throttled(&self, username: &str, now: i64) -> bool {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let list = failures.entry(username.to_owned()).or_default();
        list.retain(|t| now - t < THROTTLE_WINDOW);
        list.len() >= MAX_FAILURES
    }

    fn record_failure(&self, username: &str, now: i64) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.entry(username.to_owned()).or_default().push(now);
    }

    /// Signs a staff member in. Wrong username and wrong password answer alike.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<SignedIn, ClinicError> {
        let now = self.clock.now();
        if self.throttled(username, now) {
            return Err(ClinicError::TooManyRequests(
                "too many failed sign-ins for this account; wait 15 minutes or ask an administrator".into(),
            ));
        }
        let row = store::staff::staff_by_username(&self.db, username).await?;
        let hash = row
            .as_ref()
            .filter(|r| r.disabled_at.is_none())
            .and_then(|r| r.password_hash.clone());
        let password = Zeroizing::new(password.to_owned());
        let ok = tokio::task::spawn_blocking(move || match hash {
            Some(hash) => Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok(),
            None => false,
        })
        .await
        .unwrap_or(false);
        let Some(row) = row.filter(|_| ok) else {
            self.record_failure(username, now);
            tracing::info!("staff sign-in refused");
            return Err(ClinicError::Unauthenticated);
        };
        let role: Role = row
            .role
            .parse()
            .map_err(|_| store::StoreError::Corrupt("staff.role".into()))?;
        let session = new_secret("cs_")?;
        let expires_at = now + STAFF_SESSION_SECONDS;
        store::staff::insert_session(
            &self.db,
            &session_hash(&session),
            Some(&row.staff_id),
            None,
            now,
            expires_at,
        )
        .await?;
        tracing::info!(staff_id = %row.staff_id, role = %role, "staff signed in");
        Ok(SignedIn {
            session,
            expires_at,
            role,
            staff_id: row.staff_id,
        })
    }

    /// Opens a patient app session for a token (after a verified one-time code).
    pub async fn open_patient_session(
        &self,
        token: &PatientToken,
    ) -> Result<(Zeroizing<String>, i64), ClinicError> {
        let now = self.clock.now();
        let session = new_secret("cp_")?;
        let expires_at = now + PATIENT_SESSION_SECONDS;
        store::staff::insert_session(
            &self.db,
            &session_hash(&session),
            None,
            Some(token.as_str()),
            now,
            expires_at,
        )
        .await?;
        Ok((session, expires_at))
    }

    /// The principal of a bearer session, or `Unauthenticated`.
    pub async fn principal(&self, session: &str) -> Result<Principal, ClinicError> {
        let now = self.clock.now();
        let row = store::staff::session(&self.db, &session_hash(session))
            .await?
            .filter(|s| s.revoked_at.is_none() && s.expires_at > now)
            .ok_or(ClinicError::Unauthenticated)?;
        match (row.staff_id, row.patient_token) {
            (Some(staff_id), None) => {
                let staff = store::staff::staff_by_id(&self.db, &staff_id)
                    .await?
                    .filter(|s| s.disabled_at.is_none())
                    .ok_or(ClinicError::Unauthenticated)?;
                let role = staff
                    .role
                    .parse()
                    .map_err(|_| store::StoreError::Corrupt("staff.role".into()))?;
                Ok(Principal::Staff(StaffPrincipal {
                    staff_id,
                    role,
                    branch_id: staff.branch_id,
                }))
            }
            (None, Some(token)) => token
                .parse::<PatientToken>()
                .map(Principal::Patient)
                .map_err(|_| store::StoreError::Corrupt("sessions.patient_token".into()).into()),
            _ => Err(store::StoreError::Corrupt("sessions".into()).into()),
        }
    }

    pub async fn sign_out(&self, session: &str) -> Result<(), ClinicError> {
        store::staff::revoke_session(&self.db, &session_hash(session), self.clock.now()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cashier_cannot_edit_schedules_and_an_accountant_sees_no_schedule() {
        assert!(!Role::Cashier.can(Capability::ManageAppointments));
        assert!(!Role::Cashier.can(Capability::EditDirectory));
        assert!(Role::Cashier.can(Capability::TakePayments));
        assert!(!Role::Accountant.can(Capability::ViewSchedule));
        assert!(!Role::Doctor.can(Capability::ManageAppointments));
        assert!(Role::Administrator.can(Capability::EditDirectory));
        assert!(!Role::Receptionist.can(Capability::EditDirectory));
    }

    #[test]
    fn only_reception_takes_consents_and_data_requests() {
        for role in Role::ALL {
            assert_eq!(
                role.can(Capability::PatientRights),
                role == Role::Receptionist,
                "{role}"
            );
        }
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("nurse".parse::<Role>().is_err());
    }
}
