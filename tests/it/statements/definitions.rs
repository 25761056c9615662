//! Definitions with their nested builds; totalCount; filters.

use serde_json::json;

use super::{AUTHENTICATION, fleet, measure, warm_up};
use crate::support::{TestApp, at};

const DEFINITION_PAGE: &str = "query($first: Int) { imageDefinitions(first: $first) { nodes {
    id
    proxmoxEndpoint { name } targetCluster { name }
    builds(first: 3) { nodes { id } totalCount }
    latestBuild { id }
    allowedTenants { name }
} } }";

#[tokio::test]
async fn definitions_with_nested_builds_cost_the_same_for_5_and_20() {
    let app = TestApp::new().await;
    fleet(&app, 20, 100).await;
    warm_up(&app).await;
    let (five, data) = measure(&app, DEFINITION_PAGE, json!({ "first": 5 })).await;
    let nodes = data["imageDefinitions"]["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 5);
    for node in nodes {
        assert_eq!(node["builds"]["nodes"].as_array().expect("builds").len(), 3);
        assert_eq!(node["builds"]["totalCount"], json!(5));
        assert_eq!(node["latestBuild"]["id"], node["builds"]["nodes"][0]["id"]);
    }
    let (twenty, data) = measure(&app, DEFINITION_PAGE, json!({ "first": 20 })).await;
    assert_eq!(
        data["imageDefinitions"]["nodes"]
            .as_array()
            .expect("nodes")
            .len(),
        20
    );
    assert_eq!(
        five, twenty,
        "statements grow with the number of definitions"
    );
    // Definitions with their endpoints and clusters (joined), then tenant lists, latest builds,
    // pages of builds and their counts, read before any resolver runs.
    assert_eq!(five, 5 + AUTHENTICATION);
}

#[tokio::test]
async fn total_count_is_one_statement_and_only_when_selected() {
    let app = TestApp::new().await;
    fleet(&app, 6, 30).await;
    warm_up(&app).await;
    for (without, with) in [
        (
            "{ imageBuilds(first: 5) { nodes { id } } }",
            "{ imageBuilds(first: 5) { nodes { id } totalCount } }",
        ),
        (
            "{ imageDefinitions { nodes { id builds(first: 2) { nodes { id } } } } }",
            "{ imageDefinitions { nodes { id builds(first: 2) { nodes { id } totalCount } } } }",
        ),
        (
            "{ tenants { nodes { id } } }",
            "{ tenants { nodes { id } totalCount } }",
        ),
    ] {
        let (without_count, _) = measure(&app, without, json!({})).await;
        let (with_count, data) = measure(&app, with, json!({})).await;
        assert_eq!(with_count, without_count + 1, "{with}: {data}");
    }
    let (count, data) = measure(&app, "{ imageBuilds { totalCount } }", json!({})).await;
    assert_eq!(data["imageBuilds"]["totalCount"], json!(30));
    assert_eq!(count, 2 + AUTHENTICATION, "the page and the count");
}

#[tokio::test]
async fn a_filter_is_one_statement() {
    let app = TestApp::new().await;
    let fleet = fleet(&app, 6, 30).await;
    warm_up(&app).await;
    let filter = json!({
        "or": [
            {"tenant": {"isNull": true}},
            {"and": [{"osFamily": {"in": ["UBUNTU"]}}, {"not": {"createdBy": {"isNull": true}}}]}
        ],
        "q": "out",
        "definition": {"in": fleet.definitions.iter().map(|d| d.to_string()).collect::<Vec<_>>()},
        "created": {"lte": at(1)},
    });
    let (count, data) = measure(
        &app,
        "query($f: ImageBuildFilter) { imageBuilds(filter: $f, first: 100) { nodes { id } } }",
        json!({ "f": filter }),
    )
    .await;
    assert_eq!(
        data["imageBuilds"]["nodes"]
            .as_array()
            .expect("nodes")
            .len(),
        30
    );
    assert_eq!(count, 1 + AUTHENTICATION);
}
