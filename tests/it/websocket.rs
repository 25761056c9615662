//! The WebSocket transports (SPEC §3.3): both protocols, their close codes, the per-socket
//! limit, pings, dead peers and graceful shutdown, against the real router on a real socket.

use entity::enums::BuildStatus;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::{
    support::{build_gid, event_gid},
    ws_client::{Client, LEGACY_WS, SUBSCRIPTION, TRANSPORT_WS, WAIT, app_with_definition, bearer},
};

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
    assert_eq!(event["eventId"], event_gid(queued));
    assert_eq!(event["previousStatus"], Value::Null);
    assert_eq!(event["status"], "PENDING");
    assert_eq!(event["message"], Value::Null);
    assert_eq!(event["actor"]["username"], "admin");
    assert_eq!(event["build"]["id"], build_gid(build));
    assert_eq!(event["build"]["status"], "PENDING");
    assert_eq!(event["build"]["definition"]["name"], "Ubuntu 24.04");

    let started = app.transition(build, BuildStatus::Running).await;
    let event = client.next_event("1").await;
    assert_eq!(event["eventId"], event_gid(started));
    assert_eq!(event["previousStatus"], "PENDING");
    assert_eq!(event["status"], "RUNNING");
    assert_eq!(event["build"]["status"], "RUNNING");

    let completed = app.transition(build, BuildStatus::Completed).await;
    let event = client.next_event("1").await;
    assert_eq!(event["eventId"], event_gid(completed));
    assert_eq!(event["previousStatus"], "RUNNING");
    assert_eq!(event["status"], "COMPLETED");
    assert_eq!(event["build"]["id"], build_gid(build));
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
            event_gid(queued)
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
            event_gid(queued)
        );
        seen.insert(message["id"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(seen.len(), 50);
    assert!(seen.contains("s50") && !seen.contains("s0"));
}

// --- liveness and shutdown -------------------------------------------------------------------

#[tokio::test]
async fn the_server_pings_and_keeps_a_live_peer() {
    let (app, _) =
        app_with_definition(&["--ws-ping-interval", "0.1", "--ws-pong-timeout", "0.5"]).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    let mut pings = 0;
    while pings < 12 {
        // Reading answers the pings (the client library sends the pongs).
        if let Some(Message::Ping(_)) = client.frame().await {
            pings += 1;
        }
    }
    // Twelve pings, about 1.2 s, well past the pong timeout: the peer is still there.
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
        app_with_definition(&["--ws-ping-interval", "0.1", "--ws-pong-timeout", "0.5"]).await;
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
