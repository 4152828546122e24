//! Medikamente clinic app: scheduling, billing and the patient app's back end.
//!
//! Patients appear here only as vault tokens (`pt_...` of the clinic-app domain). Names and
//! contacts are resolved from the vault per request, with a purpose, and never stored.

pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod http;
pub mod money;
pub mod startup;
pub mod store;
pub mod vault;
