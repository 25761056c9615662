//! async-graphql 7.0.19's own WebSocket transport (`async_graphql::http::WebSocket`), driven
//! without a network against what graphql-ws' PROTOCOL.md asks. Each test asserts the deviation
//! that made us write our own; when one fails, async-graphql was fixed and `compat::ws` may be
//! able to use it. Our behaviour for the same messages is asserted by `tests/it/websocket.rs`
//! (`subscribing_before_the_ack_closes_with_4401`, `a_malformed_message_closes_with_4400`,
//! `bad_credentials_close_with_4403`, `a_duplicate_subscription_id_closes_with_4409`,
//! `no_init_in_time_closes_with_4408`, `operation_errors_carry_codes_and_keep_the_socket`).

use std::time::Duration;

use async_graphql::{
    EmptyMutation, Object, Schema, Subscription,
    http::{WebSocket, WebSocketProtocols, WsMessage},
};
use futures_util::{FutureExt, Stream, StreamExt, stream};
use serde_json::{Value, json};

struct Query;

#[Object]
impl Query {
    async fn a(&self) -> i32 {
        1
    }
}

struct Ticks;

#[Subscription]
impl Ticks {
    async fn tick(&self) -> impl Stream<Item = i32> {
        stream::iter([1])
    }
}

/// Up to `count` messages async-graphql sends for `messages` (after which the client stays
/// silent, with the socket open), over graphql-transport-ws.
async fn answers(messages: &[Value], count: usize) -> Vec<WsMessage> {
    let input = stream::iter(messages.iter().map(Value::to_string)).chain(stream::pending());
    let schema = Schema::new(Query, EmptyMutation, Ticks);
    let socket = WebSocket::new(schema, input, WebSocketProtocols::GraphQLWS);
    collect(socket, count).await
}

/// What the socket says until it has said `count` messages or has nothing more to say: it has no
/// timer of its own (see `its_only_timer_closes_with_3008_not_4408`), so once it stays pending
/// through many polls, with the executor's other tasks given their turn, it is done.
async fn collect(socket: impl Stream<Item = WsMessage>, count: usize) -> Vec<WsMessage> {
    let mut out = Vec::new();
    let mut socket = std::pin::pin!(socket.take(count));
    let mut idle = 0;
    while idle < 100 {
        match socket.next().now_or_never() {
            Some(Some(message)) => {
                out.push(message);
                idle = 0;
            }
            Some(None) => break,
            None => {
                idle += 1;
                tokio::task::yield_now().await;
            }
        }
    }
    out
}

fn close_code(messages: &[WsMessage]) -> Option<u16> {
    messages.iter().find_map(|m| match m {
        WsMessage::Close(code, _) => Some(*code),
        WsMessage::Text(_) => None,
    })
}

fn texts(messages: &[WsMessage]) -> Vec<Value> {
    messages
        .iter()
        .filter_map(|m| match m {
            WsMessage::Text(text) => serde_json::from_str(text).ok(),
            WsMessage::Close(..) => None,
        })
        .collect()
}

fn subscribe(id: &str, query: &str) -> Value {
    json!({"type": "subscribe", "id": id, "payload": {"query": query}})
}

#[tokio::test]
async fn a_subscribe_before_the_ack_closes_with_1011_not_4401() {
    let out = answers(&[subscribe("1", "subscription { tick }")], 1).await;
    assert_eq!(
        close_code(&out),
        Some(1011),
        "async-graphql changed: {out:?}"
    );
}

#[tokio::test]
async fn a_malformed_message_closes_with_1002_not_4400() {
    let out = answers(&[json!({"type": "nonsense"})], 1).await;
    assert_eq!(
        close_code(&out),
        Some(1002),
        "async-graphql changed: {out:?}"
    );
}

#[tokio::test]
async fn a_refused_init_closes_with_1002_not_4403() {
    let input =
        stream::iter([json!({"type": "connection_init"}).to_string()]).chain(stream::pending());
    let schema = Schema::new(Query, EmptyMutation, Ticks);
    let socket = WebSocket::new(schema, input, WebSocketProtocols::GraphQLWS)
        .on_connection_init(|_| async { Err("Forbidden".into()) });
    let out = collect(socket, 1).await;
    assert_eq!(
        close_code(&out),
        Some(1002),
        "async-graphql changed: {out:?}"
    );
}

#[tokio::test]
async fn a_duplicate_id_silently_replaces_the_running_operation_instead_of_4409() {
    let out = answers(
        &[
            json!({"type": "connection_init"}),
            subscribe("same", "subscription { tick }"),
            subscribe("same", "subscription { tick }"),
        ],
        10,
    )
    .await;
    assert_eq!(close_code(&out), None, "async-graphql changed: {out:?}");
    let nexts = texts(&out)
        .iter()
        .filter(|m| m["type"] == "next" && m["id"] == "same")
        .count();
    assert_eq!(nexts, 1, "one of the two operations vanished: {out:?}");
}

#[tokio::test]
async fn its_only_timer_closes_with_3008_not_4408() {
    // Without a keep-alive timeout a silent client is waited for forever; with one, a client that
    // never sends `connection_init` is closed with 3008, as one silent after it would be.
    let schema = Schema::new(Query, EmptyMutation, Ticks);
    let socket = WebSocket::new(
        schema,
        stream::pending::<String>(),
        WebSocketProtocols::GraphQLWS,
    )
    .keepalive_timeout(Duration::from_millis(10));
    let mut socket = std::pin::pin!(socket);
    let first = tokio::time::timeout(Duration::from_secs(10), socket.next()).await;
    assert!(
        matches!(first, Ok(Some(WsMessage::Close(3008, _)))),
        "async-graphql changed: {first:?}"
    );
}

#[tokio::test]
async fn a_request_error_is_sent_as_next_not_as_error() {
    let out = answers(
        &[
            json!({"type": "connection_init"}),
            subscribe("bad", "subscription { nope }"),
        ],
        3,
    )
    .await;
    let types: Vec<Value> = texts(&out).iter().map(|m| m["type"].clone()).collect();
    assert_eq!(
        types,
        [json!("connection_ack"), json!("next"), json!("complete")],
        "async-graphql changed: {out:?}"
    );
}
