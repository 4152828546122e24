//! Storage: sqlx + sea-query over SQLite (embedded default) or PostgreSQL (production).
//!
//! Each service builds its SQL statements with sea-query in its own store modules; this module
//! runs them on the backend at hand, bound with `sea-query-sqlx`, and maps failures to
//! [`StoreError`] so that "the database cannot work now" is told apart from "bad statement".

use std::str::FromStr;
use std::time::Duration;

use sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};
use sea_query_sqlx::SqlxBinder;
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
// sea-query renders the SQL with placeholders only; every value is bound, never spliced in.
use sqlx::migrate::Migrator;
use sqlx::{AssertSqlSafe, FromRow, PgPool, Postgres, Sqlite, SqlitePool};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The database cannot be reached or refused to work (down, disk full, read-only, timeout).
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// An audit event could not be written (the vault's). The request fails closed: no data
    /// leaves.
    #[error("the audit store refused the event")]
    AuditFailed(#[source] sqlx::Error),
    /// A uniqueness rule was hit; the caller decides whether that is a conflict or a retry.
    #[error("the row already exists")]
    Conflict,
    /// A row that the service wrote does not read back as it should.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("database error")]
    Other(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            sqlx::Error::Database(db) if is_unavailable(db.as_ref()) => StoreError::Unavailable(e),
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            _ => StoreError::Other(e),
        }
    }
}

/// Database errors that mean "the database cannot do this now", not "bad statement".
fn is_unavailable(db: &dyn sqlx::error::DatabaseError) -> bool {
    let code = db.code();
    let code = code.as_deref().unwrap_or("");
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        sqlite_code_unavailable(code)
    } else {
        postgres_code_unavailable(code)
    }
}

/// SQLite primary codes (the low byte of extended codes): BUSY 5, LOCKED 6, READONLY 8,
/// IOERR 10, FULL 13, CANTOPEN 14, and PROTOCOL 15 (WAL locks contended past SQLite's own
/// retries: transient, like BUSY, but the busy timeout does not cover it).
fn sqlite_code_unavailable(code: &str) -> bool {
    code.parse::<i64>()
        .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 8 | 10 | 13 | 14 | 15))
}

/// PostgreSQL SQLSTATE classes 08 (connection), 53 (insufficient resources: disk full, out of
/// memory), 57 (operator intervention: shutdown, cannot connect now), 25006 (read-only
/// transaction), 3D000 (the database is gone) and 55000 as PostgreSQL raises it when a database
/// does not accept connections (maintenance, restore).
fn postgres_code_unavailable(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57")
        || matches!(code, "25006" | "3D000" | "55000")
}

/// Rows that decode on both backends.
pub trait Row: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Every PostgreSQL pool: no ping before a checkout (as for SQLite, a dead connection fails its
/// query with 503 and is replaced), and at most 5 s to wait for a connection.
fn postgres_pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(5))
}

/// A connection pool to one service's database.
#[derive(Clone, Debug)]
pub enum Database {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// One transaction; dropped without [`Transaction::commit`] it rolls back.
pub enum Transaction {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// Shows a database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

impl Database {
    /// Opens a pool for a `sqlite:` or `postgres:` URL. A SQLite file is created if missing,
    /// in WAL mode with full synchronous commits and foreign keys on.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(StoreError::Other)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            // No ping before each checkout: a dead connection fails its query, which maps to
            // 503, and the pool replaces it; the ping doubled every request's round trips.
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
                .map_err(StoreError::Unavailable)?;
            Ok(Database::Sqlite(pool))
        } else {
            let pool = postgres_pool_options(max_connections)
                .connect(url)
                .await
                .map_err(StoreError::Unavailable)?;
            Ok(Database::Postgres(pool))
        }
    }

    /// One more PostgreSQL connection to the same database, outside the pool, for a task that
    /// must never queue behind the requests for a connection (the vault's audit writer: the
    /// requests it answers hold theirs while they wait for it). Opened on first use and again
    /// after a failure, with the pool's options. On SQLite, the pool itself: the file takes one
    /// writer at a time whichever connection asks.
    pub fn dedicated(&self) -> Database {
        match self {
            Database::Sqlite(_) => self.clone(),
            Database::Postgres(pool) => Database::Postgres(
                postgres_pool_options(1).connect_lazy_with((*pool.connect_options()).clone()),
            ),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Database::Sqlite(_) => Backend::Sqlite,
            Database::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the migrations of the backend at hand that have not run yet.
    pub async fn migrate(&self, sqlite: &Migrator, postgres: &Migrator) -> Result<(), StoreError> {
        match self {
            Database::Sqlite(pool) => sqlite.run(pool).await?,
            Database::Postgres(pool) => postgres.run(pool).await?,
        }
        Ok(())
    }

    /// Whether the database answers; for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Database::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ())?,
            Database::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ())?,
        }
        Ok(())
    }

    /// Opens a transaction. On SQLite it takes the database's write lock at once (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads and then writes fails at once with
    /// `SQLITE_BUSY_SNAPSHOT` when another writer got in between, where an immediate one waits
    /// its turn (up to the busy timeout). So a read-check-write (booking a slot) never
    /// interleaves with another writer. On PostgreSQL it is a plain transaction; serialise what
    /// must be serialised with [`Transaction::lock_keys`].
    pub async fn begin(&self) -> Result<Transaction, StoreError> {
        Ok(match self {
            Database::Sqlite(pool) => {
                Transaction::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?)
            }
            Database::Postgres(pool) => Transaction::Postgres(pool.begin().await?),
        })
    }

    pub async fn close(&self) {
        match self {
            Database::Sqlite(pool) => pool.close().await,
            Database::Postgres(pool) => pool.close().await,
        }
    }
}

impl Transaction {
    /// Takes a PostgreSQL transaction-scoped advisory lock on each key (in sorted order, so two
    /// transactions never wait on each other crosswise); they are released at commit or
    /// rollback. On SQLite this does nothing: [`Database::begin`] already holds the database's
    /// write lock.
    pub async fn lock_keys(&mut self, keys: &[String]) -> Result<(), StoreError> {
        let Transaction::Postgres(tx) = self else {
            return Ok(());
        };
        let mut keys: Vec<&String> = keys.iter().collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key.as_str())
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Transaction::Sqlite(tx) => tx.commit().await?,
            Transaction::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// Runs sea-query statements on a pool or a transaction, built for its backend.
macro_rules! statement_runner {
    ($ty:ty, $recv:ty, |$this:ident| $sqlite:expr) => {
        impl $ty {
            /// Executes a statement; returns the number of rows affected.
            pub async fn execute<S: SqlxBinder>(self: $recv, stmt: &S) -> Result<u64, StoreError> {
                let $this = self;
                Ok(match $sqlite {
                    Ok(e) => {
                        let (sql, values) = stmt.build_sqlx(SqliteQueryBuilder);
                        sqlx::query_with(AssertSqlSafe(sql), values)
                            .execute(e)
                            .await?
                            .rows_affected()
                    }
                    Err(e) => {
                        let (sql, values) = stmt.build_sqlx(PostgresQueryBuilder);
                        sqlx::query_with(AssertSqlSafe(sql), values)
                            .execute(e)
                            .await?
                            .rows_affected()
                    }
                })
            }

            pub async fn fetch_all<T: Row, S: SqlxBinder>(
                self: $recv,
                stmt: &S,
            ) -> Result<Vec<T>, StoreError> {
                let $this = self;
                Ok(match $sqlite {
                    Ok(e) => {
                        let (sql, values) = stmt.build_sqlx(SqliteQueryBuilder);
                        sqlx::query_as_with::<_, T, _>(AssertSqlSafe(sql), values)
                            .fetch_all(e)
                            .await?
                    }
                    Err(e) => {
                        let (sql, values) = stmt.build_sqlx(PostgresQueryBuilder);
                        sqlx::query_as_with::<_, T, _>(AssertSqlSafe(sql), values)
                            .fetch_all(e)
                            .await?
                    }
                })
            }

            pub async fn fetch_optional<T: Row, S: SqlxBinder>(
                self: $recv,
                stmt: &S,
            ) -> Result<Option<T>, StoreError> {
                let $this = self;
                Ok(match $sqlite {
                    Ok(e) => {
                        let (sql, values) = stmt.build_sqlx(SqliteQueryBuilder);
                        sqlx::query_as_with::<_, T, _>(AssertSqlSafe(sql), values)
                            .fetch_optional(e)
                            .await?
                    }
                    Err(e) => {
                        let (sql, values) = stmt.build_sqlx(PostgresQueryBuilder);
                        sqlx::query_as_with::<_, T, _>(AssertSqlSafe(sql), values)
                            .fetch_optional(e)
                            .await?
                    }
                })
            }
        }
    };
}

// The macro takes the executor as `Ok(sqlite)` or `Err(postgres)`, so one body serves both.
statement_runner!(Database, &Self, |db| match db {
    Database::Sqlite(pool) => Ok(pool),
    Database::Postgres(pool) => Err(pool),
});
statement_runner!(Transaction, &mut Self, |tx| match tx {
    Transaction::Sqlite(tx) => Ok(&mut **tx),
    Transaction::Postgres(tx) => Err(&mut **tx),
});

/// Converts a stored integer back to a u32 field, naming the column if it does not fit.
pub fn to_u32(value: i64, column: &str) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{column} out of range")))
}

pub fn parse_id<T: FromStr>(value: &str, column: &str) -> Result<T, StoreError> {
    value
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("{column} is not an id")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_for_messages() {
        assert_eq!(
            redact_url("postgres://vault:s3cret@db:5432/vault"),
            "postgres://vault:***@db:5432/vault"
        );
        assert_eq!(
            redact_url("sqlite://data/vault.db"),
            "sqlite://data/vault.db"
        );
    }

    #[test]
    fn unavailable_codes() {
        assert!(sqlite_code_unavailable("13")); // SQLITE_FULL
        assert!(sqlite_code_unavailable("1032")); // SQLITE_READONLY_DBMOVED
        assert!(sqlite_code_unavailable("15")); // SQLITE_PROTOCOL
        assert!(!sqlite_code_unavailable("19")); // SQLITE_CONSTRAINT
        assert!(!sqlite_code_unavailable("2067")); // SQLITE_CONSTRAINT_UNIQUE
        assert!(postgres_code_unavailable("53100")); // disk_full
        assert!(postgres_code_unavailable("25006")); // read_only_sql_transaction
        assert!(postgres_code_unavailable("57P01")); // admin_shutdown
        assert!(!postgres_code_unavailable("23505")); // unique_violation
    }
}
