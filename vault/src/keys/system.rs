//! Vault-wide keys: one root key, wrapped by the KEK like a patient DEK, and the subkeys derived
//! from it for blind indexes and for staff secrets (TOTP seeds).

use std::sync::Arc;

use hkdf::Hkdf;
use hmac::{KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{Dek, KeyCustody, KeyError};
use crate::crypto::envelope::{self, Envelope, SealContext};
use crate::crypto::{OpenError, SealError, SealingKey, Suite};
use crate::ids::{PatientId, RecordId};
use crate::store::{self, Database, StoreError};

const ROOT_NAME: &str = "vault-root-v1";

/// Which normalised value a blind index covers. Each kind has its own key, so equal digests
/// across kinds reveal nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlindKind {
    Phone,
    Snils,
    Passport,
    NameBirth,
}

impl BlindKind {
    pub const ALL: [BlindKind; 4] = [
        BlindKind::Phone,
        BlindKind::Snils,
        BlindKind::Passport,
        BlindKind::NameBirth,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BlindKind::Phone => "phone",
            BlindKind::Snils => "snils",
            BlindKind::Passport => "passport",
            BlindKind::NameBirth => "name_birth",
        }
    }
}

/// The derived vault-wide keys. No `Debug` or `Clone`; subkeys zeroize on drop.
pub struct VaultKeys {
    blind: [Zeroizing<[u8; 32]>; 4],
    staff_secrets: SealingKey,
}

#[derive(Debug, thiserror::Error)]
pub enum VaultKeyError {
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn derive(root: &Dek, info: &str) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    let hk = Hkdf::<Sha256>::new(Some(b"medikamente-vault-wide"), root.expose());
    #[allow(clippy::expect_used)]
    // Invariant: HKDF-SHA256 expand fails only for outputs over 255 * 32 bytes; ours is 32.
    hk.expand(info.as_bytes(), out.as_mut())
        .expect("32-byte HKDF output");
    out
}

impl VaultKeys {
    /// Loads the root key, creating it on first start (two replicas racing keep one).
    pub async fn load_or_create(
        db: &Database,
        custody: &KeyCustody,
        now: i64,
    ) -> Result<Arc<Self>, VaultKeyError> {
        if store::keys::vault_key(db, ROOT_NAME).await?.is_none() {
            let (_, wrapped) = custody.new_dek().await?;
            store::keys::insert_vault_key(db, ROOT_NAME, &wrapped, now).await?;
        }
        let stored = store::keys::vault_key(db, ROOT_NAME)
            .await?
            .ok_or_else(|| StoreError::Corrupt("vault root key vanished after insert".into()))?;
        let root = custody.unwrap(&stored.wrapped).await?;
        Ok(Arc::new(Self::derive_from(&root)))
    }

    /// Derives the subkeys from a root key; public for tests and benchmarks.
    pub fn derive_from(root: &Dek) -> Self {
        let blind = BlindKind::ALL.map(|kind| {
            derive(
                root,
                &format!("medikamente/v1/blind-index/{}", kind.as_str()),
            )
        });
        let staff = derive(root, "medikamente/v1/staff-secrets");
        Self {
            blind,
            staff_secrets: SealingKey::new(Suite::Aes256GcmSiv, &staff),
        }
    }

    /// HMAC-SHA256 of an already normalised value under the kind's key.
    pub fn blind_index(&self, kind: BlindKind, normalised: &str) -> Vec<u8> {
        let key = &self.blind[kind as usize];
        #[allow(clippy::expect_used)]
        // Invariant: HMAC accepts keys of any length.
        let mut mac =
            <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key.as_ref()).expect("any key length");
        mac.update(normalised.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn staff_ctx<'a>(owner: &'a RecordId, field: &'a str) -> SealContext<'a> {
        const NO_PATIENT: PatientId = PatientId::nil();
        SealContext {
            patient: &NO_PATIENT,
            record: owner,
            record_version: 1,
            field,
        }
    }

    /// Seals a staff secret (a TOTP seed) bound to its owner and field.
    pub fn seal_staff_secret(
        &self,
        owner: &RecordId,
        field: &str,
        secret: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        envelope::seal(
            &self.staff_secrets,
            0,
            &Self::staff_ctx(owner, field),
            secret,
        )
    }

    pub fn open_staff_secret(
        &self,
        owner: &RecordId,
        field: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let parsed = Envelope::parse(sealed).map_err(|_| OpenError)?;
        envelope::open(&self.staff_secrets, &parsed, &Self::staff_ctx(owner, field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blind_indexes_are_keyed_per_kind_and_deterministic() {
        let keys = VaultKeys::derive_from(&Dek::from_slice(&[1u8; 32]).unwrap());
        let other = VaultKeys::derive_from(&Dek::from_slice(&[2u8; 32]).unwrap());
        let a = keys.blind_index(BlindKind::Phone, "+79123456789");
        assert_eq!(a, keys.blind_index(BlindKind::Phone, "+79123456789"));
        assert_ne!(a, keys.blind_index(BlindKind::Snils, "+79123456789"));
        assert_ne!(a, other.blind_index(BlindKind::Phone, "+79123456789"));
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn staff_secrets_are_bound_to_their_owner() {
        let keys = VaultKeys::derive_from(&Dek::from_slice(&[1u8; 32]).unwrap());
        let (alice, bob) = (RecordId::random(), RecordId::random());
        let sealed = keys.seal_staff_secret(&alice, "totp", b"seed").unwrap();
        assert_eq!(
            &keys.open_staff_secret(&alice, "totp", &sealed).unwrap()[..],
            b"seed"
        );
        assert!(keys.open_staff_secret(&bob, "totp", &sealed).is_err());
        assert!(keys.open_staff_secret(&alice, "other", &sealed).is_err());
    }
}
