//! [`Authenticator`]: tokens authenticated from memory, kept current on every instance.
//!
//! - A request whose token is cached costs **no statement**: the cache answers who it is, and
//!   expiry is checked against the injectable clock on every use. A token not in memory is looked
//!   up with one statement (at most [`Options::lookups`] at once, so that a flood of unknown
//!   tokens cannot take the pool), and a hash no token has is remembered briefly, so that
//!   repeating a bad token does not reach the database either. Both memories are bounded.
//! - Every transaction that changes what a token authenticates as moves the **credentials
//!   generation** (triggers of the database, in that transaction; see the migration), and on
//!   PostgreSQL notifies [`CHANNEL`](super::CHANNEL) at commit. Each instance reads the generation when it hears
//!   the notification (its own `LISTEN`, which reconnects by itself), every
//!   [`Options::poll_interval`] as a safety net (one tiny statement per instance, never per
//!   request), and — through [`Authenticator::refresh`], which the registry's writers call after
//!   their commit — before a change made here returns. When it moved, every known token is read
//!   again (one statement per thousand) and [`Authenticator::changes`] ticks, so that open
//!   websockets authenticate their token again, from memory.
//!
//! The generation is read on a connection of the pool that the statement counter does not see
//! (its polling would otherwise land in the counts of the statement tests at random); the lookups
//! and reloads are counted.

use std::{
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use entity::api_token;
use sea_orm::{
    ColumnTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    SqlxPostgresConnector, SqlxSqliteConnector, sea_query::Expr,
};
use tokio::{
    sync::{Notify, Semaphore, watch},
    time::MissedTickBehavior,
};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{
    Principal,
    cache::{Cache, CacheSize, Cached, Entry},
    listener, lookup, parse_header, token,
};
use crate::{clock::Clock, error::Error};

/// How often `last_used` is written at most.
const LAST_USED_PRECISION: Duration = Duration::from_secs(60);

/// Lookups of tokens not in memory that run at once: enough for a burst of new clients, few
/// enough that made-up tokens cannot take the pool (16 connections on PostgreSQL, 8 on SQLite).
pub const LOOKUPS: usize = 4;

/// How the authenticator keeps its memory.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Most tokens remembered (and, separately, most unknown hashes).
    pub capacity: usize,
    /// How long a hash no token has is remembered.
    pub unknown_for: Duration,
    /// How often the generation is read when nothing announced a change.
    pub poll_interval: Duration,
    /// Most lookups of tokens not in memory running at once ([`LOOKUPS`]).
    pub lookups: usize,
}

/// Authenticates tokens from memory; see the module docs. Cloning is cheap; the background task
/// stops when the last clone is dropped.
#[derive(Clone)]
pub struct Authenticator {
    shared: Arc<Shared>,
    _stop: Arc<DropGuard>,
}

struct Shared {
    /// Lookups, reloads and `last_used` writes (counted).
    db: DatabaseConnection,
    /// The generation's reads (not counted; see the module docs).
    quiet: DatabaseConnection,
    clock: Clock,
    cache: Mutex<Cache>,
    lookups: Semaphore,
    /// The generation the cache reflects; held while a change is applied, so that changes are
    /// applied one at a time and in order.
    applied: tokio::sync::Mutex<i64>,
    /// Ticks after every change applied (the value is the generation).
    changes: watch::Sender<i64>,
    /// Whether the last read of the generation failed (to log a failure and a recovery once).
    failing: AtomicBool,
    /// `last_used` writes in flight ([`Authenticator::settled`]).
    writes: watch::Sender<usize>,
}

impl Authenticator {
    /// Starts the authenticator of `db`: reads the generation, and on PostgreSQL starts listening
    /// for changes; then watches for them until the last clone is dropped.
    pub async fn start(
        db: &DatabaseConnection,
        clock: Clock,
        options: Options,
    ) -> Result<Authenticator, DbErr> {
        let quiet = uncounted(db);
        let generation = lookup::generation(&quiet).await.map_err(database)?;
        let stop = CancellationToken::new();
        let wake = Arc::new(Notify::new());
        if db.get_database_backend() == DatabaseBackend::Postgres {
            let pool = db.get_postgres_connection_pool().clone();
            let schema = listener::current_schema(&pool)
                .await
                .map_err(|err| DbErr::Custom(format!("cannot read the schema: {err}")))?;
            tokio::spawn(listener::run(pool, schema, wake.clone(), stop.clone()));
        }
        let (changes, _) = watch::channel(generation);
        let shared = Arc::new(Shared {
            db: db.clone(),
            quiet,
            clock,
            cache: Mutex::new(Cache::new(options.capacity, options.unknown_for)),
            lookups: Semaphore::new(options.lookups.max(1)),
            applied: tokio::sync::Mutex::new(generation),
            changes,
            failing: AtomicBool::new(false),
            writes: watch::channel(0).0,
        });
        tokio::spawn(watch_changes(
            shared.clone(),
            wake,
            options.poll_interval,
            stop.clone(),
        ));
        Ok(Authenticator {
            shared,
            _stop: Arc::new(stop.drop_guard()),
        })
    }

    /// Authenticates the value of an `Authorization` header (absent: anonymous, when allowed).
    ///
    /// No statement when the token is in memory; one when it is not. `last_used` is refreshed in
    /// the background at most once a minute, so a request never waits on a write.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        anonymous_read: bool,
    ) -> Result<Principal, Error> {
        let Some(header) = authorization else {
            return if anonymous_read {
                Ok(Principal::Anonymous)
            } else {
                Err(Error::Unauthenticated)
            };
        };
        let secret = parse_header(header).ok_or(Error::Unauthenticated)?;
        let hash = token::hash(secret);
        let entry = match self.shared.cached(&hash) {
            Cached::Known(entry) => entry,
            Cached::Unknown => return Err(Error::Unauthenticated),
            Cached::Miss => self
                .shared
                .look_up(hash.clone())
                .await?
                .ok_or(Error::Unauthenticated)?,
        };
        let now = self.shared.clock.now();
        if !token::same_hash(&entry.hash, &hash) || !entry.usable(now) {
            return Err(Error::Unauthenticated);
        }
        if entry.touch(now, LAST_USED_PRECISION) {
            let shared = self.shared.clone();
            let token_id = entry.caller.token_id;
            shared.writes.send_modify(|writes| *writes += 1);
            tokio::spawn(async move {
                let result = api_token::Entity::update_many()
                    .col_expr(api_token::Column::LastUsed, Expr::value(now))
                    .filter(api_token::Column::Id.eq(token_id))
                    .exec(&shared.db)
                    .await;
                if let Err(err) = result {
                    tracing::warn!(%err, token_id, "could not record the token's last use");
                }
                shared.writes.send_modify(|writes| *writes -= 1);
            });
        }
        Ok(Principal::User(entry.caller.clone()))
    }

    /// Applies, before returning, a change of credentials this instance may just have committed:
    /// reads the generation and, when it moved, reads every known token again and ticks
    /// [`Authenticator::changes`]. The registry calls it after each commit that can change
    /// credentials. It cannot fail: when the database does not answer, every token is forgotten
    /// instead (and looked up again when next used).
    pub async fn refresh(&self) {
        if let Err(err) = self.shared.apply().await {
            tracing::warn!(
                ?err,
                "cannot read the credentials after a change; forgetting them"
            );
            self.shared.lock().forget();
            self.shared.changes.send_modify(|_| {});
        }
    }

    /// Ticks after every change of credentials applied here, whoever made it: what an open
    /// websocket watches to authenticate its token again.
    pub fn changes(&self) -> watch::Receiver<i64> {
        self.shared.changes.subscribe()
    }

    /// Returns once no `last_used` write started by [`Authenticator::authenticate`] is still
    /// running: what a caller counting statements awaits (the tests), instead of a quiet period.
    pub async fn settled(&self) {
        let mut writes = self.shared.writes.subscribe();
        // The sender lives as long as `self`: waiting cannot fail.
        let _ = writes.wait_for(|writes| *writes == 0).await;
    }

    /// How many tokens and unknown hashes are in memory.
    pub fn cached(&self) -> CacheSize {
        self.shared.lock().size()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Cache> {
        // The cache is left consistent at every step; a panic elsewhere does not poison it.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn cached(&self, hash: &str) -> Cached {
        self.lock().get(hash, Instant::now())
    }

    /// Looks a token up in the database (one statement), remembering the answer.
    async fn look_up(&self, hash: String) -> Result<Option<Arc<Entry>>, Error> {
        let _permit = self
            .lookups
            .acquire()
            .await
            .map_err(|_| Error::Internal("the token lookups are closed".into()))?;
        // Another request may have looked it up while this one waited.
        match self.cached(&hash) {
            Cached::Known(entry) => return Ok(Some(entry)),
            Cached::Unknown => return Ok(None),
            Cached::Miss => {}
        }
        let epoch = self.lock().epoch();
        let found = lookup::one(&self.db, &hash).await?.map(Arc::new);
        self.lock()
            .store(epoch, hash, found.clone(), Instant::now());
        Ok(found)
    }

    /// Applies the change of credentials the generation shows, if any.
    async fn apply(&self) -> Result<(), Error> {
        let mut applied = self.applied.lock().await;
        let generation = lookup::generation(&self.quiet).await?;
        if generation == *applied {
            return Ok(());
        }
        let hashes = self.lock().invalidate();
        let fresh = lookup::many(&self.db, &hashes).await?;
        self.lock().reloaded(&hashes, fresh);
        *applied = generation;
        self.changes.send_replace(generation);
        tracing::debug!(generation, tokens = hashes.len(), "credentials changed");
        Ok(())
    }
}

/// Applies changes when the listener hears of one and every `poll` interval, until `stop`.
async fn watch_changes(
    shared: Arc<Shared>,
    wake: Arc<Notify>,
    poll: Duration,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = wake.notified() => {}
            _ = tick.tick() => {}
        }
        match shared.apply().await {
            Ok(()) => {
                if shared.failing.swap(false, Ordering::SeqCst) {
                    tracing::info!("the credentials generation can be read again");
                }
            }
            Err(err) => {
                if !shared.failing.swap(true, Ordering::SeqCst) {
                    tracing::warn!(?err, "cannot read the credentials generation; retrying");
                }
            }
        }
    }
}

/// A connection on `db`'s pool that the statement counter does not see.
fn uncounted(db: &DatabaseConnection) -> DatabaseConnection {
    match db.get_database_backend() {
        DatabaseBackend::Postgres => SqlxPostgresConnector::from_sqlx_postgres_pool(
            db.get_postgres_connection_pool().clone(),
        ),
        _ => SqlxSqliteConnector::from_sqlx_sqlite_pool(db.get_sqlite_connection_pool().clone()),
    }
}

fn database(err: Error) -> DbErr {
    match err {
        Error::Internal(detail) | Error::DatabaseUnavailable(detail) => DbErr::Custom(detail),
        _ => DbErr::Custom("cannot read the credentials generation".into()),
    }
}

#[cfg(test)]
mod tests {
    use crate::auth::CHANNEL;

    #[test]
    fn the_channel_is_the_one_the_migration_notifies() {
        let migration =
            include_str!("../../migration/src/m20261203_000001_create_credentials_generation.rs");
        assert!(migration.contains(&format!("pg_notify('{CHANNEL}'")));
    }
}
