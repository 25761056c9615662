//! Introspection and suggestions for authenticated principals only, directive validation, and no
//! state change through a simple request.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use serde_json::{Value, json};

use crate::support::{TestApp, code};

use super::refused;

/// The introspection query of GraphiQL (graphql-js `getIntrospectionQuery` with every option):
/// 14 fields deep, within the limits.
const GRAPHIQL_INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    description
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives {
      name
      description
      isRepeatable
      locations
      args(includeDeprecated: true) { ...InputValue }
    }
  }
}
fragment FullType on __Type {
  kind
  name
  description
  specifiedByURL
  isOneOf
  fields(includeDeprecated: true) {
    name
    description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated
    deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name
  description
  type { ...TypeRef }
  defaultValue
  isDeprecated
  deprecationReason
}
fragment TypeRef on __Type {
  kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType {
  kind name } } } } } } } } }
}"#;

#[tokio::test]
async fn introspection_and_suggestions_are_for_authenticated_principals_only() {
    let app = TestApp::with_args(&["--anonymous-read"]).await;

    // Authenticated: the full GraphiQL introspection, and suggestions.
    let data = app.data(GRAPHIQL_INTROSPECTION, json!({})).await;
    assert!(
        data["__schema"]["types"]
            .as_array()
            .is_some_and(|t| t.len() > 20)
    );
    let (_, body) = app
        .post(
            Some(&app.admin.clone()),
            "{ imageBuilds { nodes { statsu } } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Did you mean")),
        "{body}"
    );

    // Anonymous: refused with a code, not answered with null.
    for query in [
        GRAPHIQL_INTROSPECTION,
        "{ __schema { queryType { name } } }",
        "{ __type(name: \"ImageBuild\") { name } }",
        "{ ...F } fragment F on Query { __type(name: \"ImageBuild\") { name } }",
    ] {
        let (status, body) = app.post(None, query, json!({})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(code(&body), "INTROSPECTION_DISABLED", "{body}");
        assert!(body.get("data").is_none(), "{body}");
    }
    let (status, body) = app.post(None, "{ __typename }", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["__typename"], "Query");

    // Anonymous validation messages suggest nothing.
    for query in [
        "{ imageBuilds { nodes { statsu } } }",
        "{ imageBuilds(frist: 1) { totalCount } }",
    ] {
        let (_, body) = app.post(None, query, json!({})).await;
        assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(!message.contains("Did you mean"), "{body}");
        assert!(
            !message.contains("status") && !message.contains("first"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn unknown_and_misplaced_directives_are_validation_errors() {
    let app = TestApp::new().await;
    for query in [
        "{ pluginSettings @nope { imageFactoryEnabled } }",
        "query @skip(if: true) { __typename }",
        "{ pluginSettings @deprecated { imageFactoryEnabled } }",
        "{ pluginSettings @skip { imageFactoryEnabled } }",
    ] {
        refused(&app, query, json!({}), "GRAPHQL_VALIDATION_FAILED").await;
    }
}

#[tokio::test]
async fn no_state_changes_through_simple_requests() {
    let app = TestApp::new().await;
    let mutation = "mutation { updatePluginSettings(input: {imageFactoryEnabled: true}) { \
        imageFactoryEnabled } }";
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("query", mutation)
        .finish();
    let multipart = format!(
        "--x\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\n{mutation}\r\n--x--\r\n"
    );
    // What a cross-site form or `fetch` without a preflight can send.
    for (content_type, body) in [
        ("text/plain", json!({"query": mutation}).to_string()),
        ("application/x-www-form-urlencoded", form),
        ("multipart/form-data; boundary=x", multipart),
    ] {
        app.settle().await;
        let before = app.statements();
        let request = Request::builder()
            .method(Method::POST)
            .uri("/graphql")
            .header(header::AUTHORIZATION, format!("Bearer {}", app.admin))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .expect("request");
        let (status, _, text) = app.send(request).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}");
        let json: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(code(&json), "BAD_REQUEST");
        assert_eq!(app.statements(), before, "{content_type}: nothing ran");
    }
    let data = app
        .data("{ pluginSettings { imageFactoryEnabled } }", json!({}))
        .await;
    assert_eq!(data["pluginSettings"]["imageFactoryEnabled"], false);

    // Other methods are refused as GraphQL errors too.
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        let request = Request::builder()
            .method(method.clone())
            .uri("/graphql")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"query": mutation}).to_string()))
            .expect("request");
        let (status, headers, text) = app.send(request).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(headers[header::ALLOW], "GET, POST");
        let json: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(code(&json), "BAD_REQUEST");
    }
}
