//! Shared subscriptions (`graphql::compat::ws::fanout`): websocket subscribers of
//! `buildStatusChanged` from now on, with the same document, variables and visibility, follow one
//! execution — one stream of the hub — and each still gets every event it may see, in order,
//! once, whether it joined first or last, left or fell behind.

use entity::enums::Role;
use serde_json::json;

use crate::{
    support::{TestApp, build_gid, event_gid, wait_for},
    ws_client::{Client, SUBSCRIPTION, TRANSPORT_WS, app_with_definition},
};

/// A socket of `token` with operation `id` subscribed to `SUBSCRIPTION` with `variables`.
async fn subscriber(
    server: &crate::support::Server,
    token: &str,
    id: &str,
    variables: serde_json::Value,
) -> Client {
    let mut client = Client::connect(server, Some(TRANSPORT_WS), None).await;
    client.init(token).await;
    client.subscribe(id, SUBSCRIPTION, variables).await;
    client
}

#[tokio::test]
async fn subscribers_of_one_visibility_follow_one_stream_of_the_hub() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let definition = app
        .seed()
        .definition("Shared", world.endpoint, world.cluster, &[world.t1], |_| {})
        .await;
    let (_, other_admin) = app.user(Role::Admin, &[], true).await;
    let (_, viewer) = app.user(Role::Viewer, &[world.t1], false).await;
    let (_, outsider) = app.user(Role::Viewer, &[world.t2], false).await;
    let server = app.serve().await;

    // Four administrators (two users: an administrator sees every user's private data, so their
    // ids do not matter) share one stream; each viewer has its own, and so has a replay.
    let mut clients = Vec::new();
    for token in [&app.admin, &app.admin, &other_admin, &other_admin] {
        clients.push(subscriber(&server, token, "1", json!({})).await);
    }
    app.wait_for_subscribers(4).await;
    assert_eq!(app.app.events.streams(), 1);
    clients.push(subscriber(&server, &viewer, "1", json!({})).await);
    clients.push(subscriber(&server, &outsider, "1", json!({})).await);
    clients.push(subscriber(&server, &app.admin, "replay", json!({"after": "0"})).await);
    app.wait_for_subscribers(7).await;
    assert_eq!(app.app.events.streams(), 4);

    let (build, queued) = app.queue(definition).await;
    for client in &mut clients[..5] {
        let event = client.next_event("1").await;
        assert_eq!(event["eventId"], event_gid(queued));
        assert_eq!(event["build"]["id"], build_gid(build));
    }
    let replayed = clients[6].next_event("replay").await;
    assert_eq!(replayed["eventId"], event_gid(queued));

    // The outsider may not see T1's build: its stream skipped the event. The next one it may
    // see comes first.
    let everyone = app
        .seed()
        .definition("Everyone", world.endpoint, world.cluster, &[], |_| {})
        .await;
    let (_, visible) = app.queue(everyone).await;
    assert_eq!(
        clients[5].next_event("1").await["eventId"],
        event_gid(visible)
    );
}

#[tokio::test]
async fn a_shared_stream_outlives_its_first_subscriber_and_ends_with_its_last() {
    let (app, definition) = app_with_definition(&[]).await;
    let server = app.serve().await;
    let mut first = subscriber(&server, &app.admin, "1", json!({})).await;
    app.wait_for_subscribers(1).await;
    let mut second = subscriber(&server, &app.admin, "2", json!({})).await;
    app.wait_for_subscribers(2).await;
    assert_eq!(app.app.events.streams(), 1);

    // The first subscriber (whose principal runs the execution) stops; the second goes on.
    first.send(json!({"type": "complete", "id": "1"})).await;
    app.wait_for_subscribers_at_most(1).await;
    let (_, queued) = app.queue(definition).await;
    assert_eq!(second.next_event("2").await["eventId"], event_gid(queued));

    // A newcomer joins the running stream and gets what follows, not what was before.
    let mut third = subscriber(&server, &app.admin, "3", json!({})).await;
    app.wait_for_subscribers(2).await;
    assert_eq!(app.app.events.streams(), 1);
    let (_, next) = app.queue(definition).await;
    assert_eq!(second.next_event("2").await["eventId"], event_gid(next));
    assert_eq!(third.next_event("3").await["eventId"], event_gid(next));

    // The last one gone, so is the stream.
    drop((first, second, third));
    app.wait_for_subscribers_at_most(0).await;
    wait_for(
        "the shared stream to end with its last subscriber",
        async || app.app.events.streams() == 0,
    )
    .await;
}

#[tokio::test]
async fn members_that_fall_behind_go_on_alone_and_miss_nothing() {
    // A buffer of one result: a burst leaves most members behind the shared stream (and the
    // stream behind the hub's channel).
    let (app, definition) = app_with_definition(&["--event-buffer", "1"]).await;
    let server = app.serve().await;
    let mut clients = Vec::new();
    for n in 0..4 {
        clients.push(subscriber(&server, &app.admin, &n.to_string(), json!({})).await);
    }
    app.wait_for_subscribers(4).await;

    let burst = app.queue_many(definition, 40).await;
    let (_, after) = app.queue(definition).await;
    for (n, client) in clients.iter_mut().enumerate() {
        let id = n.to_string();
        for (build, event) in &burst {
            let received = client.next_event(&id).await;
            assert_eq!(received["eventId"], event_gid(*event), "subscriber {n}");
            assert_eq!(received["build"]["id"], build_gid(*build), "subscriber {n}");
        }
        assert_eq!(client.next_event(&id).await["eventId"], event_gid(after));
    }
}

#[tokio::test]
async fn a_lone_subscription_goes_to_a_group_when_a_second_subscriber_asks_the_same() {
    let (app, definition) = app_with_definition(&[]).await;
    let server = app.serve().await;

    // Alone, the first subscriber runs the execution in its own stream and gets its events.
    let mut first = subscriber(&server, &app.admin, "1", json!({})).await;
    app.wait_for_subscribers(1).await;
    let (_, alone) = app.queue(definition).await;
    assert_eq!(first.next_event("1").await["eventId"], event_gid(alone));

    // A second one asking the same takes over nothing but a share: the execution goes to a group
    // (still one stream of the hub), and both get every event from then on, in order.
    let mut second = subscriber(&server, &app.admin, "2", json!({})).await;
    app.wait_for_subscribers(2).await;
    assert_eq!(app.app.events.streams(), 1);
    let together = app.queue_many(definition, 3).await;
    for (build, event) in &together {
        for (id, client) in [("1", &mut first), ("2", &mut second)] {
            let received = client.next_event(id).await;
            assert_eq!(received["eventId"], event_gid(*event), "subscriber {id}");
            assert_eq!(
                received["build"]["id"],
                build_gid(*build),
                "subscriber {id}"
            );
        }
    }

    // The first leaves; the group goes on for the second.
    drop(first);
    app.wait_for_subscribers_at_most(1).await;
    let (_, after) = app.queue(definition).await;
    assert_eq!(second.next_event("2").await["eventId"], event_gid(after));
    assert_eq!(app.app.events.streams(), 1);

    // Both gone, nothing runs; a newcomer starts alone again.
    drop(second);
    wait_for("the group to end with its last subscriber", async || {
        app.app.events.streams() == 0
    })
    .await;
    let mut third = subscriber(&server, &app.admin, "3", json!({})).await;
    app.wait_for_subscribers(1).await;
    let (_, last) = app.queue(definition).await;
    assert_eq!(third.next_event("3").await["eventId"], event_gid(last));
}
