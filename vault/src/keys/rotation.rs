//! KEK rotation: a new KEK version, then a resumable rewrap of every older wrapping.
//!
//! Rewrapping picks DEKs still wrapped by an older version, in batches, and replaces each
//! wrapping only if it is unchanged since it was read. Stopping at any point loses nothing;
//! running it again (or on two replicas at once) continues where it stopped.

use thiserror::Error;

use super::{KekVersion, KeyCustody, KeyError};
use crate::store::{self, Database, StoreError};

#[derive(Debug, Error)]
pub enum RotationError {
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RewrapProgress {
    /// Wrappings this run replaced.
    pub done: u64,
    /// Wrappings older than the current KEK when this run started.
    pub total: u64,
}

/// Creates the next KEK version in the key store and makes it current.
pub async fn create_next_kek(custody: &KeyCustody) -> Result<KekVersion, KeyError> {
    let next = custody.current_kek().next();
    let provider = custody.provider().clone();
    super::custody::blocking(move || provider.create_kek(next)).await?;
    custody.refresh().await
}

/// Rewraps every DEK wrapped by a KEK older than the current one, reporting after each batch.
pub async fn rewrap_all(
    custody: &KeyCustody,
    db: &Database,
    batch: u64,
    mut progress: impl FnMut(RewrapProgress),
) -> Result<RewrapProgress, RotationError> {
    let current = custody.current_kek();
    let vault_keys = store::keys::vault_keys_wrapped_before(db, current).await?;
    let mut state = RewrapProgress {
        done: 0,
        total: store::keys::count_wrapped_before(db, current).await? + vault_keys.len() as u64,
    };
    // The few vault-wide keys first, then the patients' DEKs in batches.
    for key in &vault_keys {
        let clear = custody.unwrap(&key.wrapped).await?;
        let rewrapped = custody.wrap(current, clear).await?;
        if store::keys::replace_vault_key_wrapping(db, key, &rewrapped).await? {
            state.done += 1;
        }
    }
    progress(state);
    loop {
        let stale = store::keys::deks_wrapped_before(db, current, batch.max(1)).await?;
        if stale.is_empty() {
            return Ok(state);
        }
        for dek in &stale {
            let clear = custody.unwrap(&dek.wrapped).await?;
            let rewrapped = custody.wrap(current, clear).await?;
            if store::keys::replace_wrapping(db, dek, &rewrapped).await? {
                state.done += 1;
            }
        }
        progress(state);
    }
}
