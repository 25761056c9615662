//! Negotiation, request bodies and status codes.

use axum::http::{StatusCode, header};
use serde_json::{Value, json};

use crate::support::TestApp;

use super::{QUERY, get, post};

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
