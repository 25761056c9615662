//! The database pool's changes of ours (`vendor/README.md`, sqlx-core patched), on
//! PostgreSQL: the connection used last is the next one lent, and a connection is no longer
//! pinged after every statement — so a dropped transaction must still be rolled back before its
//! connection serves anyone else.

use std::{sync::Arc, time::Duration};

use packer_gateway::app::connect;
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, QueryResult, Statement,
    TransactionTrait, Value,
};

use crate::support::{fresh_database, postgres, within};

/// Waits until every connection the pool has opened is back in it (one that is pinged on release
/// goes back from a task of its own once its user drops it).
async fn all_idle(db: &DatabaseConnection) {
    let pool = db.get_postgres_connection_pool();
    within(
        Duration::from_secs(5),
        "every connection idle",
        async || pool.num_idle() == pool.size() as usize,
    )
    .await;
}

/// The one row `sql` (with `values`) answers on `db`.
async fn row(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> QueryResult {
    db.query_one_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
    .await
    .expect("query")
    .expect("a row")
}

/// The backend process serving `db`'s next statement.
async fn backend(db: &impl ConnectionTrait) -> i32 {
    let row = row(db, "SELECT pg_backend_pid() AS pid", vec![]).await;
    row.try_get("", "pid").expect("pid")
}

#[tokio::test]
async fn the_connection_used_last_is_the_next_one_lent() {
    if postgres().is_none() {
        return;
    }
    let (url, _) = fresh_database().await;
    let db = connect(&url, Arc::default()).await.expect("connect");
    // Three connections at once, so the pool holds at least three.
    let held = [
        db.begin().await.expect("begin"),
        db.begin().await.expect("begin"),
        db.begin().await.expect("begin"),
    ];
    let mut pids = Vec::new();
    for txn in &held {
        pids.push(backend(txn).await);
    }
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(
        pids.len(),
        3,
        "three transactions, three connections: {pids:?}"
    );
    for txn in held {
        txn.commit().await.expect("commit");
    }
    all_idle(&db).await;
    // One statement at a time: always the same connection (first in, first out would have
    // cycled through all of them).
    let first = backend(&db).await;
    for _ in 0..10 {
        all_idle(&db).await;
        assert_eq!(backend(&db).await, first);
    }
}

#[tokio::test]
async fn a_dropped_transaction_is_rolled_back_before_its_connection_is_used_again() {
    if postgres().is_none() {
        return;
    }
    let (url, _) = fresh_database().await;
    let db = connect(&url, Arc::default()).await.expect("connect");
    db.execute_unprepared("CREATE TABLE pool_probe (n integer)")
        .await
        .expect("create");
    all_idle(&db).await;
    let txn = db.begin().await.expect("begin");
    let pid = backend(&txn).await;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO pool_probe (n) VALUES ($1)",
        [Value::Int(Some(1))],
    ))
    .await
    .expect("insert");
    drop(txn);
    all_idle(&db).await;
    // Rolled back as it went back to the pool, not when next used: seen from elsewhere, its
    // backend holds no transaction open.
    let elsewhere = Database::connect(&url).await.expect("connect");
    let state = row(
        &elsewhere,
        "SELECT state FROM pg_stat_activity WHERE pid = $1",
        vec![Value::Int(Some(pid))],
    )
    .await;
    let state: String = state.try_get("", "state").expect("state");
    assert_eq!(state, "idle");
    elsewhere.close().await.ok();
    // The same connection (the one used last), outside any transaction, and the row never was.
    assert_eq!(backend(&db).await, pid);
    let row = row(
        &db,
        "SELECT txid_current_if_assigned()::text AS txid, \
         (SELECT count(*) FROM pool_probe)::integer AS rows",
        vec![],
    )
    .await;
    let txid: Option<String> = row.try_get("", "txid").expect("txid");
    let rows: i32 = row.try_get("", "rows").expect("rows");
    assert_eq!((txid, rows), (None, 0));
}
