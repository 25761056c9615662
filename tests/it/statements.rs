//! SQL statements per request (SPEC §3.1): relations go through DataLoaders, so the number of
//! statements of a request does not grow with the number of rows it returns, `totalCount` costs
//! nothing unless selected, and a filter is one `WHERE`.
//!
//! Counts are exact and deterministic: they come from the connection's statement counter, not
//! from timing. A request's token costs [`AUTHENTICATION`] once it is known: tokens are
//! authenticated from memory (one statement the first time an instance sees a token).

use entity::{api_token, build_event, enums::BuildStatus, enums::Role};
use packer_gateway::clock::now;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, sea_query::Expr};
use serde_json::{Value, json};

use crate::support::{TestApp, at, build_gid};

/// What authenticating a request costs once its token is known: nothing. (The first use of a
/// token on an instance costs one statement, which reads the token, its user and the user's
/// tenants together; see `a_known_token_costs_no_statement`.)
const AUTHENTICATION: u64 = 0;

/// Definitions, builds and everything they point at.
struct Fleet {
    tenants: [i32; 3],
    definitions: Vec<i32>,
    builds: Vec<i32>,
}

/// `definitions` definitions (each allowed to one or two of three tenants, or to everyone, on one
/// of four endpoints) and `builds` builds spread over them, queued by five users.
async fn fleet(app: &TestApp, definitions: usize, builds: usize) -> Fleet {
    let world = app.world().await;
    let seed = app.seed();
    let t3 = seed.tenant("Tenant Three").await;
    let tenants = [world.t1, world.t2, t3];
    let mut endpoints = vec![world.endpoint];
    for i in 1..4 {
        endpoints.push(seed.endpoint(&format!("pve-api-{i}")).await);
    }
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(app.user(Role::Operator, &[tenants[i % 3]], true).await.0);
    }
    let mut fleet = Fleet {
        tenants,
        definitions: Vec::new(),
        builds: Vec::new(),
    };
    for i in 0..definitions {
        let allowed: Vec<i32> = match i % 4 {
            0 => vec![],
            1 => vec![tenants[0]],
            2 => vec![tenants[1], tenants[2]],
            _ => vec![tenants[2]],
        };
        fleet.definitions.push(
            seed.definition(
                &format!("def-{i:02}"),
                endpoints[i % 4],
                world.cluster,
                &allowed,
                |_| {},
            )
            .await,
        );
    }
    for i in 0..builds {
        let definition = fleet.definitions[i % definitions];
        fleet.builds.push(
            seed.build(
                definition,
                endpoints[(i / 3) % 4],
                BuildStatus::Completed,
                at(-(i as i64)),
                Some(users[i % 5]),
                |_| {},
            )
            .await,
        );
    }
    fleet
}

/// Keeps the background `last_used` write of the admin token out of every measured window.
///
/// That write happens at most once a minute, in a task of its own, and the statement counter
/// hears of it only when that task next runs, which may be during a later request. Recording a
/// fresh use directly in the database means no request of the test writes it at all. One request
/// then runs, so that nothing done once per process lands in a measurement either.
async fn warm_up(app: &TestApp) {
    api_token::Entity::update_many()
        .col_expr(api_token::Column::LastUsed, Expr::value(now()))
        .filter(api_token::Column::UserId.eq(app.admin_id))
        .exec(&app.app.db)
        .await
        .expect("record a use of the admin token");
    app.data("{ me { id } }", json!({})).await;
}

/// The statements one request runs (authentication included) and its data.
async fn measure(app: &TestApp, query: &str, variables: Value) -> (u64, Value) {
    let before = app.request_statements();
    let data = app.data(query, variables).await;
    (app.request_statements() - before, data)
}

const BUILD_PAGE: &str = "query($first: Int) { imageBuilds(first: $first) { nodes {
    id status
    definition { name allowedTenants { name } proxmoxEndpoint { name } }
    createdBy { username }
} } }";

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
    // The page with its definitions and creators (joined), tenant lists, endpoints.
    assert!(
        counts[0] <= 3 + AUTHENTICATION,
        "{} statements besides authentication",
        counts[0] - AUTHENTICATION
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
    // Definitions with their endpoints and clusters (joined), pages of builds, latest builds,
    // counts, tenant lists.
    assert!(
        five <= 5 + AUTHENTICATION,
        "{} statements besides authentication",
        five - AUTHENTICATION
    );
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

#[tokio::test]
async fn events_and_their_relations_cost_the_same_at_any_size() {
    let app = TestApp::new().await;
    fleet(&app, 4, 60).await;
    warm_up(&app).await;
    let query = "query($first: Int) {
        imageBuilds(first: $first) { nodes { events { toStatus actor { username } } } }
        buildEvents(first: $first) { nodes { id build { outputName definition { name } } } }
    }";
    let (ten, _) = measure(&app, query, json!({ "first": 10 })).await;
    let (sixty, data) = measure(&app, query, json!({ "first": 60 })).await;
    assert_eq!(
        data["buildEvents"]["nodes"]
            .as_array()
            .expect("events")
            .len(),
        60
    );
    assert_eq!(
        ten, sixty,
        "statements grow with the number of builds and events"
    );
}

/// The event log reads the builds and actors its nodes ask for in the page's own statement: the
/// log with `actor` and `build { definition }` is the page and the definitions, at any size.
#[tokio::test]
async fn the_event_log_with_actors_and_builds_is_two_statements() {
    // No safety-net read of the event hub lands in a measurement.
    let app = TestApp::with_args(&["--event-poll-interval", "3600"]).await;
    let fleet = fleet(&app, 4, 60).await;
    // An event with an actor, written directly: no hub wakes up to read it during a measurement.
    build_event::ActiveModel {
        build_id: Set(fleet.builds[0]),
        from_status: Set(Some(BuildStatus::Pending)),
        to_status: Set(BuildStatus::Running),
        message: Set(String::new()),
        at: Set(at(1)),
        actor_id: Set(Some(app.admin_id)),
        ..Default::default()
    }
    .insert(&app.app.db)
    .await
    .expect("an event with an actor");
    warm_up(&app).await;
    let query = "query($first: Int) { buildEvents(first: $first) { nodes {
        id toStatus actor { username } build { outputName definition { name } } } } }";
    for first in [1, 60] {
        let (count, data) = measure(&app, query, json!({ "first": first })).await;
        let nodes = data["buildEvents"]["nodes"].as_array().expect("events");
        assert!(!nodes.is_empty() && nodes.len() <= first, "{data}");
        assert!(
            nodes
                .iter()
                .all(|n| n["build"]["definition"]["name"].is_string())
        );
        assert!(
            nodes.iter().any(|n| n["actor"]["username"].is_string()),
            "{data}"
        );
        assert_eq!(count, 2 + AUTHENTICATION, "{first} events");
    }
}

#[tokio::test]
async fn reference_relations_cost_the_same_at_any_size() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let seed = app.seed();
    for i in 0..12 {
        let cluster = seed.cluster(&format!("cluster-{i:02}")).await;
        let tenants = [vec![], vec![world.t1], vec![world.t1, world.t2]];
        seed.template(&format!("tpl-{i:02}"), cluster, 9000, &tenants[i % 3])
            .await;
        app.user(Role::Viewer, &tenants[i % 3], false).await;
    }
    warm_up(&app).await;
    let query = "query($first: Int) {
        cloudImageTemplates(first: $first) { nodes { cluster { name tenant { name } }
                                                     allowedTenants { name } } }
        users(first: $first) { nodes { username tenants { name } } }
        proxmoxEndpoints(first: $first) { nodes { tenant { name } } }
    }";
    let (three, _) = measure(&app, query, json!({ "first": 3 })).await;
    let (twelve, data) = measure(&app, query, json!({ "first": 12 })).await;
    assert_eq!(data["users"]["nodes"].as_array().expect("users").len(), 12);
    assert_eq!(three, twelve, "statements grow with the number of rows");
}

/// The same guarantees hold with tenant visibility applied (a VIEWER of one tenant): visibility
/// is part of each statement, never an extra one per row.
#[tokio::test]
async fn visibility_adds_no_statement_per_row() {
    let app = TestApp::new().await;
    let fleet = fleet(&app, 8, 120).await;
    let (viewer, token) = app.user(Role::Viewer, &[fleet.tenants[0]], true).await;
    api_token::Entity::update_many()
        .col_expr(api_token::Column::LastUsed, Expr::value(now()))
        .filter(api_token::Column::UserId.eq(viewer))
        .exec(&app.app.db)
        .await
        .expect("record a use of the viewer's token");
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
    api_token::Entity::update_many()
        .col_expr(api_token::Column::LastUsed, Expr::value(now()))
        .filter(api_token::Column::UserId.eq(viewer))
        .exec(&app.app.db)
        .await
        .expect("record a use of the viewer's token");
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
