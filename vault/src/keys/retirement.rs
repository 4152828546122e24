//! KEK retirement: destroying old KEK versions once no retained backup can need them.
//!
//! A shredded patient's wrapped DEK survives in every backup taken before the shred, wrapped by
//! the KEK version that was current then. Destroying that version turns those wrappings into
//! noise, which makes the shred final in the backups too. A version is destroyed only when
//!
//! 1. a newer version is current (the current one is never destroyed),
//! 2. the live database wraps no DEK and no vault-wide key under it, and
//! 3. `backup_retention` has passed since its `rewrapped_at` (`kek_versions`, migration 0008):
//!    the moment the last live wrapping under it was replaced. Only backups older than that
//!    moment can hold wrappings under it, and by then retention has removed them.
//!
//! [`retire_due`] is idempotent: a version already destroyed in the key store but not yet
//! marked is marked; a marked one is skipped. [`plan`] answers the same question without
//! changing anything (`vault keys retire --dry-run`).

use std::collections::BTreeSet;
use std::time::Duration;

use thiserror::Error;

use super::custody::blocking;
use super::rotation::{self, RotationError};
use super::{KekVersion, KeyCustody, KeyError};
use crate::clock::Clock;
use crate::store::keys::WrappedBy;
use crate::store::{self, Database, StoreError};

#[derive(Debug, Error)]
pub enum RetirementError {
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A safety check stopped the run; the message says which.
    #[error("{0}")]
    Refused(String),
    /// The version is gone and marked retired, but the caller's record of it (the audit event)
    /// failed.
    #[error("KEK {version} was retired, but recording that failed: {reason}")]
    Record { version: KekVersion, reason: String },
}

impl From<RotationError> for RetirementError {
    fn from(e: RotationError) -> Self {
        match e {
            RotationError::Keys(e) => RetirementError::Keys(e),
            RotationError::Store(e) => RetirementError::Store(e),
        }
    }
}

/// A version retired by this run (or, from [`plan`], one that would be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredKek {
    pub version: KekVersion,
    /// When the last live wrapping under it was replaced, if known.
    pub rewrapped_at: Option<i64>,
    /// It was already gone from the key store (destroyed by an interrupted run or by hand): this
    /// run only recorded the fact.
    pub was_absent: bool,
}

/// Why an older version is kept for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// Backups taken before `rewrapped_at` may still be retained; due at `due_at` (Unix seconds).
    Retention { rewrapped_at: i64, due_at: i64 },
    /// The live database still wraps keys under it: the rewrap has not finished.
    StillWraps(WrappedBy),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitingKek {
    pub version: KekVersion,
    pub reason: Waiting,
}

/// What a run found, version by version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetirementReport {
    /// The current version, never touched.
    pub current: KekVersion,
    /// Retired by this run (or due, from [`plan`]).
    pub retired: Vec<RetiredKek>,
    /// Older versions kept for now, and why.
    pub waiting: Vec<WaitingKek>,
    /// Versions retired by an earlier run, with when.
    pub already_retired: Vec<(KekVersion, i64)>,
}

/// Destroys every KEK version that is due (see the module documentation) and records it
/// (`retired_at`); reports the versions not yet due with the date they become due.
pub async fn retire_due(
    custody: &KeyCustody,
    db: &Database,
    clock: &dyn Clock,
    backup_retention: Duration,
) -> Result<RetirementReport, RetirementError> {
    retire_due_recording(custody, db, clock, backup_retention, async |_| Ok(())).await
}

/// [`retire_due`], calling `record` right after each version is retired (`vault keys retire`
/// writes its audit event there), so that a later failure leaves no retirement unrecorded. A
/// failing `record` stops the run with [`RetirementError::Record`].
pub async fn retire_due_recording(
    custody: &KeyCustody,
    db: &Database,
    clock: &dyn Clock,
    backup_retention: Duration,
    record: impl AsyncFnMut(&RetiredKek) -> Result<(), String>,
) -> Result<RetirementReport, RetirementError> {
    run(custody, db, clock, backup_retention, Some(record)).await
}

/// What [`retire_due`] would do now, changing nothing in the database or the key store.
pub async fn plan(
    custody: &KeyCustody,
    db: &Database,
    clock: &dyn Clock,
    backup_retention: Duration,
) -> Result<RetirementReport, RetirementError> {
    run(custody, db, clock, backup_retention, None::<ReportOnly>).await
}

/// The type of the absent `on_retired` of a run that only reports.
type ReportOnly = fn(&RetiredKek) -> std::future::Ready<Result<(), String>>;

/// With `on_retired`, retires what is due and calls it for each; without, only reports.
async fn run(
    custody: &KeyCustody,
    db: &Database,
    clock: &dyn Clock,
    backup_retention: Duration,
    mut on_retired: Option<impl AsyncFnMut(&RetiredKek) -> Result<(), String>>,
) -> Result<RetirementReport, RetirementError> {
    let apply = on_retired.is_some();
    let retention = i64::try_from(backup_retention.as_secs()).unwrap_or(i64::MAX);
    if retention == 0 {
        return Err(RetirementError::Refused(
            "a backup retention of 0 would destroy KEK versions that backups still need: set keys.backup_retention_days".into(),
        ));
    }
    let now = clock.unix_seconds();
    // The newest version in the key store, read now: another host may have rotated.
    let current = custody.refresh().await?;
    let in_store = if apply {
        rotation::record_versions(custody.provider(), db, now).await?
    } else {
        let p = custody.provider().clone();
        blocking(move || p.kek_versions()).await?
    };
    let records = store::keys::list_kek_versions(db).await?;
    let candidates: BTreeSet<KekVersion> = records
        .iter()
        .map(|r| r.version)
        .chain(in_store.iter().copied())
        .filter(|v| *v < current)
        .collect();

    let mut report = RetirementReport {
        current,
        retired: Vec::new(),
        waiting: Vec::new(),
        already_retired: Vec::new(),
    };
    for version in candidates {
        let record = records.iter().find(|r| r.version == version);
        let present = in_store.contains(&version);
        let retired_at = record.and_then(|r| r.retired_at);
        if let (Some(at), false) = (retired_at, present) {
            report.already_retired.push((version, at));
            continue;
        }
        let wrapped = store::keys::count_wrapped_by(db, version).await?;
        if !wrapped.is_empty() {
            report.waiting.push(WaitingKek {
                version,
                reason: Waiting::StillWraps(wrapped),
            });
            continue;
        }
        let rewrapped_at = record.and_then(|r| r.rewrapped_at);
        if !present {
            // Destroyed by an interrupted run (destroyed, then stopped before the mark) or by
            // hand: only the record is missing.
            let retired = RetiredKek {
                version,
                rewrapped_at,
                was_absent: true,
            };
            if let Some(on_retired) = on_retired.as_mut() {
                store::keys::mark_kek_retired(db, version, now).await?;
                on_retired(&retired)
                    .await
                    .map_err(|reason| RetirementError::Record { version, reason })?;
            }
            report.retired.push(retired);
            continue;
        }
        // In the key store and wrapping nothing live.
        let rewrapped_at = match rewrapped_at {
            Some(at) => at,
            None => {
                // A rewrap finished before migration 0008, or the last wrappings left by shreds:
                // nothing is under this version now, so the wait starts now.
                if apply {
                    store::keys::mark_kek_rewrapped(db, version, now).await?;
                }
                now
            }
        };
        let due_at = rewrapped_at.saturating_add(retention);
        // A version marked retired that the key store holds again (a restored token backup)
        // was due already: destroy it again.
        if due_at > now && retired_at.is_none() {
            report.waiting.push(WaitingKek {
                version,
                reason: Waiting::Retention {
                    rewrapped_at,
                    due_at,
                },
            });
            continue;
        }
        let retired = RetiredKek {
            version,
            rewrapped_at: Some(rewrapped_at),
            was_absent: false,
        };
        if let Some(on_retired) = on_retired.as_mut() {
            if let Some(wrapped) = destroy(custody, db, version).await? {
                // A replica that had not yet seen the rotation wrapped a new DEK under it.
                report.waiting.push(WaitingKek {
                    version,
                    reason: Waiting::StillWraps(wrapped),
                });
                continue;
            }
            store::keys::mark_kek_retired(db, version, now).await?;
            on_retired(&retired)
                .await
                .map_err(|reason| RetirementError::Record { version, reason })?;
        }
        report.retired.push(retired);
    }
    Ok(report)
}

/// Destroys one version after checking, right before, that it is not the newest in the key store
/// and still wraps nothing. Returns what it wraps if that is no longer nothing (then it is kept).
async fn destroy(
    custody: &KeyCustody,
    db: &Database,
    version: KekVersion,
) -> Result<Option<WrappedBy>, RetirementError> {
    let p = custody.provider().clone();
    let present = blocking(move || p.kek_versions()).await?;
    let newest = present.last().copied();
    if newest.is_none_or(|newest| version >= newest) || version >= custody.current_kek() {
        return Err(RetirementError::Refused(format!(
            "KEK {version} is the current version (or newer): it is never destroyed"
        )));
    }
    if !present.contains(&version) {
        // Another run destroyed it in the meantime.
        return Ok(None);
    }
    let wrapped = store::keys::count_wrapped_by(db, version).await?;
    if !wrapped.is_empty() {
        return Ok(Some(wrapped));
    }
    let p = custody.provider().clone();
    match blocking(move || p.destroy_kek(version)).await {
        // Missing: another run destroyed it between the listing and here.
        Ok(()) | Err(KeyError::KekMissing { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
