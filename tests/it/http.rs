//! GraphQL over HTTP (SPEC §5): negotiation, status codes, limits, GraphiQL, health.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use serde_json::{Value, json};

use crate::support::TestApp;

const QUERY: &str = "{ pluginSettings { imageFactoryEnabled } }";

fn post(
    app: &TestApp,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: String,
) -> Request<Body> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/graphql")
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin));
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    request.body(Body::from(body)).expect("request")
}

fn get(app: &TestApp, query: &str, accept: &str) -> Request<Body> {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("query", query)
        .finish();
    Request::builder()
        .uri(format!("/graphql?{query}"))
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin))
        .header(header::ACCEPT, accept)
        .body(Body::empty())
        .expect("request")
}

#[tokio::test]
async fn the_response_type_follows_accept() {
    let app = TestApp::new().await;
    let body = json!({"query": QUERY}).to_string();
    for (accept, expected) in [
        (None, "application/json"),
        (Some("*/*"), "application/json"),
        (Some("application/json"), "application/json"),
        (
            Some("application/graphql-response+json"),
            "application/graphql-response+json",
        ),
        (
            Some("application/json;q=0.5, application/graphql-response+json"),
            "application/graphql-response+json",
        ),
    ] {
        let (status, headers, text) = app
            .send(post(&app, Some("application/json"), accept, body.clone()))
            .await;
        assert_eq!(status, StatusCode::OK, "{accept:?}: {text}");
        let content_type = headers[header::CONTENT_TYPE].to_str().expect("ascii");
        assert!(
            content_type.starts_with(expected),
            "{accept:?} gave {content_type}"
        );
        assert!(content_type.contains("charset=utf-8"));
    }
    let (status, _, _) = app
        .send(post(
            &app,
            Some("application/json"),
            Some("text/plain"),
            body,
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn only_json_bodies_are_accepted() {
    let app = TestApp::new().await;
    let body = json!({"query": QUERY}).to_string();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/json; charset=latin1"),
    ] {
        let (status, _, text) = app.send(post(&app, content_type, None, body.clone())).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}: {text}"
        );
        let json: Value = serde_json::from_str(&text).expect("json");
        assert!(json["errors"][0]["extensions"]["code"].is_string());
    }
    let (status, _, _) = app
        .send(post(
            &app,
            Some("application/json; charset=utf-8"),
            None,
            body,
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn request_errors_have_no_data_and_a_4xx_under_the_new_media_type() {
    let app = TestApp::new().await;
    let cases = [
        ("{ pluginSettings { ", json!({}), "GRAPHQL_PARSE_FAILED"),
        (
            "{ pluginSettings { nope } }",
            json!({}),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "query ($id: ID!) { imageBuild(id: $id) { id } }",
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            "query ($id: ID!) { __typename }",
            json!({"id": null}),
            "BAD_USER_INPUT",
        ),
        (
            "query ($n: Int) { __typename }",
            json!({"n": "three"}),
            "BAD_USER_INPUT",
        ),
        (
            "query ($f: ImageBuildFilter) { imageBuilds(filter: $f) { totalCount } }",
            json!({"f": {"status": {"eq": "SLEEPING"}}}),
            "BAD_USER_INPUT",
        ),
        (
            "query ($f: ImageBuildFilter) { imageBuilds(filter: $f) { totalCount } }",
            json!({"f": {"nope": 1}}),
            "BAD_USER_INPUT",
        ),
    ];
    for (query, variables, code) in cases {
        let body = json!({"query": query, "variables": variables}).to_string();
        let (status, _, text) = app
            .send(post(
                &app,
                Some("application/json"),
                Some("application/graphql-response+json"),
                body.clone(),
            ))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {text}");
        let json: Value = serde_json::from_str(&text).expect("json");
        assert!(json.get("data").is_none(), "{text}");
        assert_eq!(json["errors"][0]["extensions"]["code"], code, "{text}");
        // The legacy media type answers 200, as the GraphQL-over-HTTP spec asks.
        let (status, _, text) = app
            .send(post(
                &app,
                Some("application/json"),
                Some("application/json"),
                body,
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let json: Value = serde_json::from_str(&text).expect("json");
        assert!(json.get("data").is_none(), "{text}");
    }
    let (status, _, text) = app
        .send(post(
            &app,
            Some("application/json"),
            None,
            "{not json".into(),
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let (status, _, text) = app
        .send(post(
            &app,
            Some("application/json"),
            None,
            json!({"query": 1}).to_string(),
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
}

#[tokio::test]
async fn parse_errors_do_not_echo_the_document() {
    let app = TestApp::new().await;
    let secret = "{ pluginSettings { SECRET_TEXT_123 ";
    let (_, _, text) = app
        .send(post(
            &app,
            Some("application/json"),
            None,
            json!({"query": secret}).to_string(),
        ))
        .await;
    assert!(!text.contains("SECRET_TEXT_123"), "{text}");
}

#[tokio::test]
async fn batching_is_refused() {
    let app = TestApp::new().await;
    let body = json!([{"query": QUERY}, {"query": QUERY}]).to_string();
    let (status, _, text) = app
        .send(post(&app, Some("application/json"), None, body))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let json: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        json["errors"][0]["extensions"]["code"],
        "BATCHING_NOT_SUPPORTED"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let app = TestApp::with_args(&["--body-limit", "1024"]).await;
    let padding = " ".repeat(2048);
    let body = json!({"query": format!("{QUERY}{padding}")}).to_string();
    let (status, _, text) = app
        .send(post(&app, Some("application/json"), None, body))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    let json: Value = serde_json::from_str(&text).expect("json");
    assert!(json["errors"][0]["extensions"]["code"].is_string());
}

#[tokio::test]
async fn get_runs_queries_but_not_mutations() {
    let app = TestApp::new().await;
    let (status, _, text) = app.send(get(&app, QUERY, "application/json")).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let json: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(json["data"]["pluginSettings"]["imageFactoryEnabled"], false);

    let (status, headers, _) = app
        .send(get(&app, "mutation { __typename }", "application/json"))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "POST");
}

#[tokio::test]
async fn graphiql_is_served_without_any_network_asset() {
    let app = TestApp::new().await;
    for uri in ["/graphiql", "/graphql"] {
        let request = Request::builder()
            .uri(uri)
            .header(header::ACCEPT, "text/html,application/xhtml+xml")
            .body(Body::empty())
            .expect("request");
        let (status, headers, html) = app.send(request).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .expect("ascii")
                .starts_with("text/html")
        );
        assert!(html.contains("graphiql"), "{uri}");
        for src in html.split("src=\"").skip(1) {
            assert!(src.starts_with('/'), "a script comes from elsewhere: {src}");
        }
        assert!(
            !html.contains("https://"),
            "the page references the network"
        );
    }
    for asset in [
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphql-ws.min.js",
    ] {
        let request = Request::builder()
            .uri(format!("/graphiql/assets/{asset}"))
            .body(Body::empty())
            .expect("request");
        let (status, _, body) = app.send(request).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
        assert!(body.len() > 1000, "{asset}");
    }
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = TestApp::new().await;
    for uri in ["/healthz", "/readyz", "/metrics"] {
        let request = Request::builder()
            .uri(uri)
            .body(Body::empty())
            .expect("request");
        let (status, _, body) = app.send(request).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    }
}

#[tokio::test]
async fn text_with_a_nul_character_is_a_client_error() {
    let app = TestApp::new().await;
    let cases = [
        (
            r#"mutation { createTenant(input: {name: "a\u0000b", slug: "ab"}) { id } }"#,
            json!({}),
        ),
        (
            "mutation ($name: String!) { createTenant(input: {name: $name, slug: \"ab\"}) { id } }",
            json!({"name": "a\u{0}b"}),
        ),
        (
            "query ($f: ImageDefinitionFilter) { imageDefinitions(filter: $f) { totalCount } }",
            json!({"f": {"name": {"contains": "\u{0}"}}}),
        ),
    ];
    for (query, variables) in cases {
        let (status, body) = app.post(Some(&app.admin.clone()), query, variables).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{body}"
        );
    }
    assert_eq!(app.count("tenant").await, 0);
}

// --- the edge: what every door gets ------------------------------------------------------------

fn plain(uri: &str) -> Request<Body> {
    Request::builder()
        .uri(uri)
        .body(Body::empty())
        .expect("request")
}

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
