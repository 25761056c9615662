//! Aliases, directives and document size, and pathological documents.

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use serde_json::json;

use crate::support::{TestApp, code};

use super::{counted, passes, refused};

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

/// A document the full validation has passed once runs on a schema that validates only what
/// execution needs (issue 9); it must answer exactly as before: an invalid document is refused
/// every time, and a valid one with bad variables is refused before execution every time.
#[tokio::test]
async fn a_document_answers_alike_once_its_validation_is_remembered() {
    let app = TestApp::new().await;
    // Never passes, so never remembered: refused each time by the full validation.
    let invalid = "query($id: ID!) { imageBuild(id: $id) { id noSuchField } }";
    for _ in 0..3 {
        let body = refused(
            &app,
            invalid,
            json!({"id": "1"}),
            "GRAPHQL_VALIDATION_FAILED",
        )
        .await;
        assert!(body.to_string().contains("noSuchField"), "{body}");
    }
    // A field error is not a validation error: the document passes, then runs on the fast
    // schema, with the same answer.
    let by_id = "query($id: ID!) { imageBuild(id: $id) { id status } }";
    let first = app.post(Some(&app.admin), by_id, json!({"id": "no"})).await;
    let again = app.post(Some(&app.admin), by_id, json!({"id": "no"})).await;
    assert_eq!(
        (first.0, code(&first.1)),
        (again.0, code(&again.1)),
        "{:?}",
        again.1
    );
    assert_eq!(first.1["data"], again.1["data"]);
    assert_eq!(
        first.1["errors"][0]["path"],
        json!(["imageBuild"]),
        "{:?}",
        first.1
    );
    let valid = "query($n: Int!) { imageBuilds(first: $n) { totalCount } }";
    for _ in 0..3 {
        passes(&app, valid, json!({"n": 1})).await;
    }
    // Variables the full validation would refuse are refused before execution either way.
    for variables in [
        json!({"n": "one"}),
        json!({"n": 1.5}),
        json!({"n": 4_294_967_296_i64}),
        json!({}),
        json!({"n": [1]}),
    ] {
        refused(&app, valid, variables, "BAD_USER_INPUT").await;
    }
    refused(&app, by_id, json!({"id": {"no": 1}}), "BAD_USER_INPUT").await;
    // Fragments, directives and literal arguments: refused or passed the same each time.
    let literal = "{ imageBuilds(first: \"one\") { totalCount } }";
    for _ in 0..2 {
        refused(&app, literal, json!({}), "GRAPHQL_VALIDATION_FAILED").await;
    }
    let spread = "query($skip: Boolean!) { imageBuilds(first: 1) { ...F @skip(if: $skip) } } \
                  fragment F on ImageBuildConnection { totalCount }";
    for _ in 0..2 {
        passes(&app, spread, json!({"skip": false})).await;
        refused(&app, spread, json!({"skip": "no"}), "BAD_USER_INPUT").await;
    }
}
