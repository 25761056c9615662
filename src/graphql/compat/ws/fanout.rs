//! Subscriptions shared by their subscribers: one execution, and one rendering of each result,
//! for every websocket operation asking the same thing with the same visibility.
//!
//! Which operations: those `subscriptions::from_now` accepts (`buildStatusChanged` without
//! `afterEventId`), whose results depend on nothing but the document, the operation name, the
//! variables and the principal's visibility (`Scope::visibility`) — the [`Key`] of a group. The
//! first subscriber starts the group's execution in a task of its own, under its principal;
//! later ones join it. Each result is rendered once ([`Rendered`]) and reaches every member
//! through a relay (`ws::relay`) that holds what some member has not received yet, at most
//! `--event-buffer` results; a member only writes its operation id around it. So an event costs
//! one resolution and one serialization per visibility, however many subscribers follow it.
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
//! The group ends when its last member leaves (its execution, and the hub's stream, are
//! dropped), or when its execution ends (its members then get the end after the last result).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_graphql::Request;
use futures_util::{StreamExt, stream};

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

/// What the members of one group have in common.
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

/// The groups running now.
pub struct Fanout {
    groups: Mutex<HashMap<Arc<Key>, Group>>,
    events: Events,
    buffer: usize,
}

/// A running group, as joiners find it: the relay of its results (the execution's task holds
/// its sending side: once it ends, its members get the end), and its members.
struct Group {
    results: Arc<Shared<Arc<Rendered>>>,
    members: Arc<Members>,
}

/// How many members a group has, and the hub's count of all but the first (the hub counts the
/// first through the group's own stream).
#[derive(Default)]
struct Members(Mutex<(usize, Vec<Listening>)>);

impl Fanout {
    /// No group yet; each will hold `buffer` results for its members.
    pub fn new(events: Events, buffer: usize) -> Fanout {
        Fanout {
            groups: Mutex::new(HashMap::new()),
            events,
            buffer: buffer.max(1),
        }
    }

    /// A member of the group of `key`, which starts with `prepared` if it is not running; its
    /// results start with the next one the group sends. `position` is set to the hub's head
    /// (where a subscription of its own would start) and must follow the results delivered.
    pub(super) fn join(
        self: &Arc<Self>,
        key: Key,
        prepared: Prepared,
        position: &Position,
    ) -> Results {
        let (receiver, members) = {
            let mut groups = lock(&self.groups);
            let running = groups.get(&key).and_then(|group| {
                let receiver = group.results.subscribe()?;
                Some((receiver, group.members.clone()))
            });
            match running {
                Some(joined) => joined,
                None => {
                    let results = Relay::new(self.buffer);
                    let receiver = results.shared().subscribe().expect("a new relay is open");
                    let members = Arc::new(Members::default());
                    let key = Arc::new(key);
                    let group = Group {
                        results: results.shared(),
                        members: members.clone(),
                    };
                    groups.insert(key.clone(), group);
                    let run = self.clone().run(key, results, members.clone(), prepared);
                    tokio::spawn(run);
                    (receiver, members)
                }
            }
        };
        // Read after subscribing: every event after the head reaches the receiver.
        position.advance(self.events.head());
        let member = Member::join(members, &self.events);
        member_results(member, receiver)
    }

    /// Runs the execution of the group of `key` and sends its results until it ends or has no
    /// member left.
    async fn run(
        self: Arc<Self>,
        key: Arc<Key>,
        results: Relay<Arc<Rendered>>,
        members: Arc<Members>,
        prepared: Prepared,
    ) {
        let _running = Live::track(names::SHARED_SUBSCRIPTIONS);
        let mut responses = responses(prepared, Position::default());
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
        let mut groups = lock(&self.groups);
        if results.is_some_and(|results| results.receivers() > 0) {
            // Someone joined meanwhile.
            return false;
        }
        if groups
            .get(key)
            .is_some_and(|group| Arc::ptr_eq(&group.members, members))
        {
            groups.remove(key);
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
