//! Medikamente clinic app: scheduling, billing and the patient app's back end.
//!
//! Patients appear here only as vault tokens. The service itself comes with the clinic-app
//! issue; this crate starts with the money type billing is built on.

pub mod money;
