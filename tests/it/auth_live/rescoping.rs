//! Role and tenant changes rescope requests and open subscriptions.

use entity::{enums::BuildStatus, enums::Role};
use serde_json::json;

use crate::{
    support::{TestApp, code, event_gid},
    ws_client::{LEGACY_WS, TRANSPORT_WS},
};

use super::{Subject, admin, tenant_ids, two_definitions, update_user};

#[tokio::test]
async fn a_role_change_applies_at_once_to_requests_and_open_subscriptions() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let (ours, theirs) = two_definitions(&app, &world).await;

    // OPERATOR → VIEWER: the next queue is refused.
    let operator = Subject::new(&app, Role::Operator, &[world.t2]).await;
    let queue =
        "mutation ($input: QueueImageBuildInput!) { queueImageBuild(input: $input) { id } }";
    app.enable_factory(json!({})).await;
    let input = json!({"input": {"definitionId": theirs.to_string(), "outputVmid": 1000}});
    let body = app.as_user(&operator.token, queue, input.clone()).await;
    assert!(body.get("errors").is_none(), "{body}");
    update_user(&app, &operator, json!({"role": "VIEWER"})).await;
    let body = app.as_user(&operator.token, queue, input).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");

    // VIEWER of T1 → WORKER (sees everything): its subscription now gets T2's builds.
    let viewer = Subject::new(&app, Role::Viewer, &[world.t1]).await;
    let server = app.serve().await;
    let mut client = viewer.subscribe(&server, TRANSPORT_WS).await;
    app.wait_for_subscribers(1).await;
    let (hidden, _) = app.queue(theirs).await;
    // Received, so the subscription has passed the hidden event before the change (one it had
    // not reached yet would be judged with the new scope when it does).
    let (_, seen) = app.queue(ours).await;
    assert_eq!(client.next_event("live").await["eventId"], event_gid(seen));
    update_user(&app, &viewer, json!({"role": "WORKER"})).await;
    let started = app.transition(hidden, BuildStatus::Running).await;
    let event = client.next_event("live").await;
    assert_eq!(event["eventId"], event_gid(started));
    assert_eq!(event["build"]["definition"]["name"], "Of T2");
}

/// A subscriber that loses a tenant stops receiving that tenant's builds' events, and one that
/// gains a tenant starts — from the change on, nothing lost and nothing repeated.
#[tokio::test]
async fn a_tenant_change_rescopes_open_subscriptions() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let (ours, theirs) = two_definitions(&app, &world).await;
    let viewer = Subject::new(&app, Role::Viewer, &[world.t1, world.t2]).await;
    let ids = tenant_ids(&app, &[world.t1, world.t2]).await;
    let server = app.serve().await;
    let mut modern = viewer.subscribe(&server, TRANSPORT_WS).await;
    let mut legacy = viewer.subscribe(&server, LEGACY_WS).await;
    app.wait_for_subscribers(2).await;

    let (_, seen) = app.queue(theirs).await;
    for client in [&mut modern, &mut legacy] {
        assert_eq!(client.next_event("live").await["eventId"], event_gid(seen));
    }

    // T2 taken away: T2's next event is not delivered, T1's is (events come in id order).
    update_user(&app, &viewer, json!({"tenantIds": [ids[0]]})).await;
    let (_, hidden) = app.queue(theirs).await;
    let (_, visible) = app.queue(ours).await;
    for client in [&mut modern, &mut legacy] {
        let event = client.next_event("live").await;
        assert_eq!(event["eventId"], event_gid(visible), "not {hidden}");
        assert_eq!(event["build"]["definition"]["name"], "Of T1");
    }
    // Over HTTP too, at once.
    let body = app
        .as_user(&viewer.token, "{ imageBuilds { totalCount } }", json!({}))
        .await;
    assert_eq!(body["data"]["imageBuilds"]["totalCount"], 1, "{body}");

    // T2 given back: its builds are delivered again, with their relations read in the new scope.
    update_user(&app, &viewer, json!({"tenantIds": ids})).await;
    let (_, again) = app.queue(theirs).await;
    for client in [&mut modern, &mut legacy] {
        let event = client.next_event("live").await;
        assert_eq!(event["eventId"], event_gid(again));
        assert_eq!(event["build"]["definition"]["name"], "Of T2");
    }
}

/// A subscription that was behind when its scope changed resumes where it stood: the events it
/// had not taken yet are delivered once, under the new scope.
#[tokio::test]
async fn a_rescoped_subscription_resumes_where_it_stood() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let (ours, _) = two_definitions(&app, &world).await;
    let viewer = Subject::new(&app, Role::Viewer, &[world.t1, world.t2]).await;
    let ids = tenant_ids(&app, &[world.t1]).await;
    let server = app.serve().await;
    let mut client = viewer.subscribe(&server, TRANSPORT_WS).await;
    app.wait_for_subscribers(1).await;
    let mut expected = Vec::new();
    for _ in 0..3 {
        expected.push(event_gid(app.queue(ours).await.1));
    }
    update_user(&app, &viewer, json!({"role": "OPERATOR", "tenantIds": ids})).await;
    for _ in 0..2 {
        expected.push(event_gid(app.queue(ours).await.1));
    }
    let mut received = Vec::new();
    for _ in 0..5 {
        received.push(
            client.next_event("live").await["eventId"]
                .as_str()
                .expect("an event id")
                .to_owned(),
        );
    }
    assert_eq!(received, expected);
}

/// Deleting a tenant takes it from its users (the links cascade): their tokens see less at once.
#[tokio::test]
async fn deleting_a_tenant_takes_it_from_its_users_tokens() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let gone = app.seed().tenant("Short-lived").await;
    let viewer = Subject::new(&app, Role::Viewer, &[world.t1, gone]).await;
    let authorization = format!("Bearer {}", viewer.token);
    let tenants = async || {
        let principal = app
            .app
            .auth
            .authenticate(Some(&authorization), false)
            .await
            .expect("the token authenticates");
        principal.scope().tenants().map(<[i32]>::to_vec)
    };
    assert_eq!(tenants().await, Some(vec![world.t1, gone]));
    let id = tenant_ids(&app, &[gone]).await.remove(0);
    admin(
        &app,
        "mutation ($id: ID!) { deleteTenant(id: $id) }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(tenants().await, Some(vec![world.t1]));
}
