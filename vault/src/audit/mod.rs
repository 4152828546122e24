//! The tamper-evident audit: events built per request ([`trail`]), chained by hash
//! ([`chain`]), written by one group-commit writer ([`writer`]) with checkpoints signed by a
//! key in the token, and checked offline by `vault audit verify` ([`verify`]).

pub mod alerts;
pub mod chain;
pub mod export;
pub mod trail;
pub mod verify;
pub mod writer;

pub use writer::AuditWriter;
