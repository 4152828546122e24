//! The sealed-data envelope: a self-describing binary header, then ciphertext and tag.
//!
//! ```text
//! offset  size  field                      (integers big-endian)
//! 0       2     magic "MK" (0x4D 0x4B)
//! 2       1     format version = 1
//! 3       1     suite id (1 = AES-256-GCM-SIV, 2 = Kuznyechik-MGM)
//! 4       4     DEK version
//! 8       n     nonce (n = 12 for suite 1, 16 for suite 2)
//! 8+n     rest  ciphertext || 16-byte tag
//! ```
//!
//! The AAD is the header (bytes 0..8+n) followed by the context the envelope belongs to:
//! patient id (16 bytes), record id (16 bytes), record version (4 bytes), field length (2 bytes)
//! and field name. An envelope copied to another row, version, field or patient fails to open.
//! Parsing is strict: any other magic, version, suite or a length short of nonce + tag is refused.

use thiserror::Error;
use zeroize::Zeroizing;

use super::{OpenError, SealError, SealingKey, Suite, fresh_nonce};
use crate::ids::{PatientId, RecordId};

pub const MAGIC: [u8; 2] = *b"MK";
pub const FORMAT_VERSION: u8 = 1;
const FIXED_HEADER_LEN: usize = 8;

/// Where a sealed value belongs. All of it is bound into the AAD.
#[derive(Clone, Copy, Debug)]
pub struct SealContext<'a> {
    pub patient: &'a PatientId,
    pub record: &'a RecordId,
    pub record_version: u32,
    pub field: &'a str,
}

/// Why an envelope did not parse. Kept for tests and the fuzz target; callers of
/// [`open`] only ever see [`OpenError`].
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("envelope shorter than its header, nonce and tag")]
    TooShort,
    #[error("not an envelope (bad magic)")]
    BadMagic,
    #[error("unsupported envelope format version {0}")]
    UnsupportedVersion(u8),
    #[error("unknown cipher suite {0}")]
    UnknownSuite(u8),
}

/// A parsed view of envelope bytes.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    pub suite: Suite,
    pub dek_version: u32,
    pub nonce: &'a [u8],
    /// Ciphertext followed by the tag.
    pub sealed: &'a [u8],
    header: &'a [u8],
}

impl<'a> Envelope<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() < FIXED_HEADER_LEN {
            return Err(EnvelopeError::TooShort);
        }
        if bytes[0..2] != MAGIC {
            return Err(EnvelopeError::BadMagic);
        }
        if bytes[2] != FORMAT_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(bytes[2]));
        }
        let suite = Suite::from_id(bytes[3]).ok_or(EnvelopeError::UnknownSuite(bytes[3]))?;
        let dek_version = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        let header_len = FIXED_HEADER_LEN + suite.nonce_len();
        if bytes.len() < header_len + Suite::TAG_LEN {
            return Err(EnvelopeError::TooShort);
        }
        Ok(Envelope {
            suite,
            dek_version,
            nonce: &bytes[FIXED_HEADER_LEN..header_len],
            sealed: &bytes[header_len..],
            header: &bytes[..header_len],
        })
    }
}

fn aad(header: &[u8], ctx: &SealContext<'_>) -> Result<Vec<u8>, ()> {
    let field_len = u16::try_from(ctx.field.len()).map_err(|_| ())?;
    let mut aad = Vec::with_capacity(header.len() + 16 + 16 + 4 + 2 + ctx.field.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(ctx.patient.as_bytes());
    aad.extend_from_slice(ctx.record.as_bytes());
    aad.extend_from_slice(&ctx.record_version.to_be_bytes());
    aad.extend_from_slice(&field_len.to_be_bytes());
    aad.extend_from_slice(ctx.field.as_bytes());
    Ok(aad)
}

/// Seals `plaintext` for `ctx` under `key`, recording `dek_version` in the header.
pub fn seal(
    key: &SealingKey,
    dek_version: u32,
    ctx: &SealContext<'_>,
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    let suite = key.suite();
    let nonce = fresh_nonce(suite)?;
    let mut out =
        Vec::with_capacity(FIXED_HEADER_LEN + nonce.len() + plaintext.len() + Suite::TAG_LEN);
    out.extend_from_slice(&MAGIC);
    out.push(FORMAT_VERSION);
    out.push(suite.id());
    out.extend_from_slice(&dek_version.to_be_bytes());
    out.extend_from_slice(&nonce);
    let aad = aad(&out, ctx).map_err(|_| SealError)?;
    let sealed = key.encrypt(&nonce, &aad, plaintext)?;
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens an already parsed envelope with the key of its suite.
pub fn open(
    key: &SealingKey,
    envelope: &Envelope<'_>,
    ctx: &SealContext<'_>,
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    if key.suite() != envelope.suite {
        return Err(OpenError);
    }
    let aad = aad(envelope.header, ctx).map_err(|_| OpenError)?;
    key.decrypt(envelope.nonce, &aad, envelope.sealed)
        .map(Zeroizing::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::dek::SubkeyPurpose;
    use crate::keys::{Dek, PatientKeys};
    use proptest::prelude::*;

    const SUITES: [Suite; 2] = [Suite::Aes256GcmSiv, Suite::GostKuznyechikMgm];

    struct Fixture {
        keys: PatientKeys,
        patient: PatientId,
        record: RecordId,
    }

    fn fixture() -> Fixture {
        Fixture {
            keys: PatientKeys::new(Dek::from_slice(&[42u8; 32]).unwrap(), 1),
            patient: PatientId::random(),
            record: RecordId::random(),
        }
    }

    impl Fixture {
        fn ctx(&self) -> SealContext<'_> {
            SealContext {
                patient: &self.patient,
                record: &self.record,
                record_version: 3,
                field: "body",
            }
        }
        fn seal(&self, suite: Suite, pt: &[u8]) -> Vec<u8> {
            self.keys
                .seal(suite, SubkeyPurpose::RecordSealing, &self.ctx(), pt)
                .unwrap()
        }
        fn open(
            &self,
            ctx: &SealContext<'_>,
            bytes: &[u8],
        ) -> Result<Zeroizing<Vec<u8>>, OpenError> {
            self.keys.open(SubkeyPurpose::RecordSealing, ctx, bytes)
        }
    }

    #[test]
    fn header_layout_is_as_documented() {
        let f = fixture();
        for suite in SUITES {
            let env = f.seal(suite, b"abc");
            assert_eq!(&env[0..2], b"MK");
            assert_eq!(env[2], 1);
            assert_eq!(env[3], suite.id());
            assert_eq!(&env[4..8], &1u32.to_be_bytes());
            assert_eq!(env.len(), 8 + suite.nonce_len() + 3 + 16);
            let parsed = Envelope::parse(&env).unwrap();
            assert_eq!((parsed.suite, parsed.dek_version), (suite, 1));
        }
    }

    #[test]
    fn every_bit_flip_and_truncation_fails_with_the_one_error() {
        let f = fixture();
        for suite in SUITES {
            let env = f.seal(suite, &[7u8; 48]);
            assert_eq!(&f.open(&f.ctx(), &env).unwrap()[..], &[7u8; 48]);
            for i in 0..env.len() * 8 {
                let mut bad = env.clone();
                bad[i / 8] ^= 1 << (i % 8);
                assert_eq!(f.open(&f.ctx(), &bad).unwrap_err(), OpenError, "bit {i}");
            }
            for len in 0..env.len() {
                assert_eq!(
                    f.open(&f.ctx(), &env[..len]).unwrap_err(),
                    OpenError,
                    "len {len}"
                );
            }
            let mut longer = env.clone();
            longer.push(0);
            assert!(f.open(&f.ctx(), &longer).is_err());
        }
    }

    #[test]
    fn any_other_context_fails() {
        let f = fixture();
        let other_patient = PatientId::random();
        let other_record = RecordId::random();
        for suite in SUITES {
            let env = f.seal(suite, b"note");
            let base = f.ctx();
            let contexts = [
                SealContext {
                    patient: &other_patient,
                    ..base
                },
                SealContext {
                    record: &other_record,
                    ..base
                },
                SealContext {
                    record_version: 4,
                    ..base
                },
                SealContext {
                    field: "bodY",
                    ..base
                },
            ];
            for ctx in contexts {
                assert_eq!(f.open(&ctx, &env).unwrap_err(), OpenError);
            }
            // Another purpose's subkey, and another DEK, do not open it either.
            assert!(
                f.keys
                    .open(SubkeyPurpose::AttachmentSealing, &base, &env)
                    .is_err()
            );
            let stranger = PatientKeys::new(Dek::from_slice(&[43u8; 32]).unwrap(), 1);
            assert!(
                stranger
                    .open(SubkeyPurpose::RecordSealing, &base, &env)
                    .is_err()
            );
            // A DEK of another version is refused before any decryption.
            let v2 = PatientKeys::new(Dek::from_slice(&[42u8; 32]).unwrap(), 2);
            assert!(v2.open(SubkeyPurpose::RecordSealing, &base, &env).is_err());
        }
    }

    #[test]
    fn strict_parsing_names_the_fault() {
        let f = fixture();
        let env = f.seal(Suite::Aes256GcmSiv, b"x");
        let mut bad = env.clone();
        bad[0] = b'X';
        assert_eq!(Envelope::parse(&bad).unwrap_err(), EnvelopeError::BadMagic);
        let mut bad = env.clone();
        bad[2] = 2;
        assert_eq!(
            Envelope::parse(&bad).unwrap_err(),
            EnvelopeError::UnsupportedVersion(2)
        );
        let mut bad = env.clone();
        bad[3] = 9;
        assert_eq!(
            Envelope::parse(&bad).unwrap_err(),
            EnvelopeError::UnknownSuite(9)
        );
        assert_eq!(
            Envelope::parse(&env[..8 + 12 + 15]).unwrap_err(),
            EnvelopeError::TooShort
        );
        assert!(
            Envelope::parse(&env[..8 + 12 + 16]).is_ok(),
            "empty ciphertext with a tag parses"
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Envelope::parse(&bytes);
        }

        #[test]
        fn seal_then_open_round_trips(pt in proptest::collection::vec(any::<u8>(), 0..2048), gost in any::<bool>()) {
            let f = fixture();
            let suite = if gost { Suite::GostKuznyechikMgm } else { Suite::Aes256GcmSiv };
            let env = f.seal(suite, &pt);
            prop_assert_eq!(&f.open(&f.ctx(), &env).unwrap()[..], &pt[..]);
        }
    }
}
