//! What must behave the same on SQLite and PostgreSQL (issue 13, item 5): lists of values beyond
//! what a statement can bind, Unicode case-insensitive lookups, and the demo's running builds.

use axum::http::StatusCode;
use entity::{enums::BuildStatus, image_build, tenant};
use packer_gateway::registry::{demo, lifecycle};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::{
    rest,
    support::{TestApp, code, gid},
};

/// ~32,000 ids is beyond SQLite's bound-parameter limit (32,766 with the statement's others) and
/// close to PostgreSQL's; the service refuses any list beyond 1,000 values as the client's error,
/// on both doors, and accepts 1,000.
#[tokio::test]
async fn a_list_beyond_the_bound_parameter_limit_is_bad_user_input_on_both_doors() {
    // Room in the body for 32,000 global ids.
    let app = TestApp::with_args(&["--body-limit", "4000000"]).await;
    let world = app.world().await;
    app.seed()
        .definition("Of T1", world.endpoint, world.cluster, &[world.t1], |_| {})
        .await;
    let ids = |count: i32| -> Vec<String> { (1..=count).map(gid::<tenant::Entity>).collect() };
    let query =
        "query ($ids: [ID!]!) { imageDefinitions(filter: {tenant: {in: $ids}}) { totalCount } }";

    let mut accepted = ids(999);
    accepted.push(gid::<tenant::Entity>(world.t1));
    let (status, body) = app
        .post(Some(&app.admin.clone()), query, json!({"ids": accepted}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["imageDefinitions"]["totalCount"], 1, "{body}");

    for count in [1001, 32_000] {
        let (status, body) = app
            .post(Some(&app.admin.clone()), query, json!({"ids": ids(count)}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("at most 1000"), "{body}");
    }

    // A URI holds at most 64 KiB: the REST list filter reaches the limit, not 32,000 values.
    let many: Vec<String> = (1..=2_000).map(|id| format!("tenant={id}")).collect();
    let reply = rest::get(
        &app,
        &format!("/image-definitions/?{}", many.join("&")),
        &app.admin,
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(
        reply.body.to_string().contains("at most 1000"),
        "{}",
        reply.body
    );

    let mut body = rest::definition_body(&world, "Many tenants", "many-tenants");
    body["allowed_tenants"] = Value::from((1..=32_000).collect::<Vec<i32>>());
    let reply = rest::call(
        &app,
        axum::http::Method::POST,
        "/image-definitions/",
        Some(&app.admin),
        Some(body),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(
        reply.body.to_string().contains("at most 1000"),
        "{}",
        reply.body
    );
}

/// `iExact`, `iContains` and `q` fold "Ä" like "ä" on both backends (SQLite's own
/// `LOWER` folds ASCII only), over GraphQL and REST.
#[tokio::test]
async fn case_insensitive_lookups_fold_unicode_on_both_backends() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let seed = app.seed();
    seed.definition(
        "Ärzte ohne Grenzen",
        world.endpoint,
        world.cluster,
        &[],
        |_| {},
    )
    .await;
    seed.definition("Zahnärzte", world.endpoint, world.cluster, &[], |_| {})
        .await;
    seed.definition("Other", world.endpoint, world.cluster, &[], |_| {})
        .await;
    let names = |filter: Value| {
        let app = &app;
        async move {
            let data = app
                .data(
                    "query ($f: ImageDefinitionFilter) { imageDefinitions(filter: $f) { nodes { name } } }",
                    json!({"f": filter}),
                )
                .await;
            let mut names: Vec<String> = data["imageDefinitions"]["nodes"]
                .as_array()
                .map(|nodes| {
                    nodes
                        .iter()
                        .filter_map(|n| n["name"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            names
        }
    };
    let both = vec!["Zahnärzte".to_owned(), "Ärzte ohne Grenzen".to_owned()];
    assert_eq!(names(json!({"name": {"iContains": "ÄRZTE"}})).await, both);
    assert_eq!(names(json!({"q": "ärzte"})).await, both);
    assert_eq!(
        names(json!({"name": {"iExact": "ärzte OHNE grenzen"}})).await,
        ["Ärzte ohne Grenzen"]
    );
    // Pattern characters match themselves.
    assert!(
        names(json!({"name": {"iContains": "ä.zte"}}))
            .await
            .is_empty()
    );
    assert!(names(json!({"name": {"iContains": "%"}})).await.is_empty());

    let reply = rest::get(&app, "/image-definitions/?q=%C3%84RZTE", &app.admin).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["count"], 2, "{}", reply.body);
}

/// The demo's running builds started recently, well inside their timeout: the reaper, which runs
/// at start-up, leaves them running.
#[tokio::test]
async fn the_demos_running_builds_survive_the_first_reaper_run() {
    let app = TestApp::new().await;
    assert!(
        demo::load(&app.app.db, Some(app.admin_id))
            .await
            .expect("load the demo")
    );
    let reaped = lifecycle::reap(&app.app.db, &app.app.events, app.app.clock.now())
        .await
        .expect("reap");
    assert!(reaped.is_empty(), "reaped {reaped:?}");
    let running = image_build::Entity::find()
        .filter(image_build::Column::Status.eq(BuildStatus::Running))
        .count(&app.app.db)
        .await
        .expect("count");
    assert!(running >= 1, "the demo has running builds");
}
