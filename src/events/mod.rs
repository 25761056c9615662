//! Build events (SPEC §1.5, §3.3): the `build_event` table is the truth, this module is the
//! wake-up and the fan-out to subscribers.
//!
//! The writers' contract — [`prepare_event_write`](crate::registry::events::prepare_event_write)
//! inside the transaction, [`Wake::committed`] after the commit — is the registry's
//! ([`crate::registry::events`]); this hub implements [`Wake`] and depends on the registry, never
//! the reverse.
//!
//! The hub, one per [`Events`] (one per instance):
//! - one **fetcher** task reads the events after the last one it saw, in id order and in batches,
//!   loads what subscribers need once per batch ([`changes`]: a constant number of statements),
//!   and broadcasts each [`Change`] as a shared `Arc` on a bounded channel;
//! - it wakes on [`Events::committed`], on PostgreSQL on a `LISTEN` of
//!   [`CHANNEL`](crate::registry::events::CHANNEL) (which also
//!   hears this instance's own commits, so while the listener is up the in-process wake-up is
//!   redundant and ignored: one read per commit), and every `poll` interval as a safety net for
//!   a wake-up lost to a silently dead connection;
//! - [`Events::subscribe`] gives each subscriber its own stream: it subscribes to the channel
//!   *before* reading any history, so replay (`afterEventId`) and catch-up after falling behind
//!   (`Lagged`) are read from the table and joined to the live stream by event id, with no gap
//!   and no duplicate. Live events are filtered and checked for visibility in memory.
//!
//! This module knows sea-orm and the core, never async-graphql or axum.

use std::{
    collections::VecDeque,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

mod listener;
pub mod logs;

use futures_util::stream::{self, BoxStream, StreamExt};
use sea_orm::{DatabaseBackend, DatabaseConnection, DbErr};
use tokio::{
    sync::{Notify, broadcast, watch},
    time::{Instant, MissedTickBehavior},
};
use tokio_util::sync::{CancellationToken, DropGuard};

pub use crate::registry::events::{Change, ChangeFilter};
use crate::{
    auth::Scope,
    error::Error,
    registry::events::{Wake, changes, events_after, latest_event_id},
    telemetry::names,
};
use listener::{Listener, current_schema, listen, run_listener, sqlx_error};

/// Events read per statement, by the fetcher and by replays.
const BATCH: u64 = 256;

/// How the hub runs.
#[derive(Clone, Copy, Debug)]
pub struct HubOptions {
    /// Capacity of the broadcast channel; a subscriber further behind is caught up from history.
    pub buffer: usize,
    /// Read even without a wake-up this often.
    pub poll_interval: Duration,
}

/// This instance's event hub. Cloning is cheap; the fetcher stops when the last clone is dropped.
#[derive(Clone)]
pub struct Events {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    wake: watch::Sender<u64>,
    changes: broadcast::Sender<Arc<Change>>,
    /// The id of the latest event broadcast (stored *before* it is sent).
    head: Arc<AtomicI64>,
    /// How many times a subscriber fell behind the channel and was caught up from history.
    catch_ups: Arc<AtomicU64>,
    /// Subscribers served by another's stream (see [`Events::listening`]).
    sharing: AtomicUsize,
    _stop: DropGuard,
}

impl Events {
    /// Starts the hub of `db`: on PostgreSQL, listens on the channel first, then reads the latest
    /// event id (so no commit falls between the two), then spawns the fetcher.
    pub async fn start(db: &DatabaseConnection, options: HubOptions) -> Result<Events, DbErr> {
        let stop = CancellationToken::new();
        let remote = Arc::new(Notify::new());
        let listening = Arc::new(AtomicBool::new(false));
        if db.get_database_backend() == DatabaseBackend::Postgres {
            let pool = db.get_postgres_connection_pool().clone();
            let schema = current_schema(&pool).await.map_err(sqlx_error)?;
            let listener = match listen(&pool).await {
                Ok(listener) => {
                    listening.store(true, Ordering::SeqCst);
                    Some(listener)
                }
                Err(err) => {
                    tracing::warn!(%err, "cannot LISTEN for build events yet; will retry");
                    None
                }
            };
            tokio::spawn(run_listener(Listener {
                pool,
                schema,
                listener,
                remote: remote.clone(),
                listening: listening.clone(),
                stop: stop.clone(),
            }));
        }
        let last = latest_event_id(db).await?;
        let head = Arc::new(AtomicI64::new(last));
        let (changes, _) = broadcast::channel(options.buffer.max(1));
        let (wake, local) = watch::channel(0);
        tokio::spawn(
            Fetcher {
                db: db.clone(),
                changes: changes.clone(),
                head: head.clone(),
                last,
            }
            .run(Wakes {
                local,
                remote,
                listening,
                poll_interval: options.poll_interval,
                stop: stop.clone(),
            }),
        );
        Ok(Events {
            inner: Arc::new(Inner {
                db: db.clone(),
                wake,
                changes,
                head,
                catch_ups: Arc::new(AtomicU64::new(0)),
                sharing: AtomicUsize::new(0),
                _stop: stop.drop_guard(),
            }),
        })
    }

    /// Says that a transaction that wrote events has committed.
    pub fn committed(&self) {
        self.inner.wake.send_modify(|generation| *generation += 1);
    }

    /// How many subscribers are listening: each subscription stream counts one, and so does
    /// each subscriber served by another's stream.
    pub fn subscribers(&self) -> usize {
        self.inner.changes.receiver_count() + self.inner.sharing.load(Ordering::SeqCst)
    }

    /// How many subscription streams the hub feeds: a stream shared by several subscribers counts
    /// once.
    pub fn streams(&self) -> usize {
        self.inner.changes.receiver_count()
    }

    /// Counts one subscriber served by another's stream (a transport sharing one subscription
    /// among subscribers of the same visibility) until the guard is dropped.
    pub fn listening(&self) -> Listening {
        self.inner.sharing.fetch_add(1, Ordering::SeqCst);
        Listening(self.clone())
    }

    /// The id of the latest event broadcast: a subscription started now without `after` starts
    /// after it.
    pub fn head(&self) -> i64 {
        self.inner.head.load(Ordering::SeqCst)
    }

    /// How many times a subscriber fell behind the channel and was caught up from the history.
    pub fn catch_ups(&self) -> u64 {
        self.inner.catch_ups.load(Ordering::SeqCst)
    }

    /// The changes after event `after` that `scope` may see and `filter` matches, in event-id
    /// order, each exactly once; the stream ends after an error. Without `after`, it starts at
    /// this hub's position: every event broadcast from now on — which may include one committed
    /// a moment ago and not yet broadcast, never one broadcast before. `after` is the exact tool.
    ///
    /// `position` follows the stream: every event up to it was taken from the stream or did not
    /// concern it. A transport that must start the subscription again (with another scope: its
    /// credentials changed) passes it as `after` of the new one, losing and repeating nothing.
    pub fn subscribe(
        &self,
        scope: Scope,
        filter: ChangeFilter,
        after: Option<i64>,
        position: Position,
    ) -> BoxStream<'static, Result<Arc<Change>, Error>> {
        // Subscribe before reading the head or any history: whatever is committed from here on
        // reaches `live`, and what was before is in the table.
        let live = self.inner.changes.subscribe();
        let last = after.unwrap_or_else(|| self.inner.head.load(Ordering::SeqCst));
        position.advance(last);
        if after.is_some() {
            metrics::counter!(names::CATCH_UPS, "reason" => "replay").increment(1);
        }
        let subscriber = Subscriber {
            position,
            taken: None,
            db: self.inner.db.clone(),
            scope,
            filter,
            live,
            last,
            catching_up: after.is_some(),
            catch_ups: self.inner.catch_ups.clone(),
            pending: VecDeque::new(),
            done: false,
        };
        stream::unfold(subscriber, |mut subscriber| async move {
            let item = subscriber.next().await?;
            Some((item, subscriber))
        })
        .boxed()
    }
}

/// Where a subscription stands: every event up to this id was taken from its stream or did not
/// concern it (see [`Events::subscribe`]). Clones share the position.
#[derive(Clone, Debug)]
pub struct Position(Arc<AtomicI64>);

impl Default for Position {
    fn default() -> Self {
        Position(Arc::new(AtomicI64::new(i64::MIN)))
    }
}

impl Position {
    /// The id of the last event taken or passed over (`None` before the subscription started).
    pub fn get(&self) -> Option<i64> {
        Some(self.0.load(Ordering::SeqCst)).filter(|id| *id != i64::MIN)
    }

    /// Moves the position to `id`, unless it already stands further.
    pub fn advance(&self, id: i64) {
        self.0.fetch_max(id, Ordering::SeqCst);
    }
}

/// One subscriber counted by [`Events::subscribers`] without a stream of its own.
pub struct Listening(Events);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.inner.sharing.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Wake for Events {
    fn committed(&self) {
        Events::committed(self);
    }
}

/// One subscriber's position: the live channel, the last event id it has considered, and the
/// history batch it is delivering.
struct Subscriber {
    /// Shared with the transport (see [`Events::subscribe`]).
    position: Position,
    /// The id of the change returned last: once the stream is polled again it was taken.
    taken: Option<i64>,
    db: DatabaseConnection,
    scope: Scope,
    filter: ChangeFilter,
    live: broadcast::Receiver<Arc<Change>>,
    catch_ups: Arc<AtomicU64>,
    /// Every event up to this id has been delivered or skipped.
    last: i64,
    /// Reading history (a replay, or after falling behind the channel).
    catching_up: bool,
    pending: VecDeque<Arc<Change>>,
    done: bool,
}

impl Subscriber {
    async fn next(&mut self) -> Option<Result<Arc<Change>, Error>> {
        // Polled again: the change returned last was taken (a stream consumer asks for the next
        // item only after it has the previous one).
        if let Some(id) = self.taken.take() {
            self.position.advance(id);
        }
        loop {
            if self.pending.is_empty() {
                // Everything up to `last` was delivered or did not concern this subscriber.
                self.position.advance(self.last);
            }
            if let Some(change) = self.pending.pop_front() {
                self.taken = Some(change.event.id);
                metrics::counter!(names::EVENTS_DELIVERED).increment(1);
                return Some(Ok(change));
            }
            if self.done {
                return None;
            }
            if self.catching_up {
                // Boxed: a history read's future (its SQL statements) is large, and the stream
                // would otherwise hold room for it in every idle subscriber (about 2.5 KB each).
                match Box::pin(self.history()).await {
                    Ok(()) => continue,
                    Err(err) => {
                        self.done = true;
                        return Some(Err(err));
                    }
                }
            }
            match self.live.recv().await {
                Ok(change) => {
                    let id = change.event.id;
                    if id <= self.last {
                        continue;
                    }
                    self.last = id;
                    if change.visible_to(&self.scope) && self.filter.matches(&change) {
                        self.taken = Some(id);
                        metrics::counter!(names::EVENTS_DELIVERED).increment(1);
                        return Some(Ok(change));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, last = self.last, "subscriber lagged; catching up");
                    self.catch_ups.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!(names::CATCH_UPS, "reason" => "lagged").increment(1);
                    self.catching_up = true;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Reads the next batch of history after `last` through the visible reads, filtered in SQL.
    async fn history(&mut self) -> Result<(), Error> {
        let events = events_after(&self.db, &self.scope, &self.filter, self.last, BATCH).await?;
        if (events.len() as u64) < BATCH {
            self.catching_up = false;
        }
        let Some(last) = events.last().map(|e| e.id) else {
            return Ok(());
        };
        self.pending.extend(
            changes(&self.db, &self.scope, events)
                .await?
                .into_iter()
                .map(Arc::new),
        );
        self.last = last;
        Ok(())
    }
}

/// The one reader of new events of an instance.
struct Fetcher {
    db: DatabaseConnection,
    changes: broadcast::Sender<Arc<Change>>,
    head: Arc<AtomicI64>,
    last: i64,
}

/// What wakes the fetcher.
struct Wakes {
    local: watch::Receiver<u64>,
    remote: Arc<Notify>,
    /// While the PostgreSQL listener is up, it hears local commits too.
    listening: Arc<AtomicBool>,
    poll_interval: Duration,
    stop: CancellationToken,
}

impl Fetcher {
    async fn run(mut self, mut wakes: Wakes) {
        let mut poll =
            tokio::time::interval_at(Instant::now() + wakes.poll_interval, wakes.poll_interval);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = wakes.stop.cancelled() => return,
                changed = wakes.local.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if wakes.listening.load(Ordering::SeqCst) {
                        continue;
                    }
                }
                () = wakes.remote.notified() => {}
                _ = poll.tick() => {}
            }
            while let Err(err) = self.fetch().await {
                tracing::warn!(?err, "cannot read new build events; retrying");
                tokio::select! {
                    () = wakes.stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }

    /// Broadcasts every event after `last`, batch by batch. `last` only moves past events that
    /// were broadcast, so a failed read is retried from the same place.
    async fn fetch(&mut self) -> Result<(), Error> {
        loop {
            // The hub reads as the service, once for every subscriber; each subscriber checks its
            // own scope in memory.
            let service = Scope::service();
            let events = events_after(
                &self.db,
                &service,
                &ChangeFilter::default(),
                self.last,
                BATCH,
            )
            .await?;
            let Some(last) = events.last().map(|e| e.id) else {
                return Ok(());
            };
            let full = events.len() as u64 == BATCH;
            for change in changes(&self.db, &service, events).await? {
                // The head moves before the send: a subscriber that reads the head after
                // subscribing receives every later event.
                self.head.store(change.event.id, Ordering::SeqCst);
                // No receiver is not an error.
                let _ = self.changes.send(Arc::new(change));
            }
            self.last = last;
            self.head.store(last, Ordering::SeqCst);
            if !full {
                return Ok(());
            }
        }
    }
}
