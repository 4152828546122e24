//! The async face of key custody: what the rest of the vault calls.
//!
//! Token calls block, so they run on tokio's blocking pool; no session is ever held across an
//! `.await`. Unwrapped keys are kept in the [`DekCache`].

use std::sync::{Arc, RwLock};

use super::cache::DekCache;
use super::{Dek, KekVersion, KeyError, KeyProvider, PatientKeys, WrappedDek};
use crate::ids::PatientId;

pub struct KeyCustody {
    provider: Arc<dyn KeyProvider>,
    cache: DekCache,
    current: RwLock<KekVersion>,
}

impl KeyCustody {
    /// Reads the KEK versions present; new DEKs are wrapped by the newest one.
    pub async fn new(provider: Arc<dyn KeyProvider>, cache: DekCache) -> Result<Self, KeyError> {
        let current = Self::newest(&provider).await?;
        Ok(Self {
            provider,
            cache,
            current: RwLock::new(current),
        })
    }

    async fn newest(provider: &Arc<dyn KeyProvider>) -> Result<KekVersion, KeyError> {
        let p = provider.clone();
        let versions = blocking(move || p.kek_versions()).await?;
        versions
            .last()
            .copied()
            .ok_or_else(|| KeyError::KekMissing {
                label: "v1 (no KEK version at all)".into(),
            })
    }

    pub fn provider(&self) -> &Arc<dyn KeyProvider> {
        &self.provider
    }

    pub fn cache(&self) -> &DekCache {
        &self.cache
    }

    pub fn current_kek(&self) -> KekVersion {
        *self.current.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Re-reads the newest KEK version after a rotation.
    pub async fn refresh(&self) -> Result<KekVersion, KeyError> {
        let newest = Self::newest(&self.provider).await?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = newest;
        Ok(newest)
    }

    /// A fresh DEK and its wrapping under the current KEK.
    pub async fn new_dek(&self) -> Result<(Dek, WrappedDek), KeyError> {
        let kek = self.current_kek();
        let p = self.provider.clone();
        blocking(move || {
            let dek = Dek::generate()?;
            let bytes = p.wrap(kek, &dek)?;
            Ok((
                dek,
                WrappedDek {
                    kek_version: kek,
                    bytes,
                },
            ))
        })
        .await
    }

    /// The patient's unwrapped keys, from the cache or the token.
    pub async fn patient_keys(
        &self,
        patient: PatientId,
        dek_version: u32,
        wrapped: &WrappedDek,
    ) -> Result<Arc<PatientKeys>, KeyError> {
        if let Some(keys) = self.cache.get(patient, dek_version) {
            return Ok(keys);
        }
        let dek = self.unwrap(wrapped).await?;
        let keys = Arc::new(PatientKeys::new(dek, dek_version));
        self.cache.insert(patient, keys.clone());
        Ok(keys)
    }

    pub async fn unwrap(&self, wrapped: &WrappedDek) -> Result<Dek, KeyError> {
        let p = self.provider.clone();
        let wrapped = wrapped.clone();
        blocking(move || p.unwrap(wrapped.kek_version, &wrapped.bytes)).await
    }

    pub async fn wrap(&self, kek: KekVersion, dek: Dek) -> Result<WrappedDek, KeyError> {
        let p = self.provider.clone();
        blocking(move || {
            Ok(WrappedDek {
                kek_version: kek,
                bytes: p.wrap(kek, &dek)?,
            })
        })
        .await
    }

    /// Forgets a patient's cached keys (after a shred).
    pub fn forget(&self, patient: PatientId) {
        self.cache.forget(patient);
    }
}

/// Runs a blocking key-store call on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KeyError> + Send + 'static,
) -> Result<T, KeyError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| KeyError::Unavailable("a key-store call was aborted".into()))?
}
