//! The `buildEvents` list: filters, ordering and paging.

use entity::{
    build_event,
    enums::{BuildStatus, Role},
};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::support::{TestApp, at, row_of};

use super::{build_id, graph, id};

const EVENTS: &str = "query($filter: BuildEventFilter, $first: Int, $after: String) {
    buildEvents(filter: $filter, first: $first, after: $after) {
        nodes { id toStatus at build { id } }
        pageInfo { hasNextPage endCursor }
        totalCount
    }
}";

/// The event ids `token` gets for `filter`, walking pages of `first`.
async fn event_ids(app: &TestApp, token: &str, filter: Value, first: i32) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..50 {
        let body = app
            .as_user(
                token,
                EVENTS,
                json!({"filter": filter, "first": first, "after": after}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let connection = &body["data"]["buildEvents"];
        for node in connection["nodes"].as_array().expect("nodes") {
            ids.push(row_of(node["id"].as_str().expect("id")));
        }
        if connection["pageInfo"]["hasNextPage"] != json!(true) {
            return ids;
        }
        after = connection["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned);
    }
    panic!("the walk does not end");
}

#[tokio::test]
async fn build_events_filter_order_and_page() {
    let app = TestApp::new().await;
    let g = graph(&app).await;
    let all: Vec<i64> = build_event::Entity::find()
        .all(&app.app.db)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(all.len(), 4);
    let of = |build: i32| json!({"build": {"eq": id(build)}});
    let completed: Vec<i64> = all[..3].to_vec();
    assert_eq!(
        event_ids(&app, &app.admin, of(g.completed), 50).await,
        completed
    );
    assert_eq!(
        event_ids(&app, &app.admin, of(g.completed), 1).await,
        completed
    );
    assert_eq!(event_ids(&app, &app.admin, json!({}), 3).await, all);
    assert_eq!(
        event_ids(&app, &app.admin, json!({"toStatus": {"eq": "PENDING"}}), 1).await,
        [all[0], all[3]]
    );
    assert_eq!(
        event_ids(
            &app,
            &app.admin,
            json!({"fromStatus": {"eq": "PENDING"}}),
            10
        )
        .await,
        [all[1]]
    );
    assert_eq!(
        event_ids(
            &app,
            &app.admin,
            json!({"definition": {"eq": id(g.definition)}, "id": {"gt": all[0].to_string()}}),
            10
        )
        .await,
        &all[1..]
    );
    assert_eq!(
        event_ids(
            &app,
            &app.admin,
            json!({"actor": {"eq": id(app.admin_id)}}),
            10
        )
        .await,
        [all[1], all[2]]
    );
    let body = app
        .as_user(
            &app.admin,
            EVENTS,
            json!({"filter": of(g.completed), "first": 2}),
        )
        .await;
    assert_eq!(body["data"]["buildEvents"]["totalCount"], json!(3));
    assert_eq!(
        body["data"]["buildEvents"]["nodes"][0]["build"]["id"],
        json!(build_id(g.completed))
    );

    // A viewer of another tenant sees no event of a build it cannot see.
    let hidden = app
        .seed()
        .definition("t2 only", g.endpoint, g.cluster, &[g.t2], |_| {})
        .await;
    let hidden_build = app
        .seed()
        .build(
            hidden,
            g.endpoint,
            BuildStatus::Pending,
            at(0),
            None,
            |_| {},
        )
        .await;
    let (_, viewer) = app.user(Role::Viewer, &[g.t1], false).await;
    assert!(
        event_ids(&app, &viewer, of(hidden_build), 10)
            .await
            .is_empty()
    );
    assert_eq!(event_ids(&app, &viewer, json!({}), 10).await, all);
}
