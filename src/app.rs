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
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    admission::Admission,
    auth::{self, Authenticator},
    clock::Clock,
    config::ServeArgs,
    events::{Events, HubOptions},
    netbox::Syncer,
    registry::logs::{LogWriter, Secrets},
    telemetry::{self, names},
};

/// Everything a request needs, whatever door it comes through: its [`Parts`], behind one
/// reference count. Cloning is one atomic increment: axum clones a route's state for every
/// request (its boxed services are cloned per call), and cloning every handle of the parts
/// apart — the shutdown token's under a lock — took 2% of the server's CPU under issue 14's
/// overload (perf). What only one door needs (the GraphQL schemas) is that door's state, built
/// on this.
#[derive(Clone)]
pub struct App(Arc<Parts>);

impl std::ops::Deref for App {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// What the application is made of.
pub struct Parts {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// The serve options (limits, anonymous access).
    pub config: Arc<ServeArgs>,
    /// SQL statements run since start (for the statement-count tests).
    pub statements: Arc<Statements>,
    /// The build-event hub: wake it after commits, subscribe to it.
    pub events: Events,
    /// The clock every request, write and background task reads (tests move it forward).
    pub clock: Clock,
    /// Authenticates tokens from memory and keeps that memory current (`auth::live`).
    pub auth: Authenticator,
    /// The batched writer of build log lines (`registry::logs`).
    pub logs: LogWriter,
    /// The long-lived connections (websockets) that a graceful shutdown closes and waits for.
    pub shutdown: Shutdown,
    /// Load shedding, rate limits and websocket caps (`admission`).
    pub admission: Arc<Admission>,
    /// The NetBox sync, when a NetBox is configured (its background task runs from the start).
    pub netbox: Option<Syncer>,
}

impl App {
    /// Connects to `database_url`, applies the migrations and starts the event hub.
    pub async fn new(database_url: &str, config: ServeArgs) -> Result<App, DbErr> {
        telemetry::install();
        let statements = Arc::new(Statements::default());
        let db = connect(database_url, statements.clone()).await?;
        let clock = Clock::system();
        let tokens = &config.tokens;
        let auth = Authenticator::start(
            &db,
            clock.clone(),
            auth::Options {
                capacity: tokens.token_cache as usize,
                unknown_for: tokens.token_unknown_ttl,
                poll_interval: tokens.credentials_poll_interval,
                lookups: auth::live::LOOKUPS,
            },
        )
        .await?;
        let events = Events::start(
            &db,
            HubOptions {
                buffer: config.subscriptions.event_buffer as usize,
                poll_interval: config.subscriptions.event_poll_interval,
            },
        )
        .await?;
        let admission = Arc::new(Admission::new(
            &config.overload,
            pool_size(database_url),
            clock.clone(),
        ));
        let shutdown = Shutdown::default();
        let netbox = Syncer::new(&config.netbox, db.clone(), clock.clone(), auth.clone())
            .map_err(DbErr::Custom)?;
        if let Some(netbox) = &netbox {
            netbox.start(shutdown.token().clone());
            if config.netbox.netbox_push_catalog {
                push_on_publish(&events, netbox.clone(), shutdown.token().clone());
            }
        }
        let logs = LogWriter::start(
            &db,
            clock.clone(),
            Secrets::new(
                config
                    .logs
                    .log_secrets
                    .iter()
                    .chain(&config.dispatch.proxbox_api_key)
                    .map(|s| s.expose().to_owned()),
            ),
        );
        Ok(App(Arc::new(Parts {
            logs,
            db,
            admission,
            config: Arc::new(config),
            statements,
            events,
            clock,
            auth,
            shutdown,
            netbox,
        })))
    }

    /// SQL statements run since start, by requests and background work alike.
    pub fn statement_count(&self) -> u64 {
        self.statements.all.load(Ordering::SeqCst)
    }

    /// SQL statements that requests ran themselves, while answering (see
    /// [`telemetry::per_request`]); not those of the work they started in the background (a
    /// token's `last_used`, the event hub waking up after a commit).
    pub fn request_statement_count(&self) -> u64 {
        self.statements.of_requests.load(Ordering::SeqCst)
    }
}

/// Counts of the SQL statements run through one pool.
#[derive(Default)]
pub struct Statements {
    all: AtomicU64,
    of_requests: AtomicU64,
}

/// Asks `netbox` for a catalog push (a pass of the templates) whenever a build completes — the
/// moment a catalog entry is published (SPEC §2.3) — reading the event hub like a subscriber
/// with the service's scope, from where it stands when the task starts; follows again after an
/// error of the stream, from where it stood.
fn push_on_publish(events: &Events, netbox: Syncer, stop: CancellationToken) {
    use futures_util::StreamExt;

    let events = events.clone();
    tokio::spawn(async move {
        let position = crate::events::Position::default();
        loop {
            let filter = crate::events::ChangeFilter {
                build: None,
                definition: None,
                statuses: Some(vec![entity::enums::BuildStatus::Completed]),
            };
            let mut completed = events.subscribe(
                crate::auth::Scope::service(),
                filter,
                position.get(),
                position.clone(),
            );
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    change = completed.next() => match change {
                        Some(Ok(_)) => netbox.request(crate::registry::reference::sync::Kind::Templates),
                        Some(Err(_)) | None => break,
                    },
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    });
}

/// Long-lived tasks that axum's graceful shutdown does not wait for (websockets): each runs
/// [`Shutdown::track`]ed, watches [`Shutdown::token`], and closes itself when it is cancelled.
#[derive(Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Shutdown {
    /// Cancelled when the service begins to shut down.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Wraps a task so that [`Shutdown::wait`] waits for it.
    pub fn track<F: Future>(&self, task: F) -> impl Future<Output = F::Output> + use<F> {
        self.tracker.track_future(task)
    }

    /// Tells every tracked task to finish.
    pub fn begin(&self) {
        self.token.cancel();
    }

    /// Waits, at most `grace`, for every tracked task to finish; says whether they all did.
    pub async fn wait(&self, grace: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok()
    }
}

/// How long a request waits for a PostgreSQL connection before it fails with
/// `DATABASE_UNAVAILABLE` (SPEC §9: within 2 s when the database is unreachable). Opening a
/// connection is retried within it, so a database that comes back is found at once.
pub const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1500);

/// A pooled connection idle at least this long is tested (pinged) before use; busier ones are
/// not. A connection that breaks is dropped when it is returned (sqlx tests it then).
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// A SQLite file does not go away: a request waits for one of the pool's connections as long as
/// a writer may wait for the file's lock.
const SQLITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens a pool on `database_url` and applies every pending migration.
///
/// SQLite files are created if missing and opened in WAL mode with foreign keys on, a busy
/// timeout, and case-sensitive `LIKE` (so that `contains` means the same on both backends).
/// Every statement run through the pool is counted in `statements`.
pub async fn connect(
    database_url: &str,
    statements: Arc<Statements>,
) -> Result<DatabaseConnection, DbErr> {
    let url = sqlite_create_if_missing(database_url);
    let user_plans = database_url.contains("plan_cache_mode");
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(pool_size(database_url))
        .min_connections(1)
        .acquire_timeout(if database_url.starts_with("sqlite") {
            SQLITE_ACQUIRE_TIMEOUT
        } else {
            POSTGRES_ACQUIRE_TIMEOUT
        })
        .sqlx_logging(std::env::var_os("PACKER_GATEWAY_LOG_SQL").is_some())
        // sqlx pings a connection before handing it out (a round trip to PostgreSQL per
        // statement): only one idle long enough to have been cut off is tested.
        .test_before_acquire_if_idle_for(PING_AFTER_IDLE)
        // Every statement is prepared once per connection; PostgreSQL's default then plans it
        // again at each execution whenever its generic plan looks dearer than the custom ones
        // (so it did, for every page and batch: half of its CPU per list request).
        // A `plan_cache_mode` in the URL's `options` is the operator's choice and stays.
        .map_sqlx_postgres_opts(move |opts| {
            if user_plans {
                opts
            } else {
                opts.options([("plan_cache_mode", "force_generic_plan")])
            }
        })
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30))
                .pragma("case_sensitive_like", "ON")
                .with_regexp()
        });
    let mut db = Database::connect(options).await?;
    db.set_metric_callback(move |info| {
        statements.all.fetch_add(1, Ordering::SeqCst);
        if telemetry::count_for_request() {
            statements.of_requests.fetch_add(1, Ordering::SeqCst);
        }
        metrics::counter!(names::SQL_STATEMENTS).increment(1);
        metrics::histogram!(names::SQL_DURATION).record(info.elapsed.as_secs_f64());
    });
    Migrator::up(&db, None).await?;
    Ok(db)
}

/// The size of the database pool: 8 connections on SQLite (one writer at a time anyway), 16 on
/// PostgreSQL. It also bounds the default number of requests executing at once
/// (`admission::default_executing`).
pub fn pool_size(database_url: &str) -> u32 {
    if database_url.starts_with("sqlite") {
        8
    } else {
        16
    }
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
