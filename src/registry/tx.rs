//! Write transactions.
//!
//! On SQLite every multi-statement write starts with `BEGIN IMMEDIATE`: the write lock is taken
//! at once (waiting up to the busy timeout), so a transaction never has to upgrade a read lock —
//! the upgrade is what surfaces `database is locked` to clients. On PostgreSQL the transactions
//! that must serialise with each other (the build lifecycle, the settings) lock the settings row.

use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

/// The id of the one plugin settings row: the row the lifecycle lock is taken on.
pub const SINGLETON: i32 = 1;

/// Begins a write transaction (`BEGIN IMMEDIATE` on SQLite).
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Begins a write transaction that holds the lifecycle lock until it ends: on PostgreSQL the
/// settings row `FOR UPDATE`, which every instance sharing the database contends for; on SQLite
/// the write lock of `BEGIN IMMEDIATE` already excludes every other writer.
pub async fn begin_lifecycle(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let txn = begin_write(db).await?;
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_unprepared(&format!(
            "SELECT id FROM plugin_settings WHERE id = {SINGLETON} FOR UPDATE"
        ))
        .await?;
    }
    Ok(txn)
}
