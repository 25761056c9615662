//! Every relation field, found by introspection and walked, returns only what the reader may see.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use serde_json::json;

use super::{Hop, Schema, Who, World, codes, objects, schema, select, world};

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
