//! The vault's rules, over storage and key custody. Handlers call these; nothing here knows HTTP.

pub mod sealing;

pub use sealing::{RecordRef, SealedData, VaultError};
