//! The audit as the domain uses it: see [`crate::audit`].

pub use crate::audit::trail::{AuditTrail, Outcome};
