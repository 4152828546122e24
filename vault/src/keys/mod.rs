//! The key hierarchy, all in this folder.
//!
//! ```text
//! KEK  (in the token: non-extractable, wrap/unwrap only, label "<kek_label>-v<N>")
//!  └─ patient DEK  (256-bit random, one per patient, stored only as a WrappedDek)
//!      └─ subkeys per purpose and suite (HKDF-SHA256 or KDF_GOSTR3411_2012_256):
//!         record sealing, attachment sealing
//! ```
//!
//! * [`provider`]: the one trait every key custodian implements (`pkcs11` token or `danger_soft`).
//! * [`dek`]: the DEK and the subkeys derived from it.
//! * [`cache`]: unwrapped patient keys, bounded and TTL'd, zeroized on eviction.
//! * [`custody`]: the async face the rest of the vault uses; token calls run off the runtime.
//! * [`rotation`]: new KEK versions and the resumable rewrap of wrapped DEKs.
//! * [`retirement`]: destroying old KEK versions once backup retention has passed since their
//!   rewrap, so that a shred becomes final in backups too.

pub mod cache;
pub mod custody;
pub mod dek;
pub mod pkcs11;
pub mod profile;
pub mod provider;
pub mod retirement;
pub mod rotation;
pub mod soft;
pub mod system;

use std::fmt;
use std::str::FromStr;

pub use custody::KeyCustody;
pub use dek::{Dek, PatientKeys};
pub use provider::{KeyError, KeyProvider};

/// Version of the key-encryption key. Every wrapped DEK names the version that wrapped it,
/// and the token holds one key object per version.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct KekVersion(u32);

impl KekVersion {
    pub const FIRST: KekVersion = KekVersion(1);

    pub fn new(v: u32) -> Option<Self> {
        (v > 0).then_some(Self(v))
    }

    pub fn get(self) -> u32 {
        self.0
    }

    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }

    /// The token label of this version: `<base>-v<N>`.
    pub fn label(self, base: &str) -> String {
        format!("{base}-v{}", self.0)
    }

    /// Reads the version back from a label made by [`KekVersion::label`].
    pub fn from_label(base: &str, label: &str) -> Option<Self> {
        label
            .strip_prefix(base)?
            .strip_prefix("-v")?
            .parse::<u32>()
            .ok()
            .and_then(Self::new)
    }
}

impl fmt::Display for KekVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl FromStr for KekVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim_start_matches('v')
            .parse::<u32>()
            .ok()
            .and_then(Self::new)
            .ok_or_else(|| format!("'{s}' is not a KEK version (expected v1, v2, ...)"))
    }
}

/// A patient DEK as stored: wrapped by one KEK version, never in the clear.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedDek {
    pub kek_version: KekVersion,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for WrappedDek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WrappedDek({}, {} bytes)",
            self.kek_version,
            self.bytes.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kek_labels_round_trip_and_reject_lookalikes() {
        let v = KekVersion::new(12).unwrap();
        assert_eq!(v.label("medikamente-kek"), "medikamente-kek-v12");
        assert_eq!(
            KekVersion::from_label("medikamente-kek", "medikamente-kek-v12"),
            Some(v)
        );
        assert_eq!(
            KekVersion::from_label("medikamente-kek", "medikamente-kek-v0"),
            None
        );
        assert_eq!(
            KekVersion::from_label("medikamente-kek", "other-kek-v1"),
            None
        );
        assert_eq!(
            KekVersion::from_label("medikamente-kek", "medikamente-kek-vX"),
            None
        );
        assert_eq!("v3".parse::<KekVersion>().unwrap().get(), 3);
        assert!("v0".parse::<KekVersion>().is_err());
    }
}
