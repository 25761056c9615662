//! The event log and reference data with their relations.

use entity::{build_event, enums::BuildStatus, enums::Role};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::json;

use super::{AUTHENTICATION, fleet, measure, warm_up};
use crate::support::{TestApp, at};

#[tokio::test]
async fn events_and_their_relations_cost_the_same_at_any_size() {
    let app = TestApp::new().await;
    fleet(&app, 4, 60).await;
    warm_up(&app).await;
    let query = "query($first: Int) {
        imageBuilds(first: $first) { nodes { events { toStatus actor { username } } } }
        buildEvents(first: $first) { nodes { id build { outputName definition { name } } } }
    }";
    let (ten, _) = measure(&app, query, json!({ "first": 10 })).await;
    let (sixty, data) = measure(&app, query, json!({ "first": 60 })).await;
    assert_eq!(
        data["buildEvents"]["nodes"]
            .as_array()
            .expect("events")
            .len(),
        60
    );
    assert_eq!(
        ten, sixty,
        "statements grow with the number of builds and events"
    );
}

/// The event log reads the builds and actors its nodes ask for in the page's own statement: the
/// log with `actor` and `build { definition }` is the page and the definitions, at any size.
#[tokio::test]
async fn the_event_log_with_actors_and_builds_is_two_statements() {
    // No safety-net read of the event hub lands in a measurement.
    let app = TestApp::with_args(&["--event-poll-interval", "3600"]).await;
    let fleet = fleet(&app, 4, 60).await;
    // An event with an actor, written directly: no hub wakes up to read it during a measurement.
    build_event::ActiveModel {
        build_id: Set(fleet.builds[0]),
        from_status: Set(Some(BuildStatus::Pending)),
        to_status: Set(BuildStatus::Running),
        message: Set(String::new()),
        at: Set(at(1)),
        actor_id: Set(Some(app.admin_id)),
        ..Default::default()
    }
    .insert(&app.app.db)
    .await
    .expect("an event with an actor");
    warm_up(&app).await;
    let query = "query($first: Int) { buildEvents(first: $first) { nodes {
        id toStatus actor { username } build { outputName definition { name } } } } }";
    for first in [1, 60] {
        let (count, data) = measure(&app, query, json!({ "first": first })).await;
        let nodes = data["buildEvents"]["nodes"].as_array().expect("events");
        assert!(!nodes.is_empty() && nodes.len() <= first, "{data}");
        assert!(
            nodes
                .iter()
                .all(|n| n["build"]["definition"]["name"].is_string())
        );
        assert!(
            nodes.iter().any(|n| n["actor"]["username"].is_string()),
            "{data}"
        );
        assert_eq!(count, 2 + AUTHENTICATION, "{first} events");
    }
}

#[tokio::test]
async fn reference_relations_cost_the_same_at_any_size() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let seed = app.seed();
    for i in 0..12 {
        let cluster = seed.cluster(&format!("cluster-{i:02}")).await;
        let tenants = [vec![], vec![world.t1], vec![world.t1, world.t2]];
        seed.template(&format!("tpl-{i:02}"), cluster, 9000, &tenants[i % 3])
            .await;
        app.user(Role::Viewer, &tenants[i % 3], false).await;
    }
    warm_up(&app).await;
    let query = "query($first: Int) {
        cloudImageTemplates(first: $first) { nodes { cluster { name tenant { name } }
                                                     allowedTenants { name } } }
        users(first: $first) { nodes { username tenants { name } } }
        proxmoxEndpoints(first: $first) { nodes { tenant { name } } }
    }";
    let (three, _) = measure(&app, query, json!({ "first": 3 })).await;
    let (twelve, data) = measure(&app, query, json!({ "first": 12 })).await;
    assert_eq!(data["users"]["nodes"].as_array().expect("users").len(), 12);
    assert_eq!(three, twelve, "statements grow with the number of rows");
}
