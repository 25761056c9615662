//! Changes reach another instance within a second (PostgreSQL's `LISTEN`, the generation poll),
//! and a flood of unknown tokens keeps the memory bounded.

use std::time::Duration;

use axum::http::StatusCode;
use entity::enums::Role;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::{
    support::{TestApp, event_gid, postgres, unique},
    ws_client::TRANSPORT_WS,
};

use super::{
    A_SECOND, Subject, closed_forbidden, revoke, tenant_ids, two_definitions, update_user, within,
};

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
