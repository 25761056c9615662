//! What introspection says of the schema's relations, and the selections that walk them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::support::TestApp;

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
pub(super) struct Schema {
    /// Object types with an `id: ID!`: the entities.
    pub(super) entities: BTreeSet<String>,
    /// `XConnection` → `X`.
    pub(super) connections: BTreeMap<String, String>,
    /// Relation fields of each entity: (field, target entity, through a connection, takes
    /// `first`).
    pub(super) relations: BTreeMap<String, Vec<Hop>>,
    /// Query fields that return an entity or a connection.
    pub(super) roots: Vec<Root>,
    /// The subscription fields and the relation fields of their payload.
    pub(super) subscriptions: Vec<(String, Vec<Hop>)>,
}

#[derive(Clone, Debug)]
pub(super) struct Hop {
    pub(super) field: String,
    pub(super) target: String,
    pub(super) connection: bool,
    pub(super) first: bool,
}

#[derive(Clone, Debug)]
pub(super) struct Root {
    pub(super) hop: Hop,
    /// It takes an `id` (a lookup), or nothing required.
    pub(super) by_id: bool,
}

pub(super) async fn schema(app: &TestApp) -> Schema {
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
pub(super) fn select(hop: &Hop, inner: &str, page: u32) -> String {
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
