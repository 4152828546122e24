//! Sealed storage on both backends, with keys in the SoftHSM2 token: round trips, versions,
//! envelopes moved between rows, crypto-shredding checked against the raw database, rotation.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop at the first fault

mod support;

use std::sync::Arc;

use support::{fresh_db, sealed_data, token_provider};
use vault::crypto::Suite;
use vault::domain::{SealedData, VaultError};
use vault::ids::{PatientId, RecordId};
use vault::keys::dek::SubkeyPurpose;
use vault::keys::rotation::{self, RewrapProgress};
use vault::keys::{KekVersion, KeyError, KeyProvider, PatientKeys};
use vault::store::{self, Backend, Database};

const NOTE: &[u8] = b"Visit note: suspected appendicitis, referred to surgery. MARKER-7f3a";

/// Raw SQL for tests only: the vault itself goes through the store modules.
async fn raw_exec(db: &Database, sql: &str) {
    match db {
        Database::Sqlite(p) => sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(p)
            .await
            .map(|_| ()),
        Database::Postgres(p) => sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(p)
            .await
            .map(|_| ()),
    }
    .unwrap();
}

async fn raw_bytes_rows(db: &Database, sql: &str) -> Vec<Vec<u8>> {
    match db {
        Database::Sqlite(p) => {
            sqlx::query_scalar::<_, Vec<u8>>(sqlx::AssertSqlSafe(sql.to_string()))
                .fetch_all(p)
                .await
        }
        Database::Postgres(p) => {
            sqlx::query_scalar::<_, Vec<u8>>(sqlx::AssertSqlSafe(sql.to_string()))
                .fetch_all(p)
                .await
        }
    }
    .unwrap()
}

async fn raw_count(db: &Database, sql: &str) -> i64 {
    match db {
        Database::Sqlite(p) => {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
                .fetch_one(p)
                .await
        }
        Database::Postgres(p) => {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
                .fetch_one(p)
                .await
        }
    }
    .unwrap()
}

async fn round_trip_and_versions(backend: Backend) {
    let t = fresh_db(backend).await;
    for suite in [Suite::Aes256GcmSiv, Suite::GostKuznyechikMgm] {
        let sealed = sealed_data(&t.db, token_provider(), suite).await;
        let patient = sealed.create_patient().await.unwrap();
        let v1 = sealed
            .seal_record(patient, "visit_note", NOTE)
            .await
            .unwrap();
        let v2 = sealed
            .correct_record(v1.record, b"Corrected: appendicitis confirmed")
            .await
            .unwrap();
        assert_eq!(v2.version, 2);
        assert_eq!(
            &sealed.open_record(v1.record, Some(1)).await.unwrap()[..],
            NOTE,
            "old version stays readable"
        );
        assert_eq!(
            &sealed.open_record(v1.record, None).await.unwrap()[..],
            b"Corrected: appendicitis confirmed"
        );
        // A cold cache must unwrap through the token and still open.
        sealed.custody().cache().forget(patient);
        assert_eq!(
            &sealed.open_record(v1.record, Some(1)).await.unwrap()[..],
            NOTE
        );
        assert!(matches!(
            sealed.open_record(RecordId::random(), None).await,
            Err(VaultError::UnknownRecord)
        ));
        assert!(matches!(
            sealed
                .seal_record(PatientId::random(), "visit_note", NOTE)
                .await,
            Err(VaultError::UnknownPatient)
        ));
    }
    // No plaintext anywhere in the stored envelopes.
    for envelope in raw_bytes_rows(&t.db, "SELECT envelope FROM sealed_records").await {
        assert!(!envelope.windows(11).any(|w| w == b"MARKER-7f3a"));
    }
}
on_both_backends!(
    round_trip_and_versions_are_readable,
    round_trip_and_versions
);

async fn moved_envelopes_fail(backend: Backend) {
    let t = fresh_db(backend).await;
    let sealed = sealed_data(&t.db, token_provider(), Suite::Aes256GcmSiv).await;
    let alice = sealed.create_patient().await.unwrap();
    let bob = sealed.create_patient().await.unwrap();
    let a1 = sealed.seal_record(alice, "visit_note", NOTE).await.unwrap();
    let a2 = sealed
        .seal_record(alice, "lab_result", b"HbA1c 5.1%")
        .await
        .unwrap();
    let a1v2 = sealed
        .correct_record(a1.record, b"corrected")
        .await
        .unwrap();
    let b1 = sealed
        .seal_record(bob, "visit_note", b"bob's note")
        .await
        .unwrap();

    // Copy one row's envelope over another's: to another record of the same patient, to another
    // version of the same record, and to another patient's record.
    let copy = |from: RecordId, from_v: u32, to: RecordId, to_v: u32| {
        format!(
            "UPDATE sealed_records SET envelope = (SELECT envelope FROM sealed_records WHERE record_id = '{from}' AND version = {from_v}) WHERE record_id = '{to}' AND version = {to_v}"
        )
    };
    raw_exec(&t.db, &copy(a1.record, 1, a2.record, 1)).await;
    raw_exec(&t.db, &copy(a1.record, 2, a1.record, 1)).await;
    raw_exec(&t.db, &copy(a1v2.record, 2, b1.record, 1)).await;
    for (record, version) in [(a2.record, 1), (a1.record, 1), (b1.record, 1)] {
        let result = sealed.open_record(record, Some(version)).await;
        assert!(
            matches!(result, Err(VaultError::Open(_))),
            "moved envelope opened: {result:?}"
        );
    }
    // The untouched row still opens.
    assert_eq!(
        &sealed.open_record(a1.record, Some(2)).await.unwrap()[..],
        b"corrected"
    );
}
on_both_backends!(
    envelopes_moved_between_rows_or_patients_fail,
    moved_envelopes_fail
);

async fn crypto_shred(backend: Backend) {
    let t = fresh_db(backend).await;
    let provider = token_provider();
    let sealed = sealed_data(&t.db, provider.clone(), Suite::Aes256GcmSiv).await;
    let victim = sealed.create_patient().await.unwrap();
    let other = sealed.create_patient().await.unwrap();
    let r1 = sealed
        .seal_record(victim, "visit_note", NOTE)
        .await
        .unwrap();
    sealed
        .seal_record(victim, "lab_result", b"HIV test: negative")
        .await
        .unwrap();
    let kept = sealed
        .seal_record(other, "visit_note", b"other patient")
        .await
        .unwrap();
    // Warm the cache: shredding must also drop the keys held in memory.
    sealed.open_record(r1.record, None).await.unwrap();

    assert!(sealed.shred_patient(victim).await.unwrap());
    assert!(
        !sealed.shred_patient(victim).await.unwrap(),
        "second shred is a no-op"
    );
    assert!(matches!(
        sealed.open_record(r1.record, None).await,
        Err(VaultError::PatientShredded)
    ));
    assert_eq!(
        &sealed.open_record(kept.record, None).await.unwrap()[..],
        b"other patient"
    );

    // The raw database: no wrapped DEK of the victim is left ...
    let victim_deks = raw_count(
        &t.db,
        &format!("SELECT COUNT(*) FROM patient_deks WHERE patient_id = '{victim}'"),
    )
    .await;
    assert_eq!(victim_deks, 0);
    // ... and no DEK that is left (unwrapped through the token) opens any of the victim's
    // envelopes, under any context.
    let rows = store::records::for_patient(&t.db, victim).await.unwrap();
    assert_eq!(
        rows.len(),
        2,
        "ciphertexts stay until retention deletes them"
    );
    let wrapped = raw_bytes_rows(&t.db, "SELECT wrapped_dek FROM patient_deks").await;
    assert_eq!(wrapped.len(), 1);
    for bytes in wrapped {
        let dek = provider.unwrap(KekVersion::FIRST, &bytes).unwrap();
        let keys = PatientKeys::new(dek, 1);
        for row in &rows {
            for patient in [victim, other] {
                let ctx = vault::crypto::SealContext {
                    patient: &patient,
                    record: &row.record,
                    record_version: row.version,
                    field: "body",
                };
                assert!(
                    keys.open(SubkeyPurpose::RecordSealing, &ctx, &row.envelope)
                        .is_err()
                );
            }
        }
    }
    if let Some(file) = &t.sqlite_file {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            !bytes.windows(11).any(|w| w == b"MARKER-7f3a"),
            "plaintext in the SQLite file"
        );
    }
}
on_both_backends!(crypto_shred_leaves_nothing_that_opens, crypto_shred);

async fn rotation_rewraps_resumably(backend: Backend) {
    let t = fresh_db(backend).await;
    let provider = token_provider();
    let sealed = sealed_data(&t.db, provider.clone(), Suite::Aes256GcmSiv).await;
    let mut records = Vec::new();
    for i in 0..7 {
        let p = sealed.create_patient().await.unwrap();
        records.push(
            sealed
                .seal_record(p, "visit_note", format!("note {i}").as_bytes())
                .await
                .unwrap(),
        );
    }
    let old = store::keys::deks_wrapped_before(&t.db, KekVersion::FIRST.next(), 100)
        .await
        .unwrap();
    assert_eq!(old.len(), 7);

    let custody = sealed.custody();
    let clock = support::test_clock();
    let v2 = rotation::create_next_kek(custody, &t.db, &*clock)
        .await
        .unwrap();
    assert_eq!(v2.get(), 2);
    // An interrupted earlier run had already rewrapped two DEKs.
    for dek in &old[..2] {
        let clear = custody.unwrap(&dek.wrapped).await.unwrap();
        let rewrapped = custody.wrap(v2, clear).await.unwrap();
        assert!(
            store::keys::replace_wrapping(&t.db, dek, &rewrapped)
                .await
                .unwrap()
        );
    }
    let mut reports = Vec::new();
    let done = rotation::rewrap_all(custody, &t.db, &*clock, 2, |p| reports.push(p))
        .await
        .unwrap();
    assert_eq!(done, RewrapProgress { done: 5, total: 5 });
    assert_eq!(reports.first(), Some(&RewrapProgress { done: 0, total: 5 }));
    assert!(
        reports.len() >= 4,
        "progress after every batch of 2: {reports:?}"
    );
    assert_eq!(
        store::keys::count_wrapped_before(&t.db, v2).await.unwrap(),
        0
    );
    assert_eq!(
        store::keys::kek_versions_in_use(&t.db).await.unwrap(),
        vec![v2]
    );
    // Running it again finds nothing to do.
    assert_eq!(
        rotation::rewrap_all(custody, &t.db, &*clock, 2, |_| {})
            .await
            .unwrap()
            .total,
        0
    );

    // Every record still opens from a cold cache, now through KEK v2.
    let fresh = sealed_data(&t.db, provider.clone(), Suite::Aes256GcmSiv).await;
    for (i, r) in records.iter().enumerate() {
        assert_eq!(
            &fresh.open_record(r.record, None).await.unwrap()[..],
            format!("note {i}").as_bytes()
        );
    }
    // A wrapping from before the rotation unwraps only with the version that made it.
    assert!(
        provider
            .unwrap(KekVersion::FIRST, &old[3].wrapped.bytes)
            .is_ok()
    );
    let wrong = provider.unwrap(v2, &old[3].wrapped.bytes).map(|_| ());
    assert!(matches!(wrong, Err(KeyError::Unwrap)), "{wrong:?}");
}
on_both_backends!(
    rotation_rewraps_every_dek_and_resumes,
    rotation_rewraps_resumably
);

async fn concurrent_rewrap(backend: Backend) {
    let t = fresh_db(backend).await;
    let provider = token_provider();
    let sealed = Arc::new(sealed_data(&t.db, provider.clone(), Suite::Aes256GcmSiv).await);
    for _ in 0..12 {
        sealed.create_patient().await.unwrap();
    }
    let clock = support::test_clock();
    rotation::create_next_kek(sealed.custody(), &t.db, &*clock)
        .await
        .unwrap();
    // Two replicas run the job at once: each DEK is rewrapped exactly once in total.
    let other = Arc::new(support::sealed_data(&t.db, provider, Suite::Aes256GcmSiv).await);
    other.custody().refresh().await.unwrap();
    let (a, b) = tokio::join!(
        rotation::rewrap_all(sealed.custody(), &t.db, &*clock, 3, |_| {}),
        rotation::rewrap_all(other.custody(), &t.db, &*clock, 3, |_| {})
    );
    assert_eq!(a.unwrap().done + b.unwrap().done, 12);
    assert_eq!(
        store::keys::count_wrapped_before(&t.db, sealed.custody().current_kek())
            .await
            .unwrap(),
        0
    );
}
on_both_backends!(two_replicas_rewrap_each_dek_once, concurrent_rewrap);

async fn shredded_patient_cannot_get_new_records(backend: Backend) {
    let t = fresh_db(backend).await;
    let sealed: SealedData = sealed_data(&t.db, token_provider(), Suite::Aes256GcmSiv).await;
    let p = sealed.create_patient().await.unwrap();
    sealed.shred_patient(p).await.unwrap();
    assert!(matches!(
        sealed.seal_record(p, "visit_note", NOTE).await,
        Err(VaultError::PatientShredded)
    ));
}
on_both_backends!(
    shredded_patient_takes_no_new_records,
    shredded_patient_cannot_get_new_records
);
