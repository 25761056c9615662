//! Who the edge says a request comes from (issue 14): the principal it authenticated, which the
//! doors reuse instead of authenticating again, and the client's address behind trusted reverse
//! proxies (`--trusted-proxy`), the key of an anonymous reader's rate limit. The choice of the
//! address itself is `http::forwarded`'s pure function, unit-tested there.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use packer_gateway::{auth::Principal, http::auth::Resolved};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{hostile::DEADLINE, support::TestApp};

/// One request on a connection of its own, with `X-Forwarded-For: forwarded` when given; the
/// status.
async fn status(addr: std::net::SocketAddr, graphql: bool, forwarded: Option<&str>) -> u16 {
    let forwarded = forwarded.map_or(String::new(), |f| format!("X-Forwarded-For: {f}\r\n"));
    let request = if graphql {
        let body = json!({"query": "{ imageBuilds(first: 1) { totalCount } }"}).to_string();
        format!(
            "POST /graphql HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{forwarded}\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    } else {
        format!(
            "GET /api/plugins/packer/image-builds/ HTTP/1.1\r\nHost: test\r\n\
             Connection: close\r\n{forwarded}\r\n"
        )
    };
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer}"))
}

/// Anonymous readers, one request per address and 100 s (a bucket of one token).
const ANONYMOUS_LIMIT: [&str; 3] = ["--anonymous-read", "--rate-limit", "anonymous=0.01/1"];

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit_on_both_doors() {
    let mut args = ANONYMOUS_LIMIT.to_vec();
    args.extend(["--trusted-proxy", "10.0.0.0/8,127.0.0.1"]);
    let app = TestApp::with_args(&args).await;
    let server = app.serve().await;
    for graphql in [true, false] {
        // Each door its own clients (the buckets are shared by the doors).
        let (one, two) = if graphql {
            ("198.51.100.1", "198.51.100.2")
        } else {
            ("198.51.100.3", "198.51.100.4")
        };
        assert_eq!(status(server.addr, graphql, Some(one)).await, 200);
        assert_eq!(status(server.addr, graphql, Some(one)).await, 429);
        // Another client behind the same proxy is not limited by the first; what a client
        // writes to the left of the last untrusted hop is ignored, trusted hops are skipped.
        let chain = format!("203.0.113.66, {two}, 10.1.2.3");
        assert_eq!(status(server.addr, graphql, Some(&chain)).await, 200);
        assert_eq!(status(server.addr, graphql, Some(two)).await, 429);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn without_trusted_proxies_the_forwarded_address_is_ignored_on_both_doors() {
    let app = TestApp::with_args(&ANONYMOUS_LIMIT).await;
    let server = app.serve().await;
    // Every request comes from the peer, 127.0.0.1, whatever it claims.
    assert_eq!(status(server.addr, true, Some("198.51.100.1")).await, 200);
    assert_eq!(status(server.addr, true, Some("198.51.100.2")).await, 429);
    assert_eq!(status(server.addr, false, Some("198.51.100.3")).await, 429);
    assert_eq!(status(server.addr, false, None).await, 429);
    server.shutdown().await;
}

/// A request without credentials, carrying the principal the edge resolved for it.
fn resolved(method: Method, uri: &str, body: Body, principal: Principal) -> Request<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("a request");
    request.extensions_mut().insert(Resolved(principal));
    request
}

#[tokio::test]
async fn the_doors_take_the_principal_the_edge_resolved_instead_of_authenticating_again() {
    let app = TestApp::new().await;
    let Ok(admin) = app
        .app
        .auth
        .authenticate(Some(&format!("Bearer {}", app.admin)), false)
        .await
    else {
        panic!("the admin token authenticates");
    };
    // No credentials in the request: only the edge's principal can answer these.
    let body = Body::from(json!({"query": "{ me { username } }"}).to_string());
    let (status, _, body) = app
        .send(resolved(Method::POST, "/graphql", body, admin.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["data"]["me"]["username"], "admin", "{body}");
    let uri = "/graphql?query=%7B%20me%20%7B%20username%20%7D%20%7D";
    let (status, _, body) = app
        .send(resolved(Method::GET, uri, Body::empty(), admin.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = app
        .send(resolved(
            Method::GET,
            "/api/plugins/packer/settings/",
            Body::empty(),
            admin,
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Without it, the same requests are refused.
    let request = Request::get("/api/plugins/packer/settings/")
        .body(Body::empty())
        .expect("a request");
    assert_eq!(app.send(request).await.0, StatusCode::UNAUTHORIZED);
}
