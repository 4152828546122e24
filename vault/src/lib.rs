//! The Medikamente vault: the only holder of patient identities and medical records.
//!
//! A library plus a thin binary (`main.rs`). Layout:
//! [`keys`] (the key hierarchy), [`crypto`] (suites and envelopes), [`store`] (all SQL),
//! [`domain`] (rules), [`http`] (handlers), [`startup`] and [`config`].

pub mod audit;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod domain;
pub mod http;
pub mod ids;
pub mod keys;
pub mod startup;
pub mod store;
pub mod telemetry;
