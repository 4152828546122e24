//! Storage: every SQL statement of clinic-app is built in this folder with sea-query and run on
//! SQLite (embedded default) or PostgreSQL (production) through `service_kit::store`.

pub mod appointments;
pub mod billing;
pub mod directory;
pub mod outbox;
pub mod patients;
pub mod staff;

pub use service_kit::store::{Backend, Database, Row, StoreError, Transaction, to_u32};
use sqlx::migrate::Migrator;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/clinic/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/clinic/postgres");

/// Applies clinic-app's migrations (`migrations/clinic/<backend>`) that have not run yet.
pub async fn migrate(db: &Database) -> Result<(), StoreError> {
    db.migrate(&SQLITE_MIGRATIONS, &POSTGRES_MIGRATIONS).await
}

/// A new random id for a row.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
