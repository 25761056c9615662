//! Pages that select only the columns their query asks for (`graphql::projection`): every field
//! of every projected type answers from a projected page exactly as from its whole row, and a
//! row read with some of its columns answers no other field of the request.

use entity::{
    enums::{BuildStatus, BuilderType, OsFamily, ProvisionerRecipe, Role},
    user,
};
use packer_gateway::graphql::{builds, definitions, projection::Reads};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};

use crate::support::{TestApp, at, build_gid, gid};

/// One build whose every column holds a value unlike the placeholder of a column a statement
/// did not select (`registry::rows::Cell::absent`: empty, zero, false, null, the epoch, an
/// enum's first value), with a definition alike and a creator.
struct Rich {
    build: i32,
    definition: i32,
}

async fn rich(app: &TestApp) -> Rich {
    let world = app.world().await;
    let seed = app.seed();
    let template = seed.template("tpl", world.cluster, 9100, &[world.t1]).await;
    let (creator, _) = app.user(Role::Operator, &[world.t1], true).await;
    let mut row: user::ActiveModel = user::Entity::find_by_id(creator)
        .one(&app.app.db)
        .await
        .expect("read the user")
        .expect("the user")
        .into();
    row.first_name = Set("Ada".into());
    row.last_name = Set("Lovelace".into());
    row.email = Set("ada@example.net".into());
    row.update(&app.app.db).await.expect("update the user");
    let definition = seed
        .definition("rich", world.endpoint, world.cluster, &[world.t1], |d| {
            d.description = Set("A definition with every column set".into());
            d.builder_type = Set(BuilderType::ProxmoxIso);
            d.iso_url = Set(Some("https://example.net/debian.iso".into()));
            d.iso_checksum = Set(format!("sha256:{}", "ab".repeat(32)));
            d.iso_storage = Set("local:iso/debian.iso".into());
            d.os_family = Set(OsFamily::Debian);
            d.provisioner_recipe = Set(ProvisionerRecipe::DebianBase);
            d.default_variables = Set(json!({ "disk": "20G" }));
        })
        .await;
    let rebuilt = seed
        .build(
            definition,
            world.endpoint,
            BuildStatus::Completed,
            at(-60),
            Some(creator),
            |_| {},
        )
        .await;
    let build = seed
        .build(
            definition,
            world.endpoint,
            BuildStatus::Failed,
            at(-10),
            Some(creator),
            |b| {
                b.backend_build_id = Set("pkr-42".into());
                b.target_node = Set("pve9".into());
                b.output_vmid = Set(4242);
                b.image_version = Set("v9".into());
                b.variables = Set(json!({ "memory": 2048 }));
                b.timeout_seconds = Set(Some(900));
                b.completed_at = Set(Some(at(-5)));
                b.netbox_job_id = Set(Some(77));
                b.cloud_image_template_id = Set(Some(template));
                b.backend_response = Set(json!({ "status": "failed" }));
                b.error = Set("boom".into());
                b.rebuild_of_id = Set(Some(rebuilt));
            },
        )
        .await;
    Rich { build, definition }
}

/// The fields of `type_name` with the selection set each needs, from introspection.
async fn fields_of(app: &TestApp, type_name: &str) -> Vec<(String, &'static str)> {
    let data = app
        .data(
            "query($name: String!) { __type(name: $name) { fields {
               name type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }
             } } }",
            json!({ "name": type_name }),
        )
        .await;
    let mut fields = Vec::new();
    for field in data["__type"]["fields"].as_array().expect("fields") {
        let mut ty = &field["type"];
        while ty["name"].is_null() {
            ty = &ty["ofType"];
        }
        let selection = match (ty["kind"].as_str(), ty["name"].as_str()) {
            (Some("OBJECT"), Some(name)) if name.ends_with("Connection") => "{ totalCount }",
            (Some("OBJECT"), _) => "{ id }",
            _ => "",
        };
        let name = field["name"].as_str().expect("a name").to_owned();
        fields.push((name, selection));
    }
    fields
}

/// Whether `value` could be what a placeholder answers (see [`Rich`]): the test could not tell
/// a missing column from the whole row's value.
fn placeholder_like(value: &Value) -> bool {
    const FIRST_VALUES: [&str; 5] = [
        "PENDING",
        "PROXMOX_CLONE",
        "UBUNTU",
        "UBUNTU_BASE",
        "VIEWER",
    ];
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => {
            s.is_empty() || s.starts_with("1970-01-01") || FIRST_VALUES.contains(&s.as_str())
        }
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.values().all(placeholder_like),
        Value::Bool(true) => false,
    }
}

/// Every field of `type_name`, asked alone through `projected` (a query with `FIELD` where the
/// field goes, answering the object at `path`) and through `node(id: whole)`, answers alike; and
/// every field is in `reads`.
async fn answers_alike(
    app: &TestApp,
    type_name: &str,
    reads: Reads,
    projected: &str,
    path: &[&str],
    whole: &str,
) {
    for (field, selection) in fields_of(app, type_name).await {
        assert!(
            reads.iter().any(|(name, _)| *name == field),
            "{type_name}.{field} is not in its table of the columns its fields read"
        );
        let asked = format!("{field} {selection}");
        let data = app
            .data(&projected.replace("FIELD", &asked), json!({}))
            .await;
        let mut object = &data;
        for step in path {
            object = match step.parse::<usize>() {
                Ok(index) => &object[index],
                Err(_) => &object[*step],
            };
        }
        let query =
            format!("query($id: ID!) {{ node(id: $id) {{ ... on {type_name} {{ {asked} }} }} }}");
        let expected = app.data(&query, json!({ "id": whole })).await;
        let expected = &expected["node"][&field];
        // The build's log is empty: it reads only the key, which every statement selects.
        if field != "log" {
            assert!(
                !placeholder_like(expected),
                "{type_name}.{field} is {expected}: seed it with a value unlike a placeholder"
            );
        }
        assert_eq!(&object[&field], expected, "{type_name}.{field}");
    }
}

#[tokio::test]
async fn every_field_answers_from_a_projected_page_as_from_the_whole_row() {
    let app = TestApp::new().await;
    let rich = rich(&app).await;
    answers_alike(
        &app,
        "ImageBuild",
        builds::READS,
        "{ imageBuilds(first: 1) { nodes { FIELD } } }",
        &["imageBuilds", "nodes", "0"],
        &build_gid(rich.build),
    )
    .await;
    answers_alike(
        &app,
        "ImageBuild",
        builds::READS,
        "{ imageBuilds(first: 1) { edges { node { ...f } } } } fragment f on ImageBuild { FIELD }",
        &["imageBuilds", "edges", "0", "node"],
        &build_gid(rich.build),
    )
    .await;
    let by_id = format!(
        "{{ imageBuild(id: \"{}\") {{ FIELD }} }}",
        build_gid(rich.build)
    );
    answers_alike(
        &app,
        "ImageBuild",
        builds::READS,
        &by_id,
        &["imageBuild"],
        &build_gid(rich.build),
    )
    .await;
    let definition = gid::<entity::image_definition::Entity>(rich.definition);
    let by_id = format!("{{ imageDefinition(id: \"{definition}\") {{ FIELD }} }}");
    answers_alike(
        &app,
        "ImageDefinition",
        definitions::READS,
        &by_id,
        &["imageDefinition"],
        &definition,
    )
    .await;
    answers_alike(
        &app,
        "ImageDefinition",
        definitions::READS,
        "{ imageBuilds(first: 1) { nodes { definition { FIELD } } } }",
        &["imageBuilds", "nodes", "0", "definition"],
        &gid::<entity::image_definition::Entity>(rich.definition),
    )
    .await;
    answers_alike(
        &app,
        "ImageBuild",
        builds::READS,
        "{ buildEvents(first: 1, filter: {build: {eq: \"BUILD\"}}) { nodes { build { FIELD } } } }"
            .replace("BUILD", &build_gid(rich.build))
            .as_str(),
        &["buildEvents", "nodes", "0", "build"],
        &build_gid(rich.build),
    )
    .await;
    answers_alike(
        &app,
        "ImageDefinition",
        definitions::READS,
        "{ imageDefinitions(first: 1) { nodes { FIELD } } }",
        &["imageDefinitions", "nodes", "0"],
        &gid::<entity::image_definition::Entity>(rich.definition),
    )
    .await;
}

/// A definition read with its name only, for a page of builds, answers none of the other fields
/// of the same request that ask for the same definition: they read it whole.
#[tokio::test]
async fn a_row_read_in_part_answers_no_other_field() {
    let app = TestApp::new().await;
    let rich = rich(&app).await;
    let data = app
        .data(
            "query($id: ID!) {
               imageBuilds(first: 1) { nodes { definition { name } createdBy { username } } }
               again: imageBuilds(first: 1) { nodes { definition { description } } }
               buildEvents(first: 5) { nodes { build { definition { defaultStorage } } actor { email } } }
               node(id: $id) { ... on ImageBuild { definition { osRelease } createdBy { lastName } } }
             }",
            json!({ "id": build_gid(rich.build) }),
        )
        .await;
    let node = &data["imageBuilds"]["nodes"][0];
    assert_eq!(node["definition"]["name"], json!("rich"));
    assert_eq!(
        data["again"]["nodes"][0]["definition"]["description"],
        json!("A definition with every column set")
    );
    for event in data["buildEvents"]["nodes"].as_array().expect("events") {
        assert_eq!(
            event["build"]["definition"]["defaultStorage"],
            json!("local-lvm")
        );
        assert_eq!(event["actor"]["email"], json!("ada@example.net"));
    }
    assert_eq!(data["node"]["definition"]["osRelease"], json!("24.04"));
    assert_eq!(data["node"]["createdBy"]["lastName"], json!("Lovelace"));
}
