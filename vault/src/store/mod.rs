//! Storage: sqlx + sea-query over SQLite (embedded default) or PostgreSQL (production).
//!
//! Every SQL statement of the vault is built in this folder with sea-query, for the backend
//! at hand, and bound with `sea-query-sqlx`. Callers see typed rows and [`StoreError`].

pub mod alerts;
pub mod attachments;
pub mod audit;
pub mod care;
pub mod keys;
pub mod oversight;
pub mod patients;
pub mod records;
pub mod rights;
pub mod staff;

pub use service_kit::store::{
    Backend, Database, Row, StoreError, Transaction, parse_id, redact_url, to_u32,
};
use sqlx::migrate::Migrator;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/vault/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/vault/postgres");

/// Applies the vault's migrations (`migrations/vault/<backend>`) that have not run yet.
pub async fn migrate(db: &Database) -> Result<(), StoreError> {
    db.migrate(&SQLITE_MIGRATIONS, &POSTGRES_MIGRATIONS).await
}
