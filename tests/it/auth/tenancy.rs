//! Tenants and anonymous readers: what lies outside one's tenants is not found and never listed.

use axum::http::StatusCode;
use entity::{
    enums::{BuildStatus, Role},
    image_build, image_definition,
};
use serde_json::{Value, json};

use crate::support::{TestApp, at, code, gid};

/// T1 and T2 each have a restricted definition with a build (and a catalog entry); one
/// definition is open to all.
struct Tenancy {
    app: TestApp,
    viewer: String,
    t2_definition: String,
    t2_build: String,
    t2_template: String,
    open_definition: String,
    t1_definition: String,
}

async fn tenancy() -> Tenancy {
    let app = TestApp::new().await;
    let w = app.world().await;
    let seed = app.seed();
    let t1 = seed
        .definition("T1 image", w.endpoint, w.cluster, &[w.t1], |_| {})
        .await;
    let t2 = seed
        .definition("T2 image", w.endpoint, w.cluster, &[w.t2], |_| {})
        .await;
    let open = seed
        .definition("Open image", w.endpoint, w.cluster, &[], |_| {})
        .await;
    for definition in [t1, t2, open] {
        seed.build(
            definition,
            w.endpoint,
            BuildStatus::Pending,
            at(-10),
            None,
            |_| {},
        )
        .await;
    }
    let t2_build = seed
        .build(t2, w.endpoint, BuildStatus::Running, at(-5), None, |_| {})
        .await;
    let template = app
        .data(
            "mutation ($c: ID!, $t: ID!) { createCloudImageTemplate(input: {name: \"t2 tpl\", slug: \"t2-tpl\", clusterId: $c, sourceVmid: 9999, osFamily: UBUNTU, allowedTenantIds: [$t]}) { id } }",
            json!({"c": w.cluster.to_string(), "t": w.t2.to_string()}),
        )
        .await;
    let (_, viewer) = app.user(Role::Viewer, &[w.t1], true).await;
    Tenancy {
        viewer,
        t2_definition: gid::<image_definition::Entity>(t2),
        t2_build: gid::<image_build::Entity>(t2_build),
        t2_template: template["createCloudImageTemplate"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        open_definition: gid::<image_definition::Entity>(open),
        t1_definition: gid::<image_definition::Entity>(t1),
        app,
    }
}

/// An error body without the parts that legitimately differ between two requests.
fn shape(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(errors) = body["errors"].as_array_mut() {
        for error in errors {
            if let Some(error) = error.as_object_mut() {
                error.remove("locations");
            }
        }
    }
    body
}

#[tokio::test]
async fn another_tenants_objects_are_not_found_exactly_like_missing_ones() {
    let t = tenancy().await;
    let app = &t.app;
    for (query, hidden) in [
        (
            "query ($id: ID!) { imageDefinition(id: $id) { id } }",
            &t.t2_definition,
        ),
        (
            "query ($id: ID!) { imageBuild(id: $id) { id } }",
            &t.t2_build,
        ),
        (
            "query ($id: ID!) { cloudImageTemplate(id: $id) { id } }",
            &t.t2_template,
        ),
        (
            "mutation ($id: ID!) { cancelImageBuild(id: $id) { id } }",
            &t.t2_build,
        ),
    ] {
        let invisible = app.as_user(&t.viewer, query, json!({"id": hidden})).await;
        let missing = app.as_user(&t.viewer, query, json!({"id": "987654"})).await;
        let expected = if query.starts_with("mutation") {
            "FORBIDDEN"
        } else {
            "NOT_FOUND"
        };
        assert_eq!(code(&invisible), expected, "{query}: {invisible}");
        assert_eq!(shape(&invisible), shape(&missing), "{query}");
    }
    // An OPERATOR of T1 gets NOT_FOUND (not FORBIDDEN) on a T2 build it could otherwise cancel.
    let (_, operator) = app.user(Role::Operator, &[], true).await;
    let body = app
        .as_user(
            &operator,
            "mutation ($id: ID!) { cancelImageBuild(id: $id) { id } }",
            json!({"id": t.t2_build}),
        )
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
}

#[tokio::test]
async fn another_tenants_objects_never_appear_in_lists_counts_nested_fields_or_filters() {
    let t = tenancy().await;
    let app = &t.app;
    let as_viewer =
        |query: &'static str, variables: Value| app.as_user(&t.viewer, query, variables);

    let body = as_viewer(
        "{ imageDefinitions { totalCount nodes { id } } }",
        json!({}),
    )
    .await;
    let ids: Vec<&str> = body["data"]["imageDefinitions"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert_eq!(body["data"]["imageDefinitions"]["totalCount"], 2, "{body}");
    assert!(
        ids.contains(&t.open_definition.as_str()),
        "empty allowed_tenants is visible to all"
    );
    assert!(ids.contains(&t.t1_definition.as_str()));
    assert!(!ids.contains(&t.t2_definition.as_str()));

    let body = as_viewer(
        "{ imageBuilds { totalCount nodes { definition { id } } } }",
        json!({}),
    )
    .await;
    assert_eq!(body["data"]["imageBuilds"]["totalCount"], 2, "{body}");
    assert!(
        !body
            .to_string()
            .contains(&format!("\"{}\"", t.t2_definition))
    );

    for (query, variables) in [
        (
            "query ($id: ID!) { imageDefinitions(filter: {id: {eq: $id}}) { totalCount } }",
            json!({"id": t.t2_definition}),
        ),
        (
            "query ($id: ID!) { imageBuilds(filter: {definition: {eq: $id}}) { totalCount } }",
            json!({"id": t.t2_definition}),
        ),
        (
            "query ($id: ID!) { imageBuilds(filter: {id: {in: [$id]}}) { totalCount } }",
            json!({"id": t.t2_build}),
        ),
        (
            "query ($id: ID!) { buildEvents(filter: {build: {eq: $id}}) { totalCount } }",
            json!({"id": t.t2_build}),
        ),
        (
            "query ($id: ID!) { cloudImageTemplates(filter: {id: {eq: $id}}) { totalCount } }",
            json!({"id": t.t2_template}),
        ),
    ] {
        let body = as_viewer(query, variables).await;
        let count = body["data"]
            .as_object()
            .and_then(|d| d.values().next())
            .map(|v| v["totalCount"].clone());
        assert_eq!(count, Some(json!(0)), "{query}: {body}");
    }
    let events = as_viewer("{ buildEvents { totalCount } }", json!({})).await;
    assert_eq!(events["data"]["buildEvents"]["totalCount"], 2, "{events}");

    // Nested fields: a tenant's users reaching builds through definitions see only theirs.
    let body = as_viewer(
        "{ imageDefinitions { nodes { builds { totalCount nodes { id } } latestBuild { id } } } }",
        json!({}),
    )
    .await;
    assert!(
        !body.to_string().contains(&format!("\"{}\"", t.t2_build)),
        "{body}"
    );
    // The administrator sees everything.
    let all = app
        .data(
            "{ imageDefinitions { totalCount } imageBuilds { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        all,
        json!({"imageDefinitions": {"totalCount": 3}, "imageBuilds": {"totalCount": 4}})
    );
}

#[tokio::test]
async fn anonymous_readers_see_unrestricted_definitions_and_their_builds_only() {
    let app = TestApp::with_args(&["--anonymous-read"]).await;
    let w = app.world().await;
    let seed = app.seed();
    let open = seed
        .definition("Open", w.endpoint, w.cluster, &[], |_| {})
        .await;
    let closed = seed
        .definition("Closed", w.endpoint, w.cluster, &[w.t1], |_| {})
        .await;
    seed.build(open, w.endpoint, BuildStatus::Pending, at(0), None, |_| {})
        .await;
    seed.build(
        closed,
        w.endpoint,
        BuildStatus::Pending,
        at(0),
        None,
        |_| {},
    )
    .await;
    let (status, body) = app
        .post(None, "{ imageDefinitions { totalCount nodes { name } } imageBuilds { totalCount nodes { status events { toStatus } } } }", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["imageDefinitions"],
        json!({"totalCount": 1, "nodes": [{"name": "Open"}]})
    );
    assert_eq!(body["data"]["imageBuilds"]["totalCount"], 1);
    for query in [
        "{ tenants { totalCount } }",
        "{ pluginSettings { imageFactoryEnabled } }",
        "{ users { totalCount } }",
        "{ me { id } }",
        "{ buildEvents { totalCount } }",
        "{ imageDefinitions { nodes { proxmoxEndpoint { name } } } }",
    ] {
        let (_, body) = app.post(None, query, json!({})).await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{query}: {body}");
    }
    let (status, body) = app
        .post(
            None,
            "mutation { createTenant(input: {name: \"x\", slug: \"x\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{status} {body}");
    // Anonymous access is off by default.
    let strict = TestApp::new().await;
    let (status, _) = strict
        .post(None, "{ imageDefinitions { totalCount } }", json!({}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
