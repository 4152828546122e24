//! Sealed storage of patient data: one DEK per patient, every record version its own envelope.

use std::sync::Arc;

use thiserror::Error;
use zeroize::Zeroizing;

use crate::audit::AuditWriter;
use crate::clock::Clock;
use crate::crypto::{OpenError, SealContext, Suite};
use crate::ids::{PatientId, RecordId};
use crate::keys::dek::SubkeyPurpose;
use crate::keys::{KeyCustody, KeyError, PatientKeys};
use crate::store::audit::AuditRow;
use crate::store::keys::PatientKeyState;
use crate::store::records::StoredRecord;
use crate::store::{self, Database, StoreError};

/// The field name bound into the AAD of a record's body.
const BODY_FIELD: &str = "body";
/// Every patient has one DEK today; rotation of a patient's DEK adds versions later.
const CURRENT_DEK_VERSION: u32 = 1;

#[derive(Debug, Error)]
pub enum VaultError {
    #[error("no such patient")]
    UnknownPatient,
    #[error("no such record")]
    UnknownRecord,
    #[error("the patient's data was destroyed")]
    PatientShredded,
    /// Opaque on purpose: tampered, moved and mis-keyed envelopes all look alike.
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("data could not be sealed")]
    Seal,
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A patient being created: insert `wrapped` with `dek_version`, seal with `keys`.
pub struct NewPatient {
    pub patient: PatientId,
    pub dek_version: u32,
    pub wrapped: crate::keys::WrappedDek,
    pub keys: Arc<PatientKeys>,
}

/// Where a record version lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef {
    pub record: RecordId,
    pub version: u32,
}

/// Seals and opens patient data.
pub struct SealedData {
    db: Database,
    custody: Arc<KeyCustody>,
    suite: Suite,
    clock: Arc<dyn Clock>,
}

impl SealedData {
    pub fn new(
        db: Database,
        custody: Arc<KeyCustody>,
        suite: Suite,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            db,
            custody,
            suite,
            clock,
        }
    }

    pub fn custody(&self) -> &Arc<KeyCustody> {
        &self.custody
    }

    /// Creates a patient with a fresh DEK, wrapped under the current KEK.
    pub async fn create_patient(&self) -> Result<PatientId, VaultError> {
        let patient = PatientId::random();
        let (dek, wrapped) = self.custody.new_dek().await?;
        let mut tx = self.db.begin().await?;
        store::keys::insert_patient(
            &mut tx,
            patient,
            CURRENT_DEK_VERSION,
            &wrapped,
            self.clock.unix_seconds(),
        )
        .await?;
        tx.commit().await?;
        // The new patient's first record is usually sealed right away: keep the keys warm.
        self.custody.cache().insert(
            patient,
            Arc::new(PatientKeys::new(dek, CURRENT_DEK_VERSION)),
        );
        Ok(patient)
    }

    /// Keys for a patient about to be created in the caller's transaction: a fresh DEK, its
    /// wrapping under the current KEK, and the ready keys. Call [`SealedData::remember`] after
    /// the commit.
    pub async fn prepare_patient(&self) -> Result<NewPatient, VaultError> {
        let (dek, wrapped) = self.custody.new_dek().await?;
        Ok(NewPatient {
            patient: PatientId::random(),
            dek_version: CURRENT_DEK_VERSION,
            wrapped,
            keys: Arc::new(PatientKeys::new(dek, CURRENT_DEK_VERSION)),
        })
    }

    /// Keeps a committed new patient's keys warm.
    pub fn remember(&self, new: &NewPatient) {
        self.custody.cache().insert(new.patient, new.keys.clone());
    }

    pub fn suite(&self) -> Suite {
        self.suite
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The current keys of a patient (see [`SealedData::keys`]).
    pub async fn current_keys(&self, patient: PatientId) -> Result<Arc<PatientKeys>, VaultError> {
        self.keys(patient, CURRENT_DEK_VERSION).await
    }

    /// The DEK version new data is sealed under and batches read.
    pub fn current_dek_version(&self) -> u32 {
        CURRENT_DEK_VERSION
    }

    /// The keys for a key state the caller read (a batch reads it in its own statement): the
    /// cache saves the token unwrap; a shredded or unknown patient is an error.
    pub async fn keys_from(
        &self,
        patient: PatientId,
        state: &PatientKeyState,
    ) -> Result<Arc<PatientKeys>, VaultError> {
        match state {
            PatientKeyState::Unknown => Err(VaultError::UnknownPatient),
            PatientKeyState::Shredded => Err(VaultError::PatientShredded),
            PatientKeyState::Live(stored) => Ok(self
                .custody
                .patient_keys(patient, stored.dek_version, &stored.wrapped)
                .await?),
        }
    }

    /// The patient's keys. The database is asked first, every time: a patient shredded by
    /// another replica must not stay readable here from a warm cache. The cache only saves the
    /// token unwrap.
    async fn keys(
        &self,
        patient: PatientId,
        dek_version: u32,
    ) -> Result<Arc<PatientKeys>, VaultError> {
        let state = store::keys::patient_dek(&self.db, patient, dek_version).await?;
        self.keys_from(patient, &state).await
    }

    /// Seals a new record (version 1).
    pub async fn seal_record(
        &self,
        patient: PatientId,
        kind: &str,
        body: &[u8],
    ) -> Result<RecordRef, VaultError> {
        self.write_version(
            patient,
            RecordRef {
                record: RecordId::random(),
                version: 1,
            },
            kind,
            body,
            None,
            None,
        )
        .await
    }

    /// Seals a correction as the next version; earlier versions stay readable.
    pub async fn correct_record(
        &self,
        record: RecordId,
        body: &[u8],
    ) -> Result<RecordRef, VaultError> {
        let latest = store::records::get(&self.db, record, None)
            .await?
            .ok_or(VaultError::UnknownRecord)?;
        let next = RecordRef {
            record,
            version: latest.version + 1,
        };
        self.write_version(latest.patient, next, &latest.kind, body, None, None)
            .await
    }

    /// Seals a new record written by `author`, committing `audit` in the same transaction.
    pub async fn seal_record_as(
        &self,
        patient: PatientId,
        kind: &str,
        body: &[u8],
        author: &str,
        audit: (&AuditWriter, &[AuditRow]),
    ) -> Result<RecordRef, VaultError> {
        let at = RecordRef {
            record: RecordId::random(),
            version: 1,
        };
        self.write_version(patient, at, kind, body, Some(author), Some(audit))
            .await
    }

    /// Seals a correction by `author` as the next version, with its audit rows.
    pub async fn correct_record_as(
        &self,
        latest: &StoredRecord,
        body: &[u8],
        author: &str,
        audit: (&AuditWriter, &[AuditRow]),
    ) -> Result<RecordRef, VaultError> {
        let next = RecordRef {
            record: latest.record,
            version: latest.version + 1,
        };
        self.write_version(
            latest.patient,
            next,
            &latest.kind,
            body,
            Some(author),
            Some(audit),
        )
        .await
    }

    async fn write_version(
        &self,
        patient: PatientId,
        at: RecordRef,
        kind: &str,
        body: &[u8],
        author: Option<&str>,
        audit: Option<(&AuditWriter, &[AuditRow])>,
    ) -> Result<RecordRef, VaultError> {
        let keys = self.keys(patient, CURRENT_DEK_VERSION).await?;
        let ctx = SealContext {
            patient: &patient,
            record: &at.record,
            record_version: at.version,
            field: BODY_FIELD,
        };
        let envelope = keys
            .seal(self.suite, SubkeyPurpose::RecordSealing, &ctx, body)
            .map_err(|_| VaultError::Seal)?;
        let row = StoredRecord {
            record: at.record,
            version: at.version,
            patient,
            kind: kind.to_owned(),
            envelope,
            created_at: self.clock.unix_seconds(),
            author: author.map(str::to_owned),
        };
        let mut tx = self.db.begin().await?;
        store::records::insert(&mut tx, &row).await?;
        if let Some((writer, rows)) = audit {
            writer.append_in(&mut tx, rows).await?;
        }
        tx.commit().await?;
        Ok(at)
    }

    /// Opens one version of a record (the latest when `version` is `None`).
    pub async fn open_record(
        &self,
        record: RecordId,
        version: Option<u32>,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let row = store::records::get(&self.db, record, version)
            .await?
            .ok_or(VaultError::UnknownRecord)?;
        self.open_stored(&row).await
    }

    /// Opens a stored row: the row's own ids form the context, so a row whose envelope was
    /// copied from elsewhere fails.
    pub async fn open_stored(&self, row: &StoredRecord) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let keys = self.keys_for_stored(row).await?;
        Self::open_stored_with(&keys, row)
    }

    /// The keys that open a stored row: its patient's DEK of the version its envelope names.
    pub async fn keys_for_stored(
        &self,
        row: &StoredRecord,
    ) -> Result<Arc<PatientKeys>, VaultError> {
        let dek_version = crate::crypto::Envelope::parse(&row.envelope)
            .map_err(|_| OpenError)?
            .dek_version;
        self.keys(row.patient, dek_version).await
    }

    /// The keys that open `row`, from its patient's key state read in the same statement
    /// ([`store::records::for_unseal`]): the DEK of the version its envelope names.
    pub async fn keys_for_read(
        &self,
        row: &StoredRecord,
        shredded: bool,
        deks: Vec<store::keys::StoredDek>,
    ) -> Result<Arc<PatientKeys>, VaultError> {
        let dek_version = crate::crypto::Envelope::parse(&row.envelope)
            .map_err(|_| OpenError)?
            .dek_version;
        let state = match deks.into_iter().find(|d| d.dek_version == dek_version) {
            _ if shredded => PatientKeyState::Shredded,
            Some(dek) => PatientKeyState::Live(dek),
            None => {
                return Err(store::StoreError::Corrupt(
                    "a live patient has no DEK of that version".into(),
                )
                .into());
            }
        };
        self.keys_from(row.patient, &state).await
    }

    /// Opens a stored row with keys already read by [`Self::keys_for_stored`].
    pub fn open_stored_with(
        keys: &PatientKeys,
        row: &StoredRecord,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let ctx = SealContext {
            patient: &row.patient,
            record: &row.record,
            record_version: row.version,
            field: BODY_FIELD,
        };
        Ok(keys.open(SubkeyPurpose::RecordSealing, &ctx, &row.envelope)?)
    }

    /// Crypto-shreds a patient: every wrapped DEK is deleted and the cached keys are dropped, so
    /// no record of the patient can be opened again, from this database or a copy of it once
    /// the KEK versions that wrapped the DEK are retired. Returns false if already shredded.
    pub async fn shred_patient(&self, patient: PatientId) -> Result<bool, VaultError> {
        let mut tx = self.db.begin().await?;
        let shredded =
            store::keys::shred_patient(&mut tx, patient, self.clock.unix_seconds()).await?;
        tx.commit().await?;
        self.custody.forget(patient);
        Ok(shredded)
    }
}
