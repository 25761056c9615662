//! `node(id:)` and `nodes(ids:)`.

use entity::{
    cloud_image_template, cluster, enums::BuildStatus, image_build, image_definition,
    plugin_settings, proxmox_endpoint, tenant, user,
};
use serde_json::{Value, json};

use crate::support::{at, build_gid, event_gid, gid};

use super::graph;

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
