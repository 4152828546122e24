//! The clinic's rules. Handlers call one method of [`Clinic`]; the methods check who may do
//! it, talk to the store and to the vault, and return typed results or a [`ClinicError`].

pub mod appointments;
pub mod auth;
pub mod billing;
pub mod directory;
pub mod error;
pub mod export;
pub mod patient_app;
pub mod patients;
pub mod reminders;
pub mod rights;
pub mod schedule;

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::ClinicIdentity;
use crate::store::Database;
use crate::vault::Vault;

pub use error::ClinicError;

/// Everything a domain operation needs: the database, the vault, the clock, who the clinic is.
pub struct Clinic {
    pub db: Database,
    pub vault: Vault,
    pub clock: Arc<dyn Clock>,
    pub identity: ClinicIdentity,
    /// Where SMS and e-mail go (a file in development).
    pub sender: Arc<dyn reminders::MessageSender>,
    /// Keys of the patient app's sign-in (phone digests, code hashes); never in the database.
    pub login_keys: patient_app::LoginKeys,
}
