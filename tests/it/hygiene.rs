//! Error hygiene (SPEC §3.4): internal failures and panics reach the client as a generic
//! `INTERNAL_SERVER_ERROR` with a `requestId`, their detail only in the log; a request that runs
//! past `--request-timeout` is abandoned with `REQUEST_TIMEOUT` and its transaction rolled back.

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
    routing::get,
};
use entity::tenant;
use packer_gateway::clock::now;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set, TransactionTrait,
};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{TestApp, code, postgres, unique};

/// Log lines written while the guard lives, on this thread (the tests run on a current-thread
/// runtime, so the request is served on it).
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

/// What must never reach a client.
pub(crate) fn assert_no_internals(text: &str) {
    for leak in [
        "plugin_settings",
        "SELECT",
        "select",
        "no such table",
        "does not exist",
        "database:",
        "sqlx",
        "DbErr",
        ".rs",
        "src/",
        "pluginSettings {",
    ] {
        assert!(!text.contains(leak), "`{leak}` leaked: {text}");
    }
}

#[tokio::test]
async fn an_internal_failure_is_generic_for_the_client_and_detailed_in_the_log() {
    let app = TestApp::new().await;
    app.app
        .db
        .execute_unprepared("ALTER TABLE plugin_settings RENAME TO plugin_settings_gone")
        .await
        .expect("rename the table");
    let (logs, guard) = capture_logs();
    let (status, body) = app
        .post(
            Some(&app.admin.clone()),
            "{ pluginSettings { imageFactoryEnabled } }",
            json!({}),
        )
        .await;
    drop(guard);
    assert_eq!(status, StatusCode::OK, "{body}");
    let error = &body["errors"][0];
    assert_eq!(code(&body), "INTERNAL_SERVER_ERROR", "{body}");
    assert_eq!(error["message"], "internal server error");
    let request_id = error["extensions"]["requestId"]
        .as_str()
        .expect("a requestId");
    assert_no_internals(&body.to_string());

    assert_logged_once(&logs.text(), request_id, "plugin_settings");
}

/// A route that panics, inside the edge as the door of `render`: its response and the logs.
async fn panic_through(
    render: packer_gateway::http::Render,
) -> (StatusCode, String, Value, String) {
    async fn boom() -> &'static str {
        let detail = "secret detail at src/registry/boom.rs";
        panic!("{detail}");
    }
    let routes = Router::new().route("/boom", get(boom));
    let router = packer_gateway::http::edge(
        packer_gateway::http::door(routes, render, Duration::from_secs(15)),
        &crate::support::serve_args(&[]).clients,
    );
    let (logs, guard) = capture_logs();
    let response = router
        .oneshot(Request::get("/boom").body(Body::empty()).expect("request"))
        .await
        .expect("the router answers");
    drop(guard);
    let status = response.status();
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("application/json")
    );
    let header_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("body")
        .to_bytes();
    let body: Value = serde_json::from_slice(&bytes).expect("json");
    assert!(!body.to_string().contains("secret"), "{body}");
    (status, header_id, body, logs.text())
}

#[tokio::test]
async fn a_panic_becomes_a_500_in_the_shape_of_its_door_logged_once() {
    let (status, id, body, logs) = panic_through(packer_gateway::graphql::compat::render).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(code(&body), "INTERNAL_SERVER_ERROR");
    assert_eq!(body["errors"][0]["message"], "internal server error");
    assert_eq!(body["errors"][0]["extensions"]["requestId"], id.as_str());
    assert_logged_once(&logs, &id, "secret detail");

    let (status, id, body, logs) = panic_through(packer_gateway::rest::error::render).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        json!({"detail": "internal server error", "code": "INTERNAL_SERVER_ERROR",
               "request_id": id})
    );
    assert_logged_once(&logs, &id, "secret detail");

    // The real router answers normally afterwards.
    let app = TestApp::new().await;
    app.data("{ __typename }", json!({})).await;
}

#[tokio::test]
async fn a_request_past_its_timeout_is_abandoned_with_a_code() {
    let app = TestApp::with_args(&["--anonymous-read", "--request-timeout", "1"]).await;
    // Hold every connection of the pool: the anonymous request (no authentication statement)
    // starts executing and then waits for a connection, past its timeout.
    let held = hold_every_connection(&app.app.db).await;
    let (status, body) = tokio::time::timeout(
        Duration::from_secs(10),
        app.post(None, "{ imageDefinitions { totalCount } }", json!({})),
    )
    .await
    .expect("the timeout fires before the hang guard");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(code(&body), "REQUEST_TIMEOUT", "{body}");
    assert!(body["errors"][0]["extensions"]["requestId"].is_string());
    assert!(body.get("data").is_none());
    drop(held);

    let (status, body) = app
        .post(None, "{ imageDefinitions { totalCount } }", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["imageDefinitions"]["totalCount"], 0);
}

/// Opens transactions until the pool has no connection left.
pub(crate) async fn hold_every_connection(
    db: &DatabaseConnection,
) -> Vec<sea_orm::DatabaseTransaction> {
    let mut held = Vec::new();
    while let Ok(Ok(txn)) = tokio::time::timeout(Duration::from_millis(300), db.begin()).await {
        held.push(txn);
    }
    assert!(!held.is_empty());
    held
}

/// The mechanism behind the timeout at its lowest level: the handler drops the request's future,
/// and dropping a future that holds a sea-orm transaction rolls the transaction back. A write
/// that is abandoned half-way leaves nothing behind, and the connection is usable again.
///
/// The handler cannot be made to time out in the middle of a write deterministically without a
/// test-only hook in production code (there is no slow mutation), so this test drives the same
/// `tokio::time::timeout` over a transaction directly.
#[tokio::test]
async fn an_abandoned_transaction_is_rolled_back() {
    let app = TestApp::new().await;
    let db = app.app.db.clone();
    let name = unique("abandoned");
    let write = {
        let db = db.clone();
        let name = name.clone();
        async move {
            let txn = db.begin().await?;
            new_tenant(&name).insert(&txn).await?;
            // Still inside the transaction when the time is up.
            tokio::time::sleep(Duration::from_secs(30)).await;
            txn.commit().await
        }
    };
    let outcome = tokio::time::timeout(Duration::from_millis(300), write).await;
    assert!(outcome.is_err(), "the write was abandoned");
    assert_eq!(
        tenants_named(&db, &name).await,
        0,
        "nothing was half-written"
    );

    // The connection went back to the pool rolled back: on SQLite its write lock is released, so
    // the next write does not wait for the busy timeout.
    let next = unique("next");
    tokio::time::timeout(Duration::from_secs(5), new_tenant(&next).insert(&db))
        .await
        .expect("the database is not locked")
        .expect("insert");
    assert_eq!(tenants_named(&db, &next).await, 1);
    assert_eq!(tenants_named(&db, &name).await, 0);

    // On PostgreSQL, the same while a statement is still running on the server.
    if postgres().is_some() {
        let name = unique("in_flight");
        let write = {
            let db = db.clone();
            let name = name.clone();
            async move {
                let txn = db.begin().await?;
                new_tenant(&name).insert(&txn).await?;
                txn.execute_unprepared("SELECT pg_sleep(2)").await?;
                txn.commit().await
            }
        };
        let outcome = tokio::time::timeout(Duration::from_millis(300), write).await;
        assert!(outcome.is_err(), "the write was abandoned");
        assert_eq!(tenants_named(&db, &name).await, 0);
        // Once the server has finished the statement, the queued rollback runs: wait until no
        // `pg_sleep` of this test's connections is still running on the server, and none of them
        // is left inside a transaction.
        let schema = app
            .url
            .split("application_name=")
            .nth(1)
            .unwrap_or_default();
        let running = format!(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = '{schema}' \
             AND (state LIKE 'idle in transaction%' \
                  OR (state = 'active' AND query LIKE 'SELECT pg_sleep%'))"
        );
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let rows = db
                    .query_all_raw(sea_orm::Statement::from_string(
                        sea_orm::DatabaseBackend::Postgres,
                        running.clone(),
                    ))
                    .await
                    .expect("read pg_stat_activity");
                if rows.is_empty() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the abandoned statement ended on the server");
        assert_eq!(
            tenants_named(&db, &name).await,
            0,
            "rolled back, not committed"
        );
        new_tenant(&unique("after"))
            .insert(&db)
            .await
            .expect("insert");
    }
}

fn new_tenant(name: &str) -> tenant::ActiveModel {
    tenant::ActiveModel {
        name: Set(name.to_owned()),
        slug: Set(name.to_lowercase().replace('_', "-")),
        description: Set(String::new()),
        created: Set(now()),
        last_updated: Set(now()),
        ..Default::default()
    }
}

async fn tenants_named(db: &DatabaseConnection, name: &str) -> usize {
    tenant::Entity::find()
        .filter(tenant::Column::Name.eq(name))
        .all(db)
        .await
        .expect("count")
        .len()
}

/// The log has exactly one line with `request_id`, and it carries `detail`.
pub fn assert_logged_once(logs: &str, request_id: &str, detail: &str) {
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains(request_id)).collect();
    assert_eq!(lines.len(), 1, "logged once, with the request id: {logs}");
    assert!(
        lines[0].contains(detail),
        "the detail is in the log: {logs}"
    );
}
