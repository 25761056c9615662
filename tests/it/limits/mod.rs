//! Query limits (SPEC §5): each limit lets the query just under it through and refuses the one
//! just over it with its code, before any resolver runs — the statement counter sees nothing (the
//! token is authenticated from memory).

mod cost;
mod documents;
mod introspection;

use std::time::Duration;

use axum::http::StatusCode;
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
