//! Credentials changes take effect everywhere (issue 9, SPEC §9): revoking or expiring a token,
//! deactivating its user, changing the user's role or tenants, deleting a tenant — at once on the
//! instance that made the change (over HTTP and on its open websockets), and within a second on
//! another instance sharing the database (its `LISTEN` on PostgreSQL, the generation poll on
//! SQLite and as the safety net). Tokens are authenticated from memory, and that memory is
//! bounded.
//!
//! Nothing here sleeps to synchronise: each effect is awaited with a deadline (the spec's second
//! for another instance), and expiry is reached by moving the service's clock.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use chrono::Duration as Span;
use entity::{api_token, enums::BuildStatus, enums::Role};
use packer_gateway::registry::users::{self, NewToken};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::{
    support::{Server, TestApp, World, code, event_gid, postgres, unique},
    ws_client::{Client, LEGACY_WS, SUBSCRIPTION, TRANSPORT_WS},
};

/// How long another instance may take to apply a change (SPEC §9).
const A_SECOND: Duration = Duration::from_secs(1);

/// The close code of refused credentials.
const FORBIDDEN: u16 = 4403;

/// What every test reads with a user's token.
const ME: &str = "{ me { id username role tenants { id } apiTokens { id } } }";

/// A user with a token.
struct Subject {
    token: String,
    /// The user's row id.
    user_id: i32,
    /// The user's GraphQL id.
    id: String,
    /// Its token's GraphQL id.
    token_id: String,
}

impl Subject {
    async fn new(app: &TestApp, role: Role, tenants: &[i32]) -> Subject {
        let (user_id, token) = app.user(role, tenants, true).await;
        let body = app.as_user(&token, ME, json!({})).await;
        let me = &body["data"]["me"];
        Subject {
            id: me["id"].as_str().expect("an id").to_owned(),
            token_id: me["apiTokens"][0]["id"]
                .as_str()
                .expect("a token id")
                .to_owned(),
            token,
            user_id,
        }
    }

    /// Its status over HTTP on `app` (`me`).
    async fn status(&self, app: &TestApp) -> StatusCode {
        app.post(Some(&self.token), "{ me { id } }", json!({}))
            .await
            .0
    }

    /// A websocket to `server` acknowledged with its token, subscribed (`live`) to every status
    /// change it may see.
    async fn subscribe(&self, server: &Server, protocol: &'static str) -> Client {
        let mut client = Client::connect(server, Some(protocol), None).await;
        client.init(&self.token).await;
        client.subscribe("live", SUBSCRIPTION, json!({})).await;
        client
    }
}

/// Runs an admin mutation on `app` and returns its data.
async fn admin(app: &TestApp, mutation: &str, variables: Value) -> Value {
    app.data(mutation, variables).await
}

async fn update_user(app: &TestApp, user: &Subject, input: Value) {
    admin(
        app,
        "mutation ($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id } }",
        json!({"id": user.id, "input": input}),
    )
    .await;
}

async fn revoke(app: &TestApp, user: &Subject) {
    admin(
        app,
        "mutation ($id: ID!) { revokeApiToken(id: $id) }",
        json!({"id": user.token_id}),
    )
    .await;
}

/// The GraphQL ids of `tenants`, in that order, as the API names them.
async fn tenant_ids(app: &TestApp, tenants: &[i32]) -> Vec<String> {
    let body = app
        .data("{ tenants(first: 100) { nodes { id name } } }", json!({}))
        .await;
    let names = tenant_names(app, tenants).await;
    names
        .iter()
        .map(|name| {
            body["tenants"]["nodes"]
                .as_array()
                .and_then(|nodes| nodes.iter().find(|n| n["name"] == name.as_str()))
                .and_then(|n| n["id"].as_str())
                .expect("the tenant is listed")
                .to_owned()
        })
        .collect()
}

async fn tenant_names(app: &TestApp, tenants: &[i32]) -> Vec<String> {
    let mut names = Vec::new();
    for id in tenants {
        let row = entity::tenant::Entity::find_by_id(*id)
            .one(&app.app.db)
            .await
            .expect("read a tenant")
            .expect("the tenant exists");
        names.push(row.name);
    }
    names
}

/// Awaits `condition` for at most `deadline`, asking again every few milliseconds (a request to
/// the service each time: nothing here waits for time to pass on its own).
async fn within(deadline: Duration, what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    loop {
        if condition().await {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "{what}: not within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Awaits the close of `client` with 4403 for at most `deadline` (the legacy protocol gets its
/// `connection_error` first).
async fn closed_forbidden(client: &mut Client, legacy: bool, deadline: Duration) {
    let start = Instant::now();
    if legacy {
        let message = tokio::time::timeout(deadline, client.recv())
            .await
            .expect("connection_error in time");
        assert_eq!(message["type"], "connection_error", "{message}");
    }
    let left = deadline.saturating_sub(start.elapsed());
    let (code, _) = tokio::time::timeout(left, client.closed())
        .await
        .unwrap_or_else(|_| panic!("the socket was not closed within {deadline:?}"));
    assert_eq!(code, FORBIDDEN);
}

/// Definitions restricted to T1 and to T2, on `world`.
async fn two_definitions(app: &TestApp, world: &World) -> (i32, i32) {
    let seed = app.seed();
    let one = seed
        .definition("Of T1", world.endpoint, world.cluster, &[world.t1], |_| {})
        .await;
    let two = seed
        .definition("Of T2", world.endpoint, world.cluster, &[world.t2], |_| {})
        .await;
    (one, two)
}

// --- on the instance that makes the change -------------------------------------------------

#[tokio::test]
async fn a_revoked_token_is_refused_at_once_and_its_sockets_close() {
    let app = TestApp::new().await;
    let user = Subject::new(&app, Role::Viewer, &[]).await;
    let server = app.serve().await;
    let mut modern = user.subscribe(&server, TRANSPORT_WS).await;
    let mut legacy = user.subscribe(&server, LEGACY_WS).await;
    app.wait_for_subscribers(2).await;
    assert_eq!(user.status(&app).await, StatusCode::OK);

    // The user revokes its own token.
    let body = app
        .as_user(
            &user.token,
            "mutation ($id: ID!) { revokeApiToken(id: $id) }",
            json!({"id": user.token_id}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(user.status(&app).await, StatusCode::UNAUTHORIZED);
    closed_forbidden(&mut modern, false, A_SECOND).await;
    closed_forbidden(&mut legacy, true, A_SECOND).await;
    app.wait_for_subscribers_at_most(0).await;
}

#[tokio::test]
async fn a_deactivated_user_is_refused_at_once_and_its_sockets_close() {
    let app = TestApp::new().await;
    let user = Subject::new(&app, Role::Operator, &[]).await;
    let server = app.serve().await;
    let mut client = user.subscribe(&server, TRANSPORT_WS).await;
    app.wait_for_subscribers(1).await;

    update_user(&app, &user, json!({"isActive": false})).await;
    assert_eq!(user.status(&app).await, StatusCode::UNAUTHORIZED);
    closed_forbidden(&mut client, false, A_SECOND).await;

    // Active again, the same token works again (nothing was remembered wrongly).
    update_user(&app, &user, json!({"isActive": true})).await;
    assert_eq!(user.status(&app).await, StatusCode::OK);
}

#[tokio::test]
async fn a_deleted_user_is_refused_at_once_and_its_sockets_close() {
    let app = TestApp::new().await;
    let user = Subject::new(&app, Role::Viewer, &[]).await;
    let server = app.serve().await;
    let mut client = user.subscribe(&server, LEGACY_WS).await;
    app.wait_for_subscribers(1).await;

    admin(
        &app,
        "mutation ($id: ID!) { deleteUser(id: $id) }",
        json!({"id": user.id}),
    )
    .await;
    assert_eq!(user.status(&app).await, StatusCode::UNAUTHORIZED);
    closed_forbidden(&mut client, true, A_SECOND).await;
}

/// A token revoked by a process that does not share this instance's memory (the command line's
/// `token revoke`, another host) is refused within a second: the database moved the generation,
/// which this instance reads every half second (and hears at once on PostgreSQL).
#[tokio::test]
async fn a_token_revoked_from_the_command_line_stops_within_a_second() {
    let app = TestApp::new().await;
    let user = Subject::new(&app, Role::Viewer, &[]).await;
    let server = app.serve().await;
    let mut client = user.subscribe(&server, TRANSPORT_WS).await;
    app.wait_for_subscribers(1).await;

    let row = api_token::Entity::find()
        .filter(api_token::Column::UserId.eq(user.user_id))
        .one(&app.app.db)
        .await
        .expect("read the token")
        .expect("the token");
    users::revoke_token(&app.app.db, row.id)
        .await
        .expect("revoke as the command line does");
    within(A_SECOND, "the revoked token is refused", async || {
        user.status(&app).await == StatusCode::UNAUTHORIZED
    })
    .await;
    closed_forbidden(&mut client, false, A_SECOND).await;
}

/// Expiry is checked against the service's clock on every use — no statement — and an open
/// websocket closes at the token's expiry instant (a timer, woken here by moving the clock).
#[tokio::test]
async fn an_expired_token_is_refused_and_its_socket_closes_at_the_instant() {
    let app = TestApp::new().await;
    let (user, _) = app.user(Role::Viewer, &[], true).await;
    let expires = app.app.clock.now() + Span::hours(1);
    let (_, token) = users::create_token(
        &app.app.db,
        NewToken {
            user_id: user,
            description: "expires".into(),
            write_enabled: true,
            expires: Some(expires),
        },
    )
    .await
    .expect("a token that expires");
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&token).await;
    client.subscribe("live", SUBSCRIPTION, json!({})).await;
    app.wait_for_subscribers(1).await;
    assert_eq!(
        app.post(Some(&token), "{ me { id } }", json!({})).await.0,
        StatusCode::OK
    );

    app.app.clock.advance(Span::minutes(59));
    assert_eq!(
        app.post(Some(&token), "{ me { id } }", json!({})).await.0,
        StatusCode::OK,
        "a minute before its expiry"
    );
    app.app.clock.advance(Span::minutes(1));
    closed_forbidden(&mut client, false, A_SECOND).await;
    app.settle().await;
    let before = app.statements();
    assert_eq!(
        app.post(Some(&token), "{ me { id } }", json!({})).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.statements() - before, 0, "refused from memory");
}

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

// --- on another instance --------------------------------------------------------------------

/// Every kind of change made on one instance takes effect on another sharing the database within
/// a second: over HTTP (refused or re-scoped), and on its open websockets (closed with 4403, or
/// re-scoped).
#[tokio::test]
async fn changes_reach_another_instance_within_a_second() {
    let one = TestApp::new().await;
    let two = one.second_instance(&[]).await;
    let world = one.world().await;
    let (ours, theirs) = two_definitions(&one, &world).await;
    let revoked = Subject::new(&one, Role::Viewer, &[]).await;
    let deactivated = Subject::new(&one, Role::Viewer, &[]).await;
    let promoted = Subject::new(&one, Role::Viewer, &[world.t1]).await;
    let narrowed = Subject::new(&one, Role::Viewer, &[world.t1, world.t2]).await;
    let ids = tenant_ids(&one, &[world.t1]).await;
    let server = two.serve().await;
    let mut sockets = Vec::new();
    for subject in [&revoked, &deactivated, &promoted, &narrowed] {
        assert_eq!(subject.status(&two).await, StatusCode::OK);
        sockets.push(subject.subscribe(&server, TRANSPORT_WS).await);
    }
    two.wait_for_subscribers(4).await;
    let [
        revoked_socket,
        deactivated_socket,
        promoted_socket,
        narrowed_socket,
    ] = &mut sockets[..]
    else {
        unreachable!("four sockets")
    };

    revoke(&one, &revoked).await;
    within(A_SECOND, "a revoked token", async || {
        revoked.status(&two).await == StatusCode::UNAUTHORIZED
    })
    .await;
    closed_forbidden(revoked_socket, false, A_SECOND).await;

    update_user(&one, &deactivated, json!({"isActive": false})).await;
    within(A_SECOND, "a deactivated user", async || {
        deactivated.status(&two).await == StatusCode::UNAUTHORIZED
    })
    .await;
    closed_forbidden(deactivated_socket, false, A_SECOND).await;

    // Role and tenants: re-scoped. Events are committed on the instance that serves the sockets
    // (the other's would reach it by its own event hub, which is not what is tested here).
    update_user(&one, &promoted, json!({"role": "ADMIN"})).await;
    update_user(&one, &narrowed, json!({"tenantIds": ids})).await;
    // Others' tokens are for administrators only.
    let tokens = "{ users(first: 5) { nodes { apiTokens { id } } } }";
    within(A_SECOND, "a promoted user", async || {
        two.as_user(&promoted.token, tokens, json!({}))
            .await
            .get("errors")
            .is_none()
    })
    .await;
    within(A_SECOND, "a user without T2", async || {
        let body = two
            .as_user(
                &narrowed.token,
                "{ imageDefinitions { totalCount } }",
                json!({}),
            )
            .await;
        body["data"]["imageDefinitions"]["totalCount"] == 1
    })
    .await;
    // The sockets were re-scoped with the same change (the authenticator applied it before the
    // requests above saw it): T2's build reaches the promoted user and not the narrowed one.
    let (_, hidden) = two.queue(theirs).await;
    let (_, visible) = two.queue(ours).await;
    assert_eq!(
        promoted_socket.next_event("live").await["eventId"],
        event_gid(hidden)
    );
    assert_eq!(
        narrowed_socket.next_event("live").await["eventId"],
        event_gid(visible),
        "not {hidden}"
    );
}

/// On PostgreSQL the notification alone carries a change (the poll is set to an hour here), and
/// the `LISTEN` connection comes back by itself when it is cut: a change made after that still
/// arrives.
#[tokio::test]
async fn on_postgres_the_listener_carries_changes_and_reconnects() {
    let Some(_) = postgres() else {
        return;
    };
    let one = TestApp::new().await;
    let two = one
        .second_instance(&["--credentials-poll-interval", "3600"])
        .await;
    let first = Subject::new(&one, Role::Viewer, &[]).await;
    let second = Subject::new(&one, Role::Viewer, &[]).await;
    assert_eq!(first.status(&two).await, StatusCode::OK);
    assert_eq!(second.status(&two).await, StatusCode::OK);

    revoke(&one, &first).await;
    within(A_SECOND, "a change heard on the channel", async || {
        first.status(&two).await == StatusCode::UNAUTHORIZED
    })
    .await;

    // Cut both instances' credentials listeners (the connections whose last statement is their
    // LISTEN; every connection of a test names its schema as its application).
    let schema = one
        .url
        .split("application_name=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .expect("a test database URL names its application");
    let listeners = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = '{schema}' AND query = 'LISTEN \"packer_gateway_credentials\"'"
    );
    let cut = one
        .app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            one.app.db.get_database_backend(),
            listeners,
        ))
        .await
        .expect("terminate the listeners");
    assert_eq!(cut.len(), 2, "one credentials listener per instance");
    revoke(&one, &second).await;
    within(
        Duration::from_secs(5),
        "a change after the listener was cut",
        async || second.status(&two).await == StatusCode::UNAUTHORIZED,
    )
    .await;
}

// --- bounded memory -------------------------------------------------------------------------

/// A flood of random tokens neither grows the memory beyond its bound nor costs more than one
/// statement each; a real token still works among them, from memory.
#[tokio::test]
async fn a_flood_of_unknown_tokens_keeps_the_memory_bounded() {
    const FLOOD: u64 = 300;
    let app = TestApp::with_args(&["--token-cache", "64"]).await;
    let user = Subject::new(&app, Role::Viewer, &[]).await;
    let before = app.statements();
    for i in 0..FLOOD {
        let bogus = format!("pgw_{}", unique(&format!("flood{i}")));
        let (status, _) = app.post(Some(&bogus), "{ __typename }", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let size = app.app.auth.cached();
        assert!(size.unknown <= 64 && size.known <= 64, "{size:?}");
    }
    // One lookup per unknown token, plus whatever background reads of the service (the event
    // hub's safety-net poll) fall in this window.
    let statements = app.statements() - before;
    assert!(
        statements <= FLOOD + 10,
        "{statements} statements for {FLOOD} unknown tokens"
    );
    assert_eq!(user.status(&app).await, StatusCode::OK);
}
