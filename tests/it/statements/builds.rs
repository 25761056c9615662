//! Pages of builds: the list at any size, nested lists under a filter and an order, REST, by id.

use serde_json::json;

use super::{AUTHENTICATION, BUILD_PAGE, fleet, measure, warm_up};
use crate::support::{TestApp, build_gid};

#[tokio::test]
async fn a_page_of_builds_with_relations_costs_the_same_at_any_size() {
    let app = TestApp::new().await;
    fleet(&app, 8, 120).await;
    warm_up(&app).await;
    let mut counts = Vec::new();
    for first in [10, 50, 100] {
        let (count, data) = measure(&app, BUILD_PAGE, json!({ "first": first })).await;
        let nodes = data["imageBuilds"]["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), first);
        assert!(nodes.iter().all(|n| n["createdBy"]["username"].is_string()));
        assert!(
            nodes
                .iter()
                .all(|n| n["definition"]["proxmoxEndpoint"]["name"].is_string())
        );
        assert!(nodes.iter().any(|n| {
            !n["definition"]["allowedTenants"]
                .as_array()
                .expect("list")
                .is_empty()
        }));
        counts.push(count);
    }
    assert!(
        counts.iter().all(|c| *c == counts[0]),
        "statements grow with the page: {counts:?} for 10, 50, 100 builds"
    );
    // The page with its definitions and creators (joined), then the tenant lists and the
    // endpoints of those definitions, read before any resolver runs.
    assert_eq!(counts[0], 3 + AUTHENTICATION, "{counts:?}");
}

/// A filtered and ordered page of builds whose definitions ask for their own nested lists, and
/// whose builds ask for their events and the events' actors: a fixed number of statements at
/// any page size.
#[tokio::test]
async fn a_filtered_ordered_page_with_nested_lists_costs_the_same_at_any_size() {
    let app = TestApp::new().await;
    fleet(&app, 8, 120).await;
    warm_up(&app).await;
    let query = "query($first: Int) { imageBuilds(first: $first,
        filter: {status: {in: [COMPLETED]}}, orderBy: [{field: STARTED_AT, direction: DESC}]) {
        edges { node {
            id
            definition {
                name allowedTenants { name } targetCluster { name }
                latestBuild { id }
                builds(first: 2) { nodes { id } totalCount }
            }
            createdBy { username }
            events { toStatus actor { username } }
        } }
    } }";
    let mut counts = Vec::new();
    for first in [5, 50] {
        let (count, data) = measure(&app, query, json!({ "first": first })).await;
        let edges = data["imageBuilds"]["edges"].as_array().expect("edges");
        assert_eq!(edges.len(), first);
        for edge in edges {
            let definition = &edge["node"]["definition"];
            assert!(definition["latestBuild"]["id"].is_string(), "{definition}");
            assert_eq!(
                definition["builds"]["totalCount"],
                json!(15),
                "{definition}"
            );
            assert_eq!(
                definition["builds"]["nodes"][0]["id"],
                definition["latestBuild"]["id"]
            );
            assert!(definition["targetCluster"]["name"].is_string());
        }
        counts.push(count);
    }
    assert_eq!(counts[0], counts[1], "statements grow with the page");
    // The page (definitions and creators joined), then one batch per relation at the request's
    // ticks: the definitions' clusters, tenant lists, latest builds, pages of builds and their
    // counts, the builds' events and the events' actors: seven statements in all.
    assert_eq!(counts[0], 7 + AUTHENTICATION, "{counts:?}");
}

/// A REST list reads its references in a fixed number of statements, whatever its size.
#[tokio::test]
async fn a_rest_list_costs_the_same_at_any_size() {
    let app = TestApp::new().await;
    fleet(&app, 8, 120).await;
    warm_up(&app).await;
    let mut counts = Vec::new();
    for limit in [5, 100] {
        let before = app.statements();
        let reply =
            crate::rest::get(&app, &format!("/image-builds/?limit={limit}"), &app.admin).await;
        assert_eq!(reply.status, axum::http::StatusCode::OK, "{}", reply.body);
        assert_eq!(
            reply.body["results"].as_array().expect("results").len(),
            limit
        );
        counts.push(app.statements() - before);
    }
    assert_eq!(
        counts[0], counts[1],
        "statements grow with the page: {counts:?}"
    );
}

#[tokio::test]
async fn one_build_with_scalar_fields_is_one_statement() {
    let app = TestApp::new().await;
    let fleet = fleet(&app, 2, 4).await;
    warm_up(&app).await;
    let (count, data) = measure(
        &app,
        "query($id: ID!) { imageBuild(id: $id) {
            id status statusColor outputName outputVmid created startedAt variables } }",
        json!({ "id": fleet.builds[1].to_string() }),
    )
    .await;
    assert_eq!(data["imageBuild"]["id"], json!(build_gid(fleet.builds[1])));
    assert_eq!(count, 1 + AUTHENTICATION);
}
