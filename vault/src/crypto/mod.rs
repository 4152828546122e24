//! Sealing of patient data: the cipher suites and the envelope format.
//!
//! Keys come from [`crate::keys`]; this module only turns a subkey plus a context into an
//! envelope and back. Every way an envelope can fail to open is the one [`OpenError`].

pub mod envelope;

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use gost_crypto::KuznyechikMgm;
use thiserror::Error;

pub use envelope::{Envelope, SealContext};

/// Cipher suite of an envelope. The id byte is stored in every envelope, so both suites can
/// coexist while a deployment migrates from one to the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Suite {
    /// AES-256-GCM-SIV (RFC 8452) with HKDF-SHA256 subkeys. The default.
    Aes256GcmSiv,
    /// Kuznyechik-MGM (RFC 9058) with KDF_GOSTR3411_2012_256 subkeys.
    GostKuznyechikMgm,
}

impl Suite {
    pub const fn id(self) -> u8 {
        match self {
            Suite::Aes256GcmSiv => 1,
            Suite::GostKuznyechikMgm => 2,
        }
    }

    pub const fn from_id(id: u8) -> Option<Self> {
        match id {
            1 => Some(Suite::Aes256GcmSiv),
            2 => Some(Suite::GostKuznyechikMgm),
            _ => None,
        }
    }

    pub const fn nonce_len(self) -> usize {
        match self {
            Suite::Aes256GcmSiv => 12,
            Suite::GostKuznyechikMgm => 16,
        }
    }

    pub const TAG_LEN: usize = 16;
}

/// The only error opening an envelope can give: a caller never learns whether the tag, the
/// key, the context or the framing was wrong.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("sealed data could not be opened")]
pub struct OpenError;

/// Sealing failed: the random source or the cipher refused (plaintext over the suite's limit).
#[derive(Debug, Error, PartialEq, Eq)]
#[error("data could not be sealed")]
pub struct SealError;

/// A ready AEAD key of one suite. Holds the expanded key schedule so that a warm open does no
/// key setup; the underlying ciphers zeroize their keys on drop.
pub enum SealingKey {
    Aes(Box<Aes256GcmSiv>),
    Gost(Box<KuznyechikMgm>),
}

impl SealingKey {
    pub fn new(suite: Suite, key: &[u8; 32]) -> Self {
        match suite {
            Suite::Aes256GcmSiv => SealingKey::Aes(Box::new(Aes256GcmSiv::new(key.into()))),
            Suite::GostKuznyechikMgm => SealingKey::Gost(Box::new(KuznyechikMgm::new(key))),
        }
    }

    pub fn suite(&self) -> Suite {
        match self {
            SealingKey::Aes(_) => Suite::Aes256GcmSiv,
            SealingKey::Gost(_) => Suite::GostKuznyechikMgm,
        }
    }

    fn encrypt(&self, nonce: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        match self {
            SealingKey::Aes(c) => {
                let nonce = Nonce::try_from(nonce).map_err(|_| SealError)?;
                c.encrypt(
                    &nonce,
                    Payload {
                        msg: plaintext,
                        aad,
                    },
                )
                .map_err(|_| SealError)
            }
            SealingKey::Gost(c) => {
                let nonce: &[u8; 16] = nonce.try_into().map_err(|_| SealError)?;
                c.encrypt(nonce, aad, plaintext).map_err(|_| SealError)
            }
        }
    }

    fn decrypt(&self, nonce: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        match self {
            SealingKey::Aes(c) => {
                let nonce = Nonce::try_from(nonce).map_err(|_| OpenError)?;
                c.decrypt(&nonce, Payload { msg: sealed, aad })
                    .map_err(|_| OpenError)
            }
            SealingKey::Gost(c) => {
                let nonce: &[u8; 16] = nonce.try_into().map_err(|_| OpenError)?;
                c.decrypt(nonce, aad, sealed).map_err(|_| OpenError)
            }
        }
    }
}

/// Fills a fresh nonce for the suite. Random nonces are safe here: GCM-SIV is nonce-misuse
/// resistant, and MGM's 127 random bits make a collision under one subkey negligible.
fn fresh_nonce(suite: Suite) -> Result<Vec<u8>, SealError> {
    let mut nonce = vec![0u8; suite.nonce_len()];
    getrandom::fill(&mut nonce).map_err(|_| SealError)?;
    if suite == Suite::GostKuznyechikMgm {
        // RFC 9058: the nonce's most significant bit is 0.
        nonce[0] &= 0x7f;
    }
    Ok(nonce)
}
