//! Uniqueness, patch semantics, deletion, and awkward names.

use entity::tenant;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::support::{RACE, TestApp, clone_input, code, fields, gid, key_of};

use super::create;

const UPDATE: &str = "mutation ($id: ID!, $input: UpdateImageDefinitionInput!) {
    updateImageDefinition(id: $id, input: $input) {
        id name slug builderType targetCluster { id } sourceTemplateVmid isoUrl description
        allowedTenants { id }
    }
}";

#[tokio::test]
async fn names_and_slugs_are_unique_even_under_concurrent_inserts() {
    let app = TestApp::with_args(RACE).await;
    let world = app.world().await;
    app.create_definition(clone_input(&world, "Taken", "taken"))
        .await;
    let body = create(&app, clone_input(&world, "Taken", "other")).await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    assert_eq!(fields(&body), ["name"]);
    let body = create(&app, clone_input(&world, "Other", "taken")).await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    assert_eq!(fields(&body), ["slug"]);

    let bodies = join_all((0..10).map(|_| create(&app, clone_input(&world, "Racy", "racy")))).await;
    let created = bodies.iter().filter(|b| b.get("errors").is_none()).count();
    let conflicts = bodies.iter().filter(|b| code(b) == "CONFLICT").count();
    assert_eq!((created, conflicts), (1, 9), "{bodies:?}");
    assert_eq!(app.count("image_definition").await, 2);
}

#[tokio::test]
async fn updates_are_patches_checked_against_the_merged_result() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let mut input = clone_input(&world, "Patch me", "patch-me");
    input["description"] = json!("kept");
    input["allowedTenantIds"] = json!([world.t1.to_string()]);
    let id = app.create_definition(input).await;
    let update = |input: Value| {
        let app = &app;
        let id = id.clone();
        async move {
            app.as_user(&app.admin, UPDATE, json!({"id": id, "input": input}))
                .await
        }
    };

    let body = update(json!({"name": "Patched"})).await;
    let updated = &body["data"]["updateImageDefinition"];
    assert_eq!(updated["name"], "Patched", "{body}");
    assert_eq!(
        updated["description"], "kept",
        "absent fields are unchanged"
    );
    assert_eq!(
        updated["allowedTenants"],
        json!([{"id": gid::<tenant::Entity>(world.t1)}])
    );

    // Clearing the cluster breaks the clone builder rule of the merged result.
    let body = update(json!({"targetClusterId": null})).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(fields(&body), ["targetClusterId"]);

    // Switching to ISO with a source and clearing the clone fields is fine.
    let body = update(json!({
        "builderType": "PROXMOX_ISO", "isoStorage": "local:iso/u.iso",
        "targetClusterId": null, "sourceTemplateVmid": null
    }))
    .await;
    let updated = &body["data"]["updateImageDefinition"];
    assert_eq!(updated["builderType"], "PROXMOX_ISO", "{body}");
    assert_eq!(updated["targetCluster"], Value::Null);
    assert_eq!(updated["sourceTemplateVmid"], Value::Null);

    // `null` on a required field is refused; an empty tenant list opens the definition.
    let body = update(json!({"name": null})).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(fields(&body), ["name"]);
    let body = update(json!({"allowedTenantIds": []})).await;
    assert_eq!(
        body["data"]["updateImageDefinition"]["allowedTenants"],
        json!([]),
        "{body}"
    );

    let missing = app
        .as_user(
            &app.admin,
            UPDATE,
            json!({"id": "999999", "input": {"name": "x"}}),
        )
        .await;
    assert_eq!(code(&missing), "NOT_FOUND", "{missing}");
}

#[tokio::test]
async fn a_definition_with_builds_cannot_be_deleted() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let delete = "mutation ($id: ID!) { deleteImageDefinition(id: $id) }";
    let empty = app
        .create_definition(clone_input(&world, "Empty", "empty"))
        .await;
    let body = app.as_user(&app.admin, delete, json!({"id": empty})).await;
    assert_eq!(
        body["data"]["deleteImageDefinition"],
        empty.as_str(),
        "{body}"
    );

    let used = app
        .create_definition(clone_input(&world, "Used", "used"))
        .await;
    let id = key_of(&used);
    app.seed()
        .build(
            id,
            world.endpoint,
            entity::enums::BuildStatus::Completed,
            crate::support::at(0),
            None,
            |_| {},
        )
        .await;
    let body = app.as_user(&app.admin, delete, json!({"id": used})).await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    assert_eq!(app.count("image_definition").await, 1);
    assert_eq!(app.count("image_build").await, 1);
}

#[tokio::test]
async fn awkward_names_round_trip_exactly() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let names = [
        "O'Brien \"quoted\" image",
        "100% done_with_underscores",
        "🦀 rusty ünïcödé 画像",
        "x'); DROP TABLE image_definition; --",
        "back\\slash and tab\there",
    ];
    for (i, name) in names.iter().enumerate() {
        let mut input = clone_input(&world, name, &format!("awkward-{i}"));
        input["description"] = json!(name);
        let body = create(&app, input).await;
        assert_eq!(
            body["data"]["createImageDefinition"]["name"], *name,
            "{body}"
        );
        let found = app
            .data(
                "query ($name: String!) { imageDefinitions(filter: {name: {exact: $name}}) { nodes { name description } } }",
                json!({"name": name}),
            )
            .await;
        assert_eq!(
            found["imageDefinitions"]["nodes"],
            json!([{"name": name, "description": name}])
        );
    }
    assert_eq!(app.count("image_definition").await, names.len() as i64);
}

#[tokio::test]
async fn reference_rows_still_in_use_cannot_be_deleted() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let mut input = clone_input(&world, "Pinned", "pinned");
    input["allowedTenantIds"] = json!([world.t1.to_string()]);
    app.create_definition(input).await;
    for (mutation, id) in [
        ("deleteTenant", world.t1),
        ("deleteCluster", world.cluster),
        ("deleteProxmoxEndpoint", world.endpoint),
    ] {
        let body = app
            .as_user(
                &app.admin,
                &format!("mutation ($id: ID!) {{ {mutation}(id: $id) }}"),
                json!({"id": id.to_string()}),
            )
            .await;
        assert_eq!(code(&body), "CONFLICT", "{mutation}: {body}");
    }
    // The unused tenant goes.
    let body = app
        .as_user(
            &app.admin,
            "mutation ($id: ID!) { deleteTenant(id: $id) }",
            json!({"id": world.t2.to_string()}),
        )
        .await;
    assert_eq!(
        body["data"]["deleteTenant"],
        gid::<tenant::Entity>(world.t2),
        "{body}"
    );
}
