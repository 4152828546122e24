//! KEK rotation: a new KEK version, then a resumable rewrap of every older wrapping.
//!
//! Rewrapping picks DEKs still wrapped by an older version, in batches, and replaces each
//! wrapping only if it is unchanged since it was read. Stopping at any point loses nothing;
//! running it again (or on two replicas at once) continues where it stopped.
//!
//! Both steps keep `kek_versions` (migration 0008) up to date: a new version is recorded when it
//! is created, and a rewrap that leaves nothing under older versions records when that happened
//! (`rewrapped_at`), which starts the wait before [`super::retirement`] may destroy them.

use std::collections::BTreeSet;
use std::sync::Arc;

use thiserror::Error;

use super::{KekVersion, KeyCustody, KeyError, KeyProvider};
use crate::clock::Clock;
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

/// Creates the next KEK version in the key store, makes it current and records it in
/// `kek_versions`.
pub async fn create_next_kek(
    custody: &KeyCustody,
    db: &Database,
    clock: &dyn Clock,
) -> Result<KekVersion, RotationError> {
    let next = custody.current_kek().next();
    let provider = custody.provider().clone();
    super::custody::blocking(move || provider.create_kek(next)).await?;
    let current = custody.refresh().await?;
    // Token first, then the row: a crash in between leaves a version the next start (or
    // rewrap, or retirement run) records from the key store.
    store::keys::record_kek_version(db, next, clock.unix_seconds()).await?;
    Ok(current)
}

/// Records every KEK version the key store holds that `kek_versions` lacks (deployments from
/// before migration 0008, or a crash between creating a version and recording it), with
/// `created_at = now`. Returns the versions in the key store, ascending.
pub async fn record_versions(
    provider: &Arc<dyn KeyProvider>,
    db: &Database,
    now: i64,
) -> Result<Vec<KekVersion>, RotationError> {
    let p = provider.clone();
    let present = super::custody::blocking(move || p.kek_versions()).await?;
    for v in &present {
        store::keys::record_kek_version(db, *v, now).await?;
    }
    Ok(present)
}

/// Rewraps every DEK wrapped by a KEK older than the current one, reporting after each batch.
/// When nothing is left under older versions, records the moment in `kek_versions`
/// (`rewrapped_at`, from `clock`).
pub async fn rewrap_all(
    custody: &KeyCustody,
    db: &Database,
    clock: &dyn Clock,
    batch: u64,
    mut progress: impl FnMut(RewrapProgress),
) -> Result<RewrapProgress, RotationError> {
    let current = custody.current_kek();
    let vault_keys = store::keys::vault_keys_wrapped_before(db, current).await?;
    let mut state = RewrapProgress {
        done: 0,
        total: store::keys::count_wrapped_before(db, current).await? + vault_keys.len() as u64,
    };
    // Older versions this run found still wrapping something live.
    let mut touched = BTreeSet::new();
    // The few vault-wide keys first, then the patients' DEKs in batches.
    for key in &vault_keys {
        touched.insert(key.wrapped.kek_version);
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
            break;
        }
        for dek in &stale {
            touched.insert(dek.wrapped.kek_version);
            let clear = custody.unwrap(&dek.wrapped).await?;
            let rewrapped = custody.wrap(current, clear).await?;
            if store::keys::replace_wrapping(db, dek, &rewrapped).await? {
                state.done += 1;
            }
        }
        progress(state);
    }
    // Nothing is left under older versions (a vault-wide key cannot come back under one, but
    // check: the mark must never claim more than is true). Versions the key store holds but the
    // table lacks get their row first, so that they are marked too.
    if store::keys::vault_keys_wrapped_before(db, current)
        .await?
        .is_empty()
    {
        let now = clock.unix_seconds();
        record_versions(custody.provider(), db, now).await?;
        let touched: Vec<KekVersion> = touched.into_iter().collect();
        store::keys::mark_rewrapped_before(db, current, &touched, now).await?;
    }
    Ok(state)
}
