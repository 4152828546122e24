//! The crate's single error type.

/// Errors from this crate.
///
/// Decryption, key import and MAC verification report every failure as
/// [`Error::Authentication`] on purpose: telling "bad tag" from "bad length" apart
/// would help an attacker probing the vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Encryption was asked to use an MGM nonce whose most significant bit is set;
    /// RFC 9058 §4 requires it to be 0.
    #[error("MGM nonce must have its most significant bit clear")]
    InvalidNonce,
    /// An input or requested output length is outside what the algorithm allows.
    #[error("input or output length out of range")]
    InvalidLength,
    /// Decryption, key import or MAC verification failed (deliberately opaque).
    #[error("authentication failed")]
    Authentication,
}
