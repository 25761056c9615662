//! Visibility and authentication add no statement per row or per request.

use entity::enums::Role;
use serde_json::json;

use super::{AUTHENTICATION, BUILD_PAGE, fleet};
use crate::support::TestApp;

/// The same guarantees hold with tenant visibility applied (a VIEWER of one tenant): visibility
/// is part of each statement, never an extra one per row.
#[tokio::test]
async fn visibility_adds_no_statement_per_row() {
    let app = TestApp::new().await;
    let fleet = fleet(&app, 8, 120).await;
    let (viewer, token) = app.user(Role::Viewer, &[fleet.tenants[0]], true).await;
    app.record_token_use(viewer).await;
    app.as_user(&token, "{ me { id } }", json!({})).await;
    let mut counts = Vec::new();
    for first in [10, 50] {
        let before = app.statements();
        let body = app
            .as_user(&token, BUILD_PAGE, json!({ "first": first }))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        counts.push(app.statements() - before);
    }
    assert_eq!(
        counts[0], counts[1],
        "statements grow with the page: {counts:?}"
    );
    assert!(counts[0] <= 3 + AUTHENTICATION, "{counts:?}");
    let id = app
        .as_user(
            &token,
            "{ imageBuilds(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await["data"]["imageBuilds"]["nodes"][0]["id"]
        .clone();
    let before = app.statements();
    app.as_user(
        &token,
        "query ($id: ID!) { imageBuild(id: $id) { id status outputName } }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(app.statements() - before, 1 + AUTHENTICATION);
}

/// Authentication from memory: the first request with a token reads it (one statement: the token,
/// its user and the user's tenants); every later one runs no statement for it, whatever the door.
#[tokio::test]
async fn a_known_token_costs_no_statement() {
    let app = TestApp::new().await;
    let (viewer, token) = app.user(Role::Viewer, &[], true).await;
    // A use recorded just now: no request of this test writes `last_used`.
    app.record_token_use(viewer).await;
    let query = "{ __typename }";
    let before = app.statements();
    let body = app.as_user(&token, query, json!({})).await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
    assert_eq!(
        app.statements() - before,
        1,
        "the first use reads the token"
    );

    let before = app.statements();
    for _ in 0..20 {
        let body = app.as_user(&token, query, json!({})).await;
        assert_eq!(body["data"]["__typename"], "Query", "{body}");
    }
    assert_eq!(app.statements() - before, 0, "later uses read nothing");

    // The REST door shares the memory: its settings page is its one statement.
    let before = app.statements();
    let request = axum::http::Request::builder()
        .uri("/api/plugins/packer/settings/")
        .header("authorization", format!("Token {token}"))
        .body(axum::body::Body::empty())
        .expect("a request");
    let (status, _, _) = app.send(request).await;
    assert_eq!(status, axum::http::StatusCode::OK);
    assert_eq!(app.statements() - before, 1, "the settings, not the token");
}

/// An unknown token is looked up once, then refused from memory for a while: repeating a bad
/// token does not reach the database.
#[tokio::test]
async fn an_unknown_token_is_looked_up_once() {
    let app = TestApp::new().await;
    let bad = "pgw_not-a-token-of-this-service";
    let before = app.statements();
    for _ in 0..20 {
        let (status, _) = app.post(Some(bad), "{ __typename }", json!({})).await;
        assert_eq!(status, axum::http::StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.statements() - before,
        1,
        "one lookup for twenty refusals"
    );
}
