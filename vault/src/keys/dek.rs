//! The patient DEK and the subkeys derived from it.

use std::sync::OnceLock;

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::KeyError;
use crate::crypto::envelope::{self, Envelope, SealContext};
use crate::crypto::{OpenError, SealError, SealingKey, Suite};

pub const DEK_LEN: usize = 32;

/// A patient's data-encryption key in the clear. Lives only in memory, zeroized on drop;
/// no `Debug`, `Clone` or `Serialize` so it cannot be printed, copied or sent by accident.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Dek([u8; DEK_LEN]);

impl Dek {
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = [0u8; DEK_LEN];
        getrandom::fill(&mut bytes)
            .map_err(|_| KeyError::Unavailable("the system random source failed".into()))?;
        Ok(Self(bytes))
    }

    /// Takes ownership of unwrapped bytes; anything but 32 bytes is the opaque unwrap error.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let array: [u8; DEK_LEN] = bytes.try_into().map_err(|_| KeyError::Unwrap)?;
        Ok(Self(array))
    }

    /// The raw bytes, for the key providers and the subkey derivation only.
    pub(crate) fn expose(&self) -> &[u8; DEK_LEN] {
        &self.0
    }
}

/// What a subkey is for. The info/label strings are part of the key hierarchy: changing one
/// makes existing data unreadable, so a change needs a new suite or format version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubkeyPurpose {
    RecordSealing,
    AttachmentSealing,
}

impl SubkeyPurpose {
    fn info(self) -> &'static [u8] {
        match self {
            SubkeyPurpose::RecordSealing => b"medikamente/v1/record-sealing",
            SubkeyPurpose::AttachmentSealing => b"medikamente/v1/attachment-sealing",
        }
    }
}

/// Domain separation for HKDF-Extract; constant, as RFC 5869 section 3.1 allows.
const HKDF_SALT: &[u8] = b"medikamente-vault";

/// Derives a 256-bit subkey of the DEK for one purpose under one suite.
pub fn derive_subkey(suite: Suite, dek: &Dek, purpose: SubkeyPurpose) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    match suite {
        Suite::Aes256GcmSiv => {
            let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), dek.expose());
            #[allow(clippy::expect_used)]
            // Invariant: HKDF-SHA256 expand fails only for outputs over 255 * 32 bytes; ours is 32.
            hk.expand(purpose.info(), out.as_mut())
                .expect("32-byte HKDF output");
        }
        Suite::GostKuznyechikMgm => {
            let key = gost_crypto::kdf_gostr3411_2012_256(dek.expose(), purpose.info(), b"v1");
            out.copy_from_slice(key.as_ref());
        }
    }
    out
}

/// A patient's unwrapped keys: the DEK and, per suite, ready sealing keys derived once.
/// This is what the DEK cache holds, so a warm open costs one AEAD call and no derivation.
pub struct PatientKeys {
    dek: Dek,
    dek_version: u32,
    /// One sealing key per (suite, purpose), derived on first use: a record open never pays
    /// for the attachment key or the other suite.
    sealing: [OnceLock<SealingKey>; 4],
}

impl PatientKeys {
    pub fn new(dek: Dek, dek_version: u32) -> Self {
        Self {
            dek,
            dek_version,
            sealing: Default::default(),
        }
    }

    pub fn dek_version(&self) -> u32 {
        self.dek_version
    }

    /// Seals `plaintext` for `ctx` under this patient's subkey for `purpose` in `suite`.
    pub fn seal(
        &self,
        suite: Suite,
        purpose: SubkeyPurpose,
        ctx: &SealContext<'_>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        envelope::seal(self.key(suite, purpose), self.dek_version, ctx, plaintext)
    }

    /// Opens an envelope sealed for `ctx`. The suite comes from the envelope; an envelope of
    /// another DEK version, patient or context fails with the one opaque [`OpenError`].
    pub fn open(
        &self,
        purpose: SubkeyPurpose,
        ctx: &SealContext<'_>,
        bytes: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let parsed = Envelope::parse(bytes).map_err(|_| OpenError)?;
        if parsed.dek_version != self.dek_version {
            return Err(OpenError);
        }
        envelope::open(self.key(parsed.suite, purpose), &parsed, ctx)
    }

    /// The sealing key of one suite and purpose, derived on first use.
    fn key(&self, suite: Suite, purpose: SubkeyPurpose) -> &SealingKey {
        let slot = match (suite, purpose) {
            (Suite::Aes256GcmSiv, SubkeyPurpose::RecordSealing) => 0,
            (Suite::Aes256GcmSiv, SubkeyPurpose::AttachmentSealing) => 1,
            (Suite::GostKuznyechikMgm, SubkeyPurpose::RecordSealing) => 2,
            (Suite::GostKuznyechikMgm, SubkeyPurpose::AttachmentSealing) => 3,
        };
        self.sealing[slot]
            .get_or_init(|| SealingKey::new(suite, &derive_subkey(suite, &self.dek, purpose)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subkeys_differ_by_purpose_and_suite() {
        let dek = Dek::from_slice(&[7u8; 32]).unwrap();
        let a = derive_subkey(Suite::Aes256GcmSiv, &dek, SubkeyPurpose::RecordSealing);
        let b = derive_subkey(Suite::Aes256GcmSiv, &dek, SubkeyPurpose::AttachmentSealing);
        let c = derive_subkey(Suite::GostKuznyechikMgm, &dek, SubkeyPurpose::RecordSealing);
        assert_ne!(*a, *b);
        assert_ne!(*a, *c);
        assert_ne!(&a[..], &[7u8; 32][..]);
    }

    #[test]
    fn wrong_length_dek_is_refused() {
        assert!(matches!(Dek::from_slice(&[0u8; 31]), Err(KeyError::Unwrap)));
        assert!(matches!(Dek::from_slice(&[0u8; 33]), Err(KeyError::Unwrap)));
    }
}
