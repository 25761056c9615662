//! Cross-origin access for browser apps (`--cors-origin`, `http::cors`): preflights answered on
//! both doors, `Access-Control-Allow-Origin` on the responses of listed origins only (errors
//! included), and the websocket's `Origin` check — and nothing of it when the list is not set.

use axum::{
    body::Body,
    http::{HeaderMap, Method, Request, StatusCode, header},
};
use serde_json::{Value, json};
use tokio_tungstenite::{
    connect_async,
    tungstenite::{self, client::IntoClientRequest, http::HeaderValue},
};

use crate::support::TestApp;

const APP: &str = "https://app.example.net";
const DEV: &str = "http://localhost:5173";
const EVIL: &str = "https://evil.example";

async fn listed() -> TestApp {
    TestApp::with_args(&["--cors-origin", &format!("{APP},{DEV}")]).await
}

/// A preflight of `method path` from `origin`, asking for `headers`.
async fn preflight(
    app: &TestApp,
    path: &str,
    origin: &str,
    method: &str,
    headers: &str,
) -> (StatusCode, HeaderMap) {
    let request = Request::builder()
        .method(Method::OPTIONS)
        .uri(path)
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, headers)
        .body(Body::empty())
        .expect("a request");
    let (status, headers, _) = app.send(request).await;
    (status, headers)
}

/// A GraphQL POST from `origin`, with `token` or none.
async fn post(app: &TestApp, origin: &str, token: Option<&str>) -> (StatusCode, HeaderMap, Value) {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/graphql")
        .header(header::ORIGIN, origin)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = json!({"query": "{ pluginSettings { id } }"}).to_string();
    let (status, headers, body) = app
        .send(request.body(Body::from(body)).expect("a request"))
        .await;
    (
        status,
        headers,
        serde_json::from_str(&body).unwrap_or_default(),
    )
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The comma-separated values of a header, lowercased.
fn values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect()
}

#[tokio::test]
async fn preflights_are_answered_on_both_doors_for_listed_origins() {
    let app = listed().await;
    let asked = "authorization,content-type,apollographql-client-name,apollographql-client-version";
    for (path, method) in [
        ("/graphql", "POST"),
        ("/graphql", "GET"),
        ("/api/plugins/packer/image-builds/", "POST"),
        ("/api/plugins/packer/image-builds/7/", "PATCH"),
        ("/api/plugins/packer/image-definitions/3/", "DELETE"),
        ("/api/plugins/packer/settings/", "PUT"),
    ] {
        for origin in [APP, DEV] {
            let (status, headers) = preflight(&app, path, origin, method, asked).await;
            assert_eq!(status, StatusCode::OK, "{path} {method} from {origin}");
            assert_eq!(header(&headers, "access-control-allow-origin"), origin);
            let methods = values(&headers, "access-control-allow-methods");
            assert!(
                methods.contains(&method.to_ascii_lowercase()),
                "{methods:?}"
            );
            let allowed = values(&headers, "access-control-allow-headers");
            for asked in asked.split(',') {
                assert!(allowed.contains(&asked.to_owned()), "{asked}: {allowed:?}");
            }
            assert_eq!(header(&headers, "access-control-max-age"), "7200");
            assert!(values(&headers, "vary").contains(&"origin".to_owned()));
            assert!(headers.get("access-control-allow-credentials").is_none());
            assert!(
                headers.get("x-request-id").is_some(),
                "the edge's own answer"
            );
        }
        // Another origin is told nothing a browser would accept.
        let (_, headers) = preflight(&app, path, EVIL, method, asked).await;
        assert!(
            headers.get("access-control-allow-origin").is_none(),
            "{path}: {headers:?}"
        );
    }
}

#[tokio::test]
async fn responses_carry_the_allowed_origin_errors_included() {
    let app = listed().await;
    let (status, headers, body) = post(&app, APP, Some(&app.admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(header(&headers, "access-control-allow-origin"), APP);
    assert!(values(&headers, "vary").contains(&"origin".to_owned()));
    let exposed = values(&headers, "access-control-expose-headers");
    for name in ["x-request-id", "www-authenticate", "retry-after"] {
        assert!(exposed.contains(&name.to_owned()), "{name}: {exposed:?}");
    }
    // A refusal is readable too: the page learns it must sign in.
    let (status, headers, body) = post(&app, DEV, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(header(&headers, "access-control-allow-origin"), DEV);
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    // Not for another origin.
    let (status, headers, _) = post(&app, EVIL, Some(&app.admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("access-control-allow-origin").is_none());
    // REST too.
    let request = Request::builder()
        .uri("/api/plugins/packer/settings/")
        .header(header::ORIGIN, APP)
        .header(header::AUTHORIZATION, format!("Token {}", app.admin))
        .body(Body::empty())
        .expect("a request");
    let (status, headers, _) = app.send(request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "access-control-allow-origin"), APP);
}

#[tokio::test]
async fn without_the_flag_no_cors_header_is_sent() {
    let app = TestApp::new().await;
    let (status, headers) = preflight(&app, "/graphql", APP, "POST", "authorization").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(headers.get("access-control-allow-origin").is_none());
    let (status, headers, _) = post(&app, APP, Some(&app.admin)).await;
    assert_eq!(status, StatusCode::OK);
    for (name, _) in &headers {
        assert!(
            !name.as_str().starts_with("access-control-"),
            "{name} without --cors-origin"
        );
    }
}

#[tokio::test]
async fn every_origin_is_allowed_with_a_star() {
    let app = TestApp::with_args(&["--cors-origin", "*"]).await;
    let (_, headers) = preflight(&app, "/graphql", EVIL, "POST", "authorization").await;
    assert_eq!(header(&headers, "access-control-allow-origin"), "*");
}

/// The status of a websocket upgrade sent with these headers, and the refusal's body.
async fn upgrade(url: &str, headers: &[(&str, String)]) -> (u16, Value) {
    let mut request = url.into_client_request().expect("a request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    for (name, value) in headers {
        request.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).expect("a name"),
            HeaderValue::from_str(value).expect("a value"),
        );
    }
    match connect_async(request).await {
        Ok((_, response)) => (response.status().as_u16(), Value::Null),
        Err(tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_deref()
                .and_then(|body| serde_json::from_slice(body).ok())
                .unwrap_or_default();
            (response.status().as_u16(), body)
        }
        Err(err) => panic!("the upgrade failed otherwise: {err}"),
    }
}

#[tokio::test]
async fn the_websocket_checks_origin_against_the_same_list() {
    let app = listed().await;
    let server = app.serve().await;
    let url = server.ws_url();
    let own = format!("http://{}", server.addr);
    assert_eq!(upgrade(&url, &[("origin", APP.to_owned())]).await.0, 101);
    assert_eq!(upgrade(&url, &[("origin", DEV.to_owned())]).await.0, 101);
    assert_eq!(upgrade(&url, &[]).await.0, 101, "not a browser");
    assert_eq!(
        upgrade(&url, &[("origin", own)]).await.0,
        101,
        "the service's own pages (the dashboard, GraphiQL)"
    );
    let (status, body) = upgrade(&url, &[("origin", EVIL.to_owned())]).await;
    assert_eq!(status, 403);
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    server.shutdown().await;

    // Without the list, every origin may connect.
    let app = TestApp::new().await;
    let server = app.serve().await;
    let (status, _) = upgrade(&server.ws_url(), &[("origin", EVIL.to_owned())]).await;
    assert_eq!(status, 101);
    server.shutdown().await;
}
