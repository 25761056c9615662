//! Global ids (Relay's Global Object Identification, `graphql::ids`): every `id` GraphQL answers
//! is the opaque global id of its object, unique across types; every argument that names a type
//! takes it (and, for a transition period, the row's integer REST uses); another type's id is
//! refused; `node(id:)` and `nodes(ids:)` find objects by it; REST keeps integers. Which objects
//! `node` shows to whom is proven for every type in `authorization/`.

mod doors;
mod global;
mod node;

use entity::enums::BuildStatus;
use serde_json::Value;

use crate::support::{TestApp, at};

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
