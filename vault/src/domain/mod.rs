//! The vault's rules, over storage and key custody. Handlers call these; nothing here knows HTTP.

pub mod alerts;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod calendar;
pub mod care;
pub mod identity;
pub mod oversight;
pub mod patients;
pub mod principal;
pub mod records;
pub mod rights;
pub mod sealing;
pub mod unseal_cache;

pub use sealing::{RecordRef, SealedData, VaultError};
