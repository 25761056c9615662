//! Request ids and credentials headers.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use serde_json::{Value, json};

use crate::support::TestApp;

use super::{QUERY, plain, post};

fn request_id(headers: &axum::http::HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|id| id.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::new().await;
    let body = json!({"query": QUERY}).to_string();
    let mut ids = Vec::new();
    for request in [
        post(&app, Some("application/json"), None, body),
        plain("/graphql?query=%7B__typename%7D"),
        plain("/api/plugins/packer/image-builds/"),
        plain("/api/plugins/packer/nowhere/"),
        plain("/healthz"),
    ] {
        let uri = request.uri().clone();
        let (_, headers, _) = app.send(request).await;
        let id = request_id(&headers);
        assert_eq!(id.len(), 16, "{uri}: {headers:?}");
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "each request has its own id");
}

#[tokio::test]
async fn a_plain_request_id_from_the_client_is_kept_and_anything_else_replaced() {
    let app = TestApp::new().await;
    let with_id = |id: &[u8]| {
        Request::builder()
            .uri("/healthz")
            .header(
                "x-request-id",
                axum::http::HeaderValue::from_bytes(id).expect("a header value"),
            )
            .body(Body::empty())
            .expect("request")
    };
    let (_, headers, _) = app.send(with_id(b"proxy-42.a_b")).await;
    assert_eq!(request_id(&headers), "proxy-42.a_b");
    for bad in [&b"two words"[..], b"quote\"d", &[b'x'; 65]] {
        let (_, headers, _) = app.send(with_id(bad)).await;
        let id = request_id(&headers);
        assert_eq!(id.len(), 16, "{bad:?} gave {id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    }
}

#[tokio::test]
async fn missing_credentials_are_401_with_www_authenticate_in_the_negotiated_shape() {
    let app = TestApp::new().await;
    let request = Request::builder()
        .method(Method::POST)
        .uri("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/graphql-response+json")
        .body(Body::from(json!({"query": QUERY}).to_string()))
        .expect("request");
    let (status, headers, text) = app.send(request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert_eq!(
        headers[header::WWW_AUTHENTICATE],
        "Bearer realm=\"packer-gateway\""
    );
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("application/graphql-response+json")
    );
    let json: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(json["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert!(json.get("data").is_none(), "{text}");
}

/// A value that is not visible ASCII is refused as bad credentials, not taken for none: with
/// anonymous reading on, it would otherwise read as anonymous.
#[tokio::test]
async fn unreadable_credentials_are_refused_not_ignored() {
    let app = TestApp::with_args(&["--anonymous-read"]).await;
    for uri in [
        "/graphql?query=%7B__typename%7D",
        "/api/plugins/packer/image-builds/",
    ] {
        let request = Request::builder()
            .uri(uri)
            .header(
                header::AUTHORIZATION,
                axum::http::HeaderValue::from_bytes(b"Bearer \xff\xfe").expect("obs-text"),
            )
            .body(Body::empty())
            .expect("request");
        let (status, headers, text) = app.send(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {text}");
        assert!(headers.contains_key(header::WWW_AUTHENTICATE), "{uri}");
    }
    let (status, _, text) = app.send(plain("/graphql?query=%7B__typename%7D")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "anonymous without credentials: {text}"
    );
}
