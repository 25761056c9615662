//! Nested `builds` connections page like top-level lists.

use entity::{enums::BuildStatus, image_build};
use serde_json::{Value, json};

use crate::support::gid;

use super::{Fixture, List, Row, check_order, nested, order_by, sorted};

#[tokio::test]
async fn nested_builds_page_like_top_level_lists() {
    let f = Fixture::new().await;
    let app = &f.app;
    let mut definitions = Vec::new();
    let mut builds_of = Vec::new();
    for (name, count) in [("seven", 7), ("four", 4), ("none", 0)] {
        let definition = app
            .seed()
            .definition(name, f.world.endpoint, f.world.cluster, &[], |_| {})
            .await;
        let mut rows: Vec<Row> = (0..count)
            .map(|i| {
                let vmid = 1000 + (i % 3) as i32;
                Row::new(BuildStatus::Pending, "n", vmid, "v").times(None, None, -10 * i, 0)
            })
            .collect();
        f.seed_of(definition, &mut rows).await;
        definitions.push(definition);
        builds_of.push(rows);
    }

    // First pages of every definition in one request, each counted on its own.
    let data = app
        .data(
            "{ imageDefinitions(filter: {name: {in: [\"seven\", \"four\", \"none\"]}},
                                orderBy: [{field: ID}]) { nodes {
                 builds(first: 2) { nodes { id } pageInfo { hasNextPage hasPreviousPage }
                                    totalCount } } } }",
            json!({}),
        )
        .await;
    let nodes = data["imageDefinitions"]["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3);
    for (node, rows) in nodes.iter().zip(&builds_of) {
        let first_two: Vec<Value> = sorted(rows, &[("CREATED", true)])
            .into_iter()
            .take(2)
            .map(|id| json!({"id": gid::<image_build::Entity>(id)}))
            .collect();
        let builds = &node["builds"];
        assert_eq!(builds["nodes"], json!(first_two));
        assert_eq!(builds["totalCount"], json!(rows.len()));
        assert_eq!(builds["pageInfo"]["hasNextPage"], json!(rows.len() > 2));
        assert_eq!(builds["pageInfo"]["hasPreviousPage"], json!(false));
    }

    // Walking one definition's builds, in several orders, both ways.
    for (definition, rows) in definitions.iter().zip(&builds_of) {
        for order in [
            vec![],
            vec![("OUTPUT_VMID", false)],
            vec![("CREATED", false)],
        ] {
            let list = nested(*definition, order_by(&order));
            let order = if order.is_empty() {
                vec![("CREATED", true)]
            } else {
                order
            };
            let what = format!("{definition} {order:?}");
            check_order(app, &list, &sorted(rows, &order), &what).await;
        }
    }

    // The same, reached from a build: `imageBuild { definition { builds(first: 2, after: …) } }`.
    let seven = &builds_of[0];
    let from_a_build = List {
        query: "query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
            imageBuild(id: $id) { definition {
              builds(first: $first, after: $after, last: $last, before: $before) {
                edges { cursor node { id } }
                pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
                totalCount
            } } } }",
        variables: json!({"id": seven[0].id.to_string()}),
        path: &["imageBuild", "definition", "builds"],
    };
    let expected = sorted(seven, &[("CREATED", true)]);
    assert_eq!(from_a_build.forward(app, 2).await, expected);
    assert_eq!(from_a_build.backward(app, 2).await, expected);
    assert_eq!(from_a_build.page(app, json!({"first": 2})).await.total, 7);
}
