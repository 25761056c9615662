//! Revoking, expiring or deactivating takes effect at once on this instance: over HTTP and on
//! its open websockets.

use axum::http::StatusCode;
use chrono::Duration as Span;
use entity::{api_token, enums::Role};
use packer_gateway::registry::users::{self, NewToken};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::{
    support::TestApp,
    ws_client::{Client, LEGACY_WS, SUBSCRIPTION, TRANSPORT_WS},
};

use super::{A_SECOND, Subject, admin, closed_forbidden, update_user, within};

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
