//! GraphQL over WebSocket on `/graphql` (SPEC §3.3), chosen by `Sec-WebSocket-Protocol`:
//! `graphql-transport-ws` (the graphql-ws protocol) and the legacy `graphql-ws`
//! (subscriptions-transport-ws).
//!
//! Both protocols get the same rules, closing the socket with:
//! - 4406 when the client offers neither protocol;
//! - 4408 when `connection_init` does not arrive within `--ws-init-timeout`;
//! - 4429 on a second `connection_init`;
//! - 4403 when the credentials (the `authorization` key of the init payload, else the upgrade
//!   request's `Authorization` header) are missing or bad — the legacy protocol first gets the
//!   `connection_error` it expects;
//! - 4401 on a subscription before the connection was acknowledged;
//! - 4409 on a subscription id that is already active;
//! - 4400 on a malformed message — except on the legacy protocol, whose specification answers
//!   those with `connection_error` and keeps the socket;
//! - 1001 when the server shuts down.
//!
//! A socket runs at most `--max-subscriptions` operations at once; one more gets an error
//! message for its id (`TOO_MANY_SUBSCRIPTIONS`) and the socket stays open. The server sends a
//! WebSocket ping every `--ws-ping-interval` (and the legacy `ka` keep-alive), and drops a peer
//! that sends nothing for `--ws-pong-timeout` after a ping. Each operation goes through the
//! checks of the HTTP handler (parse, variable coercion) and runs with the principal's
//! [`RequestCtx`]; its errors carry `extensions.code`, internal ones only a `requestId`.

use std::{collections::HashMap, time::Duration};

use async_graphql::{Response, parser::types::OperationType};
use axum::{
    extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
    http::{HeaderMap, header},
    response::Response as HttpResponse,
};
use futures_util::{
    SinkExt, StreamExt,
    stream::{self, BoxStream},
};
use serde_json::{Map, Value as Json, json};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_stream::StreamMap;

use super::{
    graphql::{request_id, sanitize},
    prepare::prepare,
};
use crate::{
    app::App,
    auth::{self, Principal},
    error::Error,
};

/// The graphql-ws protocol.
pub const TRANSPORT_WS: &str = "graphql-transport-ws";
/// The legacy subscriptions-transport-ws protocol.
pub const LEGACY_WS: &str = "graphql-ws";

/// The code of the error a subscription over the per-socket limit gets.
pub const TOO_MANY_SUBSCRIPTIONS: &str = "TOO_MANY_SUBSCRIPTIONS";

/// Close codes.
pub mod close {
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// The client ended the connection (legacy `connection_terminate`).
    pub const NORMAL: u16 = 1000;
    /// An internal error.
    pub const INTERNAL: u16 = 1011;
    /// A malformed message.
    pub const BAD_REQUEST: u16 = 4400;
    /// A subscription before the connection was acknowledged.
    pub const UNAUTHORIZED: u16 = 4401;
    /// Missing or bad credentials.
    pub const FORBIDDEN: u16 = 4403;
    /// Neither protocol was offered.
    pub const SUBPROTOCOL_NOT_ACCEPTABLE: u16 = 4406;
    /// No `connection_init` in time.
    pub const INIT_TIMEOUT: u16 = 4408;
    /// A subscription id already in use.
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    /// A second `connection_init`.
    pub const TOO_MANY_INITS: u16 = 4429;
}

/// Answers a WebSocket upgrade of `/graphql`.
pub fn upgrade(app: App, upgrade: WebSocketUpgrade, headers: &HeaderMap) -> HttpResponse {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let upgrade = upgrade
        .protocols([TRANSPORT_WS, LEGACY_WS])
        .max_message_size(app.config.limits.body_limit);
    let protocol = match upgrade.selected_protocol().map(|p| p.as_bytes()) {
        Some(p) if p == TRANSPORT_WS.as_bytes() => Some(Protocol::TransportWs),
        Some(p) if p == LEGACY_WS.as_bytes() => Some(Protocol::Legacy),
        _ => None,
    };
    let shutdown = app.shutdown.clone();
    upgrade.on_upgrade(move |socket| {
        shutdown.track(async move {
            let Some(protocol) = protocol else {
                let mut connection = Connection::new(app, socket, Protocol::TransportWs, None);
                let reason = "Subprotocol not acceptable: use graphql-transport-ws or graphql-ws";
                connection
                    .close(close::SUBPROTOCOL_NOT_ACCEPTABLE, reason)
                    .await;
                return;
            };
            Connection::new(app, socket, protocol, authorization)
                .run()
                .await;
        })
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    TransportWs,
    Legacy,
}

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
}

struct Connection {
    app: App,
    socket: WebSocket,
    protocol: Protocol,
    header_authorization: Option<String>,
    init_received: bool,
    principal: Option<Principal>,
    results: StreamMap<String, Results>,
    operations: HashMap<String, Operation>,
    write_timeout: Duration,
}

impl Connection {
    fn new(
        app: App,
        socket: WebSocket,
        protocol: Protocol,
        header_authorization: Option<String>,
    ) -> Self {
        let settings = &app.config.subscriptions;
        let write_timeout = settings.ws_ping_interval + settings.ws_pong_timeout;
        Connection {
            app,
            socket,
            protocol,
            header_authorization,
            init_received: false,
            principal: None,
            results: StreamMap::new(),
            operations: HashMap::new(),
            write_timeout,
        }
    }

    async fn run(mut self) {
        let settings = self.app.config.subscriptions.clone();
        let shutdown = self.app.shutdown.token().clone();
        let init_deadline = Instant::now() + settings.ws_init_timeout;
        let mut next_ping = Instant::now() + settings.ws_ping_interval;
        // Set by a ping when none is outstanding; cleared by anything the peer sends.
        let mut pong_deadline: Option<Instant> = None;
        let flow = loop {
            let dead_at = pong_deadline;
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
                    Some(Err(_)) | None => Flow::Drop,
                },
                Some((id, result)) = self.results.next() => self.on_result(id, result).await,
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
            Some(Json::String(value)) => Some(value.clone()),
            None | Some(Json::Null) => self.header_authorization.clone(),
            Some(_) => return self.forbidden(&Error::Unauthenticated).await,
        };
        let authenticated = auth::authenticate(
            &self.app.db,
            &self.app.clock,
            credentials.as_deref(),
            self.app.config.anonymous_read,
        )
        .await;
        match authenticated {
            Ok(principal) => {
                self.principal = Some(principal);
                match self.send_json(json!({"type": "connection_ack"})).await {
                    Flow::Continue if self.protocol == Protocol::Legacy => {
                        self.send_json(json!({"type": "ka"})).await
                    }
                    flow => flow,
                }
            }
            Err(Error::Internal(detail)) => {
                tracing::error!(request_id = %request_id(), %detail, "internal error");
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
        let params = match Params::of(message.get("payload")) {
            Ok(params) => params,
            Err(reason) => return self.malformed(reason).await,
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
        if self.operations.len() >= self.app.config.limits.max_subscriptions {
            let message = format!(
                "this socket already runs {} operations, the most allowed at once",
                self.app.config.limits.max_subscriptions
            );
            return self
                .send_errors(&id, vec![error(&message, TOO_MANY_SUBSCRIPTIONS)])
                .await;
        }
        let prepared = match prepare(
            &self.app,
            principal,
            params.query,
            params.operation_name,
            params.variables,
        ) {
            Ok(prepared) => prepared,
            Err(refusal) => {
                return self
                    .send_errors(&id, vec![error(&refusal.message, refusal.code)])
                    .await;
            }
        };
        let subscription = prepared.operation == Some(OperationType::Subscription);
        let results = prepared
            .schema
            .execute_stream(prepared.request)
            .map(Some)
            .chain(stream::once(async { None }))
            .boxed();
        self.results.insert(id.clone(), results);
        self.operations.insert(
            id,
            Operation {
                subscription,
                responded: false,
            },
        );
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
        let Some(mut response) = result else {
            self.results.remove(&id);
            if self.operations.remove(&id).is_none() {
                return Flow::Continue;
            }
            return self.send_json(json!({"type": "complete", "id": id})).await;
        };
        if !response.errors.is_empty() {
            let request_id = request_id();
            for err in &mut response.errors {
                sanitize(err, &request_id);
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
    async fn close(&mut self, code: u16, reason: &str) {
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

/// The payload of `subscribe` / `start`.
struct Params {
    query: String,
    operation_name: Option<String>,
    variables: Map<String, Json>,
}

impl Params {
    fn of(payload: Option<&Json>) -> Result<Params, &'static str> {
        let Some(Json::Object(payload)) = payload else {
            return Err("the operation needs a `payload` object");
        };
        let Some(Json::String(query)) = payload.get("query") else {
            return Err("the operation payload needs a string `query`");
        };
        let operation_name = match payload.get("operationName") {
            None | Some(Json::Null) => None,
            Some(Json::String(name)) => Some(name.clone()),
            Some(_) => return Err("`operationName` must be a string"),
        };
        let variables = match payload.get("variables") {
            None | Some(Json::Null) => Map::new(),
            Some(Json::Object(variables)) => variables.clone(),
            Some(_) => return Err("`variables` must be an object"),
        };
        match payload.get("extensions") {
            None | Some(Json::Null | Json::Object(_)) => {}
            Some(_) => return Err("`extensions` must be an object"),
        }
        Ok(Params {
            query: query.clone(),
            operation_name,
            variables,
        })
    }
}

/// A GraphQL error with a code, raised by this handler.
fn error(message: &str, code: &str) -> Json {
    json!({"message": message, "extensions": {"code": code}})
}

/// At most `max` bytes of `text`, cut at a character boundary (close reasons are limited).
fn truncate(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn close_reasons_are_cut_at_a_character_boundary() {
        assert_eq!(truncate("short", 123), "short");
        assert_eq!(truncate("ééé", 3), "é");
        assert_eq!(truncate(&"x".repeat(200), 123).len(), 123);
    }
}
