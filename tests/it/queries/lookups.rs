//! Lookups by id and slug: what exists, what a caller may not see (the same `NOT_FOUND`),
//! derived fields, and the statements a read by id prepares.

use entity::enums::{BuildStatus, Role};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::support::{TestApp, at};

use super::{build_id, definition_id, failed_alone, graph, id, instant};

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
