//! `vault audit verify`: recomputes the chain of a database and checks every checkpoint's
//! signature with the key in the token. Names the first event that was altered, removed,
//! reordered or inserted, and every checkpoint that does not hold.

use std::fmt;
use std::sync::Arc;

use subtle::ConstantTimeEq;

use super::chain;
use crate::keys::KeyProvider;
use crate::keys::custody::blocking;
use crate::store::audit::{self, ChainedRow};
use crate::store::{Database, StoreError};

/// What is wrong with the chain, at the first place it breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainFault {
    /// The event at this sequence number is not what was written.
    Altered { seq: i64 },
    /// Events from `first` to `last` are missing.
    Removed { first: i64, last: i64 },
    /// The events at `seq` and `seq + 1` were swapped.
    Reordered { seq: i64 },
    /// An event that was never written by the vault sits at `seq`.
    Inserted { seq: i64 },
}

impl fmt::Display for ChainFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainFault::Altered { seq } => write!(f, "event {seq} was altered"),
            ChainFault::Removed { first, last } if first == last => {
                write!(f, "event {first} was removed")
            }
            ChainFault::Removed { first, last } => {
                write!(f, "events {first} to {last} were removed")
            }
            ChainFault::Reordered { seq } => {
                write!(f, "events {seq} and {} were reordered", seq + 1)
            }
            ChainFault::Inserted { seq } => write!(f, "event {seq} was inserted"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckpointFault {
    /// The signature does not match the signed head: the checkpoint itself was forged or changed.
    BadSignature { seq: i64 },
    /// The chain as stored does not reach the signed head: events up to `seq` were rewritten
    /// (even if their hashes were recomputed).
    HeadMismatch { seq: i64 },
    /// The checkpoint signs an event that is not in the database.
    MissingEvent { seq: i64 },
}

impl fmt::Display for CheckpointFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointFault::BadSignature { seq } => {
                write!(f, "checkpoint at event {seq}: signature does not verify")
            }
            CheckpointFault::HeadMismatch { seq } => {
                write!(
                    f,
                    "checkpoint at event {seq}: the stored chain does not reach the signed head (events up to {seq} were rewritten)"
                )
            }
            CheckpointFault::MissingEvent { seq } => {
                write!(f, "checkpoint at event {seq}: that event is missing")
            }
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub events: u64,
    pub checkpoints: u64,
    pub chain: Option<ChainFault>,
    pub checkpoint_faults: Vec<CheckpointFault>,
}

impl VerifyReport {
    pub fn passed(&self) -> bool {
        self.chain.is_none() && self.checkpoint_faults.is_empty()
    }
}

fn hash_at(prev: &[u8], seq: i64, row: &ChainedRow) -> Vec<u8> {
    chain::entry_hash(prev, seq, &row.row)
}

fn stored(row: &ChainedRow) -> &[u8] {
    row.entry_hash.as_deref().unwrap_or(&[])
}

/// Classifies the first break at `rows[i]`, where `seq` and `prev` were expected.
fn classify(rows: &[ChainedRow], i: usize, seq: i64, prev: &[u8]) -> ChainFault {
    let here = &rows[i];
    if here.seq > seq {
        return ChainFault::Removed {
            first: seq,
            last: here.seq - 1,
        };
    }
    if let Some(next) = rows.get(i + 1) {
        // The next event verifies where this one stands: this one is foreign.
        let next_fits_here = hash_at(prev, seq, next) == stored(next);
        // ... and this one verifies after it: the two were swapped.
        if next_fits_here && hash_at(stored(next), seq + 1, here) == stored(here) {
            return ChainFault::Reordered { seq };
        }
        if next_fits_here {
            return ChainFault::Inserted { seq };
        }
    } else if here.entry_hash.is_none() || here.seq == seq {
        // The newest event cannot be told apart from an appended one unless a checkpoint covers it.
        if here.entry_hash.is_none() {
            return ChainFault::Inserted { seq };
        }
    }
    ChainFault::Altered { seq }
}

/// Verifies the whole chain and every checkpoint.
pub async fn verify(
    db: &Database,
    provider: Arc<dyn KeyProvider>,
) -> Result<VerifyReport, StoreError> {
    const PAGE: u64 = 10_000;
    let checkpoints = audit::checkpoints(db).await?;
    let mut report = VerifyReport {
        checkpoints: checkpoints.len() as u64,
        ..VerifyReport::default()
    };
    let mut heads = std::collections::HashMap::new();
    let mut prev = chain::GENESIS.to_vec();
    let mut expected = 1i64;
    let mut after = 0i64;
    // One page of look-ahead so a fault at a page edge can be classified.
    let mut rows = audit::events_after(db, after, PAGE).await?;
    while !rows.is_empty() && report.chain.is_none() {
        if let Some(last) = rows.last() {
            after = last.seq;
        }
        let more = audit::events_after(db, after, PAGE).await?;
        let window: Vec<ChainedRow> = rows.iter().cloned().chain(more.first().cloned()).collect();
        for i in 0..rows.len() {
            let row = &window[i];
            report.events += 1;
            if row.seq != expected || hash_at(&prev, expected, row) != stored(row) {
                report.chain = Some(classify(&window, i, expected, &prev));
                break;
            }
            prev = stored(row).to_vec();
            heads.insert(row.seq, prev.clone());
            expected += 1;
        }
        rows = more;
    }
    for c in &checkpoints {
        let message = chain::checkpoint_message(c.seq, &c.head_hash);
        let p = provider.clone();
        let mac = blocking(move || p.audit_mac(&message))
            .await
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if !bool::from(mac.ct_eq(&c.mac)) {
            report
                .checkpoint_faults
                .push(CheckpointFault::BadSignature { seq: c.seq });
            continue;
        }
        match heads.get(&c.seq) {
            Some(h) if h == &c.head_hash => {}
            Some(_) => report
                .checkpoint_faults
                .push(CheckpointFault::HeadMismatch { seq: c.seq }),
            // Beyond a chain fault the heads are unknown; the chain fault already fails the run.
            None if report.chain.is_some() => {}
            None => report
                .checkpoint_faults
                .push(CheckpointFault::MissingEvent { seq: c.seq }),
        }
    }
    Ok(report)
}
