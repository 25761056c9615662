//! Automatic persisted queries (Apollo's protocol, `graphql::compat::persisted`) over POST and
//! GET: the miss clients expect, the document stored once its hash is checked, the hit, a hash
//! that does not match, the bounds of the cache, and every check still applied to a document
//! found by its hash. Apollo Client itself runs it in `frontend_clients.rs`.

use axum::{
    body::Body,
    http::{HeaderMap, Method, Request, StatusCode, header},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{TestApp, code};

const QUERY: &str = "query Settings { pluginSettings { id imageFactoryEnabled } }";

fn sha256(query: &str) -> String {
    Sha256::digest(query.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn extension(query: &str) -> Value {
    json!({"persistedQuery": {"version": 1, "sha256Hash": sha256(query)}})
}

/// A POST of `body` as admin, under `accept`.
async fn post(app: &TestApp, token: Option<&str>, accept: &str, body: Value) -> Reply {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, accept);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    send(app, request.body(Body::from(body.to_string()))).await
}

/// A GET with these query parameters (JSON values as JSON text), as admin.
async fn get(app: &TestApp, params: &[(&str, Value)]) -> Reply {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().map(|(key, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (*key, text)
        }))
        .finish();
    let request = Request::builder()
        .uri(format!("/graphql?{query}"))
        .header(header::ACCEPT, "application/graphql-response+json")
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin));
    send(app, request.body(Body::empty())).await
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn send(app: &TestApp, request: Result<Request<Body>, axum::http::Error>) -> Reply {
    let (status, headers, body) = app.send(request.expect("a request")).await;
    Reply {
        status,
        headers,
        body: serde_json::from_str(&body).unwrap_or(Value::String(body)),
    }
}

fn assert_miss(reply: &Reply, media: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!({"errors": [{"message": "PersistedQueryNotFound",
                           "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]})
    );
    let content_type = reply.headers[header::CONTENT_TYPE].to_str().unwrap_or("");
    assert!(content_type.starts_with(media), "{content_type}");
    let cache = reply.headers[header::CACHE_CONTROL].to_str().unwrap_or("");
    assert!(cache.contains("no-cache"), "{cache}");
}

#[tokio::test]
async fn a_miss_then_the_document_then_hits_over_post_and_get() {
    let app = TestApp::new().await;
    let admin = Some(app.admin.as_str());
    // The miss, as both media types negotiate it: HTTP 200 either way.
    for (accept, media) in [
        ("application/json", "application/json"),
        (
            "application/graphql-response+json, application/json;q=0.9",
            "application/graphql-response+json",
        ),
    ] {
        let reply = post(&app, admin, accept, json!({"extensions": extension(QUERY)})).await;
        assert_miss(&reply, media);
    }
    let reply = get(
        &app,
        &[
            ("operationName", json!("Settings")),
            ("variables", json!({})),
            ("extensions", extension(QUERY)),
        ],
    )
    .await;
    assert_miss(&reply, "application/graphql-response+json");

    // The document with its hash runs and is kept.
    let reply = post(
        &app,
        admin,
        "application/json",
        json!({"query": QUERY, "extensions": extension(QUERY)}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let expected = reply.body.clone();
    assert!(
        expected["data"]["pluginSettings"]["id"].is_string(),
        "{expected}"
    );

    // Then the hash alone, over POST and GET.
    let reply = post(
        &app,
        admin,
        "application/json",
        json!({"extensions": extension(QUERY)}),
    )
    .await;
    assert_eq!(reply.body, expected);
    let reply = get(&app, &[("extensions", extension(QUERY))]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, expected);
}

#[tokio::test]
async fn get_stores_too_and_variables_travel_with_the_hash() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let query = "query ($id: ID!) { tenant(id: $id) { name } }";
    let reply = get(
        &app,
        &[
            ("query", json!(query)),
            ("variables", json!({"id": world.t1.to_string()})),
            ("extensions", extension(query)),
        ],
    )
    .await;
    assert_eq!(
        reply.body["data"]["tenant"]["name"], "Tenant One",
        "{}",
        reply.body
    );
    let reply = get(
        &app,
        &[
            ("variables", json!({"id": world.t2.to_string()})),
            ("extensions", extension(query)),
        ],
    )
    .await;
    assert_eq!(
        reply.body["data"]["tenant"]["name"], "Tenant Two",
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn a_hash_that_does_not_match_is_refused_and_nothing_is_kept() {
    let app = TestApp::new().await;
    let admin = Some(app.admin.as_str());
    let other = "{ me { id } }";
    let reply = post(
        &app,
        admin,
        "application/json",
        json!({"query": other, "extensions": extension(QUERY)}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(code(&reply.body), "BAD_REQUEST");
    let reply = post(
        &app,
        admin,
        "application/json",
        json!({"extensions": extension(QUERY)}),
    )
    .await;
    assert_miss(&reply, "application/json");
    // A malformed extension is a bad request too.
    for extensions in [
        json!({"persistedQuery": {"version": 2, "sha256Hash": sha256(QUERY)}}),
        json!({"persistedQuery": {"version": 1, "sha256Hash": "abc"}}),
    ] {
        let reply = post(
            &app,
            admin,
            "application/json",
            json!({"extensions": extensions}),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    }
    // Without a query and without a hash: as before.
    let reply = post(&app, admin, "application/json", json!({"extensions": {}})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_document_found_by_its_hash_goes_through_every_check() {
    let app = TestApp::with_args(&["--anonymous-read", "--max-depth", "3"]).await;
    let admin = Some(app.admin.as_str());
    // Kept by an administrator, who may introspect…
    let introspection = "{ __schema { queryType { name } } }";
    let reply = post(
        &app,
        admin,
        "application/json",
        json!({"query": introspection, "extensions": extension(introspection)}),
    )
    .await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    // …but refused to an anonymous reader asking by hash.
    let reply = post(
        &app,
        None,
        "application/json",
        json!({"extensions": extension(introspection)}),
    )
    .await;
    assert_eq!(
        code(&reply.body),
        "INTROSPECTION_DISABLED",
        "{}",
        reply.body
    );

    // A document over a limit is refused, and not kept.
    let deep = "{ imageBuilds { nodes { definition { proxmoxEndpoint { name } } } } }";
    for (body, expected) in [
        (
            json!({"query": deep, "extensions": extension(deep)}),
            "QUERY_TOO_DEEP",
        ),
        (
            json!({"extensions": extension(deep)}),
            "PERSISTED_QUERY_NOT_FOUND",
        ),
    ] {
        let reply = post(&app, admin, "application/json", body).await;
        assert_eq!(code(&reply.body), expected, "{}", reply.body);
        assert!(reply.body.get("data").is_none(), "{}", reply.body);
    }

    // A mutation kept over POST still cannot run over GET.
    let mutation = "mutation { updatePluginSettings(input: {}) { id } }";
    post(
        &app,
        admin,
        "application/json",
        json!({"query": mutation, "extensions": extension(mutation)}),
    )
    .await;
    let reply = get(&app, &[("extensions", extension(mutation))]).await;
    assert_eq!(
        reply.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        reply.body
    );
}

/// Keeps `query`, by sending it with its hash.
async fn keep(app: &TestApp, query: &str) {
    let reply = post(
        app,
        Some(&app.admin),
        "application/json",
        json!({"query": query, "extensions": extension(query)}),
    )
    .await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
}

/// Whether the hash of `query` alone is found.
async fn kept(app: &TestApp, query: &str) -> bool {
    let reply = post(
        app,
        Some(&app.admin),
        "application/json",
        json!({"extensions": extension(query)}),
    )
    .await;
    code(&reply.body) != "PERSISTED_QUERY_NOT_FOUND"
}

#[tokio::test]
async fn the_cache_is_bounded_by_count_and_by_bytes() {
    let queries: Vec<String> = (0..3)
        .map(|i| format!("query Q{i} {{ pluginSettings {{ id }} }}"))
        .collect();
    let app = TestApp::with_args(&["--apq-max-entries", "2"]).await;
    for query in &queries {
        keep(&app, query).await;
    }
    assert!(
        !kept(&app, &queries[0]).await,
        "the least recently used went"
    );
    assert!(kept(&app, &queries[1]).await && kept(&app, &queries[2]).await);

    // Room for one of them by bytes (64 for the hash and the document).
    let room = (64 + queries[0].len() + 10).to_string();
    let app = TestApp::with_args(&["--apq-max-bytes", &room]).await;
    for query in &queries {
        keep(&app, query).await;
    }
    assert!(!kept(&app, &queries[0]).await && !kept(&app, &queries[1]).await);
    assert!(kept(&app, &queries[2]).await);
}

#[tokio::test]
async fn off_is_not_supported_and_clients_stop_hashing() {
    let app = TestApp::with_args(&["--apq-max-entries", "0"]).await;
    let reply = post(
        &app,
        Some(&app.admin),
        "application/json",
        json!({"extensions": extension(QUERY)}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.body,
        json!({"errors": [{"message": "PersistedQueryNotSupported",
                           "extensions": {"code": "PERSISTED_QUERY_NOT_SUPPORTED"}}]})
    );
    // The document with its hash still runs.
    keep(&app, QUERY).await;
}
