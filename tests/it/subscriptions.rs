//! Subscriptions (SPEC §3.3): `buildStatusChanged` over both WebSocket protocols, against the real
//! router served on a real socket. Events are driven by the TEST-ONLY `TestApp::transition` and
//! `TestApp::queue`, which follow the events contract like the lifecycle mutations do.

use std::time::Duration;

use entity::enums::{BuildStatus, Role};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

use crate::support::{Server, TestApp, fresh_database, postgres};

const TRANSPORT_WS: &str = "graphql-transport-ws";
const LEGACY_WS: &str = "graphql-ws";

/// The longest any expected message may take.
const WAIT: Duration = Duration::from_secs(10);

const SUBSCRIPTION: &str = "subscription($filter: BuildStatusFilter, $after: ID) {
  buildStatusChanged(filter: $filter, afterEventId: $after) {
    eventId previousStatus status at message actor { username }
    build { id status outputName definition { name } }
  }
}";

/// A websocket client speaking one of the two protocols.
struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    protocol: &'static str,
}

impl Client {
    /// Connects, offering `protocol` (none when `None`), with an optional `Authorization` header.
    async fn connect(
        server: &Server,
        protocol: Option<&'static str>,
        authorization: Option<&str>,
    ) -> Client {
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

    async fn send(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::text(text))
            .await
            .expect("send a message");
    }

    /// The next frame, whatever it is (`None` when the connection ended).
    async fn frame(&mut self) -> Option<Message> {
        match tokio::time::timeout(WAIT, self.socket.next())
            .await
            .expect("a frame in time")
        {
            Some(Ok(message)) => Some(message),
            Some(Err(_)) | None => None,
        }
    }

    /// The next JSON message, skipping pings, pongs and legacy keep-alives.
    async fn recv(&mut self) -> Value {
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
    async fn closed(&mut self) -> (u16, String) {
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
    async fn init_with(&mut self, payload: Value) {
        self.send(json!({"type": "connection_init", "payload": payload}))
            .await;
        let ack = self.recv().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
    }

    /// `connection_init` with a bearer token in the payload.
    async fn init(&mut self, token: &str) {
        self.init_with(bearer(token)).await;
    }

    /// Starts operation `id`.
    async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
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
    async fn next_data(&mut self, id: &str) -> Value {
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

    /// The next `buildStatusChanged` event of operation `id`.
    async fn next_event(&mut self, id: &str) -> Value {
        self.next_data(id).await["buildStatusChanged"].clone()
    }
}

/// The `connection_init` payload that carries `token`.
fn bearer(token: &str) -> Value {
    json!({"authorization": format!("Bearer {token}")})
}

/// A definition without allowed tenants, and the app around it.
async fn app_with_definition(flags: &[&str]) -> (TestApp, i32) {
    let app = TestApp::with_args(flags).await;
    let world = app.world().await;
    let definition = app
        .seed()
        .definition("Ubuntu 24.04", world.endpoint, world.cluster, &[], |_| {})
        .await;
    (app, definition)
}

async fn queue_start_complete(protocol: &'static str) {
    let (app, definition) = app_with_definition(&[]).await;
    let server = app.serve().await;
    let mut client = if protocol == LEGACY_WS {
        // The legacy client authenticates with the upgrade request's header.
        let authorization = format!("Bearer {}", app.admin);
        let mut client = Client::connect(&server, Some(protocol), Some(&authorization)).await;
        client.init_with(json!({})).await;
        client
    } else {
        let mut client = Client::connect(&server, Some(protocol), None).await;
        client.init(&app.admin).await;
        client
    };
    client.subscribe("1", SUBSCRIPTION, json!({})).await;
    app.wait_for_subscribers(1).await;

    let (build, queued) = app.queue(definition).await;
    let event = client.next_event("1").await;
    assert_eq!(event["eventId"], queued.to_string());
    assert_eq!(event["previousStatus"], Value::Null);
    assert_eq!(event["status"], "PENDING");
    assert_eq!(event["message"], Value::Null);
    assert_eq!(event["actor"]["username"], "admin");
    assert_eq!(event["build"]["id"], build.to_string());
    assert_eq!(event["build"]["status"], "PENDING");
    assert_eq!(event["build"]["definition"]["name"], "Ubuntu 24.04");

    let started = app.transition(build, BuildStatus::Running).await;
    let event = client.next_event("1").await;
    assert_eq!(event["eventId"], started.to_string());
    assert_eq!(event["previousStatus"], "PENDING");
    assert_eq!(event["status"], "RUNNING");
    assert_eq!(event["build"]["status"], "RUNNING");

    let completed = app.transition(build, BuildStatus::Completed).await;
    let event = client.next_event("1").await;
    assert_eq!(event["eventId"], completed.to_string());
    assert_eq!(event["previousStatus"], "RUNNING");
    assert_eq!(event["status"], "COMPLETED");
    assert_eq!(event["build"]["id"], build.to_string());
    assert_eq!(event["build"]["status"], "COMPLETED");
    assert!(queued < started && started < completed);
}

#[tokio::test]
async fn graphql_transport_ws_delivers_queue_start_complete_in_order() {
    queue_start_complete(TRANSPORT_WS).await;
}

#[tokio::test]
async fn legacy_graphql_ws_delivers_queue_start_complete_in_order() {
    queue_start_complete(LEGACY_WS).await;
}

#[tokio::test]
async fn complete_and_stop_end_one_subscription() {
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let (app, definition) = app_with_definition(&[]).await;
        let server = app.serve().await;
        let mut client = Client::connect(&server, Some(protocol), None).await;
        client.init(&app.admin).await;
        client.subscribe("a", SUBSCRIPTION, json!({})).await;
        client.subscribe("b", SUBSCRIPTION, json!({})).await;
        app.wait_for_subscribers(2).await;
        let kind = if protocol == LEGACY_WS {
            "stop"
        } else {
            "complete"
        };
        client.send(json!({"type": kind, "id": "a"})).await;
        if protocol == LEGACY_WS {
            // The legacy protocol confirms a stop with `complete`.
            let message = client.recv().await;
            assert_eq!(message, json!({"type": "complete", "id": "a"}));
        }
        app.wait_for_subscribers_at_most(1).await;
        let (_, queued) = app.queue(definition).await;
        let message = client.recv().await;
        assert_eq!(message["id"], "b", "{message}");
        assert_eq!(
            message["payload"]["data"]["buildStatusChanged"]["eventId"],
            queued.to_string()
        );
    }
}

#[tokio::test]
async fn queries_run_over_the_socket_and_complete() {
    let (app, _) = app_with_definition(&[]).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    client
        .subscribe("q", "{ imageDefinitions { nodes { name } } }", json!({}))
        .await;
    let data = client.next_data("q").await;
    assert_eq!(data["imageDefinitions"]["nodes"][0]["name"], "Ubuntu 24.04");
    assert_eq!(client.recv().await, json!({"type": "complete", "id": "q"}));
}

#[tokio::test]
async fn operation_errors_carry_codes_and_keep_the_socket() {
    let (app, _) = app_with_definition(&[]).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    for (id, query, variables, code) in [
        ("parse", "subscription {", json!({}), "GRAPHQL_PARSE_FAILED"),
        (
            "validation",
            "subscription { buildStatusChanged { nope } }",
            json!({}),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "variables",
            "subscription($after: ID!) { buildStatusChanged(afterEventId: $after) { eventId } }",
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            "filter",
            "subscription { buildStatusChanged(filter: {buildId: \"x\"}) { eventId } }",
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            "after",
            "subscription { buildStatusChanged(afterEventId: \"-1\") { eventId } }",
            json!({}),
            "BAD_USER_INPUT",
        ),
    ] {
        client.subscribe(id, query, variables).await;
        let message = client.recv().await;
        assert_eq!(message["type"], "error", "{id}: {message}");
        assert_eq!(message["id"], id, "{message}");
        assert_eq!(
            message["payload"][0]["extensions"]["code"], code,
            "{id}: {message}"
        );
    }
    // The socket is still usable.
    client.send(json!({"type": "ping"})).await;
    assert_eq!(client.recv().await, json!({"type": "pong"}));
}

// --- protocol conformance: close codes -------------------------------------------------------

#[tokio::test]
async fn a_malformed_message_closes_with_4400() {
    let (app, _) = app_with_definition(&[]).await;
    let server = app.serve().await;
    for bad in [
        "not json",
        r#"{"type": "nonsense"}"#,
        r#"{"id": "1"}"#,
        r#"{"type": "subscribe", "id": "1"}"#,
        r#"{"type": "subscribe", "payload": {"query": "subscription { x }"}}"#,
        r#"{"type": "connection_init", "payload": "a string"}"#,
    ] {
        let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
        client.send_text(bad).await;
        let (code, _) = client.closed().await;
        assert_eq!(code, 4400, "{bad}");
    }
}

#[tokio::test]
async fn the_legacy_protocol_answers_a_malformed_message_with_connection_error() {
    let (app, _) = app_with_definition(&[]).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(LEGACY_WS), None).await;
    client.send_text("not json").await;
    let message = client.recv().await;
    assert_eq!(message["type"], "connection_error", "{message}");
    client.init(&app.admin).await;
}

#[tokio::test]
async fn subscribing_before_the_ack_closes_with_4401() {
    let (app, _) = app_with_definition(&[]).await;
    let server = app.serve().await;
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let mut client = Client::connect(&server, Some(protocol), None).await;
        client.subscribe("1", SUBSCRIPTION, json!({})).await;
        assert_eq!(client.closed().await, (4401, "Unauthorized".to_owned()));
    }
}

#[tokio::test]
async fn bad_credentials_close_with_4403() {
    let (app, _) = app_with_definition(&[]).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client
        .send(json!({"type": "connection_init", "payload": {"authorization": "Bearer nope"}}))
        .await;
    assert_eq!(client.closed().await, (4403, "Forbidden".to_owned()));

    // No credentials at all (anonymous access is off), `Authorization` spelled the header way.
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.send(json!({"type": "connection_init"})).await;
    assert_eq!(client.closed().await.0, 4403);
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client
        .init_with(json!({"Authorization": format!("Token {}", app.admin)}))
        .await;

    // A bad upgrade header; the legacy protocol hears `connection_error` first.
    let mut client = Client::connect(&server, Some(LEGACY_WS), Some("Bearer nope")).await;
    client.send(json!({"type": "connection_init"})).await;
    let message = client.recv().await;
    assert_eq!(message["type"], "connection_error", "{message}");
    assert_eq!(client.closed().await.0, 4403);
}

#[tokio::test]
async fn no_init_in_time_closes_with_4408() {
    let (app, _) = app_with_definition(&["--ws-init-timeout", "0.2"]).await;
    let server = app.serve().await;
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let mut client = Client::connect(&server, Some(protocol), None).await;
        assert_eq!(
            client.closed().await,
            (4408, "Connection initialisation timeout".to_owned())
        );
    }
}

#[tokio::test]
async fn a_duplicate_subscription_id_closes_with_4409() {
    let (app, _) = app_with_definition(&[]).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    client.subscribe("same", SUBSCRIPTION, json!({})).await;
    client.subscribe("same", SUBSCRIPTION, json!({})).await;
    assert_eq!(
        client.closed().await,
        (4409, "Subscriber for same already exists".to_owned())
    );
}

#[tokio::test]
async fn a_second_init_closes_with_4429() {
    let (app, _) = app_with_definition(&[]).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    client
        .send(json!({"type": "connection_init", "payload": bearer(&app.admin)}))
        .await;
    assert_eq!(
        client.closed().await,
        (4429, "Too many initialisation requests".to_owned())
    );
}

#[tokio::test]
async fn an_unknown_subprotocol_closes_with_4406() {
    let (app, _) = app_with_definition(&[]).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, None, None).await;
    assert_eq!(client.closed().await.0, 4406);
}

#[tokio::test]
async fn the_51st_subscription_is_refused_and_the_socket_stays_open() {
    let (app, definition) = app_with_definition(&[]).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    for i in 0..50 {
        client
            .subscribe(&format!("s{i}"), SUBSCRIPTION, json!({}))
            .await;
    }
    app.wait_for_subscribers(50).await;
    client.subscribe("s50", SUBSCRIPTION, json!({})).await;
    let message = client.recv().await;
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(message["id"], "s50");
    assert_eq!(
        message["payload"][0]["extensions"]["code"],
        "TOO_MANY_SUBSCRIPTIONS"
    );
    // Still open: ping works, and once one completes there is room again.
    client.send(json!({"type": "ping"})).await;
    assert_eq!(client.recv().await, json!({"type": "pong"}));
    client.send(json!({"type": "complete", "id": "s0"})).await;
    app.wait_for_subscribers_at_most(49).await;
    client.subscribe("s50", SUBSCRIPTION, json!({})).await;
    app.wait_for_subscribers(50).await;
    let (_, queued) = app.queue(definition).await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let message = client.recv().await;
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(
            message["payload"]["data"]["buildStatusChanged"]["eventId"],
            queued.to_string()
        );
        seen.insert(message["id"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(seen.len(), 50);
    assert!(seen.contains("s50") && !seen.contains("s0"));
}

// --- delivery semantics ----------------------------------------------------------------------

#[tokio::test]
async fn after_event_id_replays_the_history_then_continues_live() {
    let (app, definition) = app_with_definition(&[]).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    client.subscribe("1", SUBSCRIPTION, json!({})).await;
    app.wait_for_subscribers(1).await;
    let (build, queued) = app.queue(definition).await;
    let last_seen = client.next_event("1").await["eventId"].clone();
    assert_eq!(last_seen, queued.to_string());
    drop(client);
    app.wait_for_subscribers_at_most(0).await;

    // Three transitions while nobody listens.
    let started = app.transition(build, BuildStatus::Running).await;
    let (other, other_queued) = app.queue(definition).await;
    let cancelled = app.transition(other, BuildStatus::Cancelled).await;

    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    client
        .subscribe("2", SUBSCRIPTION, json!({"after": last_seen}))
        .await;
    for (expected, status) in [
        (started, "RUNNING"),
        (other_queued, "PENDING"),
        (cancelled, "CANCELLED"),
    ] {
        let event = client.next_event("2").await;
        assert_eq!(event["eventId"], expected.to_string());
        assert_eq!(event["status"], status);
    }
    // Then live, without a gap or a duplicate.
    let completed = app.transition(build, BuildStatus::Completed).await;
    let event = client.next_event("2").await;
    assert_eq!(event["eventId"], completed.to_string());
    let (_, next) = app.queue(definition).await;
    assert_eq!(client.next_event("2").await["eventId"], next.to_string());
}

#[tokio::test]
async fn a_lagging_subscriber_is_caught_up_from_history_exactly_once() {
    let (app, definition) = app_with_definition(&["--event-buffer", "2"]).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    client.subscribe("1", SUBSCRIPTION, json!({})).await;
    app.wait_for_subscribers(1).await;

    // Fifty events in one commit: the fetcher broadcasts them back to back, far beyond a
    // channel of two.
    let burst = app.queue_many(definition, 50).await;
    for (build, event) in &burst {
        let received = client.next_event("1").await;
        assert_eq!(received["eventId"], event.to_string());
        assert_eq!(received["build"]["id"], build.to_string());
    }
    let (_, next) = app.queue(definition).await;
    assert_eq!(client.next_event("1").await["eventId"], next.to_string());
    assert!(
        app.app.events.catch_ups() >= 1,
        "the subscriber should have fallen behind the channel"
    );
}

#[tokio::test]
async fn filters_select_by_build_definition_and_status() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let seed = app.seed();
    let first = seed
        .definition("First", world.endpoint, world.cluster, &[], |_| {})
        .await;
    let second = seed
        .definition("Second", world.endpoint, world.cluster, &[], |_| {})
        .await;
    let (build, queued) = app.queue(first).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    // From just after `queued`: the history and the live stream are filtered alike.
    let after = queued.to_string();
    client
        .subscribe(
            "build",
            SUBSCRIPTION,
            json!({"after": after, "filter": {"buildId": build.to_string()}}),
        )
        .await;
    client
        .subscribe(
            "definition",
            SUBSCRIPTION,
            json!({"after": after, "filter": {"definitionId": second.to_string()}}),
        )
        .await;
    client
        .subscribe(
            "statuses",
            SUBSCRIPTION,
            json!({"after": after, "filter": {"statuses": ["RUNNING", "FAILED"]}}),
        )
        .await;
    app.wait_for_subscribers(3).await;

    let (other, other_queued) = app.queue(second).await; // definition
    let started = app.transition(build, BuildStatus::Running).await; // build, statuses
    let failed = app.transition(other, BuildStatus::Failed).await; // definition, statuses

    let mut received: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for _ in 0..5 {
        let message = client.recv().await;
        let id = message["id"].as_str().unwrap_or_default().to_owned();
        let event = message["payload"]["data"]["buildStatusChanged"]["eventId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        received.entry(id).or_default().push(event);
    }
    let ids = |ids: &[i64]| ids.iter().map(i64::to_string).collect::<Vec<_>>();
    assert_eq!(received["build"], ids(&[started]));
    assert_eq!(received["definition"], ids(&[other_queued, failed]));
    assert_eq!(received["statuses"], ids(&[started, failed]));
}

#[tokio::test]
async fn a_viewer_receives_only_the_builds_of_its_tenants() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let seed = app.seed();
    let mine = seed
        .definition("Mine", world.endpoint, world.cluster, &[world.t1], |_| {})
        .await;
    let theirs = seed
        .definition("Theirs", world.endpoint, world.cluster, &[world.t2], |_| {})
        .await;
    let everyone = seed
        .definition("Everyone", world.endpoint, world.cluster, &[], |_| {})
        .await;
    let (_, viewer) = app.user(Role::Viewer, &[world.t1], false).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&viewer).await;
    client.subscribe("live", SUBSCRIPTION, json!({})).await;
    app.wait_for_subscribers(1).await;

    // Events are delivered in id order: had the T2 event been delivered, it would come first.
    let (hidden, _) = app.queue(theirs).await;
    let (_, unrestricted) = app.queue(everyone).await;
    assert_eq!(
        client.next_event("live").await["eventId"],
        unrestricted.to_string()
    );
    app.transition(hidden, BuildStatus::Running).await;
    let (_, allowed) = app.queue(mine).await;
    let event = client.next_event("live").await;
    assert_eq!(event["eventId"], allowed.to_string());
    assert_eq!(event["build"]["definition"]["name"], "Mine");

    // The replay applies the same rule.
    client
        .subscribe("replay", SUBSCRIPTION, json!({"after": "0"}))
        .await;
    assert_eq!(
        client.next_event("replay").await["eventId"],
        unrestricted.to_string()
    );
    assert_eq!(
        client.next_event("replay").await["eventId"],
        allowed.to_string()
    );
    let (_, last) = app.queue(theirs).await;
    let (_, visible) = app.queue(everyone).await;
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..2 {
        let message = client.recv().await;
        assert_eq!(
            message["payload"]["data"]["buildStatusChanged"]["eventId"],
            visible.to_string(),
            "not {last}"
        );
        ids.insert(message["id"].to_string());
    }
    assert_eq!(ids.len(), 2);
}

#[tokio::test]
async fn another_instance_delivers_events_committed_on_this_one() {
    if postgres().is_none() {
        return;
    }
    let (url, sqlite) = fresh_database().await;
    let one = TestApp::on(&url, sqlite, &[]).await;
    let two = TestApp::on(&url, sqlite, &[]).await;
    let world = one.world().await;
    let definition = one
        .seed()
        .definition("Shared", world.endpoint, world.cluster, &[], |_| {})
        .await;
    let server = two.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&two.admin).await;
    client.subscribe("1", SUBSCRIPTION, json!({})).await;
    two.wait_for_subscribers(1).await;

    let (build, queued) = one.queue(definition).await;
    assert_eq!(client.next_event("1").await["eventId"], queued.to_string());
    let started = one.transition(build, BuildStatus::Running).await;
    let event = client.next_event("1").await;
    assert_eq!(event["eventId"], started.to_string());
    assert_eq!(event["build"]["status"], "RUNNING");
}

// --- cost ------------------------------------------------------------------------------------

const CHEAP: &str = "subscription {
  buildStatusChanged { eventId status build { id status outputName definition { name } } }
}";

/// SQL statements run while `subscribers` established subscribers receive three events, one at
/// a time.
async fn statements_for_three_events(subscribers: usize) -> u64 {
    // No safety-net poll during the measurement.
    let (app, definition) = app_with_definition(&["--event-poll-interval", "3600"]).await;
    // Authenticate once over HTTP and wait for the token's `last_used` to be recorded, so that
    // no background write of it lands in the measurement.
    app.data("{ pluginSettings { imageFactoryEnabled } }", json!({}))
        .await;
    tokio::time::timeout(WAIT, async {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        loop {
            let used = entity::api_token::Entity::find()
                .filter(entity::api_token::Column::LastUsed.is_not_null())
                .one(&app.app.db)
                .await
                .expect("read tokens");
            if used.is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("last_used recorded");

    let server = app.serve().await;
    let mut clients = Vec::new();
    for _ in 0..subscribers {
        let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
        client.init(&app.admin).await;
        client.subscribe("1", CHEAP, json!({})).await;
        clients.push(client);
    }
    app.wait_for_subscribers(subscribers).await;
    let (build, queued) = app.queue(definition).await;
    for client in &mut clients {
        assert_eq!(client.next_event("1").await["eventId"], queued.to_string());
    }

    let before = app.statements();
    for status in [BuildStatus::Running, BuildStatus::Completed] {
        let event = app.transition(build, status).await;
        for client in &mut clients {
            assert_eq!(client.next_event("1").await["eventId"], event.to_string());
        }
    }
    let (_, event) = app.queue(definition).await;
    for client in &mut clients {
        let received = client.next_event("1").await;
        assert_eq!(received["eventId"], event.to_string());
        assert_eq!(received["build"]["definition"]["name"], "Ubuntu 24.04");
    }
    let statements = app.statements() - before;
    eprintln!("{subscribers} subscribers: {statements} statements for three events");
    statements
}

#[tokio::test]
async fn statements_per_event_do_not_grow_with_subscribers() {
    let one = statements_for_three_events(1).await;
    let fifty = statements_for_three_events(50).await;
    assert_eq!(one, fifty, "1 subscriber: {one} statements, 50: {fifty}");
}

// --- liveness and shutdown -------------------------------------------------------------------

#[tokio::test]
async fn the_server_pings_and_keeps_a_live_peer() {
    let (app, _) =
        app_with_definition(&["--ws-ping-interval", "0.1", "--ws-pong-timeout", "0.3"]).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    let mut pings = 0;
    while pings < 8 {
        // Reading answers the pings (the client library sends the pongs).
        if let Some(Message::Ping(_)) = client.frame().await {
            pings += 1;
        }
    }
    // Eight pings, about 0.8 s, well past the pong timeout: the peer is still there.
    client.send(json!({"type": "ping"})).await;
    assert_eq!(client.recv().await, json!({"type": "pong"}));

    // The legacy protocol hears `ka` right after the ack, then periodically.
    let mut legacy = Client::connect(&server, Some(LEGACY_WS), None).await;
    legacy
        .send(json!({"type": "connection_init", "payload": bearer(&app.admin)}))
        .await;
    let mut keep_alives = 0;
    let mut acked = false;
    while keep_alives < 3 {
        if let Some(Message::Text(text)) = legacy.frame().await {
            let message: Value = serde_json::from_str(&text).expect("JSON");
            match message["type"].as_str() {
                Some("connection_ack") => acked = true,
                Some("ka") => {
                    assert!(acked, "keep-alives follow the ack");
                    keep_alives += 1;
                }
                _ => panic!("unexpected {message}"),
            }
        }
    }
}

#[tokio::test]
async fn a_dead_peer_is_dropped() {
    let (app, _) =
        app_with_definition(&["--ws-ping-interval", "0.1", "--ws-pong-timeout", "0.3"]).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    client.subscribe("1", SUBSCRIPTION, json!({})).await;
    app.wait_for_subscribers(1).await;
    // Play dead: read nothing, so no pong goes out. The server drops the connection (and its
    // subscription) once the pong timeout passes.
    app.wait_for_subscribers_at_most(0).await;
    loop {
        match client.frame().await {
            Some(Message::Ping(_)) => {}
            Some(Message::Close(frame)) => panic!("a dead peer gets no close handshake: {frame:?}"),
            Some(other) => panic!("unexpected {other:?}"),
            None => break,
        }
    }
}

#[tokio::test]
async fn graceful_shutdown_closes_sockets_with_1001() {
    let (app, _) = app_with_definition(&[]).await;
    let server = app.serve().await;
    let mut transport = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    transport.init(&app.admin).await;
    transport.subscribe("1", SUBSCRIPTION, json!({})).await;
    let mut legacy = Client::connect(&server, Some(LEGACY_WS), None).await;
    legacy.init(&app.admin).await;
    app.wait_for_subscribers(1).await;

    let shutdown = tokio::spawn(server.shutdown());
    assert_eq!(transport.closed().await.0, 1001);
    assert_eq!(legacy.closed().await.0, 1001);
    tokio::time::timeout(WAIT, shutdown)
        .await
        .expect("the server stops once its sockets closed")
        .expect("the shutdown task");
}
