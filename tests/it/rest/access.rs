//! Who may do what over REST: the same principals, roles, read-only tokens and tenant visibility
//! as over GraphQL; refusals of the transport; and the statements a list costs.

use axum::http::{Method, StatusCode, header};
use entity::{enums::BuildStatus, enums::Role};
use serde_json::{Value, json};

use super::{API, call, column, create_definition, definition_body, get};
use crate::support::{TestApp, at};

#[tokio::test]
async fn credentials_are_required_and_read_only_tokens_only_read() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let definition = create_definition(&app, definition_body(&world, "One", "one")).await;
    let path = format!("/image-definitions/{definition}/");

    for token in [None, Some("pgw_not_a_token")] {
        let reply = call(&app, Method::GET, "/image-definitions/", token, None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
        assert_eq!(reply.body["code"], "UNAUTHENTICATED");
        assert!(reply.headers.contains_key(header::WWW_AUTHENTICATE));
    }
    let reply = call(&app, Method::POST, "/image-builds/", None, Some(json!({}))).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    let (_, read_only) = app.user(Role::Admin, &[], false).await;
    assert_eq!(get(&app, &path, &read_only).await.status, StatusCode::OK);
    let body = Some(json!({"description": "x"}));
    for (method, path, body) in [
        (
            Method::POST,
            "/image-definitions/".to_owned(),
            Some(definition_body(&world, "Two", "two")),
        ),
        (Method::PATCH, path.clone(), body.clone()),
        (
            Method::PUT,
            path.clone(),
            Some(definition_body(&world, "One", "one")),
        ),
        (Method::DELETE, path.clone(), None),
        (
            Method::PATCH,
            "/settings/".to_owned(),
            Some(json!({"image_factory_enabled": true})),
        ),
        (
            Method::POST,
            "/image-builds/".to_owned(),
            Some(json!({"definition": definition, "output_vmid": 9100})),
        ),
    ] {
        let reply = call(&app, method.clone(), &path, Some(&read_only), body).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            reply.body
        );
        assert_eq!(reply.body["code"], "FORBIDDEN");
        assert!(
            reply.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("read-only"))
        );
    }
    assert_eq!(get(&app, &path, &app.admin).await.body["description"], "");
}

#[tokio::test]
async fn a_viewer_never_sees_another_tenants_definitions_or_builds() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let seed = app.seed();
    let (e, c) = (world.endpoint, world.cluster);
    let mine = seed.definition("Mine", e, c, &[world.t1], |_| {}).await;
    let theirs = seed.definition("Theirs", e, c, &[world.t2], |_| {}).await;
    let open = seed.definition("Open", e, c, &[], |_| {}).await;
    let my_build = seed
        .build(mine, e, BuildStatus::Pending, at(-2), None, |_| {})
        .await;
    let their_build = seed
        .build(theirs, e, BuildStatus::Pending, at(-1), None, |_| {})
        .await;
    let (_, viewer) = app.user(Role::Viewer, &[world.t1], true).await;

    let list = get(&app, "/image-definitions/", &viewer).await;
    assert_eq!(list.body["count"], 2);
    assert_eq!(column(&list.body, "id"), [json!(mine), json!(open)]);
    let theirs_path = format!("/image-definitions/{theirs}/");
    let hidden = get(&app, &theirs_path, &viewer).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(hidden.body["detail"], "Not found.");
    let missing = get(&app, "/image-definitions/999999/", &viewer).await;
    assert_eq!(
        missing.body, hidden.body,
        "invisible and missing look alike"
    );

    let builds = get(&app, "/image-builds/", &viewer).await;
    assert_eq!(builds.body["count"], 1);
    assert_eq!(column(&builds.body, "id"), [json!(my_build)]);
    let hidden = get(&app, &format!("/image-builds/{their_build}/"), &viewer).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    for query in [
        format!("?tenant={}", world.t2),
        format!("?definition={theirs}"),
        "?q=out".into(),
    ] {
        let filtered = get(&app, &format!("/image-builds/{query}"), &viewer).await;
        assert!(
            !column(&filtered.body, "id").contains(&json!(their_build)),
            "{query}"
        );
    }
    let by_tenant = get(
        &app,
        &format!("/image-definitions/?tenant={}", world.t2),
        &viewer,
    )
    .await;
    assert_eq!(by_tenant.body["count"], 0);

    // An OPERATOR of T1 cannot change, delete or build what it cannot see: 404, not 403.
    let (_, operator) = app.user(Role::Operator, &[world.t1], true).await;
    let patch = call(
        &app,
        Method::PATCH,
        &theirs_path,
        Some(&operator),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(patch.status, StatusCode::NOT_FOUND, "{}", patch.body);
    let delete = call(&app, Method::DELETE, &theirs_path, Some(&operator), None).await;
    assert_eq!(delete.status, StatusCode::NOT_FOUND);
    let queue = call(
        &app,
        Method::POST,
        "/image-builds/",
        Some(&operator),
        Some(json!({"definition": theirs, "output_vmid": 9100})),
    )
    .await;
    assert_eq!(queue.status, StatusCode::NOT_FOUND, "{}", queue.body);
    assert_eq!(app.count("image_build").await, 2);
}

#[tokio::test]
async fn anonymous_readers_see_open_definitions_without_reference_data() {
    let app = TestApp::with_args(&["--anonymous-read"]).await;
    let world = app.world().await;
    let seed = app.seed();
    let open = seed
        .definition("Open", world.endpoint, world.cluster, &[], |_| {})
        .await;
    seed.definition("Closed", world.endpoint, world.cluster, &[world.t1], |_| {})
        .await;
    let list = call(&app, Method::GET, "/image-definitions/", None, None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["count"], 1);
    let row = &list.body["results"][0];
    assert_eq!(row["id"], open);
    assert_eq!(
        row["proxmox_endpoint"],
        json!({"id": world.endpoint, "url": format!("{API}/proxmox-endpoints/{}/", world.endpoint)}),
        "only the id of reference data"
    );
    for path in ["/settings/", &format!("/clusters/{}/", world.cluster)] {
        let reply = call(&app, Method::GET, path, None, None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let reply = call(
        &app,
        Method::POST,
        "/image-definitions/",
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn routes_methods_and_the_root() {
    let app = TestApp::new().await;
    for path in [
        "/nothing/",
        "/image-builds/abc/",
        "/image-builds/0/",
        "/tenants/1/",
        "/tenants/x/",
    ] {
        let reply = get(&app, path, &app.admin).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.body
        );
        assert_eq!(reply.body["detail"], "Not found.", "{path}");
    }
    let reply = call(
        &app,
        Method::DELETE,
        "/image-builds/1/",
        Some(&app.admin),
        None,
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        reply.body
    );
    assert!(reply.body["detail"].is_string());
    assert_eq!(reply.headers[header::ALLOW], "GET,HEAD,PATCH");
    let reply = call(
        &app,
        Method::POST,
        "/settings/",
        Some(&app.admin),
        Some(json!({})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    // Without the trailing slash too.
    assert_eq!(
        get(&app, "/image-builds", &app.admin).await.status,
        StatusCode::OK
    );
    let root = get(&app, "/", &app.admin).await;
    assert_eq!(
        root.body["image-builds"],
        json!(format!("{API}/image-builds/"))
    );
}

/// Records a use of the admin token, so that authentication writes nothing during a measurement,
/// and runs one request so that nothing done once per process lands in it.
async fn warm_up(app: &TestApp) {
    app.record_token_use(app.admin_id).await;
    get(app, "/settings/", &app.admin).await;
    app.settle().await;
}

async fn measure(app: &TestApp, path: &str) -> (u64, Value) {
    let before = app.statements();
    let reply = get(app, path, &app.admin).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    (app.statements() - before, reply.body)
}

#[tokio::test]
async fn a_list_costs_the_same_statements_for_10_and_100_rows() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let seed = app.seed();
    let tenants = [world.t1, world.t2];
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(
            app.user(Role::Operator, &tenants[i % 2..=i % 2], true)
                .await
                .0,
        );
    }
    let mut endpoints = vec![world.endpoint];
    for i in 0..3 {
        endpoints.push(seed.endpoint(&format!("pve-{i}")).await);
    }
    let mut definitions = Vec::new();
    for i in 0..8 {
        let allowed = &tenants[..i % 3];
        definitions.push(
            seed.definition(
                &format!("def-{i}"),
                endpoints[i % 4],
                world.cluster,
                allowed,
                |_| {},
            )
            .await,
        );
    }
    let template = seed.template("catalog", world.cluster, 9000, &[]).await;
    for i in 0..100 {
        seed.build(
            definitions[i % 8],
            endpoints[i % 4],
            BuildStatus::Completed,
            at(-(i as i64)),
            Some(users[i % 4]),
            |b| b.cloud_image_template_id = sea_orm::Set(Some(template)),
        )
        .await;
    }
    warm_up(&app).await;
    let mut counts = Vec::new();
    for limit in [10, 100] {
        let (count, body) = measure(&app, &format!("/image-builds/?limit={limit}")).await;
        let rows = body["results"].as_array().expect("rows");
        assert_eq!(rows.len(), limit);
        assert!(rows.iter().all(|r| r["definition"]["name"].is_string()
            && r["proxmox_endpoint"]["name"].is_string()
            && r["created_by"]["name"].is_string()
            && r["cloud_image_template"]["name"].is_string()));
        counts.push(count);
    }
    // The page, its count, definitions, endpoints, users, catalog entries (the token is
    // authenticated from memory).
    assert_eq!(counts, [6, 6], "statements for 10 and 100 builds");
    let mut counts = Vec::new();
    for limit in [2, 8] {
        let (count, body) = measure(&app, &format!("/image-definitions/?limit={limit}")).await;
        assert!(body["results"].as_array().is_some_and(|r| r.len() == limit));
        counts.push(count);
    }
    // The page, its count, endpoints, clusters, tenant lists.
    assert_eq!(counts, [5, 5], "statements for 2 and 8 definitions");
}

#[tokio::test]
async fn an_internal_failure_is_a_generic_500_with_a_request_id_logged_once() {
    use sea_orm::ConnectionTrait;
    let app = TestApp::new().await;
    app.app
        .db
        .execute_unprepared("ALTER TABLE plugin_settings RENAME TO plugin_settings_gone")
        .await
        .expect("rename the table");
    let (logs, guard) = crate::hygiene::capture_logs();
    let reply = get(&app, "/settings/", &app.admin).await;
    drop(guard);
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body["detail"], "internal server error");
    assert_eq!(reply.body["code"], "INTERNAL_SERVER_ERROR");
    let request_id = reply.body["request_id"].as_str().expect("a request id");
    assert_eq!(reply.headers["x-request-id"], request_id);
    crate::hygiene::assert_no_internals(&reply.body.to_string());
    crate::hygiene::assert_logged_once(&logs.text(), request_id, "plugin_settings");
}

#[tokio::test]
async fn a_request_past_its_timeout_is_abandoned_with_a_code() {
    let app = TestApp::with_args(&["--anonymous-read", "--request-timeout", "1"]).await;
    // Every connection held: the anonymous request waits for one, past its timeout.
    let held = crate::hygiene::hold_every_connection(&app.app.db).await;
    let reply = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        call(&app, Method::GET, "/image-definitions/", None, None),
    )
    .await
    .expect("the timeout fires before the hang guard");
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(reply.body["code"], "REQUEST_TIMEOUT");
    assert!(reply.body["request_id"].is_string());
    drop(held);
    let reply = call(&app, Method::GET, "/image-definitions/", None, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}
