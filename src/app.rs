//! The application: one cheap-to-clone [`App`] that tests and production build the same way.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::{
    config::ServeArgs,
    events::Events,
    graphql::{
        self, AppSchema,
        variables::{INTROSPECTION, InputTypes},
    },
};

/// Everything a request needs. Cloning is cheap (handles only).
#[derive(Clone)]
pub struct App {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// The GraphQL schema, for authenticated principals.
    pub schema: AppSchema,
    /// The GraphQL schema for anonymous principals: no introspection, no suggestions.
    pub anonymous_schema: AppSchema,
    /// The serve options (limits, anonymous access).
    pub config: Arc<ServeArgs>,
    /// SQL statements run since start (for `/metrics` and the statement-count tests).
    pub statements: Arc<AtomicU64>,
    /// The schema's input types, to coerce variables before execution.
    pub input_types: Arc<InputTypes>,
    /// Wakes build-event subscribers after commits.
    pub events: Events,
}

impl App {
    /// Connects to `database_url`, applies the migrations and builds the schema.
    pub async fn new(database_url: &str, config: ServeArgs) -> Result<App, DbErr> {
        let statements = Arc::new(AtomicU64::new(0));
        let db = connect(database_url, statements.clone()).await?;
        let schema = graphql::schema(db.clone(), &config.limits);
        let anonymous_schema = graphql::anonymous_schema(db.clone(), &config.limits);
        let introspection = schema.execute(INTROSPECTION).await.data.into_json();
        let input_types = InputTypes::from_introspection(&introspection.unwrap_or_default());
        Ok(App {
            schema,
            anonymous_schema,
            db,
            config: Arc::new(config),
            statements,
            input_types: Arc::new(input_types),
            events: Events::new(),
        })
    }

    /// SQL statements run since start.
    pub fn statement_count(&self) -> u64 {
        self.statements.load(Ordering::SeqCst)
    }
}

/// Opens a pool on `database_url` and applies every pending migration.
///
/// SQLite files are created if missing and opened in WAL mode with foreign keys on, a busy
/// timeout, and case-sensitive `LIKE` (so that `contains` means the same on both backends).
/// Every statement run through the pool increments `statements`.
pub async fn connect(
    database_url: &str,
    statements: Arc<AtomicU64>,
) -> Result<DatabaseConnection, DbErr> {
    let url = sqlite_create_if_missing(database_url);
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(if database_url.starts_with("sqlite") {
            8
        } else {
            16
        })
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30))
                .pragma("case_sensitive_like", "ON")
        });
    let mut db = Database::connect(options).await?;
    db.set_metric_callback(move |_| {
        statements.fetch_add(1, Ordering::SeqCst);
    });
    Migrator::up(&db, None).await?;
    Ok(db)
}

/// `sqlite://file.db` → `sqlite://file.db?mode=rwc`, so that a fresh machine starts at once.
fn sqlite_create_if_missing(url: &str) -> String {
    if url.starts_with("sqlite:") && !url.contains("mode=") && !url.contains(":memory:") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}mode=rwc")
    } else {
        url.to_owned()
    }
}
