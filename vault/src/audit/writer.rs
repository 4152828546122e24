//! The group-commit audit writer: one task per process takes every queued event, chains and
//! inserts them in one transaction, and answers each waiting request when its batch commits.
//! Concurrent requests therefore share one disk flush instead of paying one each, and a request
//! never goes on before its own events are durable.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::{mpsc, oneshot};

use super::chain;
use crate::clock::Clock;
use crate::keys::KeyProvider;
use crate::keys::custody::blocking;
use crate::store::audit::{
    self, AuditRow, ChainedRow, Checkpoint, RevisionCheck, WriterConnection,
};
use crate::store::{Database, StoreError};

/// When to sign the chain head: after this many events, or this long after the last signed
/// head when events came since.
#[derive(Clone, Copy, Debug)]
pub struct CheckpointPolicy {
    pub every_events: i64,
    pub every: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self {
            every_events: 1000,
            every: Duration::from_secs(60),
        }
    }
}

struct Pending {
    rows: Vec<AuditRow>,
    /// The patient's revision the request decided on, when it decided on facts read earlier
    /// (ADR 0029): its events are written only if that is still the patient's revision.
    check: Option<RevisionCheck>,
    done: oneshot::Sender<Result<Written, String>>,
}

/// What became of events sent with a revision check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// Committed.
    Yes,
    /// Not written: the patient changed since the facts were read. The request must read again
    /// and decide again; nothing of its decision may be acted on.
    Stale,
}

/// How a batch went: committed from this head, or not written because these checks failed.
enum Outcome {
    Written(Known),
    Stale(Vec<RevisionCheck>),
}

/// Events waiting at most this many per transaction.
const MAX_BATCH_EVENTS: usize = 2048;

#[derive(Clone)]
pub struct AuditWriter {
    /// `None` in the benchmark-only stub mode (`[audit] danger_stub_writer`): nothing is
    /// written. It exists to measure what the audit costs; the config refuses it outside demo.
    queue: Option<mpsc::Sender<Pending>>,
    chain: Arc<Chain>,
    /// Committed group transactions and the events they carried: events / batches is the
    /// group-commit factor.
    pub batches: Counter,
    pub events: Counter,
}

/// Appends to the chain inside a transaction; shared by the writer task and by writes that
/// commit their audit events atomically with their data.
struct Chain {
    provider: Arc<dyn KeyProvider>,
    clock: Arc<dyn Clock>,
    policy: CheckpointPolicy,
}

struct Task {
    db: Database,
    chain: Arc<Chain>,
    batches: Counter,
    events: Counter,
    /// The chain head and last checkpoint as this writer last wrote them, so a batch costs one
    /// INSERT instead of re-reading both. If another writer appended meanwhile, the INSERT hits
    /// the sequence number it took and the batch is retried from a fresh read.
    known: Option<Known>,
    /// On PostgreSQL, the connection the batches' statements run on, kept from one batch to the
    /// next (`audit::WriterConnection` says why). Given back to the pool after any error, so a
    /// broken connection is never used twice, and before the batches that need a transaction,
    /// which take it from the pool as before.
    held: Option<WriterConnection>,
}

struct Known {
    seq: i64,
    hash: Vec<u8>,
    checkpoint_seq: i64,
    checkpoint_at: i64,
}

fn failed(message: String) -> StoreError {
    StoreError::AuditFailed(sqlx::Error::Protocol(message))
}

impl AuditWriter {
    /// Starts the writer task; it stops when every `AuditWriter` handle is dropped.
    pub fn start(
        db: Database,
        provider: Arc<dyn KeyProvider>,
        clock: Arc<dyn Clock>,
        policy: CheckpointPolicy,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel::<Pending>(4096);
        let chain = Arc::new(Chain {
            provider,
            clock,
            policy,
        });
        let (batches, events) = (Counter::default(), Counter::default());
        let task = Task {
            // Its own connection: requests hold pool connections while they wait for their
            // batch, so a batch that had to queue for one would keep them waiting longer.
            db: db.dedicated(),
            chain: chain.clone(),
            batches: batches.clone(),
            events: events.clone(),
            known: None,
            held: None,
        };
        (
            Self {
                queue: Some(tx),
                chain,
                batches,
                events,
            },
            tokio::spawn(task.run(rx)),
        )
    }

    /// A writer that writes nothing: for measuring the audit's cost in benchmarks only.
    pub fn danger_stub(provider: Arc<dyn KeyProvider>, clock: Arc<dyn Clock>) -> Self {
        tracing::warn!(
            "DANGER: [audit] danger_stub_writer is on: no access is audited; benchmark use only"
        );
        let chain = Arc::new(Chain {
            provider,
            clock,
            policy: CheckpointPolicy::default(),
        });
        Self {
            queue: None,
            chain,
            batches: Counter::default(),
            events: Counter::default(),
        }
    }

    /// Appends events inside the caller's transaction, so they commit (or roll back) with the
    /// data they describe. Takes the chain lock until that transaction ends.
    pub async fn append_in(
        &self,
        tx: &mut crate::store::Transaction,
        rows: &[AuditRow],
    ) -> Result<(), StoreError> {
        if rows.is_empty() || self.queue.is_none() {
            return Ok(());
        }
        self.chain.append(tx, rows).await
    }

    /// Writes events durably; returns when they are committed. An error means nothing was
    /// written and the request must fail (503).
    pub async fn record(&self, rows: Vec<AuditRow>) -> Result<(), StoreError> {
        self.send(rows, None).await.map(|_| ())
    }

    /// Writes events durably if `check` still holds when they commit: the patient's revision is
    /// still the one the caller's facts were read at. `Written::Stale` means nothing was written.
    /// The stub checks nothing (it writes nothing either).
    pub async fn record_checked(
        &self,
        rows: Vec<AuditRow>,
        check: RevisionCheck,
    ) -> Result<Written, StoreError> {
        self.send(rows, Some(check)).await
    }

    async fn send(
        &self,
        rows: Vec<AuditRow>,
        check: Option<RevisionCheck>,
    ) -> Result<Written, StoreError> {
        let Some(queue) = &self.queue else {
            return Ok(Written::Yes);
        };
        if rows.is_empty() {
            return Ok(Written::Yes);
        }
        let (done, wait) = oneshot::channel();
        queue
            .send(Pending { rows, check, done })
            .await
            .map_err(|_| failed("the audit writer has stopped".into()))?;
        match wait.await {
            Ok(Ok(written)) => Ok(written),
            Ok(Err(message)) => Err(failed(message)),
            Err(_) => Err(failed("the audit writer has stopped".into())),
        }
    }
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<Pending>) {
        // The first tick comes a whole period after start, not at once.
        let every = self.chain.policy.every;
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let first = tokio::select! {
                next = rx.recv() => match next {
                    Some(p) => p,
                    None => return,
                },
                _ = tick.tick() => {
                    if let Err(e) = self.checkpoint_if_due(true).await {
                        tracing::error!(error = %e, "audit checkpoint failed");
                    }
                    self.known = None;
                    continue;
                }
            };
            let mut batch = vec![first];
            let mut events = batch[0].rows.len();
            while events < MAX_BATCH_EVENTS {
                match rx.try_recv() {
                    Ok(p) => {
                        events += p.rows.len();
                        batch.push(p);
                    }
                    Err(_) => break,
                }
            }
            let result = loop {
                let rows: Vec<&AuditRow> = batch.iter().flat_map(|p| &p.rows).collect();
                let checks: Vec<RevisionCheck> =
                    batch.iter().filter_map(|p| p.check.clone()).collect();
                match self.write(&rows, &checks).await {
                    Ok(stale) if stale.is_empty() => break Ok(rows.len()),
                    Ok(stale) => {
                        // Nothing was written. The requests whose checks failed (they decided on a
                        // patient who has changed since) are told so; the rest go again without
                        // them. Each round removes at least one request, so this ends.
                        let (gone, rest): (Vec<_>, Vec<_>) = batch
                            .into_iter()
                            .partition(|p| p.check.as_ref().is_some_and(|c| stale.contains(c)));
                        for p in gone {
                            let _ = p.done.send(Ok(Written::Stale));
                        }
                        batch = rest;
                        if batch.is_empty() {
                            break Ok(0);
                        }
                    }
                    Err(e) => break Err(e),
                }
            };
            match &result {
                // Every request of the batch was stale: nothing was committed.
                Ok(0) => {}
                Ok(written) => {
                    self.batches.inc();
                    self.events.inc_by(*written as u64);
                }
                Err(e) => {
                    tracing::error!(error = %e, events, "audit batch not written; its requests fail closed");
                }
            }
            for p in batch {
                let _ = p.done.send(
                    result
                        .as_ref()
                        .map(|_| Written::Yes)
                        .map_err(|e| e.to_string()),
                );
            }
        }
    }

    /// Chains and inserts one batch from the known head; when another writer (a data
    /// transaction, another replica) appended meanwhile, re-reads the head and tries again.
    /// Returns the revision checks that failed, in which case nothing was written.
    async fn write(
        &mut self,
        rows: &[&AuditRow],
        checks: &[RevisionCheck],
    ) -> Result<Vec<RevisionCheck>, StoreError> {
        for _ in 0..4 {
            let known = match self.known.take() {
                Some(k) => k,
                None => self.read_known().await?,
            };
            match self.write_from(&known, rows, checks).await {
                Ok(Outcome::Written(next)) => {
                    self.known = Some(next);
                    return Ok(Vec::new());
                }
                Ok(Outcome::Stale(stale)) => {
                    self.known = Some(known);
                    return Ok(stale);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(failed(
            "the audit chain stayed contended; the batch was not written".into(),
        ))
    }

    async fn read_known(&mut self) -> Result<Known, StoreError> {
        self.held = None;
        let mut tx = self.db.begin().await?;
        let (seq, hash) = audit::head(&mut tx)
            .await?
            .unwrap_or((0, chain::GENESIS.to_vec()));
        let last = audit::last_checkpoint(&mut tx).await?;
        tx.commit().await?;
        Ok(Known {
            seq,
            hash,
            checkpoint_seq: last.as_ref().map_or(0, |c| c.seq),
            checkpoint_at: last.as_ref().map_or(0, |c| c.created_at),
        })
    }

    async fn write_from(
        &mut self,
        known: &Known,
        rows: &[&AuditRow],
        checks: &[RevisionCheck],
    ) -> Result<Outcome, StoreError> {
        let (mut seq, mut prev) = (known.seq, known.hash.clone());
        let mut chained = Vec::with_capacity(rows.len());
        for row in rows {
            seq += 1;
            let hash = chain::entry_hash(&prev, seq, row);
            chained.push(ChainedRow {
                seq,
                row: (*row).clone(),
                entry_hash: Some(hash.clone()),
            });
            prev = hash;
        }
        let mut next = Known {
            seq,
            hash: prev,
            checkpoint_seq: known.checkpoint_seq,
            checkpoint_at: known.checkpoint_at,
        };
        let checkpoint_due = seq - known.checkpoint_seq >= self.chain.policy.every_events;
        // Most batches on PostgreSQL: one statement that takes the chain lock, checks the
        // revisions and inserts, committed on its own (one round trip instead of four).
        if !checkpoint_due {
            if self.held.is_none() {
                self.held = audit::writer_connection(&self.db).await?;
            }
            if let Some(conn) = self.held.as_mut() {
                let stale = audit::insert_chained_alone(conn, &chained, checks)
                    .await
                    .inspect_err(|_| self.held = None)?;
                return Ok(match stale.is_empty() {
                    true => Outcome::Written(next),
                    false => Outcome::Stale(stale),
                });
            }
        }
        // The pool's only connection is the held one: give it back for the transaction.
        self.held = None;
        let mut tx = self.db.begin().await?;
        // Writers that append inside data transactions take the same lock; holding it keeps
        // their appends and this batch from failing each other.
        audit::lock_chain(&mut tx).await?;
        let stale = audit::stale_revisions(&mut tx, checks).await?;
        if !stale.is_empty() {
            // Dropped unfinished, the transaction rolls back: nothing was written.
            return Ok(Outcome::Stale(stale));
        }
        audit::insert_chained(&mut tx, &chained).await?;
        if checkpoint_due {
            let now = self.chain.clock.unix_seconds();
            let message = chain::checkpoint_message(seq, &next.hash);
            let provider = self.chain.provider.clone();
            let mac = blocking(move || provider.audit_mac(&message))
                .await
                .map_err(|e| failed(e.to_string()))?;
            audit::insert_checkpoint(
                &mut tx,
                &Checkpoint {
                    seq,
                    head_hash: next.hash.clone(),
                    mac,
                    created_at: now,
                },
            )
            .await?;
            next.checkpoint_seq = seq;
            next.checkpoint_at = now;
        }
        tx.commit().await?;
        Ok(Outcome::Written(next))
    }

    /// The timer's checkpoint: signs the current head if events came since the last one.
    async fn checkpoint_if_due(&mut self, timer: bool) -> Result<(), StoreError> {
        self.held = None;
        let mut tx = self.db.begin().await?;
        audit::lock_chain(&mut tx).await?;
        if let Some((seq, head)) = audit::head(&mut tx).await? {
            self.chain.checkpoint_in(&mut tx, seq, &head, timer).await?;
        }
        tx.commit().await
    }
}

impl Chain {
    async fn append(
        &self,
        tx: &mut crate::store::Transaction,
        rows: &[AuditRow],
    ) -> Result<(), StoreError> {
        audit::lock_chain(tx).await?;
        let (mut seq, mut prev) = audit::head(tx)
            .await?
            .unwrap_or((0, chain::GENESIS.to_vec()));
        let mut chained = Vec::with_capacity(rows.len());
        for row in rows {
            seq += 1;
            let hash = chain::entry_hash(&prev, seq, row);
            chained.push(ChainedRow {
                seq,
                row: row.clone(),
                entry_hash: Some(hash.clone()),
            });
            prev = hash;
        }
        audit::insert_chained(tx, &chained).await?;
        self.checkpoint_in(tx, seq, &prev, false).await
    }

    /// Signs the head in `tx` if enough events or time passed since the last checkpoint.
    async fn checkpoint_in(
        &self,
        tx: &mut crate::store::Transaction,
        seq: i64,
        head: &[u8],
        timer: bool,
    ) -> Result<(), StoreError> {
        let last = audit::last_checkpoint(tx).await?;
        let now = self.clock.unix_seconds();
        let since = last.as_ref().map_or(0, |c| c.seq);
        let age = last.as_ref().map_or(i64::MAX, |c| now - c.created_at);
        let every = i64::try_from(self.policy.every.as_secs()).unwrap_or(i64::MAX);
        let due =
            seq > since && (seq - since >= self.policy.every_events || (timer && age >= every));
        if !due {
            return Ok(());
        }
        let message = chain::checkpoint_message(seq, head);
        let provider = self.provider.clone();
        let mac = blocking(move || provider.audit_mac(&message))
            .await
            .map_err(|e| failed(e.to_string()))?;
        audit::insert_checkpoint(
            tx,
            &Checkpoint {
                seq,
                head_hash: head.to_vec(),
                mac,
                created_at: now,
            },
        )
        .await
    }
}
