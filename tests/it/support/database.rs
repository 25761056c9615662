//! A fresh database per test (a SQLite file, or a PostgreSQL schema), removed when the last
//! instance on it is dropped.

use std::sync::atomic::{AtomicU64, Ordering};

use super::TestApp;
use sea_orm::{ConnectionTrait, Database};

/// What a test's database is, to remove it when the last instance on it is dropped.
pub(super) enum Cleanup {
    /// A SQLite file (with its WAL and shared-memory files).
    File(std::path::PathBuf),
    /// A schema of the PostgreSQL database of `TEST_DATABASE_URL`.
    Schema(String),
}

/// How many live `TestApp`s use each database URL: the last one dropped removes the database.
static LIVE: std::sync::Mutex<Vec<(String, usize)>> = std::sync::Mutex::new(Vec::new());

pub(super) fn live(url: &str, delta: isize) -> usize {
    let mut live = LIVE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let position = match live.iter().position(|(u, _)| u == url) {
        Some(position) => position,
        None => {
            live.push((url.to_owned(), 0));
            live.len() - 1
        }
    };
    let count = (live[position].1 as isize + delta).max(0) as usize;
    live[position].1 = count;
    if count == 0 {
        live.remove(position);
    }
    count
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if live(&self.url, -1) > 0 {
            return;
        }
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Schema(schema) => drop_schema(&self.url, schema),
        }
    }
}

/// Drops a test's PostgreSQL schema: its connections (every one opened with the schema as its
/// `application_name`) are terminated first, so that no statement of the instance being dropped
/// holds a lock the `DROP` would wait for. Runs on a thread of its own, because `Drop` cannot
/// await and the test's runtime may be the one the instance's tasks run on.
fn drop_schema(url: &str, schema: &str) {
    let (url, name) = (url.to_owned(), schema.to_owned());
    let dropped = std::thread::spawn(move || {
        let schema = name;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| err.to_string())?;
        runtime.block_on(async {
            let db = Database::connect(&url).await.map_err(|e| e.to_string())?;
            let result = async {
                db.execute_unprepared(&format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = '{schema}' AND pid <> pg_backend_pid()"
                ))
                .await?;
                db.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .await
            }
            .await;
            db.close().await.ok();
            result.map(|_| ()).map_err(|e| e.to_string())
        })
    })
    .join();
    if let Ok(Err(err)) | Err(err) = dropped.map_err(|_| "panicked".to_owned()) {
        eprintln!("could not drop the test schema {schema}: {err}");
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other test of this run uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        rand::random::<u32>()
    )
}

/// Whether the suite runs on PostgreSQL.
pub fn postgres() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A database URL for a fresh, empty database: a new SQLite file, or a new schema of the
/// PostgreSQL database of `TEST_DATABASE_URL`.
pub async fn fresh_database() -> (String, bool) {
    match postgres() {
        Some(url) => {
            let schema = unique("t");
            let admin = Database::connect(&url)
                .await
                .expect("connect to TEST_DATABASE_URL");
            admin
                .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                .await
                .expect("create a schema");
            admin.close().await.ok();
            let separator = if url.contains('?') { '&' } else { '?' };
            // The schema is also every connection's `application_name`, so that the cleanup can
            // find the connections of the test (see `drop_schema`).
            (
                format!("{url}{separator}options[search_path]={schema}&application_name={schema}"),
                false,
            )
        }
        None => {
            let path = std::env::temp_dir().join(format!("{}.db", unique("packer-gateway-test")));
            (format!("sqlite://{}", path.display()), true)
        }
    }
}
