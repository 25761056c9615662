//! Subscriptions shared by their subscribers: one execution, and one rendering of each result,
//! for every websocket operation asking the same thing with the same visibility.
//!
//! Which operations: those `subscriptions::from_now` accepts (`buildStatusChanged` without
//! `afterEventId`), whose results depend on nothing but the document, the operation name, the
//! variables and the principal's visibility (`Scope::visibility`) — the [`Key`] of an execution.
//!
//! The first subscriber runs the execution in its own stream, as a subscription of its own would
//! ([`Lone`]): most subscriptions are never shared, and one that is not pays for no task, relay or
//! member of a group. A second subscriber asking the same takes the execution to a group — it
//! moves it into a task of its own, without waiting on the first subscriber's task, which may be
//! busy writing to a slow client — whose results reach every member through a relay
//! (`ws::relay`) that holds what some member has not received yet, at most `--event-buffer`
//! results; later subscribers join the group. Each result is rendered once ([`Rendered`]); a
//! member only writes its operation id around it. So an event costs one resolution and one
//! serialization per visibility, however many subscribers follow it.
//!
//! The rules a member keeps (the same as a subscription of its own):
//! - it gets every result sent after it joined, in order;
//! - it knows where it stands: the event of each result it delivered (`Rendered::event`),
//!   starting at the hub's head when it joined. When it falls further behind than the buffer,
//!   or the execution ends before it got anything, it gets [`Delivery::Lost`] and the connection
//!   starts it again alone from there (`events::Events::subscribe` with `after`): nothing is
//!   lost or repeated;
//! - its credentials are checked by its own connection, which starts it again alone under a new
//!   scope (from where it stands) or closes it;
//! - it counts as a subscriber of the hub (`events::Events::listening`).
//!
//! A group ends when its last member leaves (its execution, and the hub's stream, are dropped),
//! or when its execution ends (its members then get the end after the last result).

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll, Waker},
};

use async_graphql::Request;
use futures_util::{Stream, StreamExt, ready, stream::BoxStream};

use super::{
    relay::{Receiver, Recv, Relay, Shared},
    results::{Delivery, Rendered, Results, responses},
};
use crate::{
    auth::{Principal, Scope},
    events::{Events, Listening, Position},
    graphql::{compat::prepare::Prepared, lock},
    telemetry::{Live, names},
};

/// What the subscribers of one execution have in common.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key {
    visibility: Scope,
    query: String,
    operation_name: Option<String>,
    variables: String,
}

impl Key {
    /// The key of `request` run by `principal`.
    pub fn new(principal: &Principal, request: &Request) -> Key {
        Key {
            visibility: principal.scope().visibility(),
            query: request.query.clone(),
            operation_name: request.operation_name.clone(),
            variables: serde_json::to_string(&request.variables).unwrap_or_default(),
        }
    }
}

/// The executions running now, by key.
pub struct Fanout {
    running: Mutex<HashMap<Arc<Key>, Running>>,
    events: Events,
    buffer: usize,
}

/// A running execution, as a newcomer finds it.
enum Running {
    /// Run by its one subscriber's stream; a newcomer takes it to a group.
    Lone(Arc<Handover>),
    /// Run by a group's task: the relay of its results (the task holds its sending side: once it
    /// ends, its members get the end), and its members.
    Group {
        results: Arc<Shared<Arc<Rendered>>>,
        members: Arc<Members>,
    },
}

/// How many members a group has, and the hub's count of all but the first (the hub counts the
/// first through the group's own stream).
#[derive(Default)]
struct Members(Mutex<(usize, Vec<Listening>)>);

/// A lone execution, until a second subscriber takes it to a group; and where its subscriber
/// learns that it went, and follows it.
#[derive(Default)]
struct Handover(Mutex<Alone>);

#[derive(Default)]
struct Alone {
    /// The execution, polled by the lone subscriber's stream; taken by the second subscriber.
    responses: Option<BoxStream<'static, Arc<Rendered>>>,
    /// Set when the execution went to a group: the lone subscriber's place in it.
    to: Option<(Member, Receiver<Arc<Rendered>>)>,
    /// The lone subscriber's task, woken when the execution goes.
    waker: Option<Waker>,
}

impl Fanout {
    /// No execution yet; each group will hold `buffer` results for its members.
    pub fn new(events: Events, buffer: usize) -> Fanout {
        Fanout {
            running: Mutex::new(HashMap::new()),
            events,
            buffer: buffer.max(1),
        }
    }

    /// The results of the execution of `key` for one more subscriber: a lone run of `prepared`
    /// when none is running, else a share of the running one (handed over to a group if it was
    /// lone). They start with the next result the execution yields; `position` is set to the
    /// hub's head (where a subscription of its own would start) and must follow the results
    /// delivered.
    pub(super) fn join(
        self: &Arc<Self>,
        key: Key,
        prepared: Prepared,
        position: &Position,
    ) -> Results {
        let mut running = lock(&self.running);
        if let Some((running_key, Running::Lone(handover))) = running.get_key_value(&key) {
            let (running_key, handover) = (running_key.clone(), handover.clone());
            match self.hand_over(running_key.clone(), &handover) {
                Some(group) => running.insert(running_key, group),
                // Its execution ended: this subscriber starts another.
                None => running.remove(&key),
            };
        }
        let joined = match running.get(&key) {
            Some(Running::Group { results, members }) => results
                .subscribe()
                .map(|receiver| (receiver, members.clone())),
            _ => None,
        };
        let results = match joined {
            Some((receiver, members)) => {
                member_results(Member::join(members, &self.events), receiver)
            }
            // None running, or a group whose execution ended.
            None => {
                let key = Arc::new(key);
                let handover = Arc::new(Handover(Mutex::new(Alone {
                    responses: Some(responses(prepared, Position::default())),
                    ..Alone::default()
                })));
                running.insert(key.clone(), Running::Lone(handover.clone()));
                Lone {
                    fanout: self.clone(),
                    key,
                    handover,
                    then: None,
                }
                .boxed()
            }
        };
        drop(running);
        // Read after joining: every event after the head reaches these results.
        position.advance(self.events.head());
        results
    }

    /// Takes the lone execution of `handover` to a new group's task, whose first member is its
    /// subscriber; that group, as newcomers find it (`None` when the execution ended).
    fn hand_over(self: &Arc<Self>, key: Arc<Key>, handover: &Handover) -> Option<Running> {
        // Waits for a turn of the execution that the lone subscriber's stream is taking: its
        // result is that subscriber's alone (for an event before the newcomer joined); every
        // later one is the group's, for everyone.
        let mut alone = lock(&handover.0);
        let responses = alone.responses.take()?;
        let relay = Relay::new(self.buffer);
        let results = relay.shared();
        let members = Arc::new(Members::default());
        let first = Member::join(members.clone(), &self.events);
        let receiver = results.subscribe().expect("a new relay is open");
        alone.to = Some((first, receiver));
        if let Some(waker) = alone.waker.take() {
            waker.wake();
        }
        drop(alone);
        tokio::spawn(self.clone().run(key, relay, members.clone(), responses));
        Some(Running::Group { results, members })
    }

    /// Runs the execution `responses` of the group of `key` and sends its results until it ends
    /// or has no member left.
    async fn run(
        self: Arc<Self>,
        key: Arc<Key>,
        results: Relay<Arc<Rendered>>,
        members: Arc<Members>,
        mut responses: BoxStream<'static, Arc<Rendered>>,
    ) {
        let _running = Live::track(names::SHARED_SUBSCRIPTIONS);
        loop {
            tokio::select! {
                response = responses.next() => match response {
                    // No receiver: the next turn sees the group closed.
                    Some(response) => results.send(response),
                    None => {
                        self.retire(&key, &members, None);
                        return;
                    }
                },
                () = results.unheard() => {
                    if self.retire(&key, &members, Some(&results)) {
                        return;
                    }
                }
            }
        }
    }

    /// Removes the group of `members` so that no one joins it any more: when its execution
    /// ended, or (given its `results`) when it has no member left; whether it was removed.
    fn retire(
        &self,
        key: &Key,
        members: &Arc<Members>,
        results: Option<&Relay<Arc<Rendered>>>,
    ) -> bool {
        let mut running = lock(&self.running);
        if results.is_some_and(|results| results.receivers() > 0) {
            // Someone joined meanwhile.
            return false;
        }
        if let Some(Running::Group {
            members: theirs, ..
        }) = running.get(key)
            && Arc::ptr_eq(theirs, members)
        {
            running.remove(key);
        }
        true
    }
}

/// A member of a group, counted as a subscriber of the hub until it is dropped.
struct Member {
    members: Arc<Members>,
}

impl Member {
    fn join(members: Arc<Members>, events: &Events) -> Member {
        let mut count = lock(&members.0);
        if count.0 > 0 {
            count.1.push(events.listening());
        }
        count.0 += 1;
        drop(count);
        Member { members }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let mut count = lock(&self.members.0);
        count.0 -= 1;
        count.1.pop();
    }
}

/// The results `member` receives, then the end — or [`Delivery::Lost`] when it fell behind, or
/// the execution ended before it got anything.
fn member_results(member: Member, receiver: Receiver<Arc<Rendered>>) -> Results {
    Share {
        place: Some((member, receiver)),
        got: false,
    }
    .boxed()
}

/// A member's share of a group's results (polled by its connection at every event: a stream of
/// its own rather than an `unfold` of `Receiver::recv` futures).
struct Share {
    /// The member and its receiver, until the end.
    place: Option<(Member, Receiver<Arc<Rendered>>)>,
    /// Whether it received a result.
    got: bool,
}

impl Stream for Share {
    type Item = Delivery;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        let this = &mut *self;
        let Some((_, receiver)) = &mut this.place else {
            return Poll::Ready(None);
        };
        let delivery = match ready!(receiver.poll_recv(cx)) {
            Recv::Item(result) => {
                this.got = true;
                return Poll::Ready(Some(Delivery::Result(result)));
            }
            Recv::Closed if this.got => Delivery::End,
            Recv::Closed | Recv::Lagged => Delivery::Lost,
        };
        this.place = None;
        Poll::Ready(Some(delivery))
    }
}

/// The results of a lone execution for its one subscriber, then the end; once a second
/// subscriber took the execution to a group, the first one's share of the group's results.
struct Lone {
    fanout: Arc<Fanout>,
    key: Arc<Key>,
    handover: Arc<Handover>,
    /// The share of the group, once the execution went to one.
    then: Option<Results>,
}

impl Stream for Lone {
    type Item = Delivery;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        let this = &mut *self;
        if let Some(then) = &mut this.then {
            return then.poll_next_unpin(cx);
        }
        // Locked for the whole turn of the execution (see `Fanout::hand_over`).
        let mut alone = lock(&this.handover.0);
        if let Some((first, receiver)) = alone.to.take() {
            drop(alone);
            return this
                .then
                .insert(member_results(first, receiver))
                .poll_next_unpin(cx);
        }
        let Some(responses) = &mut alone.responses else {
            // It ended: the end was delivered.
            return Poll::Ready(None);
        };
        match responses.poll_next_unpin(cx) {
            Poll::Ready(Some(result)) => Poll::Ready(Some(Delivery::Result(result))),
            Poll::Ready(None) => {
                alone.responses = None;
                Poll::Ready(Some(Delivery::End))
            }
            Poll::Pending => {
                if !alone
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    alone.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Lone {
    /// A lone execution ends with its subscriber; one taken to a group goes on there.
    fn drop(&mut self) {
        let mut running = lock(&self.fanout.running);
        if let Some(Running::Lone(handover)) = running.get(&self.key)
            && Arc::ptr_eq(handover, &self.handover)
        {
            running.remove(&self.key);
        }
    }
}
