//! Query limits (SPEC §5): each limit lets the query just under it through and refuses the one
//! just over it with its code, before any resolver runs — the statement counter sees nothing (the
//! token is authenticated from memory).

use std::time::Duration;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use serde_json::{Value, json};

use crate::support::{TestApp, code};

/// A guard against hangs only: every refusal here is immediate.
const HANG_GUARD: Duration = Duration::from_secs(5);

/// Sends `query` as admin and returns the status, the body and the statements it ran.
async fn counted(app: &TestApp, query: &str, variables: Value) -> (StatusCode, Value, u64) {
    // The first use of a token records it in the background: get that out of the way.
    app.post(Some(&app.admin.clone()), "{ __typename }", json!({}))
        .await;
    app.settle().await;
    let before = app.statements();
    let (status, body) = tokio::time::timeout(
        HANG_GUARD,
        app.post(Some(&app.admin.clone()), query, variables),
    )
    .await
    .expect("the server answers in time");
    (status, body, app.statements() - before)
}

/// Asserts that `query` runs without error.
async fn passes(app: &TestApp, query: &str, variables: Value) {
    let (status, body, _) = counted(app, query, variables).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    assert!(body.get("errors").is_none(), "{query}: {body}");
}

/// Asserts that `query` is a request error with `expected`, and that it ran no statement (the
/// token, used just before, is authenticated from memory).
async fn refused(app: &TestApp, query: &str, variables: Value, expected: &str) -> Value {
    let (status, body, statements) = counted(app, query, variables).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(code(&body), expected, "{body}");
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(statements, 0, "no statement may run: {body}");
    body
}

fn nested(levels: &[&str], leaf: &str) -> String {
    let mut query = leaf.to_owned();
    for level in levels.iter().rev() {
        query = format!("{level} {{ {query} }}");
    }
    format!("{{ {query} }}")
}

#[tokio::test]
async fn depth_just_under_passes_and_just_over_is_refused() {
    let app = TestApp::new().await;
    let ten = nested(
        &[
            "imageBuilds(first: 1)",
            "edges",
            "node",
            "definition",
            "builds(first: 1)",
            "nodes",
            "definition",
            "proxmoxEndpoint",
            "tenant",
        ],
        "name",
    );
    passes(&app, &ten, json!({})).await;
    let eleven = nested(
        &[
            "imageBuilds(first: 1)",
            "edges",
            "node",
            "rebuildOf",
            "definition",
            "builds(first: 1)",
            "nodes",
            "definition",
            "proxmoxEndpoint",
            "tenant",
        ],
        "name",
    );
    refused(&app, &eleven, json!({}), "QUERY_TOO_DEEP").await;

    // Through a fragment, the same.
    let through_fragment = "{ imageBuilds(first: 1) { edges { node { ...B } } } } \
        fragment B on ImageBuild { rebuildOf { definition { builds(first: 1) { nodes { \
        definition { proxmoxEndpoint { tenant { name } } } } } } } }";
    refused(&app, through_fragment, json!({}), "QUERY_TOO_DEEP").await;

    let app = TestApp::with_args(&["--max-depth", "11"]).await;
    passes(&app, &eleven, json!({})).await;
}

#[tokio::test]
async fn connections_cost_their_page_size_times_their_selection() {
    // `imageBuilds(first: n) { nodes { id } }` costs 1 + n × (1 + 1).
    let cases = [
        ("{ imageBuilds(first: 7) { nodes { id } } }", json!({}), 15),
        ("{ imageBuilds(last: 7) { nodes { id } } }", json!({}), 15),
        ("{ imageBuilds { nodes { id } } }", json!({}), 101),
        (
            "query ($n: Int) { imageBuilds(first: $n) { nodes { id } } }",
            json!({"n": 7}),
            15,
        ),
        // A declared variable that is not sent leaves the default page size.
        (
            "query ($n: Int) { imageBuilds(first: $n) { nodes { id } } }",
            json!({}),
            101,
        ),
        (
            "query ($n: Int = 3) { imageBuilds(first: $n) { nodes { id } } }",
            json!({}),
            7,
        ),
        // Nested connections multiply: 1 + 2 × (1 + (1 + 3 × 2)).
        (
            "{ imageDefinitions(first: 2) { nodes { builds(first: 3) { nodes { id } } } } }",
            json!({}),
            17,
        ),
        // Every list query is annotated.
        ("{ buildEvents(first: 4) { nodes { id } } }", json!({}), 9),
        ("{ tenants(first: 4) { nodes { id } } }", json!({}), 9),
        ("{ clusters(first: 4) { nodes { id } } }", json!({}), 9),
        (
            "{ proxmoxEndpoints(first: 4) { nodes { id } } }",
            json!({}),
            9,
        ),
        (
            "{ cloudImageTemplates(first: 4) { nodes { id } } }",
            json!({}),
            9,
        ),
        ("{ users(first: 4) { nodes { id } } }", json!({}), 9),
    ];
    for (query, variables, cost) in cases {
        let limit = cost.to_string();
        let app = TestApp::with_args(&["--max-complexity", &limit]).await;
        passes(&app, query, variables.clone()).await;
        let limit = (cost - 1).to_string();
        let app = TestApp::with_args(&["--max-complexity", &limit]).await;
        refused(&app, query, variables, "QUERY_TOO_COMPLEX").await;
    }
}

#[tokio::test]
async fn the_default_complexity_limit_is_2000() {
    let app = TestApp::new().await;
    // 1 + 10 × (1 + (1 + b × 2)): 1981 for b = 98, 2001 for b = 99.
    let query = |b: u32| {
        format!(
            "{{ imageDefinitions(first: 10) {{ nodes {{ builds(first: {b}) {{ nodes {{ id }} }} }} }} }}"
        )
    };
    passes(&app, &query(98), json!({})).await;
    refused(&app, &query(99), json!({}), "QUERY_TOO_COMPLEX").await;
}

#[tokio::test]
async fn absurd_page_sizes_neither_panic_nor_overflow() {
    let app = TestApp::new().await;
    for first in ["0", "-5", "2147483647", "-2147483648"] {
        // Counted as 1..=100 rows, then refused by the resolver.
        let query = format!("{{ imageBuilds(first: {first}) {{ nodes {{ id }} }} }}");
        let (status, body) = app.post(Some(&app.admin.clone()), &query, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    }
    // Not an Int at all: validation failures. Too large for an Int: async-graphql 7.0 notices
    // only when it coerces the literal for the resolver, a field error.
    for (first, expected) in [
        ("\"ten\"", "GRAPHQL_VALIDATION_FAILED"),
        ("1.5", "GRAPHQL_VALIDATION_FAILED"),
        ("99999999999", "BAD_USER_INPUT"),
    ] {
        let query = format!("{{ imageBuilds(first: {first}) {{ nodes {{ id }} }} }}");
        let (status, body) = app.post(Some(&app.admin.clone()), &query, json!({})).await;
        assert!(status.is_success() || status.is_client_error(), "{body}");
        assert_eq!(code(&body), expected, "{body}");
    }
    // Nested maximal pages: 100 × 100 × 100 rows saturate instead of overflowing.
    let huge = "{ imageDefinitions(first: 100) { nodes { builds(first: 100) { nodes { \
        definition { builds(first: 100) { nodes { id } } } } } } } }";
    refused(&app, huge, json!({}), "QUERY_TOO_COMPLEX").await;
}

#[tokio::test]
async fn aliases_just_under_pass_and_just_over_are_refused() {
    let app = TestApp::new().await;
    let aliases = |n: usize| {
        let fields: Vec<String> = (0..n).map(|i| format!("a{i}: __typename")).collect();
        format!("{{ {} }}", fields.join(" "))
    };
    passes(&app, &aliases(30), json!({})).await;
    refused(&app, &aliases(31), json!({}), "TOO_MANY_ALIASES").await;

    // Ten aliases in a fragment spread three times count thirty.
    let fragment: Vec<String> = (0..10).map(|i| format!("f{i}: id")).collect();
    let fragment = format!("fragment F on ImageBuild {{ {} }}", fragment.join(" "));
    let three = format!(
        "{{ imageBuilds(first: 1) {{ nodes {{ ...F rebuildOf {{ ...F }} }} edges {{ node {{ ...F }} }} }} }} {fragment}"
    );
    passes(&app, &three, json!({})).await;
    let four = format!(
        "{{ imageBuilds(first: 1) {{ nodes {{ ...F rebuildOf {{ ...F }} }} edges {{ node {{ ...F }} }} \
         again: nodes {{ id }} }} }} {fragment}"
    );
    refused(&app, &four, json!({}), "TOO_MANY_ALIASES").await;
}

#[tokio::test]
async fn directives_just_under_pass_and_just_over_are_refused() {
    let app = TestApp::with_args(&["--max-directives", "2"]).await;
    let two = "{ pluginSettings @include(if: true) @skip(if: false) { imageFactoryEnabled } }";
    passes(&app, two, json!({})).await;
    let three = "{ pluginSettings @include(if: true) @skip(if: false) @include(if: true) { \
        imageFactoryEnabled } }";
    refused(&app, three, json!({}), "TOO_MANY_DIRECTIVES").await;

    // The default is 5; a thousand directives are refused without validating one of them.
    let app = TestApp::new().await;
    let many = format!(
        "{{ pluginSettings {} {{ imageFactoryEnabled }} }}",
        "@skip(if: false) ".repeat(1000)
    );
    refused(&app, &many, json!({}), "TOO_MANY_DIRECTIVES").await;
}

#[tokio::test]
async fn documents_over_the_size_limit_are_413() {
    let app = TestApp::with_args(&["--max-document-bytes", "200"]).await;
    let query = |size: usize| {
        let base = "{ pluginSettings { imageFactoryEnabled } }";
        format!("{base}{}", " ".repeat(size - base.len()))
    };
    passes(&app, &query(200), json!({})).await;
    let (status, body, statements) = counted(&app, &query(201), json!({})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(code(&body), "QUERY_TOO_LARGE");
    assert_eq!(statements, 0);

    // GET is held to the same limit (its document is not a body).
    let long = query(300);
    let uri = format!(
        "/graphql?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("query", &long)
            .finish()
    );
    let request = Request::builder()
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin))
        .body(Body::empty())
        .expect("request");
    let (status, _, text) = app.send(request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
}

#[tokio::test]
async fn pathological_documents_are_refused_quickly_and_the_server_stays_healthy() {
    let app =
        TestApp::with_args(&["--body-limit", "4000000", "--max-document-bytes", "4000000"]).await;

    // One megabyte of nested brackets, in a selection and in an argument value: the recursive
    // parser never sees them.
    let brackets = "{".repeat(1 << 20);
    refused(&app, &brackets, json!({}), "QUERY_TOO_DEEP").await;
    let values = format!("{{ imageBuild(id: {}) {{ id }} }}", "[".repeat(1 << 20));
    refused(&app, &values, json!({}), "QUERY_TOO_DEEP").await;
    // Deeper than the parser's own recursion limit, yet within the bracket scan.
    let selections = format!("{}{}", "{ a ".repeat(70), "}".repeat(70));
    refused(&app, &selections, json!({}), "QUERY_TOO_DEEP").await;

    // Five thousand fields.
    let fields = format!(
        "{{ pluginSettings {{ {} }} }}",
        "imageFactoryEnabled ".repeat(5000)
    );
    refused(&app, &fields, json!({}), "QUERY_TOO_COMPLEX").await;
    let aliased: Vec<String> = (0..5000).map(|i| format!("a{i}: __typename")).collect();
    let aliased = format!("{{ {} }}", aliased.join(" "));
    refused(&app, &aliased, json!({}), "TOO_MANY_ALIASES").await;

    // Fragments that fan out to 2^30 fields, and fragments that spread each other.
    let mut fan_out = String::from("{ ...F0 }");
    for i in 0..30 {
        fan_out.push_str(&format!(
            " fragment F{i} on Query {{ ...F{} ...F{} }}",
            i + 1,
            i + 1
        ));
    }
    fan_out.push_str(" fragment F30 on Query { __typename }");
    refused(&app, &fan_out, json!({}), "QUERY_TOO_COMPLEX").await;
    let cycle =
        "{ ...A } fragment A on Query { ...B __typename } fragment B on Query { ...A ...A }";
    refused(&app, cycle, json!({}), "GRAPHQL_VALIDATION_FAILED").await;

    // Introspection that multiplies lists by lists.
    let lists =
        "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
    refused(&app, lists, json!({}), "QUERY_TOO_DEEP").await;

    let data = app
        .data("{ pluginSettings { imageFactoryEnabled } }", json!({}))
        .await;
    assert_eq!(data["pluginSettings"]["imageFactoryEnabled"], false);
}

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
