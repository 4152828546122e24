//! Test helpers: a fresh database per test on SQLite or PostgreSQL, and key providers on the
//! SoftHSM2 token that `scripts/test.sh` creates. A missing PostgreSQL or token fails the test
//! with a message that says how to provide it; nothing is skipped.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // shared by several test files; tests stop at the first fault

pub mod app;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use vault::clock::{Clock, ManualClock};
use vault::crypto::Suite;
use vault::domain::SealedData;
use vault::keys::cache::DekCache;
use vault::keys::pkcs11::{Pkcs11Provider, Pkcs11Settings};
use vault::keys::profile::Profile;
use vault::keys::{KekVersion, KeyCustody, KeyProvider};
use vault::store::{Backend, Database};

pub fn workspace_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

fn env_or_fail(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test.sh, which creates a SoftHSM2 token and exports it")
    })
}

/// A database for one test; the SQLite file or the PostgreSQL database is new.
pub struct TestDb {
    pub db: Database,
    pub url: String,
    pub sqlite_file: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

pub async fn fresh_db(backend: Backend) -> TestDb {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("vault.db");
            let url = format!("sqlite://{}", file.display());
            let db = Database::connect(&url, 4).await.unwrap();
            vault::store::migrate(&db).await.unwrap();
            TestDb {
                db,
                url,
                sqlite_file: Some(file),
                _dir: Some(dir),
            }
        }
        Backend::Postgres => {
            let admin_url = std::env::var("VAULT_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let name = format!("vault_test_{}", uuid::Uuid::new_v4().simple());
            let admin = sqlx::PgPool::connect(&admin_url).await.unwrap_or_else(|e| {
                panic!("PostgreSQL at {admin_url} is unreachable ({e}): start it or set VAULT_TEST_POSTGRES_URL")
            });
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
            let base = admin_url
                .rsplit_once('/')
                .map_or(admin_url.as_str(), |(b, _)| b)
                .to_string();
            let url = format!("{base}/{name}");
            let db = Database::connect(&url, 8).await.unwrap();
            vault::store::migrate(&db).await.unwrap();
            TestDb {
                db,
                url,
                sqlite_file: None,
                _dir: None,
            }
        }
    }
}

/// Settings for the test token with a KEK label unique to this test, so tests sharing the
/// token never see each other's KEKs.
pub fn token_settings(profile: &str) -> Pkcs11Settings {
    env_or_fail("SOFTHSM2_CONF");
    Pkcs11Settings {
        module: env_or_fail("VAULT_HSM_MODULE").into(),
        token_label: env_or_fail("VAULT_HSM_TOKEN_LABEL"),
        pin: SecretString::from(env_or_fail("VAULT_HSM_PIN")),
        pin_env: "VAULT_HSM_PIN".into(),
        kek_label: format!("test-{}", uuid::Uuid::new_v4().simple()),
        profile: Profile::load(&workspace_path(&format!("hsm-config/{profile}"))).unwrap(),
        max_idle_sessions: 4,
    }
}

/// A token provider with KEK v1 created.
pub fn token_provider() -> Arc<Pkcs11Provider> {
    let p = Pkcs11Provider::open(token_settings("softhsm2.toml")).unwrap();
    p.create_kek(KekVersion::FIRST).unwrap();
    Arc::new(p)
}

pub fn test_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ))
}

pub async fn custody(
    provider: Arc<dyn KeyProvider>,
    cache_capacity: usize,
    clock: Arc<dyn Clock>,
) -> Arc<KeyCustody> {
    let cache = DekCache::new(cache_capacity, Duration::from_secs(300), clock);
    Arc::new(KeyCustody::new(provider, cache).await.unwrap())
}

pub async fn sealed_data(
    db: &Database,
    provider: Arc<dyn KeyProvider>,
    suite: Suite,
) -> SealedData {
    let clock = test_clock();
    SealedData::new(
        db.clone(),
        custody(provider, 1_000, clock.clone()).await,
        suite,
        clock,
    )
}

/// Runs one async test body on SQLite and on PostgreSQL, as two named tests.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body(vault::store::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$body(vault::store::Backend::Postgres).await
            }
        }
    };
}
