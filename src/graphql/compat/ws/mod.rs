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
//! - 1001 when the server shuts down;
//! - 1009 on a message larger than `--body-limit`: the frame's header announces its length, so
//!   the rest is never read;
//! - 1008 when the principal already has `--ws-max-sockets-per-principal` sockets open.
//!
//! An upgrade beyond `--ws-max-sockets` open sockets is refused (503 `SERVER_BUSY`). A socket
//! starts at most `--ws-operations-per-second` operations per second, and each operation spends
//! a token of its principal's rate limit (`--rate-limit`); beyond either, the operation gets an
//! `error` message with `RATE_LIMITED` and the socket stays open. The socket's buffers are small
//! (1 KiB to read, writes flushed at once): an idle socket with a subscription costs a few KB.
//!
//! A socket runs at most `--max-subscriptions` operations at once; one more gets an error
//! message for its id (`TOO_MANY_SUBSCRIPTIONS`) and the socket stays open. The server sends a
//! WebSocket ping every `--ws-ping-interval` (and the legacy `ka` keep-alive), and drops a peer
//! that sends nothing for `--ws-pong-timeout` after a ping. Each operation's parameters are read
//! by the same parser as over HTTP ([`super::params`]) and go through the same checks
//! ([`super::prepare`]); its errors carry `extensions.code`, internal ones only a `requestId`.
//!
//! Why not `async_graphql::http::WebSocket` (7.0.19; upstream issue #406 fixed one deviation
//! from graphql-ws' PROTOCOL.md in 2021, no issue found for these — the tests of
//! `ws/upstream.rs` pin each one against async-graphql, `tests/it/websocket.rs` ours):
//! a subscribe before the acknowledgement closes with 1011 (the protocol says 4401), a
//! malformed message with 1002 (4400), a refused `connection_init` with 1002 (4403); a duplicate
//! operation id silently replaces the running one (4409); there is no `connection_init` timeout
//! (4408), no server ping, no legacy `ka`, no limit of operations per socket; and the failure of
//! an operation before execution is sent as `next` with errors where graphql-transport-ws asks
//! for an `error` message.

mod connection;
pub mod fanout;
mod relay;
mod results;
#[cfg(test)]
mod upstream;

use std::net::IpAddr;

use axum::{extract::ws::WebSocketUpgrade, response::Response as HttpResponse};

use super::Door;
use crate::{
    admission::{Busy, Shed},
    http::{Credentials, Failure},
    telemetry::{Live, names},
};
use connection::Connection;

/// The graphql-ws protocol.
pub const TRANSPORT_WS: &str = "graphql-transport-ws";
/// The legacy subscriptions-transport-ws protocol.
pub const LEGACY_WS: &str = "graphql-ws";

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
    /// The principal has the most sockets open already.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A message larger than the limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
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

/// The protocol a socket speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    TransportWs,
    Legacy,
}

/// Bytes read from a socket at once, which tungstenite allocates per socket and keeps while it is
/// open (its default is 128 KiB). A client's messages are small (`connection_init`, `subscribe`,
/// `complete`, pongs): 1 KiB holds them, and a larger message is read in several reads.
const READ_BUFFER: usize = 1024;

/// Answers a WebSocket upgrade of `/graphql`; `credentials` are the upgrade request's, used when
/// `connection_init` carries none; `address` is the client's.
pub fn upgrade(
    door: Door,
    upgrade: WebSocketUpgrade,
    credentials: Credentials,
    address: Option<IpAddr>,
) -> Result<HttpResponse, Failure> {
    let Some(slot) = door.app.admission.socket() else {
        let reason = Shed::WebsocketCap;
        metrics::counter!(names::REQUESTS_SHED, "door" => "graphql", "reason" => reason.label())
            .increment(1);
        return Err(Failure::Busy(Busy {
            retry_after: 1,
            reason,
        }));
    };
    let limit = door.app.config.limits.body_limit;
    let upgrade = upgrade
        .protocols([TRANSPORT_WS, LEGACY_WS])
        .max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0);
    let protocol = match upgrade.selected_protocol().map(|p| p.as_bytes()) {
        Some(p) if p == TRANSPORT_WS.as_bytes() => Some(Protocol::TransportWs),
        Some(p) if p == LEGACY_WS.as_bytes() => Some(Protocol::Legacy),
        _ => None,
    };
    let shutdown = door.app.shutdown.clone();
    Ok(upgrade.on_upgrade(move |socket| {
        shutdown.track(async move {
            let _open = Live::track(names::WEBSOCKETS_OPEN);
            let Some(protocol) = protocol else {
                let mut connection =
                    Connection::new(door, socket, Protocol::TransportWs, Credentials::default());
                let reason = "Subprotocol not acceptable: use graphql-transport-ws or graphql-ws";
                connection
                    .close(close::SUBPROTOCOL_NOT_ACCEPTABLE, reason)
                    .await;
                return;
            };
            Connection::new(door, socket, protocol, credentials)
                .with_slot(slot, address)
                .run()
                .await;
        })
    }))
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
