//! Depth and complexity: connections cost their page size times their selection, the default
//! limit, and absurd page sizes.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{TestApp, code};

use super::{passes, refused};

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
