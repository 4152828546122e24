//! KEK retirement with keys in the SoftHSM2 token and a manual clock: a backup taken before a
//! shred stops revealing the patient once the KEK version it was wrapped under is retired; the
//! schedule follows the backup retention; nothing is destroyed that still wraps a live key, and
//! never the current version. Plus `vault keys retire` from the command line.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// tests stop at the first fault
// The token lock is held for a whole test on purpose; each test has its own runtime.
#![allow(clippy::await_holding_lock)]

mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use support::{TestDb, fresh_db, test_clock, token_provider, token_settings, workspace_path};
use vault::clock::{Clock, ManualClock};
use vault::crypto::Suite;
use vault::domain::{SealedData, VaultError};
use vault::ids::PatientId;
use vault::keys::pkcs11::Pkcs11Provider;
use vault::keys::retirement::{self, RetiredKek, Waiting, WaitingKek};
use vault::keys::rotation;
use vault::keys::system::VaultKeys;
use vault::keys::{Dek, KekVersion, KeyCustody, KeyError, KeyProvider};
use vault::store::keys::WrappedBy;
use vault::store::{self, Backend, Database};

const DAY: u64 = 86_400;
const RETENTION: Duration = Duration::from_secs(35 * DAY);
const NOTE: &[u8] = b"Visit note: HIV test positive, referred to the AIDS centre";

/// SoftHSM2's file store answers CKR_GENERAL_ERROR when two processes write one token at once:
/// the command-line test (a second process) runs alone, the in-process tests share.
static TOKEN: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    TOKEN.read().unwrap_or_else(|p| p.into_inner())
}

fn v(n: u32) -> KekVersion {
    KekVersion::new(n).unwrap()
}

fn token_versions(provider: &Arc<Pkcs11Provider>) -> Vec<KekVersion> {
    provider.kek_versions().unwrap()
}

/// A vault over the test database: custody on a new KEK label in the token, a manual clock.
struct Vault {
    provider: Arc<Pkcs11Provider>,
    clock: Arc<ManualClock>,
    custody: Arc<KeyCustody>,
}

impl Vault {
    async fn new(db: &Database) -> Self {
        let provider = token_provider();
        let clock = test_clock();
        let custody = support::custody(provider.clone(), 1_000, clock.clone()).await;
        // As `vault keys init` does.
        store::keys::record_kek_version(db, KekVersion::FIRST, clock.unix_seconds())
            .await
            .unwrap();
        Self {
            provider,
            clock,
            custody,
        }
    }

    /// Sealed data over `db` through this vault's custody (and cache).
    fn sealed(&self, db: &Database) -> SealedData {
        SealedData::new(
            db.clone(),
            self.custody.clone(),
            Suite::Aes256GcmSiv,
            self.clock.clone(),
        )
    }

    /// Sealed data over `db` with a custody of its own and no cache: every open unwraps in the
    /// token, as a freshly started vault on a restored backup would.
    async fn cold(&self, db: &Database) -> SealedData {
        SealedData::new(
            db.clone(),
            support::custody(self.provider.clone(), 0, self.clock.clone()).await,
            Suite::Aes256GcmSiv,
            self.clock.clone(),
        )
    }

    async fn rotate(&self, db: &Database) -> KekVersion {
        let new = rotation::create_next_kek(&self.custody, db, &*self.clock)
            .await
            .unwrap();
        rotation::rewrap_all(&self.custody, db, &*self.clock, 100, |_| {})
            .await
            .unwrap();
        new
    }

    async fn retire(&self, db: &Database) -> retirement::RetirementReport {
        retirement::retire_due(&self.custody, db, &*self.clock, RETENTION)
            .await
            .unwrap()
    }

    fn advance_days(&self, days: u64) {
        self.clock.advance(Duration::from_secs(days * DAY));
    }
}

async fn kek_record(db: &Database, version: KekVersion) -> store::keys::KekVersionRecord {
    store::keys::list_kek_versions(db)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.version == version)
        .unwrap_or_else(|| panic!("no kek_versions row for {version}"))
}

/// A backup of the test database as a restore would bring it back: a consistent copy, opened as
/// a database of its own. SQLite: `VACUUM INTO` a new file. PostgreSQL: a new database with
/// the original as template, which needs every connection to the original closed, so `t.db` is
/// reconnected afterwards.
async fn backup(t: &mut TestDb) -> (Database, Option<tempfile::TempDir>) {
    match &t.db {
        Database::Sqlite(pool) => {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("backup.db");
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "VACUUM INTO '{}'",
                file.display()
            )))
            .execute(pool)
            .await
            .unwrap();
            let db = Database::connect(&format!("sqlite://{}", file.display()), 2)
                .await
                .unwrap();
            (db, Some(dir))
        }
        Database::Postgres(_) => {
            t.db.close().await;
            let (base, original) = t.url.rsplit_once('/').unwrap();
            let copy = format!("{original}_backup");
            let admin_url = std::env::var("VAULT_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
            // The server may take a moment to notice the closed connections.
            let mut tries = 0;
            loop {
                let created = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE {copy} TEMPLATE {original}"
                )))
                .execute(&admin)
                .await;
                match created {
                    Ok(_) => break,
                    Err(e) if tries < 50 => {
                        let _ = e;
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("CREATE DATABASE {copy} TEMPLATE {original}: {e}"),
                }
            }
            admin.close().await;
            t.db = Database::connect(&t.url, 8).await.unwrap();
            let db = Database::connect(&format!("{base}/{copy}"), 2)
                .await
                .unwrap();
            (db, None)
        }
    }
}

fn is_kek_missing(result: &Result<zeroize::Zeroizing<Vec<u8>>, VaultError>) -> bool {
    matches!(result, Err(VaultError::Keys(KeyError::KekMissing { .. })))
}

/// The requirement end to end: backup, shred, rotate, wait out the retention, retire; the backup
/// then no longer reveals the shredded patient, while the live vault reads everyone else.
async fn backup_before_shred_is_unreadable_after_retirement(backend: Backend) {
    let _token = shared();
    let mut t = fresh_db(backend).await;
    let vault = Vault::new(&t.db).await;
    let sealed = vault.sealed(&t.db);
    // The vault root key (blind indexes, staff secrets) is wrapped like a DEK.
    VaultKeys::load_or_create(&t.db, &vault.custody, vault.clock.unix_seconds())
        .await
        .unwrap();
    let victim = sealed.create_patient().await.unwrap();
    let victim_note = sealed
        .seal_record(victim, "visit_note", NOTE)
        .await
        .unwrap();
    let other = sealed.create_patient().await.unwrap();
    let other_note = sealed
        .seal_record(other, "visit_note", b"other patient")
        .await
        .unwrap();

    // Tonight's backup, then the patient asks to be forgotten.
    let (backup_db, _backup_dir) = backup(&mut t).await;
    let sealed = vault.sealed(&t.db);
    vault.advance_days(1);
    assert!(sealed.shred_patient(victim).await.unwrap());
    assert!(matches!(
        sealed.open_record(victim_note.record, None).await,
        Err(VaultError::PatientShredded)
    ));

    // The monthly rotation: v2, and every live wrapping moved to it.
    vault.advance_days(1);
    assert_eq!(vault.rotate(&t.db).await, v(2));
    let rewrapped_at = vault.clock.unix_seconds();
    assert_eq!(
        kek_record(&t.db, v(1)).await.rewrapped_at,
        Some(rewrapped_at)
    );
    assert_eq!(kek_record(&t.db, v(2)).await.rewrapped_at, None);
    let due_at = rewrapped_at + i64::try_from(RETENTION.as_secs()).unwrap();

    // The problem being solved: the backup still reveals the shredded patient.
    let restored = vault.cold(&backup_db).await;
    assert_eq!(
        &restored
            .open_record(victim_note.record, None)
            .await
            .unwrap()[..],
        NOTE
    );

    // Before the retention has passed nothing is destroyed, and the run says when v1 is due.
    vault.advance_days(34);
    let report = vault.retire(&t.db).await;
    assert_eq!(report.current, v(2));
    assert!(report.retired.is_empty(), "{report:?}");
    assert_eq!(
        report.waiting,
        [WaitingKek {
            version: v(1),
            reason: Waiting::Retention {
                rewrapped_at,
                due_at
            },
        }]
    );
    assert_eq!(token_versions(&vault.provider), [v(1), v(2)]);
    assert_eq!(kek_record(&t.db, v(1)).await.retired_at, None);

    // Once rewrapped_at + retention has passed, v1 is destroyed and recorded.
    vault.advance_days(1);
    assert_eq!(vault.clock.unix_seconds(), due_at);
    let report = vault.retire(&t.db).await;
    assert_eq!(
        report.retired,
        [RetiredKek {
            version: v(1),
            rewrapped_at: Some(rewrapped_at),
            was_absent: false,
        }]
    );
    assert!(report.waiting.is_empty(), "{report:?}");
    assert_eq!(token_versions(&vault.provider), [v(2)]);
    assert_eq!(
        kek_record(&t.db, v(1)).await.retired_at,
        Some(vault.clock.unix_seconds())
    );

    // The live vault, started afresh, reads the other patient and its root key under v2.
    let live = vault.cold(&t.db).await;
    assert_eq!(
        &live.open_record(other_note.record, None).await.unwrap()[..],
        b"other patient"
    );
    VaultKeys::load_or_create(&t.db, &vault.custody, vault.clock.unix_seconds())
        .await
        .unwrap();

    // The old backup, restored against the same key store, no longer reveals the patient: the
    // KEK version that wrapped their DEK is gone.
    let restored = vault.cold(&backup_db).await;
    let opened = restored.open_record(victim_note.record, None).await;
    assert!(is_kek_missing(&opened), "{opened:?}");
    // (The whole backup is past retention: nothing in it opens any more.)
    let opened = restored.open_record(other_note.record, None).await;
    assert!(is_kek_missing(&opened), "{opened:?}");

    // A second run is harmless.
    let report = vault.retire(&t.db).await;
    assert!(report.retired.is_empty() && report.waiting.is_empty());
    assert_eq!(report.already_retired, [(v(1), vault.clock.unix_seconds())]);
    assert_eq!(token_versions(&vault.provider), [v(2)]);
    backup_db.close().await;
}
on_both_backends!(
    a_backup_from_before_a_shred_is_unreadable_after_retirement,
    backup_before_shred_is_unreadable_after_retirement
);

/// An interrupted rewrap keeps the old version however long ago the rotation was; the wait
/// starts when the rewrap completes; the current version is never touched; runs repeat safely.
async fn interrupted_rewrap_blocks_retirement(backend: Backend) {
    let _token = shared();
    let t = fresh_db(backend).await;
    let vault = Vault::new(&t.db).await;
    let sealed = vault.sealed(&t.db);
    let mut notes = Vec::new();
    for i in 0..3 {
        let p = sealed.create_patient().await.unwrap();
        notes.push(
            sealed
                .seal_record(p, "visit_note", format!("note {i}").as_bytes())
                .await
                .unwrap(),
        );
    }

    // Only one version: nothing is older than the current one, whatever the clock says.
    vault.advance_days(400);
    let report = vault.retire(&t.db).await;
    assert_eq!(report.current, v(1));
    assert!(report.retired.is_empty() && report.waiting.is_empty());
    assert_eq!(token_versions(&vault.provider), [v(1)]);

    // A rotation whose rewrap stopped after one DEK.
    let v2 = rotation::create_next_kek(&vault.custody, &t.db, &*vault.clock)
        .await
        .unwrap();
    let old = store::keys::deks_wrapped_before(&t.db, v2, 100)
        .await
        .unwrap();
    let clear = vault.custody.unwrap(&old[0].wrapped).await.unwrap();
    let rewrapped = vault.custody.wrap(v2, clear).await.unwrap();
    assert!(
        store::keys::replace_wrapping(&t.db, &old[0], &rewrapped)
            .await
            .unwrap()
    );
    vault.advance_days(100);
    for _ in 0..2 {
        let report = vault.retire(&t.db).await;
        assert_eq!(report.current, v2);
        assert!(report.retired.is_empty(), "{report:?}");
        assert_eq!(
            report.waiting,
            [WaitingKek {
                version: v(1),
                reason: Waiting::StillWraps(WrappedBy {
                    deks: 2,
                    vault_keys: 0
                }),
            }]
        );
        assert_eq!(token_versions(&vault.provider), [v(1), v2]);
    }
    assert_eq!(kek_record(&t.db, v(1)).await.rewrapped_at, None);

    // Finishing the rewrap starts the wait now, not at the rotation 100 days ago.
    rotation::rewrap_all(&vault.custody, &t.db, &*vault.clock, 100, |_| {})
        .await
        .unwrap();
    let rewrapped_at = vault.clock.unix_seconds();
    let report = vault.retire(&t.db).await;
    assert!(report.retired.is_empty(), "{report:?}");
    assert_eq!(
        report.waiting,
        [WaitingKek {
            version: v(1),
            reason: Waiting::Retention {
                rewrapped_at,
                due_at: rewrapped_at + i64::try_from(RETENTION.as_secs()).unwrap()
            },
        }]
    );

    vault.advance_days(35);
    for round in 0..2 {
        let report = vault.retire(&t.db).await;
        assert_eq!(report.current, v2, "the current version stays current");
        assert_eq!(report.retired.len(), 1 - round, "{report:?}");
        assert!(report.waiting.is_empty(), "{report:?}");
        assert_eq!(token_versions(&vault.provider), [v2]);
    }
    // Much later, with v2 still the only version: it is never a candidate.
    vault.advance_days(1000);
    let report = vault.retire(&t.db).await;
    assert!(report.retired.is_empty() && report.waiting.is_empty());
    assert_eq!(token_versions(&vault.provider), [v2]);
    let live = vault.cold(&t.db).await;
    for (i, n) in notes.iter().enumerate() {
        assert_eq!(
            &live.open_record(n.record, None).await.unwrap()[..],
            format!("note {i}").as_bytes()
        );
    }
}
on_both_backends!(
    retirement_waits_for_the_rewrap_and_never_touches_the_current_version,
    interrupted_rewrap_blocks_retirement
);

/// A DEK wrapped under the old version after the rewrap finished (a replica that had not yet
/// re-read the KEK versions) blocks retirement, and its rewrap restarts the wait.
async fn late_wrapping_restarts_the_wait(backend: Backend) {
    let _token = shared();
    let t = fresh_db(backend).await;
    let vault = Vault::new(&t.db).await;
    let sealed = vault.sealed(&t.db);
    sealed.create_patient().await.unwrap();
    vault.rotate(&t.db).await;

    vault.advance_days(20);
    let wrapped = vault
        .custody
        .wrap(v(1), Dek::generate().unwrap())
        .await
        .unwrap();
    let mut tx = t.db.begin().await.unwrap();
    store::keys::insert_patient(
        &mut tx,
        PatientId::random(),
        1,
        &wrapped,
        vault.clock.unix_seconds(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    vault.advance_days(20);
    let report = vault.retire(&t.db).await;
    assert!(report.retired.is_empty(), "{report:?}");
    assert!(
        matches!(report.waiting[..], [WaitingKek { reason: Waiting::StillWraps(w), .. }] if w.deks == 1),
        "{report:?}"
    );

    // `vault keys rotate --resume`: the late wrapping is moved, and v1's wait starts again.
    rotation::rewrap_all(&vault.custody, &t.db, &*vault.clock, 100, |_| {})
        .await
        .unwrap();
    let now = vault.clock.unix_seconds();
    assert_eq!(kek_record(&t.db, v(1)).await.rewrapped_at, Some(now));
    let report = vault.retire(&t.db).await;
    assert!(report.retired.is_empty(), "{report:?}");
    assert!(
        matches!(report.waiting[..], [WaitingKek { reason: Waiting::Retention { rewrapped_at, .. }, .. }] if rewrapped_at == now),
        "{report:?}"
    );
    assert_eq!(token_versions(&vault.provider), [v(1), v(2)]);
}
on_both_backends!(
    a_late_wrapping_under_an_old_version_restarts_the_wait,
    late_wrapping_restarts_the_wait
);

/// Deployments from before `kek_versions`, and versions destroyed outside the command (by hand,
/// or by a run stopped between destroying and recording).
async fn old_deployments_and_versions_destroyed_elsewhere(backend: Backend) {
    let _token = shared();
    let t = fresh_db(backend).await;
    let provider = token_provider();
    let clock = test_clock();
    let custody = support::custody(provider.clone(), 1_000, clock.clone()).await;
    let sealed = SealedData::new(
        t.db.clone(),
        custody.clone(),
        Suite::Aes256GcmSiv,
        clock.clone(),
    );
    sealed.create_patient().await.unwrap();
    // Three versions created and rewrapped with no record of when (the rows are removed
    // afterwards, as on a database migrated only now).
    for _ in 0..2 {
        rotation::create_next_kek(&custody, &t.db, &*clock)
            .await
            .unwrap();
        rotation::rewrap_all(&custody, &t.db, &*clock, 100, |_| {})
            .await
            .unwrap();
    }
    match &t.db {
        Database::Sqlite(p) => sqlx::query("DELETE FROM kek_versions")
            .execute(p)
            .await
            .map(|_| ()),
        Database::Postgres(p) => sqlx::query("DELETE FROM kek_versions")
            .execute(p)
            .await
            .map(|_| ()),
    }
    .unwrap();
    // v1 was destroyed by hand under the old manual procedure.
    provider.destroy_kek(v(1)).unwrap();

    clock.advance(Duration::from_secs(10 * DAY));
    let now = clock.unix_seconds();
    let report = retirement::retire_due(&custody, &t.db, &*clock, RETENTION)
        .await
        .unwrap();
    assert_eq!(report.current, v(3));
    assert!(
        report.retired.is_empty(),
        "v1 has no row and is not in the token: nothing to know of it: {report:?}"
    );
    // v2 wraps nothing now: its wait starts now.
    assert_eq!(
        report.waiting,
        [WaitingKek {
            version: v(2),
            reason: Waiting::Retention {
                rewrapped_at: now,
                due_at: now + i64::try_from(RETENTION.as_secs()).unwrap()
            },
        }]
    );
    assert_eq!(kek_record(&t.db, v(3)).await.created_at, now);

    // v2 disappears from the token without the command (a run stopped after destroying it).
    provider.destroy_kek(v(2)).unwrap();
    let report = retirement::retire_due(&custody, &t.db, &*clock, RETENTION)
        .await
        .unwrap();
    assert_eq!(
        report.retired,
        [RetiredKek {
            version: v(2),
            rewrapped_at: Some(now),
            was_absent: true,
        }]
    );
    let report = retirement::retire_due(&custody, &t.db, &*clock, RETENTION)
        .await
        .unwrap();
    assert!(report.retired.is_empty() && report.waiting.is_empty());
    assert_eq!(report.already_retired, [(v(2), now)]);
    assert_eq!(provider.kek_versions().unwrap(), [v(3)]);

    // A dry run changes nothing either.
    let planned = retirement::plan(&custody, &t.db, &*clock, RETENTION)
        .await
        .unwrap();
    assert_eq!(planned, report);
}
on_both_backends!(
    old_deployments_and_versions_destroyed_elsewhere_are_recorded,
    old_deployments_and_versions_destroyed_elsewhere
);

/// `plan` (the dry run) reports what `retire_due` would do and destroys nothing.
async fn dry_run_destroys_nothing(backend: Backend) {
    let _token = shared();
    let t = fresh_db(backend).await;
    let vault = Vault::new(&t.db).await;
    vault.sealed(&t.db).create_patient().await.unwrap();
    vault.rotate(&t.db).await;
    let rewrapped_at = vault.clock.unix_seconds();
    vault.advance_days(36);
    let planned = retirement::plan(&vault.custody, &t.db, &*vault.clock, RETENTION)
        .await
        .unwrap();
    let expected = [RetiredKek {
        version: v(1),
        rewrapped_at: Some(rewrapped_at),
        was_absent: false,
    }];
    assert_eq!(planned.retired, expected);
    assert_eq!(token_versions(&vault.provider), [v(1), v(2)]);
    assert_eq!(kek_record(&t.db, v(1)).await.retired_at, None);
    assert_eq!(vault.retire(&t.db).await.retired, expected);
    assert_eq!(token_versions(&vault.provider), [v(2)]);
}
on_both_backends!(a_dry_run_destroys_nothing, dry_run_destroys_nothing);

/// The caller records each retirement as it happens (the CLI's audit event); when recording
/// fails the run stops, and what was destroyed stays marked, so a re-run neither repeats nor
/// loses it.
async fn each_retirement_is_recorded_as_it_happens(backend: Backend) {
    let _token = shared();
    let t = fresh_db(backend).await;
    let vault = Vault::new(&t.db).await;
    vault.sealed(&t.db).create_patient().await.unwrap();
    vault.rotate(&t.db).await;
    vault.rotate(&t.db).await;
    vault.advance_days(40);

    let mut seen = Vec::new();
    let failed = retirement::retire_due_recording(
        &vault.custody,
        &t.db,
        &*vault.clock,
        RETENTION,
        async |r: &RetiredKek| {
            seen.push(r.version);
            Err("the audit is unavailable".to_string())
        },
    )
    .await;
    assert!(
        matches!(&failed, Err(retirement::RetirementError::Record { version, reason }) if *version == v(1) && reason.contains("audit")),
        "{failed:?}"
    );
    assert_eq!(seen, [v(1)]);
    assert_eq!(token_versions(&vault.provider), [v(2), v(3)]);
    assert!(kek_record(&t.db, v(1)).await.retired_at.is_some());

    let mut seen = Vec::new();
    let report = retirement::retire_due_recording(
        &vault.custody,
        &t.db,
        &*vault.clock,
        RETENTION,
        async |r: &RetiredKek| {
            seen.push(r.version);
            Ok(())
        },
    )
    .await
    .unwrap();
    assert_eq!(seen, [v(2)]);
    assert_eq!(report.already_retired, [(v(1), vault.clock.unix_seconds())]);
    assert_eq!(token_versions(&vault.provider), [v(3)]);
}
on_both_backends!(
    each_retirement_is_recorded_as_it_happens,
    each_retirement_is_recorded_as_it_happens
);

// --- the command line -------------------------------------------------------------------------

fn vault_cmd(config: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vault"));
    cmd.arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .env_remove("RUST_BACKTRACE");
    cmd
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn keys_retire_from_the_command_line() {
    let _token = TOKEN.write().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}/vault.db", dir.path().display());
    let settings = token_settings("softhsm2.toml");
    let kek_label = settings.kek_label.clone();
    let provider = Arc::new(Pkcs11Provider::open(settings).unwrap());
    provider.create_kek(KekVersion::FIRST).unwrap();
    {
        let db = Database::connect(&db_url, 2).await.unwrap();
        store::migrate(&db).await.unwrap();
        let sealed = support::sealed_data(&db, provider.clone(), Suite::Aes256GcmSiv).await;
        for _ in 0..3 {
            let p = sealed.create_patient().await.unwrap();
            sealed.seal_record(p, "visit_note", b"note").await.unwrap();
        }
        db.close().await;
    }
    let config = |retention: u32| {
        let text = format!(
            r#"mode = "production"
listen = "127.0.0.1:0"
data_dir = "{data}"
[database]
url = "{db_url}"
[keys]
provider = "pkcs11"
backup_retention_days = {retention}
[keys.pkcs11]
module = "{module}"
token_label = "{label}"
kek_label = "{kek_label}"
profile = "{profile}"
"#,
            data = dir.path().display(),
            module = std::env::var("VAULT_HSM_MODULE").unwrap(),
            label = std::env::var("VAULT_HSM_TOKEN_LABEL").unwrap(),
            profile = workspace_path("hsm-config/softhsm2.toml").display(),
        );
        let path = dir.path().join(format!("vault-{retention}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    };

    // 0 days is refused, naming the setting.
    let out = vault_cmd(&config(0))
        .args(["keys", "retire"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("keys.backup_retention_days"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");

    let cfg = config(30);
    let (ok, stdout, stderr) = run(vault_cmd(&cfg).args(["keys", "rotate"]));
    assert!(ok, "{stdout}{stderr}");

    let pool = sqlx::SqlitePool::connect(&db_url).await.unwrap();
    let rewrapped_at: i64 =
        sqlx::query_scalar("SELECT rewrapped_at FROM kek_versions WHERE version = 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    let due = vault::domain::oversight::utc_date((rewrapped_at + 30 * 86_400).div_euclid(86_400));
    let (ok, stdout, stderr) = run(vault_cmd(&cfg).args(["keys", "retire", "--dry-run"]));
    assert!(ok, "{stdout}{stderr}");
    for line in [
        format!("KEK v1: not due until {due} (UTC)"),
        "backup_retention_days = 30".into(),
        "KEK v2: current, kept".into(),
    ] {
        assert!(stdout.contains(&line), "{line:?} missing from: {stdout}");
    }
    let (ok, stdout, stderr) = run(vault_cmd(&cfg).args(["keys", "retire"]));
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("nothing retired"), "{stdout}");
    assert_eq!(provider.kek_versions().unwrap(), [v(1), v(2)]);

    // 31 days later (the rewrap's time moved back instead of the clock forward).
    sqlx::query("UPDATE kek_versions SET rewrapped_at = rewrapped_at - 31 * 86400")
        .execute(&pool)
        .await
        .unwrap();
    let (ok, stdout, stderr) = run(vault_cmd(&cfg).args(["keys", "retire", "--dry-run"]));
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("KEK v1: due, would be destroyed")
            && stdout.contains("dry run: nothing was changed"),
        "{stdout}"
    );
    assert_eq!(provider.kek_versions().unwrap(), [v(1), v(2)]);

    let (ok, stdout, stderr) = run(vault_cmd(&cfg).args(["keys", "retire"]));
    assert!(ok, "{stdout}{stderr}");
    for line in [
        "KEK v1: retired, destroyed in the key store",
        "KEK v2: current, kept",
        "also destroy it in the token's backups and replicas",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from: {stdout}");
    }
    assert_eq!(provider.kek_versions().unwrap(), [v(2)]);
    let events: Vec<(String, String)> =
        sqlx::query_as("SELECT action, reasons FROM audit_events WHERE action = 'retire_kek'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(events, [("retire_kek".to_string(), "kek:v1".to_string())]);

    // Again: nothing to do, exit 0.
    let (ok, stdout, stderr) = run(vault_cmd(&cfg).args(["keys", "retire"]));
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("KEK v1: retired on") && stdout.contains("nothing retired"),
        "{stdout}"
    );
    pool.close().await;
}
