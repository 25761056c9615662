//! One websocket connection: the state machine of both protocols (see the parent module for the
//! rules), driven by one loop that waits on the socket, the operations' streams, the timers, the
//! changes of credentials and the shutdown.
//!
//! The connection keeps the credentials it was acknowledged with. When credentials change
//! anywhere (`auth::Authenticator::changes`, which ticks on every instance within the credentials
//! poll interval, at once on PostgreSQL) and when its token expires (a timer on the service's
//! clock), it authenticates them again, from memory: no longer valid, it closes with 4403 (the
//! legacy protocol gets its `connection_error` first); valid with another scope (role, tenants),
//! each running subscription starts again with the new principal from where the previous run
//! stood (`events::Position`), so events after the change are filtered — and their relations
//! read — with the new visibility, none lost and none repeated.

use std::{collections::HashMap, net::IpAddr, time::Duration};

use async_graphql::{Response, parser::types::OperationType};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chrono::{DateTime, Utc};
use futures_util::{
    SinkExt, StreamExt,
    stream::{self, BoxStream},
};
use serde_json::{Map, Value as Json, json};
use tokio::{
    sync::watch,
    time::{Instant, sleep_until, timeout},
};
use tokio_stream::StreamMap;

use super::{Protocol, close, truncate};
use crate::{
    admission::{Bucket, SocketSlot, role_label, take},
    auth::Principal,
    config::{RateLimit, RateSubject},
    error::Error,
    events::Position,
    graphql::{
        compat::{
            Door,
            params::Params,
            prepare::{Prepared, prepare},
            render,
        },
        error::codes,
    },
    http::{Credentials, codes as edge_codes, request_id},
    telemetry::names,
};

/// What to do after a message.
enum Flow {
    Continue,
    Close(u16, String),
    /// The peer is gone (or dead): drop the connection without a close handshake.
    Drop,
}

/// The stream of one operation; `None` marks its end.
type Results = BoxStream<'static, Option<Response>>;

struct Operation {
    subscription: bool,
    responded: bool,
    /// How to start a subscription again after its principal's scope changed.
    resume: Option<Resume>,
}

/// A subscription's parameters and where it stands.
struct Resume {
    params: Params,
    position: Position,
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
    pub(super) async fn run(mut self) {
        let settings = self.door.app.config.subscriptions.clone();
        let shutdown = self.door.app.shutdown.token().clone();
        let clock = self.door.app.clock.clone();
        let init_deadline = Instant::now() + settings.ws_init_timeout;
        let mut next_ping = Instant::now() + settings.ws_ping_interval;
        // Set by a ping when none is outstanding; cleared by anything the peer sends.
        let mut pong_deadline: Option<Instant> = None;
        let flow = loop {
            let dead_at = pong_deadline;
            let expires = self.principal.as_ref().and_then(Principal::expires);
            let flow = tokio::select! {
                () = shutdown.cancelled() => {
                    Flow::Close(close::GOING_AWAY, "the server is shutting down".to_owned())
                }
                () = sleep_until(init_deadline), if self.principal.is_none() => Flow::Close(
                    close::INIT_TIMEOUT,
                    "Connection initialisation timeout".to_owned(),
                ),
                () = sleep_until(dead_at.unwrap_or(next_ping)), if dead_at.is_some() => {
                    tracing::debug!("dropping a websocket peer that stopped answering pings");
                    Flow::Drop
                }
                () = sleep_until(next_ping) => {
                    let now = Instant::now();
                    next_ping = now + settings.ws_ping_interval;
                    pong_deadline.get_or_insert(now + settings.ws_pong_timeout);
                    self.ping().await
                }
                frame = self.socket.next() => match frame {
                    Some(Ok(message)) => {
                        pong_deadline = None;
                        self.on_message(message).await
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
                Some((id, result)) = self.results.next() => self.on_result(id, result).await,
                changed = changed(self.changes.as_mut()) => {
                    if changed {
                        self.recheck().await
                    } else {
                        self.changes = None;
                        Flow::Continue
                    }
                }
                () = clock.sleep_until(expires.unwrap_or(DateTime::<Utc>::MIN_UTC)),
                    if expires.is_some() => self.recheck().await,
            };
            match flow {
                Flow::Continue => {}
                other => break other,
            }
        };
        if let Flow::Close(code, reason) = flow {
            self.close(code, &reason).await;
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

    async fn on_init(&mut self, payload: Option<&Json>) -> Flow {
        if self.init_received {
            return Flow::Close(
                close::TOO_MANY_INITS,
                "Too many initialisation requests".to_owned(),
            );
        }
        self.init_received = true;
        let empty = Map::new();
        let payload = match payload {
            None | Some(Json::Null) => &empty,
            Some(Json::Object(payload)) => payload,
            Some(_) => {
                return self
                    .malformed("the `connection_init` payload must be an object")
                    .await;
            }
        };
        let credentials = match payload
            .get("authorization")
            .or_else(|| payload.get("Authorization"))
        {
            Some(Json::String(value)) => Credentials::new(Some(value.clone())),
            None | Some(Json::Null) => self.header_credentials.clone(),
            Some(_) => return self.forbidden(&Error::Unauthenticated).await,
        };
        // Watch before authenticating: a change applied in between is not missed.
        let changes = self.door.app.auth.changes();
        let authenticated = credentials.authenticate(&self.door.app).await;
        match authenticated {
            Ok(principal) => {
                let admission = &self.door.app.admission;
                if let Some(slot) = self.slot.as_mut()
                    && !admission.claim(slot, &principal, self.address)
                {
                    refused("sockets_per_principal");
                    return Flow::Close(
                        close::POLICY_VIOLATION,
                        "too many websockets open for these credentials".to_owned(),
                    );
                }
                if let Principal::User(_) = principal {
                    self.credentials = Some(credentials);
                    self.changes = Some(changes);
                }
                self.principal = Some(principal);
                match self.send_json(json!({"type": "connection_ack"})).await {
                    Flow::Continue if self.protocol == Protocol::Legacy => {
                        self.send_json(json!({"type": "ka"})).await
                    }
                    flow => flow,
                }
            }
            Err(Error::Internal(detail) | Error::DatabaseUnavailable(detail)) => {
                tracing::error!(request_id = %request_id::new(), %detail, "internal error");
                Flow::Close(close::INTERNAL, "internal server error".to_owned())
            }
            Err(err) => self.forbidden(&err).await,
        }
    }

    async fn forbidden(&mut self, err: &Error) -> Flow {
        if self.protocol == Protocol::Legacy {
            let message =
                json!({"type": "connection_error", "payload": {"message": err.message()}});
            if let Flow::Drop = self.send_json(message).await {
                return Flow::Drop;
            }
        }
        Flow::Close(close::FORBIDDEN, "Forbidden".to_owned())
    }

    async fn on_subscribe(&mut self, message: &Map<String, Json>) -> Flow {
        let Some(id) = message
            .get("id")
            .and_then(Json::as_str)
            .filter(|id| !id.is_empty())
        else {
            return self
                .malformed("the operation needs a non-empty string `id`")
                .await;
        };
        let id = id.to_owned();
        let Some(Json::Object(payload)) = message.get("payload") else {
            return self
                .malformed("the operation needs a `payload` object")
                .await;
        };
        let params = match Params::from_json(payload.clone()) {
            Ok(params) => params,
            Err(reason) => return self.malformed(&reason).await,
        };
        let Some(principal) = self.principal.clone() else {
            return Flow::Close(close::UNAUTHORIZED, "Unauthorized".to_owned());
        };
        if self.operations.contains_key(&id) {
            return Flow::Close(
                close::SUBSCRIBER_EXISTS,
                format!("Subscriber for {id} already exists"),
            );
        }
        if let Some(message) = self.rate_limited(&principal) {
            let error = render::error(&message, edge_codes::RATE_LIMITED);
            return self.send_errors(&id, vec![error]).await;
        }
        let max = self.door.app.config.limits.max_subscriptions;
        if self.operations.len() >= max {
            let message =
                format!("this socket already runs {max} operations, the most allowed at once");
            let error = render::error(&message, codes::TOO_MANY_SUBSCRIPTIONS);
            return self.send_errors(&id, vec![error]).await;
        }
        let prepared = match prepare(&self.door, principal, params.clone()) {
            Ok(prepared) => prepared,
            Err(refusal) => {
                let error = render::error(&refusal.message, refusal.code);
                return self.send_errors(&id, vec![error]).await;
            }
        };
        let subscription = prepared.operation == Some(OperationType::Subscription);
        let position = Position::default();
        self.results
            .insert(id.clone(), execute(prepared, position.clone()));
        self.operations.insert(
            id,
            Operation {
                subscription,
                responded: false,
                resume: subscription.then_some(Resume { params, position }),
            },
        );
        Flow::Continue
    }

    /// Why a new operation may not start now: the socket started too many this second, or the
    /// principal's rate limit is spent.
    fn rate_limited(&mut self, principal: &Principal) -> Option<String> {
        let now = self.door.app.clock.now();
        let (bucket, limit) = &mut self.started;
        let socket = take(bucket, limit, now);
        if !socket.allowed {
            refused("operation_rate");
            return Some(format!(
                "this socket starts at most {} operations per second; retry after {} s",
                socket.quota, socket.retry_after
            ));
        }
        let verdict = self.door.app.admission.rate(principal, self.address)?;
        (!verdict.allowed).then(|| {
            metrics::counter!(names::RATE_LIMITED, "door" => "websocket", "role" => role_label(principal))
                .increment(1);
            format!(
                "rate limit exceeded ({} operations, refilled over {} s); retry after {} s",
                verdict.quota, verdict.window, verdict.retry_after
            )
        })
    }

    /// Authenticates the connection's credentials again (they changed somewhere, or the token
    /// expired): refused, the socket closes with 4403; with another scope, the subscriptions
    /// start again under it. When the database cannot answer, the socket keeps what it has and
    /// is checked at the next change.
    async fn recheck(&mut self) -> Flow {
        if let Some(changes) = self.changes.as_mut() {
            changes.borrow_and_update();
        }
        let Some(credentials) = self.credentials.clone() else {
            return Flow::Continue;
        };
        match credentials.authenticate(&self.door.app).await {
            Ok(principal) => {
                let rescoped = self
                    .principal
                    .as_ref()
                    .is_none_or(|current| current.scope() != principal.scope());
                self.principal = Some(principal);
                if rescoped {
                    return self.restart_subscriptions().await;
                }
                Flow::Continue
            }
            Err(Error::Unauthenticated) => self.forbidden(&Error::Unauthenticated).await,
            Err(_) => {
                tracing::warn!("cannot check a websocket's credentials again; keeping them");
                Flow::Continue
            }
        }
    }

    /// Starts every running subscription again with the current principal, each from where it
    /// stood: no event is lost or repeated, and those after the change are read with the new
    /// scope.
    async fn restart_subscriptions(&mut self) -> Flow {
        let Some(principal) = self.principal.clone() else {
            return Flow::Continue;
        };
        let mut refused = Vec::new();
        for (id, operation) in &self.operations {
            let Some(resume) = &operation.resume else {
                continue;
            };
            match prepare(&self.door, principal.clone(), resume.params.clone()) {
                Ok(prepared) => {
                    let results = execute(prepared, resume.position.clone());
                    self.results.insert(id.clone(), results);
                }
                Err(refusal) => refused.push((id.clone(), refusal)),
            }
        }
        for (id, refusal) in refused {
            // Not restarted, so not kept running with the old scope either.
            self.results.remove(&id);
            self.operations.remove(&id);
            let error = render::error(&refusal.message, refusal.code);
            if let Flow::Drop = self.send_errors(&id, vec![error]).await {
                return Flow::Drop;
            }
        }
        Flow::Continue
    }

    async fn on_complete(&mut self, message: &Map<String, Json>) -> Flow {
        let Some(id) = message.get("id").and_then(Json::as_str) else {
            return self.malformed("`complete` needs a string `id`").await;
        };
        // Unknown ids (operations that already ended) are ignored, as the protocol allows.
        if self.operations.remove(id).is_none() {
            return Flow::Continue;
        }
        self.results.remove(id);
        if self.protocol == Protocol::Legacy {
            return self.send_json(json!({"type": "complete", "id": id})).await;
        }
        Flow::Continue
    }

    async fn on_result(&mut self, id: String, result: Option<Response>) -> Flow {
        if self
            .changes
            .as_ref()
            .is_some_and(|changes| changes.has_changed().unwrap_or(false))
        {
            // Credentials changed before this result was delivered: apply that first. A
            // subscription started again under another scope replays the result if it may still
            // see it (its position has not passed it), so this one, read with the old scope, goes.
            let scope = self.principal.as_ref().map(Principal::scope);
            let flow = self.recheck().await;
            if !matches!(flow, Flow::Continue) {
                return flow;
            }
            let rescoped = self.principal.as_ref().map(Principal::scope) != scope;
            if rescoped
                && self
                    .operations
                    .get(&id)
                    .is_some_and(|operation| operation.resume.is_some())
            {
                return Flow::Continue;
            }
        }
        let Some(mut response) = result else {
            self.results.remove(&id);
            if self.operations.remove(&id).is_none() {
                return Flow::Continue;
            }
            return self.send_json(json!({"type": "complete", "id": id})).await;
        };
        if !response.errors.is_empty() {
            let request_id = request_id::new();
            for err in &mut response.errors {
                render::sanitize(err, &request_id);
            }
        }
        let Some(operation) = self.operations.get_mut(&id) else {
            return Flow::Continue;
        };
        let first = !operation.responded;
        operation.responded = true;
        // A request error (nothing executed), or a subscription whose source stream could not be
        // created (its first result has no data), ends the operation with `error`. A field error
        // in a later event is a normal result with `errors`.
        let failed = response.data == async_graphql::Value::Null
            && !response.errors.is_empty()
            && (response.errors.iter().all(|e| e.path.is_empty())
                || (first && operation.subscription));
        if failed {
            self.results.remove(&id);
            self.operations.remove(&id);
            let errors = response
                .errors
                .iter()
                .map(|e| serde_json::to_value(e).unwrap_or(Json::Null))
                .collect();
            return self.send_errors(&id, errors).await;
        }
        let mut payload = Map::new();
        payload.insert(
            "data".to_owned(),
            serde_json::to_value(&response.data).unwrap_or(Json::Null),
        );
        if !response.errors.is_empty() {
            payload.insert(
                "errors".to_owned(),
                serde_json::to_value(&response.errors).unwrap_or(Json::Null),
            );
        }
        let kind = match self.protocol {
            Protocol::TransportWs => "next",
            Protocol::Legacy => "data",
        };
        self.send_json(json!({"type": kind, "id": id, "payload": payload}))
            .await
    }

    /// Ends operation `id` with `errors`: a list under graphql-transport-ws, the first error under
    /// the legacy protocol (its `payload: Error`).
    async fn send_errors(&mut self, id: &str, mut errors: Vec<Json>) -> Flow {
        let payload = match self.protocol {
            Protocol::TransportWs => Json::Array(errors),
            Protocol::Legacy => errors.drain(..).next().unwrap_or(Json::Null),
        };
        self.send_json(json!({"type": "error", "id": id, "payload": payload}))
            .await
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
        match self.send(Message::Text(message.to_string().into())).await {
            Ok(()) => Flow::Continue,
            Err(()) => Flow::Drop,
        }
    }

    /// Sends one frame; a peer that does not take it in time is gone.
    async fn send(&mut self, message: Message) -> Result<(), ()> {
        match timeout(self.write_timeout, self.socket.send(message)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        }
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

/// The results of a prepared operation, then `None`; a subscription follows `position`.
fn execute(prepared: Prepared, position: Position) -> Results {
    prepared
        .schema
        .execute_stream(prepared.request.data(position))
        .map(Some)
        .chain(stream::once(async { None }))
        .boxed()
}

/// Whether a read failed because the message is over the size limit (tungstenite refuses it
/// from the frame's header, before reading its payload).
fn too_big(err: &axum::Error) -> bool {
    matches!(
        std::error::Error::source(err).and_then(|inner| inner.downcast_ref::<tungstenite::Error>()),
        Some(tungstenite::Error::Capacity(_))
    )
}

/// Whether credentials changed (false: they never will again); pending without a watch.
async fn changed(changes: Option<&mut watch::Receiver<i64>>) -> bool {
    match changes {
        Some(changes) => changes.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

/// Counts a refusal of the websocket's limits (`reason`, see [`names::WEBSOCKET_REFUSALS`]).
fn refused(reason: &'static str) {
    metrics::counter!(names::WEBSOCKET_REFUSALS, "reason" => reason).increment(1);
}
