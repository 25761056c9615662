//! Subscriptions shared by their subscribers: one execution, and one rendering of each result,
//! for every websocket operation asking the same thing with the same visibility.
//!
//! Which operations: those `subscriptions::from_now` accepts (`buildStatusChanged` without
//! `afterEventId`), whose results depend on nothing but the document, the operation name, the
//! variables and the principal's visibility (`Scope::visibility`) — the [`Key`] of an execution.
//!
//! The first subscriber runs the execution in its own stream, as a subscription of its own would
//! ([`Lone`]): most subscriptions are never shared, and one that is not pays for no task, relay or
//! member of a group. A second subscriber asking the same has the execution handed over to a
//! group: it is moved into a task of its own, whose results reach every member through a relay
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
use futures_util::{
    Stream, StreamExt,
    stream::{self, BoxStream},
};

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
    /// Run by its one subscriber; a newcomer asks for it to be handed over.
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

/// The group a lone execution goes to: its relay and members, and the lone subscriber's place
/// in it.
struct Destination {
    relay: Relay<Arc<Rendered>>,
    members: Arc<Members>,
    first: Member,
    receiver: Receiver<Arc<Rendered>>,
}

/// Where a lone execution learns that it goes to a group, and how its subscriber follows it there.
#[derive(Default)]
struct Handover(Mutex<Asked>);

#[derive(Default)]
struct Asked {
    /// Set by the second subscriber.
    to: Option<Destination>,
    /// The task of the lone subscriber, woken when the hand-over is asked.
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
        if let Some(entry) = running.get_mut(&key)
            && let Running::Lone(handover) = entry
        {
            let group = self.hand_over(handover);
            *entry = group;
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
                let handover = Arc::new(Handover::default());
                running.insert(key.clone(), Running::Lone(handover.clone()));
                Lone {
                    fanout: self.clone(),
                    key,
                    handover,
                    responses: Some(responses(prepared, Position::default())),
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

    /// Asks the lone execution of `handover` to go to a new group, whose first member is its
    /// subscriber; that group, as newcomers find it.
    fn hand_over(&self, handover: &Handover) -> Running {
        let relay = Relay::new(self.buffer);
        let results = relay.shared();
        let members = Arc::new(Members::default());
        let first = Member::join(members.clone(), &self.events);
        let receiver = results.subscribe().expect("a new relay is open");
        let mut asked = lock(&handover.0);
        asked.to = Some(Destination {
            relay,
            members: members.clone(),
            first,
            receiver,
        });
        if let Some(waker) = asked.waker.take() {
            waker.wake();
        }
        Running::Group { results, members }
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
    stream::unfold(Some((member, receiver, false)), |state| async move {
        let (member, mut receiver, got) = state?;
        match receiver.recv().await {
            Recv::Item(result) => Some((Delivery::Result(result), Some((member, receiver, true)))),
            Recv::Closed if got => Some((Delivery::End, None)),
            Recv::Closed | Recv::Lagged => Some((Delivery::Lost, None)),
        }
    })
    .boxed()
}

/// The results of a lone execution for its one subscriber, then the end; once the execution is
/// handed over to a group, the subscriber's share of the group's results.
struct Lone {
    fanout: Arc<Fanout>,
    key: Arc<Key>,
    handover: Arc<Handover>,
    /// The execution, until it ends or is handed over.
    responses: Option<BoxStream<'static, Arc<Rendered>>>,
    /// The share of the group, once it is handed over.
    then: Option<Results>,
}

impl Stream for Lone {
    type Item = Delivery;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        let this = &mut *self;
        if let Some(then) = &mut this.then {
            return then.poll_next_unpin(cx);
        }
        let Some(responses) = &mut this.responses else {
            return Poll::Ready(None);
        };
        // Locked for the whole turn of the execution, so that a hand-over is asked either
        // before it (the group sends its result to everyone) or after it (the result was this
        // subscriber's alone, for an event before the newcomer joined).
        let mut asked = lock(&this.handover.0);
        if let Some(to) = asked.to.take() {
            drop(asked);
            if let Some(responses) = this.responses.take() {
                let run =
                    this.fanout
                        .clone()
                        .run(this.key.clone(), to.relay, to.members, responses);
                tokio::spawn(run);
            }
            return this
                .then
                .insert(member_results(to.first, to.receiver))
                .poll_next_unpin(cx);
        }
        match responses.poll_next_unpin(cx) {
            Poll::Ready(Some(result)) => Poll::Ready(Some(Delivery::Result(result))),
            Poll::Ready(None) => {
                drop(asked);
                this.responses = None;
                Poll::Ready(Some(Delivery::End))
            }
            Poll::Pending => {
                if !asked
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    asked.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Lone {
    fn drop(&mut self) {
        {
            let mut running = lock(&self.fanout.running);
            if let Some(Running::Lone(handover)) = running.get(&self.key)
                && Arc::ptr_eq(handover, &self.handover)
            {
                // Never handed over: it ends with its subscriber.
                running.remove(&self.key);
                return;
            }
        }
        // Asked to go to a group, which its subscriber leaves before seeing it: the group goes
        // on without it. (An execution that ended goes nowhere: the group's relay, dropped here,
        // closes, and its members go on alone.)
        let to = lock(&self.handover.0).to.take();
        if let (Some(to), Some(responses)) = (to, self.responses.take())
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(self.fanout.clone().run(
                self.key.clone(),
                to.relay,
                to.members,
                responses,
            ));
        }
    }
}
