//! Read authorization, proven over the whole schema: every relation field GraphQL has — found by
//! introspection, so a new relation is walked without touching this file — is walked as an
//! anonymous reader and as a VIEWER restricted to one tenant, and every object that comes back is
//! checked against the set that principal may see, computed here from the seed alone. The lookups
//! by id, the subscription's payload, and the REST door (lists, details, brief related objects,
//! reference objects, settings) are checked against the same sets.

mod introspection;
mod lookups;
mod relations;
mod rest;
mod subscriptions;

use std::collections::{BTreeMap, BTreeSet};

use entity::{
    cloud_image_template, cluster, enums::Role, image_definition, plugin_settings,
    proxmox_endpoint, tenant, user,
};
use packer_gateway::registry::id::Named;
use serde_json::{Value, json};

use crate::support::{TestApp, gid};
use introspection::{Hop, Schema, schema, select};

/// Every object of each GraphQL type a principal may see: `__typename` → ids.
type Visible = BTreeMap<String, BTreeSet<String>>;

/// The seeded world, and what each principal may see of it.
struct World {
    app: TestApp,
    viewer: String,
    /// Every id of each type, as the administrator reads them.
    all: Visible,
    anonymous: Visible,
    tenant_viewer: Visible,
    /// A pending build of the unrestricted definition, for a last event both principals see.
    open_pending: String,
}

/// A principal of the walk.
#[derive(Clone, Copy, Debug)]
enum Who {
    Anonymous,
    TenantViewer,
}

impl World {
    fn token(&self, who: Who) -> Option<&str> {
        match who {
            Who::Anonymous => None,
            Who::TenantViewer => Some(&self.viewer),
        }
    }

    fn visible(&self, who: Who) -> &Visible {
        match who {
            Who::Anonymous => &self.anonymous,
            Who::TenantViewer => &self.tenant_viewer,
        }
    }
}

/// The global ids of rows of `E`.
fn ids<E: Named, const N: usize>(ids: [i32; N]) -> BTreeSet<String> {
    ids.iter().map(|id| gid::<E>(*id)).collect()
}

/// Two tenants; definitions unrestricted, restricted to either and to both, on two clusters and
/// endpoints owned by tenants; builds completed (each publishing a catalog entry), rebuilt and
/// cancelled through the real lifecycle; catalog entries restricted by hand; a VIEWER of the first
/// tenant, and a VIEWER of the second.
async fn world() -> World {
    let app = TestApp::with_args(&[
        "--anonymous-read",
        "--max-complexity",
        "1000000",
        "--max-depth",
        "20",
    ])
    .await;
    let seed = app.seed();
    let (t1, t2) = (
        seed.tenant("Tenant One").await,
        seed.tenant("Tenant Two").await,
    );
    let (c1, c2) = (seed.cluster("pve-one").await, seed.cluster("pve-two").await);
    let (e1, e2) = (
        seed.endpoint("api-one").await,
        seed.endpoint("api-two").await,
    );
    app.data(
        "mutation ($c: ID!, $e: ID!, $t2: ID!, $t1: ID!) {
           updateCluster(id: $c, input: {tenantId: $t2}) { id }
           updateProxmoxEndpoint(id: $e, input: {tenantId: $t1}) { id } }",
        json!({"c": c2.to_string(), "e": e2.to_string(), "t1": t1.to_string(), "t2": t2.to_string()}),
    )
    .await;
    let open = seed.definition("Open", e1, c1, &[], |_| {}).await;
    let first = seed.definition("First", e2, c2, &[t1], |_| {}).await;
    let second = seed.definition("Second", e1, c2, &[t2], |_| {}).await;
    let both = seed.definition("Both", e2, c1, &[t1, t2], |_| {}).await;
    let open_template = seed.template("open-image", c1, 500, &[]).await;
    let second_template = seed.template("second-image", c2, 501, &[t2]).await;
    let (viewer_id, viewer) = app.user(Role::Viewer, &[t1], true).await;
    let (other_id, _) = app.user(Role::Viewer, &[t2], true).await;
    let (operator_id, operator) = app.user(Role::Operator, &[t1, t2], true).await;
    app.enable_factory(json!({"imageFactoryMaxConcurrentBuilds": 1000}))
        .await;

    // Per definition: a build queued by the OPERATOR and completed (publishing a catalog entry
    // restricted like the definition), its rebuild, and a cancelled build.
    let mut builds: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let mut templates: BTreeMap<i32, String> = BTreeMap::new();
    let mut open_pending = String::new();
    for (n, definition) in [open, first, second, both].into_iter().enumerate() {
        let queued = app
            .queue_build(
                &operator,
                json!({"definitionId": definition.to_string(), "outputVmid": 9100 + n}),
            )
            .await;
        let built = queued["data"]["queueImageBuild"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("queued: {queued}"))
            .to_owned();
        app.lifecycle(&app.admin, "startImageBuild", &built, "")
            .await;
        let done = app
            .lifecycle(&app.admin, "completeImageBuild", &built, "")
            .await;
        let template = done["data"]["completeImageBuild"]["cloudImageTemplate"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("published: {done}"))
            .to_owned();
        let rebuilt = app.lifecycle(&app.admin, "rebuildImage", &built, "").await;
        let rebuild = rebuilt["data"]["rebuildImage"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("rebuilt: {rebuilt}"))
            .to_owned();
        let cancelled = app
            .queue_build(
                &app.admin,
                json!({"definitionId": definition.to_string(), "outputVmid": 9200 + n}),
            )
            .await;
        let cancelled = cancelled["data"]["queueImageBuild"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("queued: {cancelled}"))
            .to_owned();
        app.lifecycle(&app.admin, "cancelImageBuild", &cancelled, "")
            .await;
        if definition == open {
            open_pending = rebuild.clone();
        }
        builds.insert(definition, vec![built, rebuild, cancelled]);
        templates.insert(definition, template);
    }

    // Every id of every type, as the administrator reads them.
    let data = app
        .data(
            "{ buildEvents(first: 100) { nodes { id build { id } } }
               users(first: 100) { nodes { id apiTokens { id } } } }",
            json!({}),
        )
        .await;
    let mut events_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for event in data["buildEvents"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let build = event["build"]["id"].as_str().unwrap_or_default().to_owned();
        let id = event["id"].as_str().unwrap_or_default().to_owned();
        events_of.entry(build).or_default().insert(id);
    }
    let mut tokens_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for user in data["users"]["nodes"].as_array().into_iter().flatten() {
        let tokens = user["apiTokens"].as_array().into_iter().flatten();
        tokens_of.insert(
            user["id"].as_str().unwrap_or_default().to_owned(),
            tokens
                .filter_map(|t| t["id"].as_str().map(str::to_owned))
                .collect(),
        );
    }
    let users: BTreeSet<String> = tokens_of.keys().cloned().collect();
    assert_eq!(
        users,
        ids::<user::Entity, 4>([app.admin_id, viewer_id, other_id, operator_id])
    );

    // What a set of definitions lets a principal see: the definitions, their builds and the
    // builds' events.
    let through = |definitions: &[i32], visible: &mut Visible| {
        for definition in definitions {
            let entry = visible.entry("ImageDefinition".into()).or_default();
            entry.insert(gid::<image_definition::Entity>(*definition));
            for build in &builds[definition] {
                visible
                    .entry("ImageBuild".into())
                    .or_default()
                    .insert(build.clone());
                let events = events_of.get(build).cloned().unwrap_or_default();
                visible
                    .entry("BuildEvent".into())
                    .or_default()
                    .extend(events);
            }
        }
    };
    let mut all = Visible::new();
    through(&[open, first, second, both], &mut all);
    let mut anonymous = Visible::new();
    through(&[open], &mut anonymous);
    let mut tenant_viewer = Visible::new();
    through(&[open, first, both], &mut tenant_viewer);
    for (name, set) in [
        ("Tenant", ids::<tenant::Entity, 2>([t1, t2])),
        ("Cluster", ids::<cluster::Entity, 2>([c1, c2])),
        (
            "ProxmoxEndpoint",
            ids::<proxmox_endpoint::Entity, 2>([e1, e2]),
        ),
        ("User", users.clone()),
        ("PluginSettings", ids::<plugin_settings::Entity, 1>([1])),
    ] {
        all.insert(name.into(), set.clone());
        tenant_viewer.insert(name.into(), set);
    }
    let published: BTreeSet<String> = templates.values().cloned().collect();
    let mut every_template = published;
    every_template.extend(ids::<cloud_image_template::Entity, 2>([
        open_template,
        second_template,
    ]));
    all.insert("CloudImageTemplate".into(), every_template);
    // Catalog entries are restricted like the definitions that published them.
    let mut seen_templates = ids::<cloud_image_template::Entity, 1>([open_template]);
    seen_templates.extend([open, first, both].map(|d| templates[&d].clone()));
    tenant_viewer.insert("CloudImageTemplate".into(), seen_templates);
    all.insert(
        "ApiToken".into(),
        tokens_of.values().flatten().cloned().collect(),
    );
    tenant_viewer.insert(
        "ApiToken".into(),
        tokens_of[&gid::<user::Entity>(viewer_id)].clone(),
    );
    assert!(!tenant_viewer["ApiToken"].is_empty());
    World {
        app,
        viewer,
        all,
        anonymous,
        tenant_viewer,
        open_pending,
    }
}

/// Every `(__typename, id)` of a response's data.
fn objects(value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            if let (Some(Value::String(ty)), Some(Value::String(id))) =
                (map.get("__typename"), map.get("id"))
            {
                out.push((ty.clone(), id.clone()));
            }
            map.values().for_each(|v| objects(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| objects(v, out)),
        _ => {}
    }
}

/// The codes of a response's errors.
fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            e["extensions"]["code"]
                .as_str()
                .unwrap_or("<none>")
                .to_owned()
        })
        .collect()
}
