//! Hostile and overload traffic (issue 14): connection hygiene, load shedding, rate limits, the
//! websocket's size limit and caps. No assertion depends on timing precision: limits are set so
//! that the outcome is decided by counts (tiny rates, a held place) and deadlines are generous.

use std::time::Duration;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use entity::enums::Role;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    support::TestApp,
    ws_client::{Client, TRANSPORT_WS, bearer, refused_upgrade},
};

/// Generous: what must happen "within the timeout" happens well within this.
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

/// One `GET /healthz` on a connection of its own; the status line.
async fn healthz(addr: std::net::SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Waits until the peer closes `stream` (reads until end of stream or reset), failing after the
/// deadline.
async fn closed_by_server(stream: &mut TcpStream) {
    let mut buffer = [0u8; 1024];
    tokio::time::timeout(DEADLINE, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("the server closes the connection within the deadline");
}

#[tokio::test]
async fn slow_headers_and_idle_keep_alives_are_closed_while_others_are_served() {
    let app = TestApp::with_args(&["--header-read-timeout", "0.5"]).await;
    let server = app.serve().await;
    // A client that sends its head one header line at a time, never finishing it.
    let mut slow = TcpStream::connect(server.addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
        .await
        .expect("write");
    let trickle = async {
        for n in 0.. {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let line = format!("X-Slow-{n}: 1\r\n");
            if slow.write_all(line.as_bytes()).await.is_err() {
                return;
            }
        }
    };
    // Meanwhile, normal requests are answered.
    let normal = async {
        for _ in 0..3 {
            assert_eq!(healthz(server.addr).await, "HTTP/1.1 200 OK");
        }
    };
    let ((), ()) = tokio::time::timeout(DEADLINE, async { tokio::join!(trickle, normal) })
        .await
        .expect("the slow client is cut off within the deadline");
    // An idle keep-alive connection is closed too, after answering its request.
    let mut idle = TcpStream::connect(server.addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("write");
    closed_by_server(&mut idle).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_beyond_the_connection_cap_waits_until_a_connection_closes() {
    let app = TestApp::with_args(&["--max-connections", "1", "--header-read-timeout", "60"]).await;
    let server = app.serve().await;
    let holder = TcpStream::connect(server.addr).await.expect("connect");
    // The holder is accepted and served: the next client is left in the backlog, unanswered.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waiting = tokio::spawn(healthz(server.addr));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "served beyond the connection cap");
    drop(holder);
    let status = tokio::time::timeout(DEADLINE, waiting)
        .await
        .expect("served once the holder left")
        .expect("the client task");
    assert_eq!(status, "HTTP/1.1 200 OK");
    server.shutdown().await;
}

/// A GraphQL POST as `token` (admin when `None`); status, headers and body.
pub(crate) async fn list(
    app: &TestApp,
    token: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let token = token.unwrap_or(&app.admin).to_owned();
    let request = Request::builder()
        .method(Method::POST)
        .uri("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(
            json!({"query": "{ imageBuilds(first: 5) { totalCount } }"}).to_string(),
        ))
        .expect("a request");
    let (status, headers, body) = app.send(request).await;
    (
        status,
        headers,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

/// `GET /api/plugins/packer/image-builds/` as `token`.
pub(crate) async fn rest_list(
    app: &TestApp,
    token: &str,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let request = Request::builder()
        .uri("/api/plugins/packer/image-builds/")
        .header(header::AUTHORIZATION, format!("Token {token}"))
        .body(Body::empty())
        .expect("a request");
    let (status, headers, body) = app.send(request).await;
    (
        status,
        headers,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

#[tokio::test]
async fn requests_beyond_the_executing_and_waiting_ones_are_refused_with_503() {
    let app = TestApp::with_args(&[
        "--max-concurrent-requests",
        "1",
        "--max-queued-requests",
        "0",
    ])
    .await;
    assert_eq!(app.app.admission.max_executing(), 1);
    let (status, _, _) = list(&app, None).await;
    assert_eq!(status, StatusCode::OK);
    // The one place taken (as by a slow request): nobody may wait, so both doors refuse at once.
    let place = app.app.admission.admit().await.expect("a free place");
    let (status, headers, body) = list(&app, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "SERVER_BUSY",
        "{body}"
    );
    assert_eq!(headers[header::RETRY_AFTER], "1");
    let (status, headers, body) = rest_list(&app, &app.admin.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "SERVER_BUSY", "{body}");
    assert_eq!(headers[header::RETRY_AFTER], "1");
    // The service's own pages still answer.
    let (status, _, _) = app
        .send(
            Request::get("/healthz")
                .body(Body::empty())
                .expect("a request"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    drop(place);
    assert_eq!(list(&app, None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_waiting_request_runs_when_a_place_frees_up_or_is_refused_after_the_queue_timeout() {
    let app = TestApp::with_args(&[
        "--max-concurrent-requests",
        "1",
        "--max-queued-requests",
        "1",
        "--queue-timeout",
        "30",
    ])
    .await;
    let place = app.app.admission.admit().await.expect("a free place");
    let waiting = list(&app, None);
    let release = async {
        // Let the request join the line, then free the place.
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(place);
    };
    let ((status, _, body), ()) = tokio::join!(waiting, release);
    assert_eq!(status, StatusCode::OK, "{body}");

    let app = TestApp::with_args(&[
        "--max-concurrent-requests",
        "1",
        "--max-queued-requests",
        "1",
        "--queue-timeout",
        "0.1",
    ])
    .await;
    let _place = app.app.admission.admit().await.expect("a free place");
    let (status, _, body) = list(&app, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "SERVER_BUSY");
}

#[tokio::test]
async fn a_standing_line_is_waited_in_briefly_while_an_earlier_request_keeps_its_place() {
    // Two places: a standing line keeps as many requests as there are places, so the second
    // request may join it (briefly).
    let app = TestApp::with_args(&[
        "--max-concurrent-requests",
        "2",
        "--max-queued-requests",
        "2",
        "--queue-timeout",
        "30",
    ])
    .await;
    let place = app.app.admission.admit().await.expect("a free place");
    let _other = app
        .app
        .admission
        .admit()
        .await
        .expect("a second free place");
    // The first request joins an empty line: it may wait the whole queue timeout.
    let first = {
        let app = app.app.clone();
        tokio::spawn(async move { app.admission.admit().await.is_ok() })
    };
    while app.app.admission.waiting() == 0 {
        tokio::task::yield_now().await;
    }
    // The line has not been empty for a second: it is standing, and the next request is refused
    // after a short wait (with the queue timeout it would wait 30 s), while the first still
    // waits for its place and gets it.
    app.app.clock.advance(chrono::Duration::seconds(1));
    let (status, _, body) = tokio::time::timeout(DEADLINE, list(&app, None))
        .await
        .expect("refused well before the queue timeout");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "SERVER_BUSY");
    assert_eq!(app.app.admission.waiting(), 1);
    drop(place);
    assert!(first.await.expect("the first request's task"));
}

#[tokio::test]
async fn a_principal_over_its_rate_limit_gets_429_with_the_ratelimit_fields_on_both_doors() {
    // One token per 100 s, two in the bucket: the third request is refused whatever the timing.
    let app = TestApp::with_args(&["--rate-limit", "viewer=0.01/2"]).await;
    let (_, viewer) = app.user(Role::Viewer, &[], false).await;
    let (status, headers, body) = list(&app, Some(&viewer)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["ratelimit-policy"], "\"viewer\";q=2;w=200");
    assert_eq!(headers["ratelimit"], "\"viewer\";r=1;t=100");
    let (status, _, _) = rest_list(&app, &viewer).await;
    assert_eq!(status, StatusCode::OK);
    let (status, headers, body) = list(&app, Some(&viewer)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "{body}"
    );
    assert_eq!(headers[header::RETRY_AFTER], "100");
    assert_eq!(headers["ratelimit"], "\"viewer\";r=0;t=200");
    let (status, headers, body) = rest_list(&app, &viewer).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "RATE_LIMITED", "{body}");
    assert!(headers.contains_key(header::RETRY_AFTER));
    // Other roles have no limit (none configured for them, and no `*`).
    for _ in 0..3 {
        let (status, headers, _) = list(&app, None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!headers.contains_key("ratelimit"));
    }
    // Time refills the bucket.
    app.app.clock.advance(chrono::Duration::seconds(100));
    assert_eq!(list(&app, Some(&viewer)).await.0, StatusCode::OK);
    assert_eq!(
        list(&app, Some(&viewer)).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn rate_limits_are_off_by_default() {
    let app = TestApp::new().await;
    let (_, viewer) = app.user(Role::Viewer, &[], false).await;
    for _ in 0..20 {
        let (status, headers, _) = list(&app, Some(&viewer)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!headers.contains_key("ratelimit"));
    }
}

pub(crate) const QUERY: &str = "{ imageBuilds(first: 1) { totalCount } }";

/// The answer to operation `id` (skipping nothing: the caller sends one at a time).
pub(crate) async fn answer(client: &mut Client, id: &str) -> Value {
    let message = client.recv().await;
    assert_eq!(message["id"], id, "{message}");
    message
}

#[tokio::test]
async fn a_websocket_message_over_the_limit_closes_1009_without_being_read() {
    let app = TestApp::with_args(&["--body-limit", "4096"]).await;
    let server = app.serve().await;
    // Within the limit: served.
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    let padding = " ".repeat(3000);
    client
        .send(json!({"type": "subscribe", "id": "a",
                     "payload": {"query": format!("{QUERY}{padding}")}}))
        .await;
    assert_eq!(answer(&mut client, "a").await["type"], "next");
    // Beyond it: 1009.
    let padding = " ".repeat(5000);
    client
        .send(json!({"type": "subscribe", "id": "b",
                     "payload": {"query": format!("{QUERY}{padding}")}}))
        .await;
    assert_eq!(client.recv().await["type"], "complete");
    assert_eq!(client.closed().await.0, 1009);
    // A frame announcing 16 MiB: refused from its header, the payload never awaited.
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    let mut frame = vec![0x81, 0x80 | 127];
    frame.extend_from_slice(&(16u64 << 20).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame.extend_from_slice(&[b'x'; 100]);
    client.write_raw(&frame).await;
    assert_eq!(client.closed().await.0, 1009);
    server.shutdown().await;
}

#[tokio::test]
async fn a_websocket_starts_a_bounded_number_of_operations_per_second() {
    let app = TestApp::with_args(&["--ws-operations-per-second", "1"]).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    // The burst is `--max-subscriptions` + 1 (51), refilled at one a second.
    let refused = client.burst(60, QUERY).await;
    assert!(
        refused >= 1,
        "five operations at once, one a second allowed"
    );
    // The socket stays open.
    client.send(json!({"type": "ping"})).await;
    assert_eq!(client.recv().await["type"], "pong");
    server.shutdown().await;
}

#[tokio::test]
async fn websocket_operations_spend_the_principals_rate_limit() {
    let app = TestApp::with_args(&["--rate-limit", "viewer=0.01/1"]).await;
    let (_, viewer) = app.user(Role::Viewer, &[], false).await;
    let server = app.serve().await;
    // Credentials in `connection_init`: the upgrade itself spends nothing.
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&viewer).await;
    client
        .send(json!({"type": "subscribe", "id": "1", "payload": {"query": QUERY}}))
        .await;
    assert_eq!(answer(&mut client, "1").await["type"], "next");
    assert_eq!(answer(&mut client, "1").await["type"], "complete");
    client
        .send(json!({"type": "subscribe", "id": "2", "payload": {"query": QUERY}}))
        .await;
    let refused = answer(&mut client, "2").await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED");
    server.shutdown().await;
}

#[tokio::test]
async fn websockets_are_capped_per_principal_and_in_total() {
    let app = TestApp::with_args(&[
        "--ws-max-sockets-per-principal",
        "1",
        "--ws-max-sockets",
        "2",
    ])
    .await;
    let server = app.serve().await;
    let mut first = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    first.init(&app.admin).await;
    let mut second = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    second
        .send(json!({"type": "connection_init", "payload": bearer(&app.admin)}))
        .await;
    assert_eq!(second.closed().await.0, 1008);
    // Its slot is given back when it closes; two sockets then fill the server.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while app.app.admission.open_sockets() > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot comes back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _third = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    let response = refused_upgrade(&server).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    drop(first);
    server.shutdown().await;
}
