//! Read authorization, proven over the whole schema: every relation field GraphQL has — found by
//! introspection, so a new relation is walked without touching this file — is walked as an
//! anonymous reader and as a VIEWER restricted to one tenant, and every object that comes back is
//! checked against the set that principal may see, computed here from the seed alone. The lookups
//! by id, the subscription's payload, and the REST door (lists, details, brief related objects,
//! reference objects, settings) are checked against the same sets.

use std::collections::{BTreeMap, BTreeSet};

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use entity::{
    cloud_image_template, cluster, enums::Role, image_definition, plugin_settings,
    proxmox_endpoint, tenant, user,
};
use packer_gateway::registry::id::Named;
use serde_json::{Value, json};

use crate::{
    support::{TestApp, gid, row_of},
    ws_client::{Client, TRANSPORT_WS, bearer},
};

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

/// The global id of the object of type `ty` that REST shows with the integer `id`.
fn global(ty: &str, id: &Value) -> String {
    URL_SAFE_NO_PAD.encode(format!("{ty}:{id}"))
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

/// A type as introspection describes a field's.
fn named(ty: &Value) -> (String, bool) {
    let mut ty = ty;
    let mut list = false;
    while ty["name"].is_null() {
        list |= ty["kind"] == "LIST";
        ty = &ty["ofType"];
    }
    (ty["name"].as_str().unwrap_or_default().to_owned(), list)
}

/// What introspection says of the schema's relations.
struct Schema {
    /// Object types with an `id: ID!`: the entities.
    entities: BTreeSet<String>,
    /// `XConnection` → `X`.
    connections: BTreeMap<String, String>,
    /// Relation fields of each entity: (field, target entity, through a connection, takes
    /// `first`).
    relations: BTreeMap<String, Vec<Hop>>,
    /// Query fields that return an entity or a connection.
    roots: Vec<Root>,
    /// The subscription fields and the relation fields of their payload.
    subscriptions: Vec<(String, Vec<Hop>)>,
}

#[derive(Clone, Debug)]
struct Hop {
    field: String,
    target: String,
    connection: bool,
    first: bool,
}

#[derive(Clone, Debug)]
struct Root {
    hop: Hop,
    /// It takes an `id` (a lookup), or nothing required.
    by_id: bool,
}

async fn schema(app: &TestApp) -> Schema {
    let ty = "type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";
    let data = app
        .data(
            &format!(
                "{{ __schema {{ queryType {{ name }} subscriptionType {{ name }}
                   types {{ name kind fields {{ name args {{ name {ty} }} {ty} }} }} }} }}"
            ),
            json!({}),
        )
        .await;
    let types = data["__schema"]["types"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let fields_of = |name: &str| -> Vec<Value> {
        types
            .iter()
            .find(|t| t["name"] == name)
            .and_then(|t| t["fields"].as_array().cloned())
            .unwrap_or_default()
    };
    let entities: BTreeSet<String> = types
        .iter()
        .filter(|t| t["kind"] == "OBJECT")
        .filter(|t| {
            t["fields"].as_array().into_iter().flatten().any(|f| {
                f["name"] == "id" && f["type"]["kind"] == "NON_NULL" && named(&f["type"]).0 == "ID"
            })
        })
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    let connections: BTreeMap<String, String> = types
        .iter()
        .filter_map(|t| {
            let name = t["name"].as_str()?;
            let node = fields_of(name)
                .into_iter()
                .find(|f| f["name"] == "nodes")
                .map(|f| named(&f["type"]).0)?;
            (name.ends_with("Connection") && entities.contains(&node))
                .then(|| (name.to_owned(), node))
        })
        .collect();
    let hop = |field: &Value| -> Option<Hop> {
        let (target, _) = named(&field["type"]);
        let (target, connection) = match connections.get(&target) {
            Some(node) => (node.clone(), true),
            None if entities.contains(&target) => (target, false),
            None => return None,
        };
        let args = field["args"].as_array().cloned().unwrap_or_default();
        Some(Hop {
            field: field["name"].as_str()?.to_owned(),
            target,
            connection,
            first: args.iter().any(|a| a["name"] == "first"),
        })
    };
    let relations = entities
        .iter()
        .map(|entity| {
            let hops = fields_of(entity).iter().filter_map(hop).collect();
            (entity.clone(), hops)
        })
        .collect();
    let query = data["__schema"]["queryType"]["name"]
        .as_str()
        .unwrap_or("Query");
    let roots = fields_of(query)
        .iter()
        .filter_map(|field| {
            let hop = hop(field)?;
            let args = field["args"].as_array().cloned().unwrap_or_default();
            let by_id = args.iter().any(|a| a["name"] == "id");
            let required = args.iter().any(|a| a["type"]["kind"] == "NON_NULL");
            (by_id || !required).then_some(Root { hop, by_id })
        })
        .collect();
    let subscription = data["__schema"]["subscriptionType"]["name"]
        .as_str()
        .unwrap_or("Subscription");
    let subscriptions = fields_of(subscription)
        .iter()
        .map(|field| {
            let payload = named(&field["type"]).0;
            let hops = fields_of(&payload).iter().filter_map(hop).collect();
            (field["name"].as_str().unwrap_or_default().to_owned(), hops)
        })
        // A payload without relations (`buildLog`'s lines) names no object to leak: the
        // visibility of its build is tested with it (tests/it/logs.rs).
        .filter(|(_, hops): &(String, Vec<Hop>)| !hops.is_empty())
        .collect();
    Schema {
        entities,
        connections,
        relations,
        roots,
        subscriptions,
    }
}

/// The selection of `hop` around `inner` (the selection of its target).
fn select(hop: &Hop, inner: &str, page: u32) -> String {
    let args = if hop.first {
        format!("(first: {page})")
    } else {
        String::new()
    };
    if hop.connection {
        format!("{}{args} {{ nodes {{ {inner} }} }}", hop.field)
    } else {
        format!("{}{args} {{ {inner} }}", hop.field)
    }
}

/// The selection of an entity reached by `path`: `__typename id` at every level.
fn nested(path: &[Hop]) -> String {
    match path.split_first() {
        None => "__typename id".to_owned(),
        Some((hop, rest)) => format!("__typename id {}", select(hop, &nested(rest), 20)),
    }
}

/// Every path of at most `hops` relations from `from`, never taking the same relation twice.
fn paths(schema: &Schema, from: &str, hops: usize) -> Vec<Vec<Hop>> {
    let mut found = vec![Vec::new()];
    let mut frontier: Vec<(String, Vec<Hop>)> = vec![(from.to_owned(), Vec::new())];
    for _ in 0..hops {
        let mut next = Vec::new();
        for (entity, path) in frontier {
            for hop in schema.relations.get(&entity).into_iter().flatten() {
                let taken = |h: &Hop, owner: &str| h.field == hop.field && owner == entity;
                let mut owner = from.to_owned();
                let mut repeated = false;
                for h in &path {
                    repeated |= taken(h, &owner);
                    owner = h.target.clone();
                }
                if repeated {
                    continue;
                }
                let mut extended = path.clone();
                extended.push(hop.clone());
                found.push(extended.clone());
                next.push((hop.target.clone(), extended));
            }
        }
        frontier = next;
    }
    found
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

/// Runs `query` as `who` and checks that every object it returns is one `who` may see, and that
/// its errors are refusals (UNAUTHENTICATED for an anonymous reader, FORBIDDEN for another user's
/// tokens). Returns the objects, and whether anything was refused.
async fn checked(world: &World, who: Who, query: &str) -> (Vec<(String, String)>, bool) {
    let (status, body) = world.app.post(world.token(who), query, json!({})).await;
    let mut found = Vec::new();
    objects(&body["data"], &mut found);
    for (ty, id) in &found {
        let visible = world
            .visible(who)
            .get(ty)
            .is_some_and(|ids| ids.contains(id));
        assert!(
            visible,
            "{who:?} got {ty} {id}, which it may not see: {query}\n{body}"
        );
        assert!(
            world.all.get(ty).is_some_and(|ids| ids.contains(id)),
            "{ty} {id} is not part of the seed"
        );
    }
    let allowed = match who {
        Who::Anonymous => "UNAUTHENTICATED",
        Who::TenantViewer => "FORBIDDEN",
    };
    let refused = codes(&body);
    for code in &refused {
        assert_eq!(code, allowed, "{who:?}: {query}\n{body}");
    }
    assert!(
        status == StatusCode::OK || status == StatusCode::UNAUTHORIZED,
        "{status}: {query}\n{body}"
    );
    (found, !refused.is_empty())
}

#[tokio::test]
async fn every_relation_field_returns_only_what_the_reader_may_see() {
    let world = world().await;
    let schema = schema(&world.app).await;
    let relations: usize = schema.relations.values().map(Vec::len).sum();
    assert!(
        relations >= 17 && schema.entities.len() >= 9 && schema.connections.len() >= 8,
        "the schema is read: {:?}",
        schema.relations
    );
    for who in [Who::Anonymous, Who::TenantViewer] {
        // (owner type, field) → objects returned through it.
        let mut exercised: BTreeMap<(String, String), usize> = BTreeMap::new();
        for root in schema.roots.iter().filter(|r| !r.by_id) {
            for path in paths(&schema, &root.hop.target, 3) {
                let query = format!("{{ {} }}", select(&root.hop, &nested(&path), 100));
                let (found, refused) = checked(&world, who, &query).await;
                let mut owner = root.hop.target.clone();
                for hop in &path {
                    let returned = found.iter().filter(|(ty, _)| *ty == hop.target).count();
                    *exercised
                        .entry((owner.clone(), hop.field.clone()))
                        .or_default() += returned;
                    owner = hop.target.clone();
                }
                // A top-level list returns exactly what the reader may see, unless the reader
                // may not read the list at all (anonymous readers and the event log).
                if path.is_empty() && root.hop.connection && !refused {
                    let listed: BTreeSet<String> = found
                        .iter()
                        .filter(|(ty, _)| *ty == root.hop.target)
                        .map(|(_, id)| id.clone())
                        .collect();
                    let expected = world.visible(who).get(&root.hop.target).cloned();
                    assert_eq!(listed, expected.unwrap_or_default(), "{who:?}: {query}");
                }
            }
        }
        // The walk is not vacuous: every relation to a type the reader sees some of returned
        // something; every other relation returned nothing (which `checked` already proves).
        for (entity, hops) in &schema.relations {
            for hop in hops {
                let sees = world
                    .visible(who)
                    .get(&hop.target)
                    .is_some_and(|ids| !ids.is_empty());
                let returned = exercised
                    .get(&(entity.clone(), hop.field.clone()))
                    .copied()
                    .unwrap_or(0);
                if sees && world.visible(who).contains_key(entity) {
                    assert!(
                        returned > 0,
                        "{who:?}: {entity}.{} was never walked",
                        hop.field
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn every_lookup_by_id_finds_what_the_reader_may_see_and_nothing_else() {
    let world = world().await;
    let schema = schema(&world.app).await;
    for who in [Who::Anonymous, Who::TenantViewer] {
        for root in schema.roots.iter().filter(|r| r.by_id) {
            let ids = world.all.get(&root.hop.target).cloned().unwrap_or_default();
            assert!(!ids.is_empty(), "{} has seeded rows", root.hop.target);
            for id in ids {
                let query = format!("{{ {}(id: \"{id}\") {{ __typename id }} }}", root.hop.field);
                let (_, body) = world.app.post(world.token(who), &query, json!({})).await;
                let expected = match world.visible(who).get(&root.hop.target) {
                    Some(ids) if ids.contains(&id) => None,
                    Some(_) => Some("NOT_FOUND"),
                    // A type the reader may not read at all.
                    None => Some("UNAUTHENTICATED"),
                };
                match expected {
                    None => assert_eq!(body["data"][&root.hop.field]["id"], id.as_str(), "{body}"),
                    Some(code) => {
                        assert_eq!(codes(&body), vec![code], "{who:?}: {query}\n{body}");
                        assert!(body["data"][&root.hop.field].is_null(), "{body}");
                    }
                }
            }
        }
    }
}

/// `node(id:)` and `nodes(ids:)` apply the same visibility as every lookup, for every type with a
/// global id: what the reader may see is found, what it may not see is null like what does not
/// exist (with no error), and a type it may not read at all is `UNAUTHENTICATED`.
#[tokio::test]
async fn node_finds_what_the_reader_may_see_and_nothing_else() {
    let world = world().await;
    let schema = schema(&world.app).await;
    let every: Vec<(String, String)> = world
        .all
        .iter()
        .flat_map(|(ty, ids)| ids.iter().map(move |id| (ty.clone(), id.clone())))
        .collect();
    let types: BTreeSet<&String> = world.all.keys().collect();
    assert_eq!(
        types,
        schema.entities.iter().collect(),
        "every type with an id is in the walk"
    );
    for who in [Who::Anonymous, Who::TenantViewer] {
        let mut expected_list = Vec::new();
        for (ty, id) in &every {
            let query = format!("{{ node(id: \"{id}\") {{ __typename id }} }}");
            let (status, body) = world.app.post(world.token(who), &query, json!({})).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let expected = match world.visible(who).get(ty) {
                Some(ids) if ids.contains(id) => json!({"__typename": ty, "id": id}),
                Some(_) => Value::Null,
                None => {
                    assert_eq!(codes(&body), vec!["UNAUTHENTICATED"], "{who:?}: {body}");
                    assert!(body["data"]["node"].is_null(), "{body}");
                    continue;
                }
            };
            assert!(body.get("errors").is_none(), "{who:?}: {query}\n{body}");
            assert_eq!(body["data"]["node"], expected, "{who:?}: {query}");
            expected_list.push((id.clone(), expected));
        }
        // The same through `nodes`, in one request, in order.
        for chunk in expected_list.chunks(100) {
            let ids: Vec<&String> = chunk.iter().map(|(id, _)| id).collect();
            let (_, body) = world
                .app
                .post(
                    world.token(who),
                    "query ($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }",
                    json!({"ids": ids}),
                )
                .await;
            assert!(body.get("errors").is_none(), "{who:?}: {body}");
            let expected: Vec<Value> = chunk.iter().map(|(_, node)| node.clone()).collect();
            assert_eq!(body["data"]["nodes"], json!(expected), "{who:?}");
        }
    }
}

#[tokio::test]
async fn subscribers_hear_only_of_what_they_may_see() {
    let world = world().await;
    let schema = schema(&world.app).await;
    let server = world.app.serve().await;
    let mut clients = Vec::new();
    for who in [Who::Anonymous, Who::TenantViewer] {
        for (field, hops) in &schema.subscriptions {
            let selection: Vec<String> = hops
                .iter()
                .map(|hop| select(hop, "__typename id", 20))
                .collect();
            let query = format!(
                "subscription {{ {field}(afterEventId: \"0\") {{ eventId {} }} }}",
                selection.join(" ")
            );
            let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
            let payload = match world.token(who) {
                Some(token) => bearer(token),
                None => json!({}),
            };
            client.init_with(payload).await;
            client.subscribe("walk", &query, json!({})).await;
            clients.push((who, client));
        }
    }
    world.app.wait_for_subscribers(clients.len()).await;
    // A last change both may see: each client reads until it arrives.
    let last = world
        .app
        .lifecycle(
            &world.app.admin,
            "cancelImageBuild",
            &world.open_pending,
            "",
        )
        .await;
    let last = last["data"]["cancelImageBuild"]["events"]
        .as_array()
        .and_then(|events| events.last())
        .and_then(|event| event["id"].as_str())
        .unwrap_or_else(|| panic!("cancelled: {last}"))
        .to_owned();
    for (who, mut client) in clients {
        let mut heard = BTreeSet::new();
        loop {
            let message = client.recv().await;
            assert_eq!(message["type"], "next", "{who:?}: {message}");
            let payload = &message["payload"];
            let mut found = Vec::new();
            objects(&payload["data"], &mut found);
            for (ty, id) in found {
                assert!(
                    world
                        .visible(who)
                        .get(&ty)
                        .is_some_and(|ids| ids.contains(&id)),
                    "{who:?} heard of {ty} {id}: {payload}"
                );
            }
            let allowed = match who {
                Who::Anonymous => vec!["UNAUTHENTICATED"],
                Who::TenantViewer => vec![],
            };
            for code in codes(payload) {
                assert!(allowed.contains(&code.as_str()), "{who:?}: {payload}");
            }
            let event = payload["data"]["buildStatusChanged"]["eventId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if event == last {
                break;
            }
            heard.insert(event);
        }
        assert_eq!(
            heard,
            world.visible(who)["BuildEvent"],
            "{who:?} hears every event it may see"
        );
    }
    server.shutdown().await;
}

/// A REST `GET` as `who`: status and JSON body.
async fn rest(world: &World, who: Who, path: &str) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(format!("/api/plugins/packer/{path}"));
    if let Some(token) = world.token(who) {
        request = request.header(header::AUTHORIZATION, format!("Token {token}"));
    }
    let (status, _, body) = world
        .app
        .send(request.body(Body::empty()).expect("a request"))
        .await;
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

/// Checks a brief related object of a REST representation: for a type the reader sees, one of
/// it, named; for one it may not read at all, `{id, url}` only (or, `nullable`, null).
fn brief(world: &World, who: Who, value: &Value, ty: &str, nullable: bool) {
    if value.is_null() {
        return;
    }
    let id = global(ty, &value["id"]);
    match world.visible(who).get(ty) {
        Some(ids) => {
            assert!(
                ids.contains(&id),
                "{who:?} got the brief {ty} {id}: {value}"
            );
            assert!(value["name"].is_string(), "{value}");
        }
        None => {
            assert!(!nullable, "{who:?} got a {ty} it may not read: {value}");
            assert!(
                value.get("name").is_none() && value.get("display").is_none(),
                "{value}"
            );
        }
    }
}

#[tokio::test]
async fn the_rest_door_shows_only_what_the_reader_may_see() {
    let world = world().await;
    for who in [Who::Anonymous, Who::TenantViewer] {
        let visible = world.visible(who);
        let (status, list) = rest(&world, who, "image-definitions/?limit=1000").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let results = list["results"].as_array().cloned().unwrap_or_default();
        let listed: BTreeSet<String> = results
            .iter()
            .map(|d| global("ImageDefinition", &d["id"]))
            .collect();
        assert_eq!(listed, visible["ImageDefinition"], "{who:?}");
        for definition in &results {
            brief(
                &world,
                who,
                &definition["proxmox_endpoint"],
                "ProxmoxEndpoint",
                false,
            );
            brief(&world, who, &definition["target_cluster"], "Cluster", false);
            for tenant in definition["allowed_tenants"]
                .as_array()
                .into_iter()
                .flatten()
            {
                brief(&world, who, tenant, "Tenant", false);
            }
        }
        let (status, list) = rest(&world, who, "image-builds/?limit=1000").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let results = list["results"].as_array().cloned().unwrap_or_default();
        let listed: BTreeSet<String> = results
            .iter()
            .map(|b| global("ImageBuild", &b["id"]))
            .collect();
        assert_eq!(listed, visible["ImageBuild"], "{who:?}");
        for build in &results {
            brief(&world, who, &build["definition"], "ImageDefinition", true);
            assert!(build["definition"].is_object(), "{build}");
            brief(&world, who, &build["rebuild_of"], "ImageBuild", true);
            brief(
                &world,
                who,
                &build["proxmox_endpoint"],
                "ProxmoxEndpoint",
                false,
            );
            brief(&world, who, &build["created_by"], "User", false);
            brief(
                &world,
                who,
                &build["cloud_image_template"],
                "CloudImageTemplate",
                true,
            );
        }
        for (kind, ty) in [
            ("image-definitions", "ImageDefinition"),
            ("image-builds", "ImageBuild"),
            ("tenants", "Tenant"),
            ("clusters", "Cluster"),
            ("proxmox-endpoints", "ProxmoxEndpoint"),
            ("users", "User"),
            ("cloud-image-templates", "CloudImageTemplate"),
        ] {
            for id in &world.all[ty] {
                let row = row_of(id);
                let (status, body) = rest(&world, who, &format!("{kind}/{row}/")).await;
                let expected = match visible.get(ty) {
                    Some(ids) if ids.contains(id) => StatusCode::OK,
                    Some(_) => StatusCode::NOT_FOUND,
                    None => StatusCode::UNAUTHORIZED,
                };
                assert_eq!(status, expected, "{who:?} {kind}/{row}/: {body}");
                if status == StatusCode::OK {
                    assert_eq!(global(ty, &body["id"]), *id, "{body}");
                }
            }
        }
        let (status, _) = rest(&world, who, "settings/").await;
        let expected = match who {
            Who::Anonymous => StatusCode::UNAUTHORIZED,
            Who::TenantViewer => StatusCode::OK,
        };
        assert_eq!(status, expected, "{who:?} settings/");
    }
    // The seed is what the sets say (the administrator sees all of it, over both doors).
    let (_, list) = rest_as_admin(&world, "image-builds/?limit=1000").await;
    let listed: BTreeSet<String> = list["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| global("ImageBuild", &b["id"]))
        .collect();
    assert_eq!(listed, world.all["ImageBuild"]);
}

async fn rest_as_admin(world: &World, path: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(Method::GET)
        .uri(format!("/api/plugins/packer/{path}"))
        .header(header::AUTHORIZATION, format!("Token {}", world.app.admin))
        .body(Body::empty())
        .expect("a request");
    let (status, _, body) = world.app.send(request).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}
