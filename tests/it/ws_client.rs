//! A websocket client for the subscription tests, speaking either protocol, and their common
//! fixtures.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

use crate::support::{Server, TestApp};

pub const TRANSPORT_WS: &str = "graphql-transport-ws";
pub const LEGACY_WS: &str = "graphql-ws";

/// The longest any expected message may take.
pub const WAIT: Duration = Duration::from_secs(10);

pub const SUBSCRIPTION: &str = "subscription($filter: BuildStatusFilter, $after: ID) {
  buildStatusChanged(filter: $filter, afterEventId: $after) {
    eventId previousStatus status at message actor { username }
    build { id status outputName definition { name } }
  }
}";

/// The upgrade request to the server's websocket, offering `protocol` (none when `None`), with
/// an optional `Authorization` header.
fn upgrade(
    server: &Server,
    protocol: Option<&'static str>,
    authorization: Option<&str>,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut request = server.ws_url().into_client_request().expect("a request");
    if let Some(protocol) = protocol {
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
    }
    if let Some(authorization) = authorization {
        request.headers_mut().insert(
            "Authorization",
            HeaderValue::from_str(authorization).expect("a header"),
        );
    }
    request
}

/// Asks for a graphql-transport-ws upgrade that the server must refuse; its HTTP response.
pub async fn refused_upgrade(
    server: &Server,
) -> tokio_tungstenite::tungstenite::http::Response<Option<Vec<u8>>> {
    let request = upgrade(server, Some(TRANSPORT_WS), None);
    match tokio::time::timeout(WAIT, connect_async(request)).await {
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => *response,
        Ok(other) => panic!(
            "expected a refusal, got {:?}",
            other.map(|(_, r)| r.status())
        ),
        Err(_) => panic!("no answer to the upgrade in time"),
    }
}

/// A websocket client speaking one of the two protocols.
pub struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    protocol: &'static str,
}

impl Client {
    /// Connects, offering `protocol` (none when `None`), with an optional `Authorization` header.
    pub async fn connect(
        server: &Server,
        protocol: Option<&'static str>,
        authorization: Option<&str>,
    ) -> Client {
        let request = upgrade(server, protocol, authorization);
        let (socket, response) = tokio::time::timeout(WAIT, connect_async(request))
            .await
            .expect("connect in time")
            .expect("the upgrade succeeds");
        if let Some(protocol) = protocol {
            assert_eq!(
                response.headers()["sec-websocket-protocol"],
                protocol,
                "the server picks the offered protocol"
            );
        }
        Client {
            socket,
            protocol: protocol.unwrap_or(TRANSPORT_WS),
        }
    }

    pub async fn send(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::text(text))
            .await
            .expect("send a message");
    }

    /// Writes raw bytes on the socket, under the WebSocket layer (a frame header announcing more
    /// than is ever sent, for instance).
    pub async fn write_raw(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        let MaybeTlsStream::Plain(stream) = self.socket.get_mut() else {
            panic!("the tests speak plain websockets");
        };
        stream.write_all(bytes).await.expect("write raw bytes");
    }

    /// The next frame, whatever it is (`None` when the connection ended).
    pub async fn frame(&mut self) -> Option<Message> {
        match tokio::time::timeout(WAIT, self.socket.next())
            .await
            .expect("a frame in time")
        {
            Some(Ok(message)) => Some(message),
            Some(Err(_)) | None => None,
        }
    }

    /// The next JSON message, skipping pings, pongs and legacy keep-alives.
    pub async fn recv(&mut self) -> Value {
        loop {
            match self.frame().await {
                Some(Message::Text(text)) => {
                    let message: Value = serde_json::from_str(&text).expect("JSON");
                    if message["type"] != "ka" {
                        return message;
                    }
                }
                Some(Message::Ping(_) | Message::Pong(_)) => {}
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// Waits for the server's close frame: (code, reason).
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            match self.frame().await {
                Some(Message::Close(Some(frame))) => {
                    // Let the client answer the close frame.
                    let _ = tokio::time::timeout(WAIT, self.socket.next()).await;
                    return (u16::from(frame.code), frame.reason.to_string());
                }
                Some(Message::Text(_) | Message::Ping(_) | Message::Pong(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// `connection_init` with `payload`, expecting `connection_ack`.
    pub async fn init_with(&mut self, payload: Value) {
        self.send(json!({"type": "connection_init", "payload": payload}))
            .await;
        let ack = self.recv().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
    }

    /// `connection_init` with a bearer token in the payload.
    pub async fn init(&mut self, token: &str) {
        self.init_with(bearer(token)).await;
    }

    /// Starts operation `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.protocol == LEGACY_WS {
            "start"
        } else {
            "subscribe"
        };
        self.send(
            json!({"type": kind, "id": id, "payload": {"query": query, "variables": variables}}),
        )
        .await;
    }

    /// The next result of operation `id`: its `data` (failing on errors).
    pub async fn next_data(&mut self, id: &str) -> Value {
        let message = self.recv().await;
        let kind = if self.protocol == LEGACY_WS {
            "data"
        } else {
            "next"
        };
        assert_eq!(message["type"], kind, "{message}");
        assert_eq!(message["id"], id, "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
        message["payload"]["data"].clone()
    }

    /// Sends `count` operations of `query` at once (ids `0`..), waits until each has ended
    /// (`complete` or `error`) and returns how many were refused with `RATE_LIMITED` — past the
    /// socket's burst, or (operations still running) past `--max-subscriptions`.
    pub async fn burst(&mut self, count: usize, query: &str) -> usize {
        for n in 0..count {
            self.send(
                json!({"type": "subscribe", "id": n.to_string(), "payload": {"query": query}}),
            )
            .await;
        }
        let (mut refused, mut ended) = (0, 0);
        while ended < count {
            let message = self.recv().await;
            match message["type"].as_str() {
                Some("error") => {
                    let code = &message["payload"][0]["extensions"]["code"];
                    refused += usize::from(code == "RATE_LIMITED");
                    ended += 1;
                }
                Some("complete") => ended += 1,
                _ => {}
            }
        }
        refused
    }

    /// The next `buildStatusChanged` event of operation `id`.
    pub async fn next_event(&mut self, id: &str) -> Value {
        self.next_data(id).await["buildStatusChanged"].clone()
    }
}

/// The `connection_init` payload that carries `token`.
pub fn bearer(token: &str) -> Value {
    json!({"authorization": format!("Bearer {token}")})
}

/// A definition without allowed tenants, and the app around it.
pub async fn app_with_definition(flags: &[&str]) -> (TestApp, i32) {
    let app = TestApp::with_args(flags).await;
    let world = app.world().await;
    let definition = app
        .seed()
        .definition("Ubuntu 24.04", world.endpoint, world.cluster, &[], |_| {})
        .await;
    (app, definition)
}
