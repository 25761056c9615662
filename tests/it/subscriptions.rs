//! `buildStatusChanged` (SPEC §3.3): ordering, replay, catch-up, filters, visibility, several
//! instances, and cost. Events are driven by the real lifecycle mutations (`TestApp::queue`,
//! `TestApp::transition`), bursts by one-transaction seeding (`TestApp::queue_many`).

use entity::enums::{BuildStatus, Role};
use serde_json::json;

use crate::{
    support::{TestApp, build_gid, event_gid, fresh_database, postgres},
    ws_client::{Client, SUBSCRIPTION, TRANSPORT_WS, app_with_definition},
};

// --- delivery semantics ----------------------------------------------------------------------

#[tokio::test]
async fn after_event_id_replays_the_history_then_continues_live() {
    let (app, definition) = app_with_definition(&[]).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    client.subscribe("1", SUBSCRIPTION, json!({})).await;
    app.wait_for_subscribers(1).await;
    let (build, queued) = app.queue(definition).await;
    let last_seen = client.next_event("1").await["eventId"].clone();
    assert_eq!(last_seen, event_gid(queued));
    drop(client);
    app.wait_for_subscribers_at_most(0).await;

    // Three transitions while nobody listens.
    let started = app.transition(build, BuildStatus::Running).await;
    let (other, other_queued) = app.queue(definition).await;
    let cancelled = app.transition(other, BuildStatus::Cancelled).await;

    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    client
        .subscribe("2", SUBSCRIPTION, json!({"after": last_seen}))
        .await;
    for (expected, status) in [
        (started, "RUNNING"),
        (other_queued, "PENDING"),
        (cancelled, "CANCELLED"),
    ] {
        let event = client.next_event("2").await;
        assert_eq!(event["eventId"], event_gid(expected));
        assert_eq!(event["status"], status);
    }
    // Then live, without a gap or a duplicate.
    let completed = app.transition(build, BuildStatus::Completed).await;
    let event = client.next_event("2").await;
    assert_eq!(event["eventId"], event_gid(completed));
    let (_, next) = app.queue(definition).await;
    assert_eq!(client.next_event("2").await["eventId"], event_gid(next));
}

#[tokio::test]
async fn a_lagging_subscriber_is_caught_up_from_history_exactly_once() {
    let (app, definition) = app_with_definition(&["--event-buffer", "2"]).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    client.subscribe("1", SUBSCRIPTION, json!({})).await;
    app.wait_for_subscribers(1).await;

    // Fifty events in one commit: the fetcher broadcasts them back to back, far beyond a
    // channel of two.
    let burst = app.queue_many(definition, 50).await;
    for (build, event) in &burst {
        let received = client.next_event("1").await;
        assert_eq!(received["eventId"], event_gid(*event));
        assert_eq!(received["build"]["id"], build_gid(*build));
    }
    let (_, next) = app.queue(definition).await;
    assert_eq!(client.next_event("1").await["eventId"], event_gid(next));
    assert!(
        app.app.events.catch_ups() >= 1,
        "the subscriber should have fallen behind the channel"
    );
}

#[tokio::test]
async fn filters_select_by_build_definition_and_status() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let seed = app.seed();
    let first = seed
        .definition("First", world.endpoint, world.cluster, &[], |_| {})
        .await;
    let second = seed
        .definition("Second", world.endpoint, world.cluster, &[], |_| {})
        .await;
    let (build, queued) = app.queue(first).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    // From just after `queued`: the history and the live stream are filtered alike.
    // Global ids, as GraphQL answers them, and (for a transition period) integers name the same
    // rows.
    let after = event_gid(queued);
    client
        .subscribe(
            "build",
            SUBSCRIPTION,
            json!({"after": after, "filter": {"buildId": build_gid(build)}}),
        )
        .await;
    client
        .subscribe(
            "definition",
            SUBSCRIPTION,
            json!({"after": queued.to_string(), "filter": {"definitionId": second.to_string()}}),
        )
        .await;
    client
        .subscribe(
            "statuses",
            SUBSCRIPTION,
            json!({"after": after, "filter": {"statuses": ["RUNNING", "FAILED"]}}),
        )
        .await;
    app.wait_for_subscribers(3).await;

    let (other, other_queued) = app.queue(second).await; // definition
    let started = app.transition(build, BuildStatus::Running).await; // build, statuses
    let failed = app.transition(other, BuildStatus::Failed).await; // definition, statuses

    let mut received: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for _ in 0..5 {
        let message = client.recv().await;
        let id = message["id"].as_str().unwrap_or_default().to_owned();
        let event = message["payload"]["data"]["buildStatusChanged"]["eventId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        received.entry(id).or_default().push(event);
    }
    let ids = |ids: &[i64]| ids.iter().copied().map(event_gid).collect::<Vec<_>>();
    assert_eq!(received["build"], ids(&[started]));
    assert_eq!(received["definition"], ids(&[other_queued, failed]));
    assert_eq!(received["statuses"], ids(&[started, failed]));
}

#[tokio::test]
async fn a_viewer_receives_only_the_builds_of_its_tenants() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let seed = app.seed();
    let mine = seed
        .definition("Mine", world.endpoint, world.cluster, &[world.t1], |_| {})
        .await;
    let theirs = seed
        .definition("Theirs", world.endpoint, world.cluster, &[world.t2], |_| {})
        .await;
    let everyone = seed
        .definition("Everyone", world.endpoint, world.cluster, &[], |_| {})
        .await;
    let (_, viewer) = app.user(Role::Viewer, &[world.t1], false).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&viewer).await;
    client.subscribe("live", SUBSCRIPTION, json!({})).await;
    app.wait_for_subscribers(1).await;

    // Events are delivered in id order: had the T2 event been delivered, it would come first.
    let (hidden, _) = app.queue(theirs).await;
    let (_, unrestricted) = app.queue(everyone).await;
    assert_eq!(
        client.next_event("live").await["eventId"],
        event_gid(unrestricted)
    );
    app.transition(hidden, BuildStatus::Running).await;
    let (_, allowed) = app.queue(mine).await;
    let event = client.next_event("live").await;
    assert_eq!(event["eventId"], event_gid(allowed));
    assert_eq!(event["build"]["definition"]["name"], "Mine");

    // The replay applies the same rule.
    client
        .subscribe("replay", SUBSCRIPTION, json!({"after": "0"}))
        .await;
    assert_eq!(
        client.next_event("replay").await["eventId"],
        event_gid(unrestricted)
    );
    assert_eq!(
        client.next_event("replay").await["eventId"],
        event_gid(allowed)
    );
    let (_, last) = app.queue(theirs).await;
    let (_, visible) = app.queue(everyone).await;
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..2 {
        let message = client.recv().await;
        assert_eq!(
            message["payload"]["data"]["buildStatusChanged"]["eventId"],
            event_gid(visible),
            "not {last}"
        );
        ids.insert(message["id"].to_string());
    }
    assert_eq!(ids.len(), 2);
}

#[tokio::test]
async fn another_instance_delivers_events_committed_on_this_one() {
    if postgres().is_none() {
        return;
    }
    let (url, sqlite) = fresh_database().await;
    let one = TestApp::on(&url, sqlite, &[]).await;
    let two = TestApp::on(&url, sqlite, &[]).await;
    let world = one.world().await;
    let definition = one
        .seed()
        .definition("Shared", world.endpoint, world.cluster, &[], |_| {})
        .await;
    let server = two.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&two.admin).await;
    client.subscribe("1", SUBSCRIPTION, json!({})).await;
    two.wait_for_subscribers(1).await;

    let (build, queued) = one.queue(definition).await;
    assert_eq!(client.next_event("1").await["eventId"], event_gid(queued));
    let started = one.transition(build, BuildStatus::Running).await;
    let event = client.next_event("1").await;
    assert_eq!(event["eventId"], event_gid(started));
    assert_eq!(event["build"]["status"], "RUNNING");
}

// --- cost ------------------------------------------------------------------------------------

/// A nested payload: every to-one relation of the build and its definition, the tenant list and
/// the actor. The hub reads them once per event for every subscriber.
const NESTED: &str = "subscription {
  buildStatusChanged { eventId status actor { username }
    build { id status outputName createdBy { username } proxmoxEndpoint { name }
      definition { name allowedTenants { slug } proxmoxEndpoint { name } targetCluster { name } } }
  }
}";

/// A payload with nested lists — the build's events and their actors, the definition's builds
/// and latest build. Subscribers of one visibility share one execution (`ws::fanout`), so these
/// too are read once per event, not once per subscriber.
const LISTS: &str = "subscription {
  buildStatusChanged { eventId
    build { id events { toStatus actor { username } }
      definition { name latestBuild { id } builds(first: 3) { totalCount nodes { id } } } }
  }
}";

/// SQL statements run while `subscribers` established subscribers of `document` receive three
/// events, one at a time; `check` looks at each subscriber's last event.
async fn statements_for_three_events(
    subscribers: usize,
    document: &str,
    check: fn(&serde_json::Value),
) -> u64 {
    // No safety-net poll during the measurement.
    let (app, definition) = app_with_definition(&["--event-poll-interval", "3600"]).await;
    // Authenticate once over HTTP and wait for the token's `last_used` to be recorded, so that
    // no background write of it lands in the measurement.
    app.data("{ pluginSettings { imageFactoryEnabled } }", json!({}))
        .await;
    app.settle().await;

    let server = app.serve().await;
    let mut clients = Vec::new();
    for _ in 0..subscribers {
        let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
        client.init(&app.admin).await;
        client.subscribe("1", document, json!({})).await;
        clients.push(client);
    }
    app.wait_for_subscribers(subscribers).await;
    let (build, queued) = app.queue(definition).await;
    for client in &mut clients {
        assert_eq!(client.next_event("1").await["eventId"], event_gid(queued));
    }

    let before = app.statements();
    for status in [BuildStatus::Running, BuildStatus::Completed] {
        let event = app.transition(build, status).await;
        for client in &mut clients {
            assert_eq!(client.next_event("1").await["eventId"], event_gid(event));
        }
    }
    let (_, event) = app.queue(definition).await;
    for client in &mut clients {
        let received = client.next_event("1").await;
        assert_eq!(received["eventId"], event_gid(event));
        check(&received);
    }
    let statements = app.statements() - before;
    eprintln!("{subscribers} subscribers: {statements} statements for three events");
    statements
}

/// The last event of `NESTED`: every relation answered.
fn nested(received: &serde_json::Value) {
    assert_eq!(received["actor"]["username"], "admin");
    let build = &received["build"];
    assert_eq!(build["definition"]["name"], "Ubuntu 24.04");
    assert_eq!(build["createdBy"]["username"], "admin");
    assert!(build["proxmoxEndpoint"]["name"].is_string(), "{build}");
    assert!(
        build["definition"]["proxmoxEndpoint"]["name"].is_string(),
        "{build}"
    );
    assert!(
        build["definition"]["targetCluster"]["name"].is_string(),
        "{build}"
    );
    assert_eq!(build["definition"]["allowedTenants"], json!([]));
}

/// The last event of `LISTS`: a new build with its one event, its definition's three builds.
fn lists(received: &serde_json::Value) {
    let build = &received["build"];
    assert_eq!(build["events"].as_array().map(Vec::len), Some(1), "{build}");
    assert_eq!(build["events"][0]["actor"]["username"], "admin");
    assert_eq!(build["definition"]["builds"]["totalCount"], 2);
    assert_eq!(build["definition"]["latestBuild"]["id"], build["id"]);
}

#[tokio::test]
async fn statements_per_event_do_not_grow_with_subscribers() {
    let one = statements_for_three_events(1, NESTED, nested).await;
    let fifty = statements_for_three_events(50, NESTED, nested).await;
    assert_eq!(one, fifty, "1 subscriber: {one} statements, 50: {fifty}");
}

#[tokio::test]
async fn nested_lists_are_read_once_per_event_for_subscribers_of_one_visibility() {
    let one = statements_for_three_events(1, LISTS, lists).await;
    let twenty = statements_for_three_events(20, LISTS, lists).await;
    assert_eq!(one, twenty, "1 subscriber: {one} statements, 20: {twenty}");
}

/// `copies` subscribers of each of three principals — an administrator, a VIEWER of tenant one,
/// a VIEWER of tenant two — sharing one hub while builds of four definitions (tenant one, tenant
/// two, both, everyone) are queued: each subscriber receives exactly the events its principal may
/// see, in order, with the nested payload as its scope reads it. Returns the statements run.
async fn statements_for_mixed_visibility(copies: usize) -> u64 {
    let app = TestApp::with_args(&["--event-poll-interval", "3600"]).await;
    let world = app.world().await;
    let seed = app.seed();
    let mut definitions = Vec::new();
    for (name, tenants) in [
        ("Only One", vec![world.t1]),
        ("Only Two", vec![world.t2]),
        ("Both", vec![world.t1, world.t2]),
        ("Everyone", vec![]),
    ] {
        let id = seed
            .definition(name, world.endpoint, world.cluster, &tenants, |_| {})
            .await;
        definitions.push((name, id));
    }
    let (_, one) = app.user(Role::Viewer, &[world.t1], false).await;
    let (_, two) = app.user(Role::Viewer, &[world.t2], false).await;
    for token in [&app.admin, &one, &two] {
        app.as_user(token, "{ me { id } }", json!({})).await;
        app.settle().await;
    }

    let server = app.serve().await;
    // (principal, client, the definitions it may see)
    let mut clients = Vec::new();
    for _ in 0..copies {
        for (token, sees) in [
            (
                &app.admin,
                &["Only One", "Only Two", "Both", "Everyone"][..],
            ),
            (&one, &["Only One", "Both", "Everyone"][..]),
            (&two, &["Only Two", "Both", "Everyone"][..]),
        ] {
            let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
            client.init(token).await;
            client.subscribe("1", NESTED, json!({})).await;
            clients.push((client, sees));
        }
    }
    app.wait_for_subscribers(3 * copies).await;
    // A first event everybody sees, before the measurement (the factory is enabled once).
    let everyone = definitions[3].1;
    let (_, first) = app.queue(everyone).await;
    for (client, _) in &mut clients {
        assert_eq!(client.next_event("1").await["eventId"], event_gid(first));
    }

    // One event at a time, each read by every subscriber that may see it before the next is
    // queued: the hub reads each in a batch of its own, whatever the number of subscribers.
    let before = app.statements();
    for (name, definition) in &definitions {
        let (_, event) = app.queue(*definition).await;
        for (client, sees) in &mut clients {
            if !sees.contains(name) {
                continue;
            }
            // Events arrive in id order: an event delivered that should not have been would
            // arrive here first.
            let received = client.next_event("1").await;
            assert_eq!(received["eventId"], event_gid(event), "{name}: {received}");
            let definition = &received["build"]["definition"];
            assert_eq!(definition["name"], *name);
            let slugs: Vec<&str> = definition["allowedTenants"]
                .as_array()
                .expect("a list")
                .iter()
                .map(|t| t["slug"].as_str().expect("a slug"))
                .collect();
            let expected: &[&str] = match *name {
                "Only One" => &["tenant-one"],
                "Only Two" => &["tenant-two"],
                "Both" => &["tenant-one", "tenant-two"],
                _ => &[],
            };
            assert_eq!(slugs, expected, "{received}");
            assert_eq!(received["build"]["createdBy"]["username"], "admin");
            assert_eq!(received["actor"]["username"], "admin");
        }
    }
    let statements = app.statements() - before;
    eprintln!("{copies} × 3 subscribers: {statements} statements for four events");
    statements
}

#[tokio::test]
async fn subscribers_of_different_tenants_share_one_event_and_its_statements() {
    let one = statements_for_mixed_visibility(1).await;
    let ten = statements_for_mixed_visibility(10).await;
    assert_eq!(one, ten, "3 subscribers: {one} statements, 30: {ten}");
}
