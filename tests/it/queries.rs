//! Every query of SPEC §3.1 answers: lookups by id and slug with their errors, every relation
//! field, `statusColor`, `pluginSettings`, `buildEvents`, `me`, the reference lookups and lists,
//! and no secret anywhere in the schema.

use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
use chrono::{DateTime, SubsecRound, Utc};
use entity::{
    build_event, cluster,
    enums::{BuildStatus, Role},
    image_build, image_definition, proxmox_endpoint, tenant, user,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, sea_query::Expr};
use serde_json::{Value, json};

use crate::support::{TestApp, at, code, gid, row_of};

/// A small graph in which every relation is set once and left empty once.
struct Graph {
    t1: i32,
    t2: i32,
    /// Owned by t1.
    cluster: i32,
    /// Owned by t2.
    endpoint: i32,
    /// On `cluster`, for t1 and t2.
    definition: i32,
    /// No cluster, no tenant, no build.
    bare: i32,
    /// On `cluster`, for t2.
    template: i32,
    /// An OPERATOR of t1 that queued `completed`.
    user: i32,
    /// Completed, produced `template`, with three events.
    completed: i32,
    /// The pending rebuild of `completed`, queued by nobody.
    rebuild: i32,
}

async fn graph(app: &TestApp) -> Graph {
    let world = app.world().await;
    let seed = app.seed();
    let db = &app.app.db;
    cluster::Entity::update_many()
        .col_expr(cluster::Column::TenantId, Expr::value(world.t1))
        .filter(cluster::Column::Id.eq(world.cluster))
        .exec(db)
        .await
        .expect("own the cluster");
    proxmox_endpoint::Entity::update_many()
        .col_expr(proxmox_endpoint::Column::TenantId, Expr::value(world.t2))
        .filter(proxmox_endpoint::Column::Id.eq(world.endpoint))
        .exec(db)
        .await
        .expect("own the endpoint");
    let (user, _) = app.user(Role::Operator, &[world.t1], true).await;
    let definition = seed
        .definition(
            "Ubuntu 24.04",
            world.endpoint,
            world.cluster,
            &[world.t2, world.t1],
            |d| d.slug = Set("ubuntu-2404".into()),
        )
        .await;
    let bare = seed
        .definition("Bare", world.endpoint, world.cluster, &[], |d| {
            d.slug = Set("bare".into());
            d.target_cluster_id = Set(None);
        })
        .await;
    let template = seed
        .template("ubuntu-2404-20260101", world.cluster, 1234, &[world.t2])
        .await;
    // Ten minutes ago, with a microsecond part that a millisecond clock would lose.
    let queued = at(-600).trunc_subsecs(0) + chrono::Duration::microseconds(123_456);
    let completed = seed
        .build(
            definition,
            world.endpoint,
            BuildStatus::Completed,
            queued,
            Some(user),
            |b| {
                b.backend_build_id = Set("job-1".into());
                b.output_vmid = Set(1234);
                b.output_name = Set("ubuntu-2404-20260101".into());
                b.image_version = Set("2026-01-01".into());
                b.variables = Set(json!({"cores": 2}));
                b.timeout_seconds = Set(Some(3600));
                b.completed_at = Set(Some(at(-300)));
                b.netbox_job_id = Set(Some(42));
                b.cloud_image_template_id = Set(Some(template));
                b.backend_response = Set(json!({"ok": true}));
            },
        )
        .await;
    for (from, to, message, seconds) in [
        (BuildStatus::Pending, BuildStatus::Running, "started", -590),
        (BuildStatus::Running, BuildStatus::Completed, "done", -300),
    ] {
        build_event::ActiveModel {
            build_id: Set(completed),
            from_status: Set(Some(from)),
            to_status: Set(to),
            actor_id: Set(Some(app.admin_id)),
            message: Set(message.into()),
            at: Set(at(seconds)),
            ..Default::default()
        }
        .insert(db)
        .await
        .expect("event");
    }
    let rebuild = seed
        .build(
            definition,
            world.endpoint,
            BuildStatus::Pending,
            at(-100),
            None,
            |b| b.rebuild_of_id = Set(Some(completed)),
        )
        .await;
    Graph {
        t1: world.t1,
        t2: world.t2,
        cluster: world.cluster,
        endpoint: world.endpoint,
        definition,
        bare,
        template,
        user,
        completed,
        rebuild,
    }
}

/// An id as a client coming from REST gives it: the row's integer (still accepted, see
/// `graphql::ids`).
fn id(n: i32) -> String {
    n.to_string()
}

/// The global id GraphQL answers for a definition.
fn definition_id(n: i32) -> String {
    gid::<image_definition::Entity>(n)
}

/// The global id GraphQL answers for a build.
fn build_id(n: i32) -> String {
    gid::<image_build::Entity>(n)
}

/// The global id GraphQL answers for a user.
fn user_id(n: i32) -> String {
    gid::<user::Entity>(n)
}

/// The instant of a GraphQL `DateTime`.
fn instant(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .unwrap_or_else(|| panic!("{value} is not a DateTime"))
        .with_timezone(&Utc)
}

/// Checks that a body has `code` on its first error, with `data.<field>` null and the sibling
/// `pluginSettings` answered: a failed lookup nulls itself, not the whole response.
fn failed_alone(body: &Value, field: &str, expected: &str) {
    assert_eq!(code(body), expected, "{body}");
    assert_eq!(body["data"][field], Value::Null, "{body}");
    assert_eq!(
        body["data"]["pluginSettings"]["imageFactoryEnabled"],
        json!(false),
        "the sibling field should survive: {body}"
    );
}

#[tokio::test]
async fn image_definition_by_id_and_by_slug() {
    let app = TestApp::new().await;
    let g = graph(&app).await;
    let by_id = app
        .data(
            "query($id: ID) { imageDefinition(id: $id) { id name slug enabled builderType
                 targetNode sourceTemplateVmid isoUrl defaultStorage defaultBridge osFamily
                 osRelease defaultCiuser provisionerRecipe defaultVariables created lastUpdated } }",
            json!({ "id": id(g.definition) }),
        )
        .await;
    let definition = &by_id["imageDefinition"];
    assert_eq!(definition["id"], json!(definition_id(g.definition)));
    assert_eq!(definition["name"], json!("Ubuntu 24.04"));
    assert_eq!(definition["builderType"], json!("PROXMOX_CLONE"));
    assert_eq!(definition["osFamily"], json!("UBUNTU"));
    assert_eq!(definition["provisionerRecipe"], json!("UBUNTU_BASE"));
    assert_eq!(definition["sourceTemplateVmid"], json!(9000));
    assert_eq!(definition["isoUrl"], Value::Null);
    assert_eq!(definition["defaultVariables"], json!({}));
    let by_slug = app
        .data(
            "{ imageDefinition(slug: \"ubuntu-2404\") { id name } }",
            json!({}),
        )
        .await;
    assert_eq!(
        by_slug["imageDefinition"]["id"],
        json!(definition_id(g.definition))
    );

    let query = "query($id: ID, $slug: String) { imageDefinition(id: $id, slug: $slug) { id }
                 pluginSettings { imageFactoryEnabled } }";
    for (variables, expected) in [
        (json!({"id": "999999"}), "NOT_FOUND"),
        (json!({"slug": "no-such-slug"}), "NOT_FOUND"),
        (json!({"slug": "UBUNTU-2404"}), "NOT_FOUND"),
        (json!({"id": "abc"}), "BAD_USER_INPUT"),
        (json!({"id": "0"}), "BAD_USER_INPUT"),
        (json!({"id": "-4"}), "BAD_USER_INPUT"),
        (json!({"id": ""}), "BAD_USER_INPUT"),
        (json!({}), "BAD_USER_INPUT"),
        (
            json!({"id": id(g.definition), "slug": "ubuntu-2404"}),
            "BAD_USER_INPUT",
        ),
    ] {
        let body = app.as_user(&app.admin, query, variables.clone()).await;
        failed_alone(&body, "imageDefinition", expected);
        if expected == "BAD_USER_INPUT" && variables.get("slug").is_none() {
            assert!(
                body["errors"][0]["extensions"]["fields"]["id"].is_array(),
                "{variables}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn what_a_caller_may_not_see_is_not_found_like_what_does_not_exist() {
    let app = TestApp::new().await;
    let g = graph(&app).await;
    let restricted = app
        .seed()
        .definition("Only t2", g.endpoint, g.cluster, &[g.t2], |_| {})
        .await;
    let hidden_build = app
        .seed()
        .build(
            restricted,
            g.endpoint,
            BuildStatus::Pending,
            at(0),
            None,
            |_| {},
        )
        .await;
    let (_, viewer) = app.user(Role::Viewer, &[g.t1], false).await;
    let definition = "query($id: ID) { imageDefinition(id: $id) { id }
                      pluginSettings { imageFactoryEnabled } }";
    let build = "query($id: ID!) { imageBuild(id: $id) { id }
                 pluginSettings { imageFactoryEnabled } }";
    for (query, field, hidden) in [
        (definition, "imageDefinition", restricted),
        (build, "imageBuild", hidden_build),
        (
            "query($id: ID!) { cloudImageTemplate(id: $id) { id }
             pluginSettings { imageFactoryEnabled } }",
            "cloudImageTemplate",
            g.template,
        ),
    ] {
        let hidden = app.as_user(&viewer, query, json!({"id": id(hidden)})).await;
        let missing = app.as_user(&viewer, query, json!({"id": "999999"})).await;
        failed_alone(&hidden, field, "NOT_FOUND");
        assert_eq!(
            hidden["errors"][0]["message"],
            missing["errors"][0]["message"]
        );
    }
    // Visible ones answer.
    let body = app
        .as_user(&viewer, definition, json!({"id": id(g.definition)}))
        .await;
    assert_eq!(
        body["data"]["imageDefinition"]["id"],
        json!(definition_id(g.definition))
    );
}

#[tokio::test]
async fn image_build_by_id() {
    let app = TestApp::new().await;
    let g = graph(&app).await;
    let data = app
        .data(
            "query($id: ID!) { imageBuild(id: $id) { id status statusColor backendBuildId
                 targetNode outputVmid outputName imageVersion variables timeoutSeconds
                 startedAt completedAt netboxJobId backendResponse error created lastUpdated } }",
            json!({ "id": id(g.completed) }),
        )
        .await;
    let build = &data["imageBuild"];
    for (field, expected) in [
        ("id", json!(build_id(g.completed))),
        ("status", json!("COMPLETED")),
        ("statusColor", json!("GREEN")),
        ("backendBuildId", json!("job-1")),
        ("targetNode", json!("pve1")),
        ("outputVmid", json!(1234)),
        ("outputName", json!("ubuntu-2404-20260101")),
        ("imageVersion", json!("2026-01-01")),
        ("variables", json!({"cores": 2})),
        ("timeoutSeconds", json!(3600)),
        ("netboxJobId", json!(42)),
        ("backendResponse", json!({"ok": true})),
        ("error", json!("")),
    ] {
        assert_eq!(build[field], expected, "{field}");
    }
    // Timestamps come back to the microsecond on both backends.
    let seeded = entity::image_build::Entity::find_by_id(g.completed)
        .one(&app.app.db)
        .await
        .expect("read")
        .expect("build");
    assert_eq!(instant(&build["created"]), seeded.created);
    assert_eq!(Some(instant(&build["startedAt"])), seeded.started_at);
    assert_eq!(Some(instant(&build["completedAt"])), seeded.completed_at);
    assert_eq!(seeded.created.timestamp_subsec_micros(), 123_456);

    let query =
        "query($id: ID!) { imageBuild(id: $id) { id } pluginSettings { imageFactoryEnabled } }";
    for (build, expected) in [
        ("999999", "NOT_FOUND"),
        ("9223372036854775807", "NOT_FOUND"),
        ("x1", "BAD_USER_INPUT"),
        ("1.0", "BAD_USER_INPUT"),
        ("99999999999999999999", "BAD_USER_INPUT"),
    ] {
        let body = app.as_user(&app.admin, query, json!({"id": build})).await;
        failed_alone(&body, "imageBuild", expected);
    }
}

#[tokio::test]
async fn every_relation_field_resolves() {
    let app = TestApp::new().await;
    let g = graph(&app).await;
    let data = app
        .data(
            "query($completed: ID!, $rebuild: ID!) {
               completed: imageBuild(id: $completed) {
                 definition { id name }
                 proxmoxEndpoint { id name tenant { name } }
                 createdBy { id username tenants { name } }
                 cloudImageTemplate { name cluster { name tenant { name } } allowedTenants { name } }
                 rebuildOf { id }
                 events { fromStatus toStatus message actor { username } build { id } }
               }
               rebuild: imageBuild(id: $rebuild) {
                 createdBy { id } cloudImageTemplate { id } rebuildOf { id status }
                 events { fromStatus toStatus actor { id } }
               }
             }",
            json!({ "completed": id(g.completed), "rebuild": id(g.rebuild) }),
        )
        .await;
    let completed = &data["completed"];
    assert_eq!(
        completed["definition"]["id"],
        json!(definition_id(g.definition))
    );
    assert_eq!(completed["proxmoxEndpoint"]["name"], json!("pve-api"));
    assert_eq!(
        completed["proxmoxEndpoint"]["tenant"]["name"],
        json!("Tenant Two")
    );
    assert_eq!(completed["createdBy"]["id"], json!(user_id(g.user)));
    assert_eq!(
        completed["createdBy"]["tenants"],
        json!([{"name": "Tenant One"}])
    );
    let template = &completed["cloudImageTemplate"];
    assert_eq!(template["name"], json!("ubuntu-2404-20260101"));
    assert_eq!(template["cluster"]["name"], json!("pve-prod"));
    assert_eq!(template["cluster"]["tenant"]["name"], json!("Tenant One"));
    assert_eq!(template["allowedTenants"], json!([{"name": "Tenant Two"}]));
    assert_eq!(completed["rebuildOf"], Value::Null);
    let events = completed["events"].as_array().expect("events");
    let steps: Vec<(&Value, &Value, &Value)> = events
        .iter()
        .map(|e| (&e["fromStatus"], &e["toStatus"], &e["message"]))
        .collect();
    assert_eq!(
        steps,
        [
            (&Value::Null, &json!("PENDING"), &json!("")),
            (&json!("PENDING"), &json!("RUNNING"), &json!("started")),
            (&json!("RUNNING"), &json!("COMPLETED"), &json!("done")),
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e["build"]["id"] == json!(build_id(g.completed)))
    );
    assert_eq!(events[1]["actor"]["username"], json!("admin"));

    let rebuild = &data["rebuild"];
    assert_eq!(rebuild["createdBy"], Value::Null);
    assert_eq!(rebuild["cloudImageTemplate"], Value::Null);
    assert_eq!(
        rebuild["rebuildOf"],
        json!({"id": build_id(g.completed), "status": "COMPLETED"})
    );
    assert_eq!(
        rebuild["events"],
        json!([{"fromStatus": null, "toStatus": "PENDING", "actor": null}])
    );

    let data = app
        .data(
            "query($id: ID, $bare: ID) {
               full: imageDefinition(id: $id) {
                 proxmoxEndpoint { name } targetCluster { name tenant { name } }
                 allowedTenants { name } latestBuild { id }
                 builds { nodes { id } totalCount }
               }
               bare: imageDefinition(id: $bare) {
                 targetCluster { name } allowedTenants { name } latestBuild { id }
                 builds { nodes { id } totalCount pageInfo { hasNextPage endCursor } }
               }
             }",
            json!({ "id": id(g.definition), "bare": id(g.bare) }),
        )
        .await;
    let full = &data["full"];
    assert_eq!(full["proxmoxEndpoint"]["name"], json!("pve-api"));
    assert_eq!(
        full["targetCluster"],
        json!({"name": "pve-prod", "tenant": {"name": "Tenant One"}})
    );
    assert_eq!(
        full["allowedTenants"],
        json!([{"name": "Tenant One"}, {"name": "Tenant Two"}]),
        "by name"
    );
    assert_eq!(full["latestBuild"]["id"], json!(build_id(g.rebuild)));
    assert_eq!(
        full["builds"],
        json!({"nodes": [{"id": build_id(g.rebuild)}, {"id": build_id(g.completed)}],
               "totalCount": 2})
    );
    assert_eq!(
        data["bare"],
        json!({
            "targetCluster": null, "allowedTenants": [], "latestBuild": null,
            "builds": {"nodes": [], "totalCount": 0,
                       "pageInfo": {"hasNextPage": false, "endCursor": null}}
        })
    );
}

#[tokio::test]
async fn nested_relations_respect_visibility() {
    let app = TestApp::new().await;
    let g = graph(&app).await;
    app.seed()
        .build(
            g.bare,
            g.endpoint,
            BuildStatus::Pending,
            at(0),
            None,
            |_| {},
        )
        .await;
    let (_, viewer) = app.user(Role::Viewer, &[g.t1], false).await;
    // The catalog entry of `completed` is for t2 only: a t1 viewer sees the build but not it.
    let body = app
        .as_user(
            &viewer,
            "query($id: ID!) { imageBuild(id: $id) { id cloudImageTemplate { id }
                 definition { builds { totalCount } } } }",
            json!({ "id": id(g.completed) }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["imageBuild"]["cloudImageTemplate"],
        Value::Null
    );
    assert_eq!(
        body["data"]["imageBuild"]["definition"]["builds"]["totalCount"],
        json!(2)
    );
}

#[tokio::test]
async fn status_color_follows_the_status() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let definition = app
        .seed()
        .definition("colours", world.endpoint, world.cluster, &[], |_| {})
        .await;
    for status in [
        BuildStatus::Completed,
        BuildStatus::Running,
        BuildStatus::Failed,
        BuildStatus::Cancelled,
        BuildStatus::Pending,
    ] {
        app.seed()
            .build(definition, world.endpoint, status, at(0), None, |_| {})
            .await;
    }
    let data = app
        .data(
            "{ imageBuilds(orderBy: [{field: ID}]) { nodes { status statusColor } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["imageBuilds"]["nodes"],
        json!([
            {"status": "COMPLETED", "statusColor": "GREEN"},
            {"status": "RUNNING", "statusColor": "BLUE"},
            {"status": "FAILED", "statusColor": "RED"},
            {"status": "CANCELLED", "statusColor": "YELLOW"},
            {"status": "PENDING", "statusColor": "GREY"},
        ])
    );
}

#[tokio::test]
async fn plugin_settings_start_at_their_defaults() {
    let app = TestApp::new().await;
    let data = app
        .data(
            "{ pluginSettings { imageFactoryEnabled imageFactoryMaxConcurrentBuilds
                 imageFactoryDefaultJobTimeout imageFactoryAllowIsoBuilds
                 imageFactoryAllowCustomVariables lastUpdated } }",
            json!({}),
        )
        .await;
    let settings = &data["pluginSettings"];
    assert_eq!(settings["imageFactoryEnabled"], json!(false));
    assert_eq!(settings["imageFactoryMaxConcurrentBuilds"], json!(1));
    assert_eq!(settings["imageFactoryDefaultJobTimeout"], json!(14400));
    assert_eq!(settings["imageFactoryAllowIsoBuilds"], json!(false));
    assert_eq!(settings["imageFactoryAllowCustomVariables"], json!(false));
    instant(&settings["lastUpdated"]);
    let (_, viewer) = app.user(Role::Viewer, &[], false).await;
    let body = app
        .as_user(
            &viewer,
            "{ pluginSettings { imageFactoryEnabled } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["pluginSettings"]["imageFactoryEnabled"],
        json!(false)
    );
}

const EVENTS: &str = "query($filter: BuildEventFilter, $first: Int, $after: String) {
    buildEvents(filter: $filter, first: $first, after: $after) {
        nodes { id toStatus at build { id } }
        pageInfo { hasNextPage endCursor }
        totalCount
    }
}";

/// The event ids `token` gets for `filter`, walking pages of `first`.
async fn event_ids(app: &TestApp, token: &str, filter: Value, first: i32) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..50 {
        let body = app
            .as_user(
                token,
                EVENTS,
                json!({"filter": filter, "first": first, "after": after}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let connection = &body["data"]["buildEvents"];
        for node in connection["nodes"].as_array().expect("nodes") {
            ids.push(row_of(node["id"].as_str().expect("id")));
        }
        if connection["pageInfo"]["hasNextPage"] != json!(true) {
            return ids;
        }
        after = connection["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned);
    }
    panic!("the walk does not end");
}

#[tokio::test]
async fn build_events_filter_order_and_page() {
    let app = TestApp::new().await;
    let g = graph(&app).await;
    let all: Vec<i64> = build_event::Entity::find()
        .all(&app.app.db)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(all.len(), 4);
    let of = |build: i32| json!({"build": {"eq": id(build)}});
    let completed: Vec<i64> = all[..3].to_vec();
    assert_eq!(
        event_ids(&app, &app.admin, of(g.completed), 50).await,
        completed
    );
    assert_eq!(
        event_ids(&app, &app.admin, of(g.completed), 1).await,
        completed
    );
    assert_eq!(event_ids(&app, &app.admin, json!({}), 3).await, all);
    assert_eq!(
        event_ids(&app, &app.admin, json!({"toStatus": {"eq": "PENDING"}}), 1).await,
        [all[0], all[3]]
    );
    assert_eq!(
        event_ids(
            &app,
            &app.admin,
            json!({"fromStatus": {"eq": "PENDING"}}),
            10
        )
        .await,
        [all[1]]
    );
    assert_eq!(
        event_ids(
            &app,
            &app.admin,
            json!({"definition": {"eq": id(g.definition)}, "id": {"gt": all[0].to_string()}}),
            10
        )
        .await,
        &all[1..]
    );
    assert_eq!(
        event_ids(
            &app,
            &app.admin,
            json!({"actor": {"eq": id(app.admin_id)}}),
            10
        )
        .await,
        [all[1], all[2]]
    );
    let body = app
        .as_user(
            &app.admin,
            EVENTS,
            json!({"filter": of(g.completed), "first": 2}),
        )
        .await;
    assert_eq!(body["data"]["buildEvents"]["totalCount"], json!(3));
    assert_eq!(
        body["data"]["buildEvents"]["nodes"][0]["build"]["id"],
        json!(build_id(g.completed))
    );

    // A viewer of another tenant sees no event of a build it cannot see.
    let hidden = app
        .seed()
        .definition("t2 only", g.endpoint, g.cluster, &[g.t2], |_| {})
        .await;
    let hidden_build = app
        .seed()
        .build(
            hidden,
            g.endpoint,
            BuildStatus::Pending,
            at(0),
            None,
            |_| {},
        )
        .await;
    let (_, viewer) = app.user(Role::Viewer, &[g.t1], false).await;
    assert!(
        event_ids(&app, &viewer, of(hidden_build), 10)
            .await
            .is_empty()
    );
    assert_eq!(event_ids(&app, &viewer, json!({}), 10).await, all);
}

#[tokio::test]
async fn me_is_the_caller() {
    let app = TestApp::new().await;
    let g = graph(&app).await;
    let data = app
        .data(
            "{ me { id username role email isActive tenants { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["me"],
        json!({"id": user_id(app.admin_id), "username": "admin", "role": "ADMIN",
               "email": "admin@example.net", "isActive": true, "tenants": []})
    );
    let (viewer_id, viewer) = app.user(Role::Viewer, &[g.t2, g.t1], false).await;
    let body = app
        .as_user(&viewer, "{ me { id role tenants { name } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["me"],
        json!({"id": user_id(viewer_id), "role": "VIEWER",
               "tenants": [{"name": "Tenant One"}, {"name": "Tenant Two"}]})
    );
    // Another user's e-mail is for administrators only.
    let body = app
        .as_user(
            &viewer,
            "query($id: ID!) { user(id: $id) { username email } }",
            json!({"id": id(app.admin_id)}),
        )
        .await;
    assert_eq!(
        body["data"]["user"],
        json!({"username": "admin", "email": null})
    );
}

#[tokio::test]
async fn reference_lookups_and_lists() {
    let app = TestApp::new().await;
    let g = graph(&app).await;
    let seed = app.seed();
    let lab = seed.cluster("pve-lab").await;
    let edge = seed.endpoint("edge-api").await;
    seed.template("alpine-3", lab, 2000, &[]).await;
    let usernames = {
        let mut names: Vec<String> = entity::user::Entity::find()
            .all(&app.app.db)
            .await
            .expect("users")
            .into_iter()
            .map(|u| u.username)
            .collect();
        names.sort();
        names
    };
    let data = app
        .data(
            "query($t: ID!, $c: ID!, $e: ID!, $tpl: ID!, $u: ID!) {
               tenant(id: $t) { id name slug }
               cluster(id: $c) { name clusterType tenant { name } }
               proxmoxEndpoint(id: $e) { name port mode verifySsl allowWrites enabled
                                          domain ipAddress tenant { name } }
               cloudImageTemplate(id: $tpl) { name sourceVmid osFamily osRelease defaultCiuser
                                              isActive cluster { name } }
               user(id: $u) { username role tenants { name } }
               tenants { nodes { name } totalCount }
               clusters { nodes { name } }
               proxmoxEndpoints { nodes { name } }
               cloudImageTemplates { nodes { name } }
               users { nodes { username } }
             }",
            json!({"t": id(g.t1), "c": id(g.cluster), "e": id(edge), "tpl": id(g.template),
                   "u": id(g.user)}),
        )
        .await;
    assert_eq!(
        data["tenant"],
        json!({"id": gid::<tenant::Entity>(g.t1), "name": "Tenant One", "slug": "tenant-one"})
    );
    assert_eq!(
        data["cluster"],
        json!({"name": "pve-prod", "clusterType": "proxmox", "tenant": {"name": "Tenant One"}})
    );
    assert_eq!(
        data["proxmoxEndpoint"],
        json!({"name": "edge-api", "port": 8006, "mode": "CLUSTER", "verifySsl": false,
               "allowWrites": true, "enabled": true, "domain": null, "ipAddress": null,
               "tenant": null})
    );
    assert_eq!(
        data["cloudImageTemplate"],
        json!({"name": "ubuntu-2404-20260101", "sourceVmid": 1234, "osFamily": "UBUNTU",
               "osRelease": "24.04", "defaultCiuser": "cloud-user", "isActive": true,
               "cluster": {"name": "pve-prod"}})
    );
    assert_eq!(data["user"]["role"], json!("OPERATOR"));
    assert_eq!(data["user"]["tenants"], json!([{"name": "Tenant One"}]));
    let names = |list: &str, field: &str| -> Vec<Value> {
        data[list]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n[field].clone())
            .collect()
    };
    assert_eq!(
        names("tenants", "name"),
        [json!("Tenant One"), json!("Tenant Two")]
    );
    assert_eq!(data["tenants"]["totalCount"], json!(2));
    assert_eq!(
        names("clusters", "name"),
        [json!("pve-lab"), json!("pve-prod")]
    );
    assert_eq!(
        names("proxmoxEndpoints", "name"),
        [json!("edge-api"), json!("pve-api")]
    );
    assert_eq!(
        names("cloudImageTemplates", "name"),
        [json!("alpine-3"), json!("ubuntu-2404-20260101")]
    );
    assert_eq!(
        names("users", "username"),
        usernames.iter().map(|u| json!(u)).collect::<Vec<_>>()
    );

    let query = "query($id: ID!) { tenant(id: $id) { id } cluster(id: $id) { id }
                 proxmoxEndpoint(id: $id) { id } cloudImageTemplate(id: $id) { id }
                 user(id: $id) { id } pluginSettings { imageFactoryEnabled } }";
    let body = app
        .as_user(&app.admin, query, json!({"id": "999999"}))
        .await;
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 5, "{body}");
    assert!(
        errors
            .iter()
            .all(|e| e["extensions"]["code"] == json!("NOT_FOUND"))
    );
    for field in [
        "tenant",
        "cluster",
        "proxmoxEndpoint",
        "cloudImageTemplate",
        "user",
    ] {
        failed_alone(&body, field, "NOT_FOUND");
    }
    let body = app.as_user(&app.admin, query, json!({"id": "nope"})).await;
    assert!(
        body["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .all(|e| e["extensions"]["code"] == json!("BAD_USER_INPUT")),
        "{body}"
    );
}

#[tokio::test]
async fn no_secret_is_exposed_by_the_schema() {
    let sdl = packer_gateway::graphql::sdl();
    let document = async_graphql::parser::parse_schema(&sdl).expect("the SDL parses");
    let forbidden = ["hash", "secret", "password", "credential", "privatekey"];
    let mut names = Vec::new();
    for definition in &document.definitions {
        let TypeSystemDefinition::Type(definition) = definition else {
            continue;
        };
        let definition = &definition.node;
        let owner = definition.name.node.to_string();
        match &definition.kind {
            TypeKind::Object(object) => {
                for field in &object.fields {
                    names.push((owner.clone(), field.node.name.node.to_string()));
                    for argument in &field.node.arguments {
                        names.push((owner.clone(), argument.node.name.node.to_string()));
                    }
                }
            }
            TypeKind::Interface(interface) => {
                for field in &interface.fields {
                    names.push((owner.clone(), field.node.name.node.to_string()));
                }
            }
            TypeKind::InputObject(input) => {
                for field in &input.fields {
                    names.push((owner.clone(), field.node.name.node.to_string()));
                }
            }
            _ => {}
        }
    }
    assert!(names.len() > 100, "the walk found the fields");
    for (owner, name) in &names {
        let lower = name.to_lowercase();
        assert!(
            !forbidden.iter().any(|word| lower.contains(word)),
            "{owner}.{name} looks like a secret"
        );
    }
    // No Proxmox credential of any kind on an endpoint, and no stored key on a token.
    for (owner, name) in &names {
        let lower = name.to_lowercase();
        if owner == "ProxmoxEndpoint" {
            assert!(
                !["token", "user", "key", "pass"]
                    .iter()
                    .any(|w| lower.contains(w)),
                "ProxmoxEndpoint.{name}"
            );
        }
        if owner == "ApiToken" {
            assert!(
                !lower.starts_with("key") || lower == "keyprefix",
                "ApiToken.{name}"
            );
        }
    }
}

/// On PostgreSQL a connection caches each prepared statement by its text, with the parameter
/// types of its first use. The registry's reads by id produce the same text as sea-orm's own
/// `find_by_id` and `is_in`, so they must bind an id as its column's type (`INTEGER`: `i32`), or
/// either poisons the other on that connection ("incorrect binary data format").
#[tokio::test]
async fn reads_by_id_share_prepared_statements_with_sea_orm() {
    use entity::{image_build, tenant};
    use packer_gateway::{
        auth::Scope,
        registry::{
            builds::BuildField,
            filter::{Filter, Lookup, Scalar},
            id::Id,
            page::PageArgs,
            read,
        },
    };
    use sea_orm::{ConnectOptions, Database, QueryOrder, QuerySelect};

    let (url, sqlite) = crate::support::fresh_database().await;
    let app = TestApp::on(&url, sqlite, &[]).await;
    let g = graph(&app).await;
    // One connection, so that every statement below meets the others' cache.
    let mut options = ConnectOptions::new(url);
    options.max_connections(1).min_connections(1);
    let db = Database::connect(options).await.expect("connect");
    let all = Scope::service();

    let build = image_build::Entity::find_by_id(g.completed).one(&db).await;
    assert!(build.expect("sea-orm first").is_some());
    for id in [i64::from(g.completed), i64::from(i32::MAX), i64::MAX] {
        let key = Id::new(id).expect("an id");
        let found = read::get::<image_build::Entity>(&db, &all, key).await;
        assert_eq!(
            found.is_ok(),
            id == i64::from(g.completed),
            "{id}: {found:?}"
        );
    }
    let build = image_build::Entity::find_by_id(g.rebuild).one(&db).await;
    assert!(build.expect("sea-orm again").is_some());

    let tenants = [g.t1, g.t2];
    let by_sea_orm = tenant::Entity::find()
        .filter(tenant::Column::Id.is_in(tenants))
        .all(&db)
        .await;
    assert_eq!(by_sea_orm.expect("sea-orm").len(), 2);
    let ids = tenants.map(Id::of_row);
    let by_ids = read::by_ids::<tenant::Entity>(&db, &all, &ids).await;
    assert_eq!(by_ids.expect("the registry").len(), 2);

    let newest = image_build::Entity::find()
        .filter(image_build::Column::Id.eq(g.completed))
        .order_by_desc(image_build::Column::Created)
        .order_by_desc(image_build::Column::Id)
        .limit(51)
        .all(&db)
        .await;
    assert_eq!(newest.expect("sea-orm").len(), 1);
    for id in [i64::from(g.completed), i64::MAX] {
        let filter = Filter::Field(BuildField::Id, Lookup::Eq(Scalar::Int(id)));
        let page =
            read::list::<image_build::Entity>(&db, &all, &filter, vec![], &PageArgs::first(50))
                .await
                .expect("the registry's filter");
        assert_eq!(page.rows.len(), usize::from(id == i64::from(g.completed)));
    }
}
