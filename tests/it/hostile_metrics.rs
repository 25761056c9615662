//! What the edge refuses, counted at `/metrics` (issue 14, SPEC §9): requests shed by door and
//! reason, rate-limited requests and websocket operations by door and role, the websocket's
//! refusals by reason, the requests executing and waiting, the connections served.
//!
//! The recorder is the process's, shared with the tests running at the same time: counters are
//! compared as "grew", gauges read while this test holds what they count. Outcomes are decided by
//! counts (a held place, a one-token bucket), never by timing.

use axum::http::StatusCode;
use entity::enums::Role;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    hostile::{DEADLINE, QUERY, answer, list, rest_list},
    support::TestApp,
    telemetry::{Scrape, scrape},
    ws_client::{Client, TRANSPORT_WS, bearer, refused_upgrade},
};

const SHED: &str = "packer_gateway_requests_shed_total";
const LIMITED: &str = "packer_gateway_rate_limited_total";
const WS_REFUSALS: &str = "packer_gateway_websocket_refusals_total";

/// How much the series of `name` with `labels` grew between two scrapes.
fn grew(before: &Scrape, after: &Scrape, name: &str, labels: &[&str]) -> f64 {
    after.sum(name, labels) - before.sum(name, labels)
}

#[tokio::test]
async fn shed_requests_are_counted_by_door_and_reason_beside_the_executing_and_waiting_ones() {
    let app = TestApp::with_args(&[
        "--max-concurrent-requests",
        "1",
        "--max-queued-requests",
        "1",
        "--queue-timeout",
        "30",
    ])
    .await;
    let (before, _) = scrape(&app).await;
    // One place held, one request waiting in the line: the next ones find no place.
    let place = app.app.admission.admit().await.expect("a free place");
    let waiting = tokio::spawn({
        let app = app.app.clone();
        async move { app.admission.admit().await.map(drop) }
    });
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while app.app.admission.waiting() < 1 {
        assert!(tokio::time::Instant::now() < deadline, "the request waits");
        tokio::task::yield_now().await;
    }
    assert_eq!(list(&app, None).await.0, StatusCode::SERVICE_UNAVAILABLE);
    let admin = app.admin.clone();
    assert_eq!(
        rest_list(&app, &admin).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (during, _) = scrape(&app).await;
    assert!(during.sum("packer_gateway_requests_executing", &[]) >= 1.0);
    assert!(during.sum("packer_gateway_requests_waiting", &[]) >= 1.0);
    for door in ["door=\"graphql\"", "door=\"rest\""] {
        assert!(
            grew(&before, &during, SHED, &[door, "reason=\"no_place\""]) >= 1.0,
            "{door}"
        );
    }
    drop(place);
    waiting.await.expect("the waiting task").expect("admitted");

    // No place frees up within the queue timeout.
    let app =
        TestApp::with_args(&["--max-concurrent-requests", "1", "--queue-timeout", "0.05"]).await;
    let _place = app.app.admission.admit().await.expect("a free place");
    assert_eq!(list(&app, None).await.0, StatusCode::SERVICE_UNAVAILABLE);
    let (after, _) = scrape(&app).await;
    let labels = ["door=\"graphql\"", "reason=\"queue_timeout\""];
    assert!(grew(&during, &after, SHED, &labels) >= 1.0);
}

#[tokio::test]
async fn rate_limited_requests_and_operations_are_counted_by_door_and_role() {
    // One token, refilled in 100 s: the second request of the viewer is refused, whatever the
    // timing.
    let app = TestApp::with_args(&["--rate-limit", "viewer=0.01/1"]).await;
    let (_, viewer) = app.user(Role::Viewer, &[], false).await;
    let server = app.serve().await;
    let (before, _) = scrape(&app).await;
    assert_eq!(list(&app, Some(&viewer)).await.0, StatusCode::OK);
    assert_eq!(
        list(&app, Some(&viewer)).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        rest_list(&app, &viewer).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&viewer).await;
    client
        .send(json!({"type": "subscribe", "id": "1", "payload": {"query": QUERY}}))
        .await;
    let refused = answer(&mut client, "1").await;
    assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED");
    let (after, _) = scrape(&app).await;
    for door in ["graphql", "rest", "websocket"] {
        let door = format!("door=\"{door}\"");
        assert!(
            grew(&before, &after, LIMITED, &[&door, "role=\"viewer\""]) >= 1.0,
            "{door}"
        );
    }
    drop(client);
    server.shutdown().await;
}

#[tokio::test]
async fn websocket_refusals_are_counted_by_reason() {
    let app = TestApp::with_args(&[
        "--body-limit",
        "4096",
        "--ws-max-sockets-per-principal",
        "1",
        "--ws-operations-per-second",
        "1",
        "--ws-max-sockets",
        "2",
    ])
    .await;
    let server = app.serve().await;
    let (before, _) = scrape(&app).await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    // Past the socket's burst (51), operations are refused.
    let refused = client.burst(60, QUERY).await;
    assert!(refused >= 1);
    // A second socket of the same principal: 1008.
    let mut second = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    second
        .send(json!({"type": "connection_init", "payload": bearer(&app.admin)}))
        .await;
    assert_eq!(second.closed().await.0, 1008);
    // A message over the limit: 1009.
    let padding = " ".repeat(5000);
    client
        .send(json!({"type": "subscribe", "id": "big",
                     "payload": {"query": format!("{QUERY}{padding}")}}))
        .await;
    assert_eq!(client.closed().await.0, 1009);
    let (after, _) = scrape(&app).await;
    for reason in ["operation_rate", "sockets_per_principal", "message_too_big"] {
        let reason = format!("reason=\"{reason}\"");
        assert!(
            grew(&before, &after, WS_REFUSALS, &[&reason]) >= 1.0,
            "{reason}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn websockets_beyond_the_total_are_counted_as_shed() {
    let app = TestApp::with_args(&["--ws-max-sockets", "1"]).await;
    let server = app.serve().await;
    let (before, _) = scrape(&app).await;
    let mut first = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    first.init(&app.admin).await;
    let response = refused_upgrade(&server).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let (after, _) = scrape(&app).await;
    let labels = ["door=\"graphql\"", "reason=\"websocket_cap\""];
    assert!(grew(&before, &after, SHED, &labels) >= 1.0);
    drop(first);
    server.shutdown().await;
}

/// `GET /healthz` on `stream`, kept alive; the status line.
async fn healthz(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("write");
    let mut answer = vec![0; 1024];
    let read = tokio::time::timeout(DEADLINE, stream.read(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    String::from_utf8_lossy(&answer[..read])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn connections_served_and_the_cap_reached_are_counted() {
    let app = TestApp::with_args(&["--max-connections", "1", "--header-read-timeout", "60"]).await;
    let server = app.serve().await;
    let (before, _) = scrape(&app).await;
    // A connection served and kept alive: the only one the cap allows.
    let mut held = TcpStream::connect(server.addr).await.expect("connect");
    assert_eq!(healthz(&mut held).await, "HTTP/1.1 200 OK");
    let (during, _) = scrape(&app).await;
    assert!(during.sum("packer_gateway_connections_open", &[]) >= 1.0);
    // The accept loop stops at the cap once the connection is accepted (before it answers);
    // read until the counter shows it, within the deadline.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (now, _) = scrape(&app).await;
        if grew(
            &before,
            &now,
            "packer_gateway_connections_at_cap_total",
            &[],
        ) >= 1.0
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the cap is counted");
        tokio::task::yield_now().await;
    }
    assert_eq!(healthz(&mut held).await, "HTTP/1.1 200 OK");
    drop(held);
    server.shutdown().await;
}
