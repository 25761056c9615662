//! Every id is a global id, arguments take them (and integers for now), malformed ones are
//! refused, and the settings keep one id.

use entity::{
    cloud_image_template, cluster, enums::Role, image_definition, plugin_settings,
    proxmox_endpoint, tenant, user,
};
use serde_json::json;

use crate::support::{TestApp, build_gid, code, gid};

use super::{collect, graph};

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
