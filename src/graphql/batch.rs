//! When the loaders of one request run their batches: at the request's *tick*, the moment its
//! execution can go no further without them — every resolver that could run has run and waits
//! on a loader or on the database. Nothing waits on a timer.
//!
//! async-graphql's own `DataLoader` starts a batch on a timer instead (1 ms by default, on
//! futures-timer's thread): each level of loaders costs the request at least that delay, and on
//! a loaded machine a batch can start before its siblings have asked, so a page of 50 rows can
//! cost several statements instead of one. Here the batch is due only when the request is
//! blocked, so which keys share a statement depends on the query and the data alone. The
//! loaders keep async-graphql's [`Loader`] trait; [`Tick::drive`] must run every execution that
//! may use them (both transports do, in `graphql::compat`), or their loads never finish.

use std::{
    collections::HashMap,
    future::Future,
    hash::Hash,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering::SeqCst},
    },
    task::{Context, Poll, Wake, Waker},
};

use async_graphql::dataloader::Loader;
use futures_util::{
    FutureExt, Stream, StreamExt,
    future::BoxFuture,
    stream::{BoxStream, FuturesUnordered},
};
use tokio::sync::oneshot;

use super::lock;

use crate::error::Error;

/// The most keys one statement is given (SQLite binds at most this many values in a list).
const MAX_KEYS: usize = 1000;

/// How often [`Driven`] polls a request that woke itself before yielding to the runtime.
const ROUNDS: usize = 32;

/// The batches one request's loaders have due, run by [`Tick::drive`].
#[derive(Clone, Default)]
pub struct Tick(Arc<Mutex<Vec<Arc<dyn Due>>>>);

/// A loader with keys waiting for the tick.
trait Due: Send + Sync {
    /// Takes the waiting keys and loads them; the waiters get their answers.
    fn run(self: Arc<Self>) -> BoxFuture<'static, ()>;
}

impl Tick {
    /// Runs `execution` (a query's or a mutation's), starting the loaders' batches whenever it
    /// waits for them.
    pub fn drive<'a, F: Future + Send + 'a>(
        &self,
        execution: F,
    ) -> Driven<BoxFuture<'a, F::Output>> {
        Driven::new(self.clone(), execution.boxed())
    }

    /// Runs a subscription's `stream` the same way: each event's payload at its own ticks.
    pub fn drive_stream<'a, S: Stream + Send + 'a>(
        &self,
        stream: S,
    ) -> Driven<BoxStream<'a, S::Item>> {
        Driven::new(self.clone(), stream.boxed())
    }

    fn push(&self, due: Arc<dyn Due>) {
        lock(&self.0).push(due);
    }

    fn take(&self) -> Vec<Arc<dyn Due>> {
        std::mem::take(&mut *lock(&self.0))
    }
}

/// An execution (a future or a stream) and the batches it started.
pub struct Driven<T> {
    inner: T,
    tick: Tick,
    running: FuturesUnordered<BoxFuture<'static, ()>>,
    woken: Arc<Woken>,
}

impl<T> Driven<T> {
    fn new(tick: Tick, inner: T) -> Self {
        Driven {
            inner,
            tick,
            running: FuturesUnordered::new(),
            woken: Arc::default(),
        }
    }

    /// Polls the execution with `poll` until it is ready, or blocked with no batch due.
    fn step<R>(
        &mut self,
        cx: &mut Context<'_>,
        mut poll: impl FnMut(&mut T, &mut Context<'_>) -> Poll<R>,
    ) -> Poll<R> {
        let waker = Waker::from(self.woken.clone());
        for _ in 0..ROUNDS {
            self.woken.enter(cx.waker());
            let polled = poll(&mut self.inner, &mut Context::from_waker(&waker));
            // Out of tokio's budget, the execution's channels answer "pending" although it could
            // go on (and wake it only after this poll): that is not a tick either.
            let out_of_budget = !tokio::task::coop::has_budget_remaining();
            while let Poll::Ready(Some(())) = self.running.poll_next_unpin(cx) {}
            let went_on = self.woken.leave();
            if polled.is_ready() {
                return polled;
            }
            if out_of_budget {
                break;
            }
            if went_on {
                // Something the execution waited for is there (or it yielded): not a tick yet.
                continue;
            }
            let due = self.tick.take();
            if due.is_empty() {
                return Poll::Pending;
            }
            self.running.extend(due.into_iter().map(Due::run));
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<T> Drop for Driven<T> {
    /// A dropped execution (a timeout, a closed socket) leaves no batch behind: a waiting
    /// loader and the tick hold each other until the tick is taken.
    fn drop(&mut self) {
        drop(self.tick.take());
    }
}

impl<T: Future + Unpin> Future for Driven<T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        self.get_mut().step(cx, |inner, cx| inner.poll_unpin(cx))
    }
}

impl<T: Stream + Unpin> Stream for Driven<T> {
    type Item = T::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T::Item>> {
        self.get_mut()
            .step(cx, |inner, cx| inner.poll_next_unpin(cx))
    }
}

/// The execution's waker: notes that it was woken and, unless [`Driven`] is polling it right
/// now (and will look at the note), wakes the task.
#[derive(Default)]
struct Woken {
    woken: AtomicBool,
    polling: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Woken {
    fn enter(&self, task: &Waker) {
        let mut current = lock(&self.task);
        if !current.as_ref().is_some_and(|w| w.will_wake(task)) {
            *current = Some(task.clone());
        }
        drop(current);
        self.polling.store(true, SeqCst);
        self.woken.store(false, SeqCst);
    }

    /// Whether the execution was woken since [`Woken::enter`].
    fn leave(&self) -> bool {
        self.polling.store(false, SeqCst);
        self.woken.swap(false, SeqCst)
    }
}

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, SeqCst);
        if !self.polling.load(SeqCst)
            && let Some(task) = lock(&self.task).as_ref()
        {
            task.wake_by_ref();
        }
    }
}

/// What a load answers: the value, none, or the batch's error.
type Answer<V> = Result<Option<V>, Error>;

/// A loader of one request: the values it loaded (or learnt) and the keys waiting for the tick.
pub struct Batcher<K, L: Loader<K, Error = Error>>(Arc<Shared<K, L>>)
where
    K: Send + Sync + Hash + Eq + Clone + 'static;

struct Shared<K, L: Loader<K, Error = Error>>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
{
    loader: L,
    tick: Tick,
    state: Mutex<State<K, L::Value>>,
}

/// The state's maps hash with foldhash rather than the standard library's SipHash: their keys
/// are the request's own ids (a page of 50 builds looks up every definition, creator and tenant
/// list in them). With SipHash, these maps and the loaders' answers were about 2% of a list's
/// instructions; an answer's map is the `Loader` trait's own type and keeps SipHash.
struct State<K, V> {
    /// What this request has read, found or not.
    known: HashMap<K, Option<V>, Fold>,
    /// The keys of the next batch and who waits for each.
    waiting: HashMap<K, Vec<oneshot::Sender<Answer<V>>>, Fold>,
}

type Fold = foldhash::fast::RandomState;

impl<K, L> Batcher<K, L>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K, Error = Error>,
    L::Value: Clone,
{
    /// A loader whose batches run at `tick`.
    pub fn new(loader: L, tick: &Tick) -> Self {
        Batcher(Arc::new(Shared {
            loader,
            tick: tick.clone(),
            state: Mutex::new(State {
                known: HashMap::default(),
                waiting: HashMap::default(),
            }),
        }))
    }

    /// The value of `key` when there is one (an optional relation): none without a key.
    pub async fn load_optional(&self, key: Option<K>) -> Answer<L::Value> {
        match key {
            Some(key) => self.load_one(key).await,
            None => Ok(None),
        }
    }

    /// The value of `key`, from what is known or from the next batch.
    pub async fn load_one(&self, key: K) -> Answer<L::Value> {
        let answer = {
            let mut state = lock(&self.0.state);
            if let Some(known) = state.known.get(&key) {
                return Ok(known.clone());
            }
            let first = state.waiting.is_empty();
            let (tx, rx) = oneshot::channel();
            state.waiting.entry(key).or_default().push(tx);
            if first {
                self.0.tick.push(self.0.clone());
            }
            rx
        };
        answer.await.unwrap_or_else(|_| {
            Err(Error::Internal(
                "a loader's batch ended without an answer".into(),
            ))
        })
    }

    /// Learns `value` for `key`, so that loading it runs no statement.
    pub fn feed_one(&self, key: K, value: L::Value) {
        lock(&self.0.state).known.insert(key, Some(value));
    }

    /// Learns every `(key, value)`.
    pub fn feed_many(&self, values: impl IntoIterator<Item = (K, L::Value)>) {
        let mut state = lock(&self.0.state);
        state
            .known
            .extend(values.into_iter().map(|(key, value)| (key, Some(value))));
    }

    /// Forgets everything known (a subscription answers each event as a new request).
    pub fn clear(&self) {
        lock(&self.0.state).known.clear();
    }
}

impl<K, L> Due for Shared<K, L>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K, Error = Error>,
    L::Value: Clone,
{
    fn run(self: Arc<Self>) -> BoxFuture<'static, ()> {
        async move {
            let waiting = std::mem::take(&mut lock(&self.state).waiting);
            let keys: Vec<K> = waiting.keys().cloned().collect();
            let mut found = HashMap::new();
            for chunk in keys.chunks(MAX_KEYS) {
                match self.loader.load(chunk).await {
                    // One chunk (nearly every batch): its map as it is.
                    Ok(values) if found.is_empty() => found = values,
                    Ok(values) => found.extend(values),
                    Err(err) => {
                        for tx in waiting.into_values().flatten() {
                            let _ = tx.send(Err(err.clone()));
                        }
                        return;
                    }
                }
            }
            // A value is cloned once for what the request knows, and once more for each waiter
            // but the last, which gets it.
            let mut state = lock(&self.state);
            for (key, mut waiters) in waiting {
                let value = found.remove(&key);
                state.known.insert(key, value.clone());
                let last = waiters.pop();
                for tx in waiters {
                    let _ = tx.send(Ok(value.clone()));
                }
                if let Some(tx) = last {
                    let _ = tx.send(Ok(value));
                }
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::HashMap,
        sync::{Arc, Mutex},
    };

    use async_graphql::dataloader::Loader;
    use futures_util::{StreamExt, future::join_all, stream::FuturesUnordered};

    use super::{Batcher, Tick};
    use crate::error::Error;

    /// Answers every key under a million with its double and remembers the size of each batch.
    #[derive(Clone, Default)]
    struct Doubles(Arc<Mutex<Vec<usize>>>);

    impl Loader<u32> for Doubles {
        type Value = u64;
        type Error = Error;

        async fn load(&self, keys: &[u32]) -> Result<HashMap<u32, u64>, Error> {
            self.0.lock().expect("batches").push(keys.len());
            tokio::task::yield_now().await;
            let found = keys.iter().filter(|k| **k < 1_000_000);
            Ok(found.map(|k| (*k, u64::from(*k) * 2)).collect())
        }
    }

    #[tokio::test]
    async fn keys_asked_before_the_execution_blocks_share_one_batch() {
        // More futures than FuturesUnordered polls before it yields (32), each yielding once
        // before it asks: a timer could fire between them; the tick cannot.
        let batches = Doubles::default();
        let tick = Tick::default();
        let loader = Batcher::new(batches.clone(), &tick);
        let asks: FuturesUnordered<_> = (0..500u32)
            .map(|key| {
                let loader = &loader;
                async move {
                    tokio::task::yield_now().await;
                    (key % 250, loader.load_one(key % 250).await)
                }
            })
            .collect();
        let answers: Vec<_> = tick.drive(asks.collect::<Vec<_>>()).await;
        // Two waiters for each key, each with its value.
        assert_eq!(answers.len(), 500);
        for (key, answer) in answers {
            assert_eq!(answer.ok().flatten(), Some(u64::from(key) * 2));
        }
        assert_eq!(*batches.0.lock().expect("batches"), vec![250]);
        // Known now: asking again runs nothing.
        let again = tick.drive(loader.load_one(7)).await;
        assert_eq!(again.ok().flatten(), Some(14));
        assert_eq!(batches.0.lock().expect("batches").len(), 1);
    }

    #[tokio::test]
    async fn each_level_is_one_batch_and_more_keys_than_a_statement_takes_are_split() {
        let batches = Doubles::default();
        let tick = Tick::default();
        let loader = Batcher::new(batches.clone(), &tick);
        let levels = (0..1500u32).map(|key| {
            let loader = &loader;
            async move {
                let first = loader
                    .load_one(key)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                let second = u32::try_from(first).unwrap_or_default() + 10_000;
                loader.load_one(second).await
            }
        });
        let answers = tick.drive(join_all(levels)).await;
        assert_eq!(answers.len(), 1500);
        // The second level's answers come from two statements, each key's from its own.
        for (key, answer) in (0..1500u64).zip(answers) {
            assert_eq!(answer.ok().flatten(), Some((key * 2 + 10_000) * 2));
        }
        assert_eq!(
            *batches.0.lock().expect("batches"),
            vec![1000, 500, 1000, 500]
        );
    }

    #[tokio::test]
    async fn fed_values_and_misses_run_no_statement() {
        let batches = Doubles::default();
        let tick = Tick::default();
        let loader = Batcher::new(batches.clone(), &tick);
        loader.feed_many([(1, 100), (2, 200)]);
        let fed = tick
            .drive(join_all([loader.load_one(1), loader.load_one(2)]))
            .await;
        assert_eq!(
            fed.into_iter()
                .map(|a| a.ok().flatten())
                .collect::<Vec<_>>(),
            [Some(100), Some(200)]
        );
        assert!(batches.0.lock().expect("batches").is_empty());
        // Forgotten: asked again (a subscription's next event).
        loader.clear();
        let again = tick.drive(loader.load_one(1)).await;
        assert_eq!(again.ok().flatten(), Some(2));
        assert_eq!(*batches.0.lock().expect("batches"), vec![1]);
        // A key the loader does not find is known as missing: asked again, it runs nothing.
        for _ in 0..2 {
            let missing = tick.drive(loader.load_one(u32::MAX)).await;
            assert!(matches!(missing, Ok(None)));
        }
        assert_eq!(*batches.0.lock().expect("batches"), vec![1, 1]);
    }
}
