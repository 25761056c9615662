//! Lookups by id and `node` find what the reader may see and nothing else.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Who, codes, schema, world};

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
