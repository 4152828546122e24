//! Access policy of the Medikamente vault. Pure: no I/O, no clock; the vault passes the facts in.
//!
//! - [`Purpose`] and [`FieldClass`]: the closed list of purposes and the field classes each may
//!   see (152-FZ purpose limitation).
//! - [`ConsentPurpose`]: what a patient may consent to; [`Purpose::required_consent`] says which
//!   purposes rest on which consent.
//! - `policies/schema.cedarschema` and `policies/vault.cedar`: the rules, in Cedar, embedded in
//!   the binary and validated against the schema when [`PolicyEngine::new`] runs (and in CI).
//! - [`AccessRequest`]: a typed request builder; [`PolicyEngine::decide`] answers it with a
//!   [`Decision`] carrying its reasons and [`Obligation`]s.
//!
//! Deny by default; a forbid beats any permit.

mod action;
mod cedar;
mod consent;
mod decision;
mod engine;
mod error;
mod memo;
mod names;
mod principal;
mod purpose;
mod request;

pub use action::Action;
pub use consent::{ConsentPurpose, UnknownConsentPurpose};
pub use decision::{Decision, Obligation};
pub use engine::{POLICY_SOURCE, PolicyEngine, SCHEMA_SOURCE};
pub use error::PolicyError;
pub use principal::{ConsumerDomain, Role};
pub use purpose::{FieldClass, Purpose, UnknownPurpose};
pub use request::AccessRequest;
