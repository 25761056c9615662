//! The channel of a shared subscription ([`super::fanout`]): one sender, many receivers, each
//! receiving every item sent after it subscribed, in order.
//!
//! Why not `tokio::sync::broadcast`: its ring of slots is allocated whole when the channel is
//! made (`--event-buffer` slots, about 40 KB at 1,024), and most subscriptions are never shared.
//! A relay holds only the items some receiver has not received yet — usually none or one — and
//! drops each once every receiver has it. A receiver more than `capacity` items behind loses its
//! place ([`Recv::Lagged`]).
//!
//! Why not a `tokio::sync::Notify` to wake the receivers: with 10,000 receivers every item woke
//! 10,000 `Notified` futures, each registered, polled and dropped under the `Notify`'s own lock
//! besides the relay's (issue 9, perf of the fan-out). A receiver keeps its waker in a slot of
//! the relay's state instead, taken with the one lock it needs anyway: one lock to take an item,
//! one to wait for the next.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll, Waker},
};

use tokio::sync::Notify;

/// The sending side; the relay is closed when it is dropped.
pub(super) struct Relay<T>(Arc<Shared<T>>);

/// What the relay and its receivers share; [`Shared::subscribe`] makes a receiver.
pub(super) struct Shared<T> {
    state: Mutex<State<T>>,
    /// Woken when the last receiver leaves.
    left: Notify,
}

struct State<T> {
    /// The number of the first item held.
    first: u64,
    /// The items not yet received by every receiver, each with how many have yet to.
    items: VecDeque<(T, usize)>,
    receivers: usize,
    capacity: usize,
    closed: bool,
    /// A slot per receiver: the waker of one waiting for the next item (or the close).
    wakers: Vec<Option<Waker>>,
    /// The slots of receivers that left, for the next ones.
    free: Vec<usize>,
}

/// A receiver: the number of the next item it takes, and its slot of wakers.
pub(super) struct Receiver<T> {
    shared: Arc<Shared<T>>,
    next: u64,
    slot: usize,
}

/// What a receiver gets.
#[derive(Debug, PartialEq)]
pub(super) enum Recv<T> {
    Item(T),
    /// It fell more than the capacity behind: the items it missed are gone.
    Lagged,
    /// The relay is closed and the receiver has every item.
    Closed,
}

impl<T: Clone> Relay<T> {
    /// A relay holding at most `capacity` items for a receiver behind.
    pub(super) fn new(capacity: usize) -> Relay<T> {
        Relay(Arc::new(Shared {
            state: Mutex::new(State {
                first: 0,
                items: VecDeque::new(),
                receivers: 0,
                capacity: capacity.max(1),
                closed: false,
                wakers: Vec::new(),
                free: Vec::new(),
            }),
            left: Notify::new(),
        }))
    }

    /// Where receivers subscribe.
    pub(super) fn shared(&self) -> Arc<Shared<T>> {
        self.0.clone()
    }

    /// Sends `item` to every receiver (none: it is dropped).
    pub(super) fn send(&self, item: T) {
        let mut state = self.0.lock();
        if state.receivers == 0 {
            return;
        }
        let receivers = state.receivers;
        state.items.push_back((item, receivers));
        if state.items.len() > state.capacity {
            state.items.pop_front();
            state.first += 1;
        }
        let waiting = state.waiting();
        drop(state);
        waiting.into_iter().for_each(Waker::wake);
    }

    /// Waits until the relay has no receiver.
    pub(super) async fn unheard(&self) {
        loop {
            let left = self.0.left.notified();
            tokio::pin!(left);
            left.as_mut().enable();
            if self.receivers() == 0 {
                return;
            }
            left.await;
        }
    }

    /// How many receivers it has.
    pub(super) fn receivers(&self) -> usize {
        self.0.lock().receivers
    }
}

impl<T> Drop for Relay<T> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.closed = true;
        let waiting = state.waiting();
        drop(state);
        waiting.into_iter().for_each(Waker::wake);
    }
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        crate::graphql::lock(&self.state)
    }

    /// A receiver of the items sent from now on; `None` once the relay is closed.
    pub(super) fn subscribe(self: &Arc<Self>) -> Option<Receiver<T>> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        state.receivers += 1;
        let next = state.first + state.items.len() as u64;
        let slot = match state.free.pop() {
            Some(slot) => slot,
            None => {
                state.wakers.push(None);
                state.wakers.len() - 1
            }
        };
        Some(Receiver {
            shared: self.clone(),
            next,
            slot,
        })
    }
}

impl<T> State<T> {
    /// The wakers of the receivers waiting, taken from their slots (woken once the lock is let go).
    fn waiting(&mut self) -> Vec<Waker> {
        self.wakers.iter_mut().filter_map(Option::take).collect()
    }

    /// Drops the items every receiver has.
    fn trim(&mut self) {
        while self.items.front().is_some_and(|(_, left)| *left == 0) {
            self.items.pop_front();
            self.first += 1;
        }
    }
}

impl<T: Clone> Receiver<T> {
    /// The next item, once there is one.
    #[cfg(test)]
    pub(super) async fn recv(&mut self) -> Recv<T> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next item if there is one; else the task of `cx` is woken when one is sent (or the
    /// relay closes).
    pub(super) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Recv<T>> {
        let mut state = self.shared.lock();
        let end = state.first + state.items.len() as u64;
        if self.next < state.first {
            // It skips every item held.
            for (_, left) in &mut state.items {
                *left -= 1;
            }
            state.trim();
            self.next = state.first + state.items.len() as u64;
            return Poll::Ready(Recv::Lagged);
        }
        if self.next < end {
            let index = (self.next - state.first) as usize;
            let (item, left) = &mut state.items[index];
            let item = item.clone();
            *left -= 1;
            self.next += 1;
            state.trim();
            return Poll::Ready(Recv::Item(item));
        }
        if state.closed {
            return Poll::Ready(Recv::Closed);
        }
        let waker = &mut state.wakers[self.slot];
        if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        let from = self.next.saturating_sub(state.first) as usize;
        for (_, left) in state.items.iter_mut().skip(from) {
            *left -= 1;
        }
        state.trim();
        state.receivers -= 1;
        state.wakers[self.slot] = None;
        state.free.push(self.slot);
        let last = state.receivers == 0;
        drop(state);
        if last {
            self.shared.left.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Recv, Relay};

    #[tokio::test]
    async fn each_receiver_gets_what_was_sent_after_it_subscribed_and_the_rest_is_dropped() {
        let relay = Relay::new(8);
        relay.send(0); // nobody listens
        let mut early = relay.shared().subscribe().expect("open");
        relay.send(1);
        let mut late = relay.shared().subscribe().expect("open");
        relay.send(2);
        assert_eq!(early.recv().await, Recv::Item(1));
        assert_eq!(early.recv().await, Recv::Item(2));
        // Item 1 was dropped once the early receiver had it; 2 waits for the late one.
        assert_eq!(relay.0.lock().items.len(), 1);
        assert_eq!(late.recv().await, Recv::Item(2));
        assert!(relay.0.lock().items.is_empty());
        // A receiver that leaves lets go of what it had not taken.
        relay.send(3);
        drop(late);
        assert_eq!(relay.0.lock().items.len(), 1);
        assert_eq!(early.recv().await, Recv::Item(3));
        assert!(relay.0.lock().items.is_empty());
        let shared = relay.shared();
        drop(relay);
        assert_eq!(early.recv().await, Recv::Closed);
        assert!(shared.subscribe().is_none());
    }

    #[tokio::test]
    async fn a_receiver_beyond_the_capacity_lags_and_the_last_to_leave_is_heard() {
        let relay = Relay::new(2);
        let mut slow = relay.shared().subscribe().expect("open");
        for n in 0..3 {
            relay.send(n);
        }
        assert_eq!(slow.recv().await, Recv::Lagged);
        assert!(relay.0.lock().items.is_empty());
        relay.send(3);
        assert_eq!(slow.recv().await, Recv::Item(3));
        let waiting = tokio::spawn(async move {
            relay.unheard().await;
            relay.receivers()
        });
        drop(slow);
        assert_eq!(waiting.await.expect("joined"), 0);
    }
}
