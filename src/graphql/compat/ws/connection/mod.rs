//! One websocket connection: the state machine of both protocols (see the parent module for the
//! rules), driven by one loop that waits on the socket, the operations' streams, the timers, the
//! changes of credentials and the shutdown.
//!
//! The credentials are checked again in `credentials.rs`; the operations a socket runs, and
//! their results, are in `operations.rs`.

mod credentials;
mod operations;

use std::{
    collections::HashMap,
    future::{Future, poll_fn},
    net::IpAddr,
    pin::{Pin, pin},
    task::Poll,
    time::Duration,
};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chrono::{DateTime, Utc};
use futures_util::{SinkExt, Stream, StreamExt};
use serde_json::{Value as Json, json};
use tokio::{
    sync::watch,
    time::{Instant, sleep_until, timeout},
};
use tokio_stream::StreamMap;

use self::{credentials::next_change, operations::Operation};
use super::{Protocol, close, results::Results, truncate};
use crate::{
    admission::{Bucket, SocketSlot},
    auth::Principal,
    config::{RateLimit, RateSubject},
    graphql::compat::Door,
    http::Credentials,
    telemetry::names,
};

/// What to do after a message.
enum Flow {
    Continue,
    Close(u16, String),
    /// The peer is gone (or dead): drop the connection without a close handshake.
    Drop,
}

/// One socket and what runs on it.
pub(super) struct Connection {
    door: Door,
    socket: WebSocket,
    protocol: Protocol,
    header_credentials: Credentials,
    init_received: bool,
    principal: Option<Principal>,
    /// The credentials `principal` was authenticated with (a user's token), checked again on
    /// every change of credentials and at the token's expiry.
    credentials: Option<Credentials>,
    /// Ticks on every change of credentials applied by this instance.
    changes: Option<watch::Receiver<i64>>,
    results: StreamMap<String, Results>,
    operations: HashMap<String, Operation>,
    write_timeout: Duration,
    /// This socket among the open ones (and its principal's), until it is dropped.
    slot: Option<SocketSlot>,
    /// The client's address (the key of an anonymous reader's limits).
    address: Option<IpAddr>,
    /// Operations started per second on this socket.
    started: (Bucket, RateLimit),
}

impl Connection {
    /// A connection on `socket`; `header_credentials` are the upgrade request's.
    pub(super) fn new(
        door: Door,
        socket: WebSocket,
        protocol: Protocol,
        header_credentials: Credentials,
    ) -> Self {
        let settings = &door.app.config.subscriptions;
        let write_timeout = settings.ws_ping_interval + settings.ws_pong_timeout;
        let per_second = f64::from(door.app.config.overload.ws_operations_per_second);
        // A client may (re)start every subscription it is allowed at once, after a reconnection.
        let most = door.app.config.limits.max_subscriptions as f64 + 1.0;
        let limit = RateLimit {
            subject: RateSubject::Others,
            per_second,
            burst: per_second.max(most),
        };
        let started = (Bucket::full(&limit, door.app.clock.now()), limit);
        Connection {
            slot: None,
            address: None,
            started,
            door,
            socket,
            protocol,
            header_credentials,
            init_received: false,
            principal: None,
            credentials: None,
            changes: None,
            results: StreamMap::new(),
            operations: HashMap::new(),
            write_timeout,
        }
    }

    /// Counts the connection in `slot`; `address` is the client's.
    pub(super) fn with_slot(mut self, slot: SocketSlot, address: Option<IpAddr>) -> Self {
        self.slot = Some(slot);
        self.address = address;
        self
    }

    /// Serves the socket until it closes.
    ///
    /// Every socket's task holds this loop's future for as long as the socket is open, and an
    /// `async fn`'s future is as large as the largest future it awaits. The handlers of messages,
    /// results and re-checks (which authenticate, prepare and render) are therefore boxed while
    /// they run, so that an idle socket holds only the wait below, not the largest of them.
    ///
    /// The waits (the shutdown, the timers, the next change of credentials) live across the
    /// loop's turns: made again at every turn, each registered with the timer wheel or with its
    /// notifier's list (one lock shared by every socket) when polled, and left it when dropped —
    /// twice per event delivered to each of 10,000 subscribers.
    pub(super) async fn run(mut self) {
        let settings = self.door.app.config.subscriptions.clone();
        let shutdown = self.door.app.shutdown.token().clone();
        let clock = self.door.app.clock.clone();
        let mut shutting_down = pin!(shutdown.cancelled());
        let mut init_timeout = pin!(sleep_until(Instant::now() + settings.ws_init_timeout));
        let mut ping_due = pin!(sleep_until(Instant::now() + settings.ws_ping_interval));
        // Armed by a ping when none is outstanding; disarmed by anything the peer sends.
        let mut pong_timeout = pin!(sleep_until(Instant::now() + settings.ws_pong_timeout));
        let mut awaiting_pong = false;
        let mut change: Option<Pin<Box<dyn Future<Output = bool> + Send>>> = None;
        // The token's expiry, and the wait for it.
        let mut expiry_at: Option<DateTime<Utc>> = None;
        let mut expiry: Option<Pin<Box<dyn Future<Output = ()> + Send + '_>>> = None;
        let mut in_a_row = 0;
        let flow = loop {
            if change.is_none()
                && let Some(changes) = &self.changes
            {
                change = Some(Box::pin(next_change(changes.clone())));
            }
            let expires = self.principal.as_ref().and_then(Principal::expires);
            if expires != expiry_at {
                expiry_at = expires;
                expiry = expires.map(|at| Box::pin(clock.sleep_until(at)) as Pin<Box<_>>);
            }
            // Results first, and the first branch ready wins: a connection woken for a result (an
            // event fanned out to 10,000 sockets) delivers it without first polling its socket
            // (a read attempt), its timers and its watches; they are polled once it waits again,
            // or after `RESULTS_IN_A_ROW` results in a row (`fairly`), so that results that never
            // pause do not hold off a `complete`, a revocation, an expiry or the shutdown.
            let flow = tokio::select! {
                biased;
                Some((id, result)) = fairly(&mut self.results, &mut in_a_row) => {
                    Box::pin(self.on_result(id, result)).await
                }
                () = shutting_down.as_mut() => {
                    Flow::Close(close::GOING_AWAY, "the server is shutting down".to_owned())
                }
                () = init_timeout.as_mut(), if self.principal.is_none() => Flow::Close(
                    close::INIT_TIMEOUT,
                    "Connection initialisation timeout".to_owned(),
                ),
                () = pong_timeout.as_mut(), if awaiting_pong => {
                    tracing::debug!("dropping a websocket peer that stopped answering pings");
                    Flow::Drop
                }
                () = ping_due.as_mut() => {
                    let now = Instant::now();
                    ping_due.as_mut().reset(now + settings.ws_ping_interval);
                    if !awaiting_pong {
                        pong_timeout.as_mut().reset(now + settings.ws_pong_timeout);
                        awaiting_pong = true;
                    }
                    Box::pin(self.ping()).await
                }
                frame = self.socket.next() => match frame {
                    Some(Ok(message)) => {
                        awaiting_pong = false;
                        Box::pin(self.on_message(message)).await
                    }
                    Some(Err(err)) if too_big(&err) => {
                        refused("message_too_big");
                        Flow::Close(
                            close::MESSAGE_TOO_BIG,
                            "the message is larger than the limit".to_owned(),
                        )
                    }
                    Some(Err(_)) | None => Flow::Drop,
                },
                changed = waiting_for(&mut change) => {
                    change = None;
                    if !changed {
                        self.changes = None;
                        Flow::Continue
                    } else if self.credentials_changed() {
                        Box::pin(self.recheck()).await
                    } else {
                        // Already applied (a result found the change first).
                        Flow::Continue
                    }
                }
                () = waiting_for(&mut expiry) => {
                    (expiry, expiry_at) = (None, None);
                    Box::pin(self.recheck()).await
                }
            };
            match flow {
                Flow::Continue => {}
                other => break other,
            }
        };
        if let Flow::Close(code, reason) = flow {
            Box::pin(self.close(code, &reason)).await;
        }
    }

    async fn ping(&mut self) -> Flow {
        if self.send(Message::Ping(Default::default())).await.is_err() {
            return Flow::Drop;
        }
        if self.protocol == Protocol::Legacy && self.principal.is_some() {
            return self.send_json(json!({"type": "ka"})).await;
        }
        Flow::Continue
    }

    async fn on_message(&mut self, message: Message) -> Flow {
        let text = match message {
            Message::Text(text) => text.as_str().to_owned(),
            Message::Binary(bytes) => match String::from_utf8(bytes.to_vec()) {
                Ok(text) => text,
                Err(_) => return self.malformed("the message is not UTF-8 text").await,
            },
            // The peer's pings are answered by the WebSocket layer; pongs only prove it alive.
            Message::Ping(_) | Message::Pong(_) => return Flow::Continue,
            // The WebSocket layer queues the answer to the close frame; flush it and end.
            Message::Close(_) => {
                let _ = timeout(self.write_timeout, self.socket.flush()).await;
                return Flow::Drop;
            }
        };
        let Ok(Json::Object(message)) = serde_json::from_str::<Json>(&text) else {
            return self.malformed("the message is not a JSON object").await;
        };
        let Some(kind) = message.get("type").and_then(Json::as_str) else {
            return self.malformed("the message has no `type`").await;
        };
        match (self.protocol, kind) {
            (_, "connection_init") => self.on_init(message.get("payload")).await,
            (Protocol::TransportWs, "ping") => self.send_json(json!({"type": "pong"})).await,
            (Protocol::TransportWs, "pong") => Flow::Continue,
            (Protocol::TransportWs, "subscribe") | (Protocol::Legacy, "start") => {
                self.on_subscribe(&message).await
            }
            (Protocol::TransportWs, "complete") | (Protocol::Legacy, "stop") => {
                self.on_complete(&message).await
            }
            (Protocol::Legacy, "connection_terminate") => Flow::Close(close::NORMAL, String::new()),
            (_, other) => {
                let reason = format!("unknown message type `{other}`");
                self.malformed(&reason).await
            }
        }
    }

    async fn malformed(&mut self, reason: &str) -> Flow {
        match self.protocol {
            Protocol::TransportWs => Flow::Close(close::BAD_REQUEST, reason.to_owned()),
            Protocol::Legacy => {
                self.send_json(json!({"type": "connection_error", "payload": {"message": reason}}))
                    .await
            }
        }
    }

    async fn send_json(&mut self, message: Json) -> Flow {
        self.send_text(message.to_string()).await
    }

    async fn send_text(&mut self, message: String) -> Flow {
        match self.send(Message::Text(message.into())).await {
            Ok(()) => Flow::Continue,
            Err(()) => Flow::Drop,
        }
    }

    /// Sends one frame; a peer that does not take it in time is gone.
    async fn send(&mut self, message: Message) -> Result<(), ()> {
        let write_timeout = self.write_timeout;
        let mut send = pin!(self.socket.send(message));
        // Most frames are written at once: the timer is armed only for one that has to wait.
        let sent = match poll_fn(|cx| Poll::Ready(send.as_mut().poll(cx))).await {
            Poll::Ready(sent) => sent,
            Poll::Pending => match timeout(write_timeout, send).await {
                Ok(sent) => sent,
                Err(_) => return Err(()),
            },
        };
        sent.map_err(drop)
    }

    /// Sends a close frame and waits briefly for the peer's, so that the handshake completes.
    pub(super) async fn close(&mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code,
            reason: truncate(reason, 123).into(),
        };
        if self.send(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        let _ = timeout(Duration::from_secs(1), async {
            while let Some(Ok(message)) = self.socket.next().await {
                if let Message::Close(_) = message {
                    break;
                }
            }
        })
        .await;
    }
}

/// Whether a read failed because the message is over the size limit (tungstenite refuses it
/// from the frame's header, before reading its payload).
fn too_big(err: &axum::Error) -> bool {
    matches!(
        std::error::Error::source(err).and_then(|inner| inner.downcast_ref::<tungstenite::Error>()),
        Some(tungstenite::Error::Capacity(_))
    )
}

/// Counts a refusal of the websocket's limits (`reason`, see [`names::WEBSOCKET_REFUSALS`]).
pub(super) fn refused(reason: &'static str) {
    metrics::counter!(names::WEBSOCKET_REFUSALS, "reason" => reason).increment(1);
}

/// Waits for the future in `slot`, if any (pending forever without one). The future stays in
/// its slot while it waits, so that a wait made once survives the turns of the loop; whoever
/// gets its output empties the slot.
async fn waiting_for<F: Future + Unpin>(slot: &mut Option<F>) -> F::Output {
    match slot.as_mut() {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

/// Results a connection delivers in a row before it polls its socket, timers and watches.
const RESULTS_IN_A_ROW: u32 = 16;

/// The next of `results`, except that after [`RESULTS_IN_A_ROW`] results in a row (counted in
/// `in_a_row`) it is not ready for one poll — the task is woken again at once — so that the
/// branches after it get their turn.
fn fairly<'a, S: Stream + Unpin>(
    results: &'a mut S,
    in_a_row: &'a mut u32,
) -> impl Future<Output = Option<S::Item>> + 'a {
    poll_fn(move |cx| {
        if *in_a_row >= RESULTS_IN_A_ROW {
            *in_a_row = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let next = results.poll_next_unpin(cx);
        *in_a_row = match next {
            Poll::Ready(Some(_)) => *in_a_row + 1,
            _ => 0,
        };
        next
    })
}

#[cfg(test)]
mod tests {
    use std::{pin::pin, task::Poll};

    use futures_util::{FutureExt, stream};

    use super::{RESULTS_IN_A_ROW, fairly};

    /// Results that never pause give way once after `RESULTS_IN_A_ROW` in a row, and the task is
    /// woken again for the next.
    #[test]
    fn results_that_never_pause_give_way_after_a_row() {
        let mut results = stream::iter(0..100u32);
        let mut in_a_row = 0;
        let waker = futures_util::task::noop_waker_ref();
        let mut cx = std::task::Context::from_waker(waker);
        let mut delivered = Vec::new();
        let mut gave_way = 0;
        while delivered.len() < 40 {
            match pin!(fairly(&mut results, &mut in_a_row)).poll_unpin(&mut cx) {
                Poll::Ready(Some(n)) => delivered.push(n),
                Poll::Ready(None) => break,
                Poll::Pending => {
                    assert_eq!(delivered.len() % RESULTS_IN_A_ROW as usize, 0);
                    gave_way += 1;
                }
            }
        }
        assert_eq!(
            delivered,
            (0..40).collect::<Vec<_>>(),
            "none lost, in order"
        );
        assert_eq!(gave_way, 40 / RESULTS_IN_A_ROW as usize);
    }
}
