//! Global ids (Relay's Global Object Identification, `graphql::ids`): every `id` GraphQL answers
//! is the opaque global id of its object, unique across types; every argument that names a type
//! takes it (and, for a transition period, the row's integer REST uses); another type's id is
//! refused; `node(id:)` and `nodes(ids:)` find objects by it; REST keeps integers. Which objects
//! `node` shows to whom is proven for every type in `authorization.rs`.

use entity::{
    cloud_image_template, cluster,
    enums::{BuildStatus, Role},
    image_build, image_definition, plugin_settings, proxmox_endpoint, tenant, user,
};
use serde_json::{Value, json};

use crate::support::{TestApp, at, build_gid, code, event_gid, gid, row_of};

/// A definition with a build, a catalog entry and events.
struct Graph {
    app: TestApp,
    definition: i32,
    build: i32,
    template: i32,
    t1: i32,
    cluster: i32,
    endpoint: i32,
}

async fn graph() -> Graph {
    let app = TestApp::new().await;
    let world = app.world().await;
    let seed = app.seed();
    let definition = seed
        .definition("Ubuntu", world.endpoint, world.cluster, &[], |_| {})
        .await;
    let build = seed
        .build(
            definition,
            world.endpoint,
            BuildStatus::Completed,
            at(-60),
            Some(app.admin_id),
            |_| {},
        )
        .await;
    let template = seed.template("ubuntu-image", world.cluster, 900, &[]).await;
    Graph {
        app,
        definition,
        build,
        template,
        t1: world.t1,
        cluster: world.cluster,
        endpoint: world.endpoint,
    }
}

#[tokio::test]
async fn every_id_is_a_global_id_unique_across_types() {
    let g = graph().await;
    let data = g
        .app
        .data(
            "{ imageDefinitions { nodes { id __typename proxmoxEndpoint { id __typename }
                 targetCluster { id __typename } } }
               imageBuilds { nodes { id __typename events { id __typename } createdBy { id } } }
               tenants { nodes { id __typename } }
               cloudImageTemplates { nodes { id __typename } }
               pluginSettings { id __typename }
               me { id apiTokens { id __typename } } }",
            json!({}),
        )
        .await;
    let definition = &data["imageDefinitions"]["nodes"][0];
    assert_eq!(
        definition["id"],
        gid::<image_definition::Entity>(g.definition)
    );
    assert_eq!(
        definition["proxmoxEndpoint"]["id"],
        gid::<proxmox_endpoint::Entity>(g.endpoint)
    );
    assert_eq!(
        definition["targetCluster"]["id"],
        gid::<cluster::Entity>(g.cluster)
    );
    let build = &data["imageBuilds"]["nodes"][0];
    assert_eq!(build["id"], build_gid(g.build));
    assert_eq!(
        build["createdBy"]["id"],
        gid::<user::Entity>(g.app.admin_id)
    );
    assert_eq!(data["me"]["id"], gid::<user::Entity>(g.app.admin_id));
    assert_eq!(
        data["cloudImageTemplates"]["nodes"][0]["id"],
        gid::<cloud_image_template::Entity>(g.template)
    );
    assert_eq!(
        data["tenants"]["nodes"][0]["id"],
        gid::<tenant::Entity>(g.t1)
    );
    assert_eq!(
        data["pluginSettings"]["id"],
        gid::<plugin_settings::Entity>(1)
    );
    // Rows 1 of several tables exist; their ids differ, and each names its type.
    let mut seen = std::collections::BTreeMap::new();
    collect(&data, &mut seen);
    assert!(seen.len() >= 8, "{seen:?}");
    for (id, ty) in &seen {
        assert!(
            !id.chars().all(|c| c.is_ascii_digit()),
            "{ty} {id} is an integer"
        );
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{id} is not URL-safe"
        );
    }
}

/// Every `id` of `value` with its `__typename`; an id answered for two types fails.
fn collect(value: &Value, seen: &mut std::collections::BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            if let (Some(Value::String(id)), Some(Value::String(ty))) =
                (map.get("id"), map.get("__typename"))
                && let Some(other) = seen.insert(id.clone(), ty.clone())
            {
                assert_eq!(&other, ty, "one id for two types: {id}");
            }
            map.values().for_each(|v| collect(v, seen));
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, seen)),
        _ => {}
    }
}

#[tokio::test]
async fn arguments_take_global_ids_and_for_now_integers() {
    let g = graph().await;
    let app = &g.app;
    let query = "query ($id: ID!) { imageBuild(id: $id) { id } }";
    for id in [build_gid(g.build), g.build.to_string()] {
        let data = app.data(query, json!({"id": id})).await;
        assert_eq!(data["imageBuild"]["id"], build_gid(g.build), "{id}");
    }
    // Another type's id with the same integer is refused, never taken for its integer.
    let tenant = gid::<tenant::Entity>(g.build);
    let body = app.as_user(&app.admin, query, json!({"id": tenant})).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["fields"]["id"],
        json!(["is not an id of type ImageBuild"])
    );
    assert!(body["data"]["imageBuild"].is_null(), "{body}");

    // Filters compare global ids of the field's type, and integers.
    let filtered = "query ($f: ImageBuildFilter) { imageBuilds(filter: $f) { totalCount } }";
    for filter in [
        json!({"definition": {"eq": gid::<image_definition::Entity>(g.definition)}}),
        json!({"definition": {"in": [g.definition.to_string()]}}),
        json!({"id": {"gte": build_gid(g.build)}}),
        json!({"createdBy": {"eq": gid::<user::Entity>(g.app.admin_id)}}),
    ] {
        let data = app.data(filtered, json!({"f": filter})).await;
        assert_eq!(data["imageBuilds"]["totalCount"], 1, "{filter}");
    }
    let body = app
        .as_user(
            &app.admin,
            filtered,
            json!({"f": {"definition": {"eq": build_gid(g.build)}}}),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["fields"]["definition"],
        json!(["is not an id of type ImageDefinition"])
    );

    // Input fields that reference rows, and mutations.
    let body = app
        .as_user(
            &app.admin,
            "mutation ($input: CreateTenantInput!) { createTenant(input: $input) { id } }",
            json!({"input": {"name": "Three", "slug": "three"}}),
        )
        .await;
    let three = body["data"]["createTenant"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let data = app
        .data(
            "mutation ($id: ID!, $input: UpdateImageDefinitionInput!) {
               updateImageDefinition(id: $id, input: $input) { allowedTenants { id } } }",
            json!({"id": gid::<image_definition::Entity>(g.definition),
                   "input": {"allowedTenantIds": [three, g.t1.to_string()]}}),
        )
        .await;
    let mut tenants: Vec<String> = data["updateImageDefinition"]["allowedTenants"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_str().map(str::to_owned))
        .collect();
    tenants.sort();
    let mut expected = vec![three.clone(), gid::<tenant::Entity>(g.t1)];
    expected.sort();
    assert_eq!(tenants, expected);
    let body = app
        .as_user(
            &app.admin,
            "mutation ($id: ID!) { deleteTenant(id: $id) }",
            json!({"id": build_gid(g.build)}),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["fields"]["id"],
        json!(["is not an id of type Tenant"])
    );
}

#[tokio::test]
async fn node_finds_every_kind_of_object_by_its_id() {
    let g = graph().await;
    let app = &g.app;
    let events = app
        .data(
            "{ buildEvents { nodes { id } } me { apiTokens { id } } }",
            json!({}),
        )
        .await;
    let event = events["buildEvents"]["nodes"][0]["id"].clone();
    let token = events["me"]["apiTokens"][0]["id"].clone();
    let cases = [
        (
            gid::<image_definition::Entity>(g.definition),
            "ImageDefinition",
        ),
        (build_gid(g.build), "ImageBuild"),
        (event.as_str().unwrap_or_default().to_owned(), "BuildEvent"),
        (gid::<tenant::Entity>(g.t1), "Tenant"),
        (gid::<cluster::Entity>(g.cluster), "Cluster"),
        (
            gid::<proxmox_endpoint::Entity>(g.endpoint),
            "ProxmoxEndpoint",
        ),
        (
            gid::<cloud_image_template::Entity>(g.template),
            "CloudImageTemplate",
        ),
        (gid::<user::Entity>(app.admin_id), "User"),
        (token.as_str().unwrap_or_default().to_owned(), "ApiToken"),
        (gid::<plugin_settings::Entity>(1), "PluginSettings"),
    ];
    for (id, ty) in &cases {
        let data = app
            .data(
                "query ($id: ID!) { node(id: $id) { __typename id } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(data["node"], json!({"__typename": ty, "id": id}), "{ty}");
    }
    // With fragments on the concrete types, as Relay's refetch queries ask.
    let data = app
        .data(
            "query ($b: ID!, $d: ID!) {
               b: node(id: $b) { ... on ImageBuild { status definition { name } } }
               d: node(id: $d) { ... on ImageDefinition { name } ... on ImageBuild { status } } }",
            json!({"b": build_gid(g.build), "d": gid::<image_definition::Entity>(g.definition)}),
        )
        .await;
    assert_eq!(
        data,
        json!({"b": {"status": "COMPLETED", "definition": {"name": "Ubuntu"}},
               "d": {"name": "Ubuntu"}})
    );
    // Missing rows, of every type, are null without an error.
    for (ty, id) in [
        ("ImageBuild", gid::<image_build::Entity>(987_654)),
        ("BuildEvent", event_gid(987_654)),
        ("Tenant", gid::<tenant::Entity>(987_654)),
        ("ApiToken", gid::<entity::api_token::Entity>(987_654)),
        ("PluginSettings", gid::<plugin_settings::Entity>(2)),
    ] {
        let (_, body) = app
            .post(
                Some(&app.admin),
                "query ($id: ID!) { node(id: $id) { id } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(body, json!({"data": {"node": null}}), "{ty}");
    }
    // `nodes` answers in order, null where there is nothing.
    let ids: Vec<&str> = cases.iter().map(|(id, _)| id.as_str()).collect();
    let mut asked = ids.clone();
    let missing = build_gid(987_654);
    asked.insert(1, &missing);
    let data = app
        .data(
            "query ($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({"ids": asked}),
        )
        .await;
    let answered: Vec<Value> = data["nodes"].as_array().cloned().unwrap_or_default();
    assert_eq!(answered.len(), asked.len());
    assert_eq!(answered[1], Value::Null);
    for (answer, id) in answered.iter().filter(|a| !a.is_null()).zip(&ids) {
        assert_eq!(answer["id"], *id);
    }
}

#[tokio::test]
async fn malformed_ids_are_bad_user_input() {
    let g = graph().await;
    let app = &g.app;
    for id in [
        // The row's integer: `node` names no type, so it takes global ids only.
        g.build.to_string(),
        "".to_owned(),
        "not an id".to_owned(),
        // base64 of `Nothing:1` and of `ImageBuild:0`, and a padded global id.
        "Tm90aGluZzox".to_owned(),
        "SW1hZ2VCdWlsZDow".to_owned(),
        format!("{}==", build_gid(g.build)),
    ] {
        for query in [
            "query ($id: ID!) { node(id: $id) { id } }",
            "query ($id: ID!) { nodes(ids: [$id]) { id } }",
        ] {
            let body = app.as_user(&app.admin, query, json!({"id": id})).await;
            assert_eq!(code(&body), "BAD_USER_INPUT", "{id:?}: {body}");
            let field = if query.contains("nodes") { "ids" } else { "id" };
            assert_eq!(
                body["errors"][0]["extensions"]["fields"][field],
                json!(["is not an id of this service"]),
                "{body}"
            );
        }
    }
    let many: Vec<String> = (1..=101).map(build_gid).collect();
    let body = app
        .as_user(
            &app.admin,
            "query ($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({"ids": many}),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
}

#[tokio::test]
async fn the_settings_keep_one_id_across_updates() {
    let app = TestApp::new().await;
    let read = app.data("{ pluginSettings { id } }", json!({})).await;
    let updated = app
        .data(
            "mutation { updatePluginSettings(input: {imageFactoryEnabled: true}) {
                 id imageFactoryEnabled } }",
            json!({}),
        )
        .await;
    assert_eq!(
        updated["updatePluginSettings"]["id"],
        read["pluginSettings"]["id"]
    );
    let (_, viewer) = app.user(Role::Viewer, &[], true).await;
    let body = app
        .as_user(
            &viewer,
            "query ($id: ID!) { node(id: $id) { ... on PluginSettings { imageFactoryEnabled } } }",
            json!({"id": read["pluginSettings"]["id"]}),
        )
        .await;
    assert_eq!(
        body,
        json!({"data": {"node": {"imageFactoryEnabled": true}}})
    );
}

#[tokio::test]
async fn subscriptions_take_and_answer_global_ids() {
    let g = graph().await;
    let app = &g.app;
    let data = app
        .data("{ imageBuild(id: \"1\") { events { id } } }", json!({}))
        .await;
    let event = data["imageBuild"]["events"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(row_of(&event), 1);
    // An event's id is also what `afterEventId` takes; another type's id is refused.
    let server = app.serve().await;
    let mut client =
        crate::ws_client::Client::connect(&server, Some(crate::ws_client::TRANSPORT_WS), None)
            .await;
    client.init(&app.admin).await;
    client
        .subscribe(
            "bad",
            crate::ws_client::SUBSCRIPTION,
            json!({"after": build_gid(g.build)}),
        )
        .await;
    let message = client.recv().await;
    assert_eq!(message["id"], "bad", "{message}");
    let errors = &message["payload"];
    let errors = if errors.is_array() {
        errors.clone()
    } else {
        errors["errors"].clone()
    };
    assert_eq!(
        errors[0]["extensions"]["code"], "BAD_USER_INPUT",
        "{message}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn rest_keeps_integer_ids() {
    let g = graph().await;
    let request = axum::http::Request::builder()
        .uri(format!("/api/plugins/packer/image-builds/{}/", g.build))
        .header("authorization", format!("Token {}", g.app.admin))
        .body(axum::body::Body::empty())
        .expect("a request");
    let (status, _, body) = g.app.send(request).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["id"], json!(g.build));
    assert_eq!(body["definition"]["id"], json!(g.definition));
    let request = axum::http::Request::builder()
        .uri(format!(
            "/api/plugins/packer/image-builds/{}/",
            build_gid(g.build)
        ))
        .header("authorization", format!("Token {}", g.app.admin))
        .body(axum::body::Body::empty())
        .expect("a request");
    let (status, _, _) = g.app.send(request).await;
    assert_eq!(status, 404, "REST paths take integers only");
}

#[tokio::test]
async fn nodes_of_one_type_cost_one_statement() {
    let g = graph().await;
    let app = &g.app;
    let seed = app.seed();
    let mut builds = vec![g.build];
    for i in 0..19 {
        builds.push(
            seed.build(
                g.definition,
                g.endpoint,
                BuildStatus::Pending,
                at(-i),
                None,
                |_| {},
            )
            .await,
        );
    }
    // The token's first use writes `last_used` in the background: let it land first.
    app.data("{ me { id } }", json!({})).await;
    app.settle().await;
    let mut counts = Vec::new();
    for size in [2, 20] {
        let mut ids: Vec<String> = builds[..size].iter().map(|b| build_gid(*b)).collect();
        ids.push(gid::<image_definition::Entity>(g.definition));
        let before = app.statements();
        let data = app
            .data(
                "query ($ids: [ID!]!) { nodes(ids: $ids) { id } }",
                json!({"ids": ids}),
            )
            .await;
        counts.push(app.statements() - before);
        assert_eq!(data["nodes"].as_array().map(Vec::len), Some(size + 1));
    }
    // The builds, the definition (the token is authenticated from memory).
    assert_eq!(counts, [2, 2]);
}
