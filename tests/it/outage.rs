//! A database outage (SPEC §9), on PostgreSQL: the service reaches its database through a TCP
//! proxy the test owns; cutting it kills every connection of the service (as a crash or
//! `pg_terminate_backend` would) and refuses new ones until it is restored.

use std::{
    io::{Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use entity::{api_token, enums::Role};
use packer_gateway::registry::users;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::{
    support::{TestApp, code, fresh_database, postgres, within},
    ws_client::{Client, SUBSCRIPTION, TRANSPORT_WS},
};

/// A TCP proxy to PostgreSQL that can be cut and restored. Blocking threads of its own, so that
/// it keeps working whatever the test's runtime does (the test's cleanup goes through it too).
#[derive(Clone)]
struct Proxy {
    port: u16,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let proxy = Proxy {
            port: listener.local_addr().expect("address").port(),
            down: Arc::new(AtomicBool::new(false)),
            open: Arc::new(Mutex::new(Vec::new())),
        };
        let state = proxy.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if state.down.load(Ordering::SeqCst) {
                    // Refused: accepted and closed at once, like a server that is not there.
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let mut open = state.open.lock().unwrap_or_else(|e| e.into_inner());
                for stream in [&client, &server] {
                    if let Ok(clone) = stream.try_clone() {
                        open.push(clone);
                    }
                }
                drop(open);
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
                        continue;
                    };
                    std::thread::spawn(move || {
                        let mut buffer = [0u8; 16384];
                        while let Ok(n) = from.read(&mut buffer) {
                            if n == 0 || to.write_all(&buffer[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        proxy
    }

    /// Kills every connection through the proxy and refuses new ones.
    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        for stream in open.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

async fn get(app: &TestApp, uri: &str) -> (StatusCode, String, Duration) {
    let request = Request::builder()
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin))
        .body(Body::empty())
        .expect("request");
    let start = Instant::now();
    let (status, _, body) = app.send(request).await;
    (status, body, start.elapsed())
}

#[tokio::test]
async fn a_database_outage_is_refused_fast_and_survived_without_a_restart() {
    let Some(server_url) = postgres() else {
        return;
    };
    let (direct, _) = fresh_database().await;
    let authority = server_url
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("TEST_DATABASE_URL names host:port")
        .to_owned();
    let proxy = Proxy::start(authority.clone());
    let proxied = direct.replacen(&authority, &format!("127.0.0.1:{}", proxy.port), 1);
    // Only `LISTEN` can bring events and credentials changes to this instance quickly: its
    // safety-net polls are a minute apart.
    let app = TestApp::on(
        &proxied,
        false,
        &[
            "--event-poll-interval",
            "60",
            "--credentials-poll-interval",
            "60",
        ],
    )
    .await;
    let world = app.world().await;
    let definition = app
        .seed()
        .definition("Ubuntu 24.04", world.endpoint, world.cluster, &[], |_| {})
        .await;
    // A second instance, straight to the database, writes while the first listens.
    let writer = TestApp::on(&direct, false, &[]).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    client.subscribe("1", SUBSCRIPTION, json!({})).await;
    app.wait_for_subscribers(1).await;
    // A viewer's websocket, whose token the other instance revokes after the outage.
    let (viewer, viewer_token) = app.user(Role::Viewer, &[], false).await;
    let mut viewer_socket = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    viewer_socket.init(&viewer_token).await;
    // A known token is authenticated from memory, during the outage too.
    let (status, _, _) = get(&app, "/api/plugins/packer/image-definitions/").await;
    assert_eq!(status, StatusCode::OK);

    proxy.cut();

    let (status, body, took) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(took < Duration::from_secs(1), "/readyz took {took:?}");

    let (status, body, took) = get(&app, "/api/plugins/packer/image-definitions/").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["code"], "DATABASE_UNAVAILABLE", "{body}");
    assert!(took < Duration::from_secs(2), "REST took {took:?}");

    let start = Instant::now();
    let (status, body) = app
        .post(
            Some(&app.admin.clone()),
            "{ imageDefinitions { totalCount } }",
            json!({}),
        )
        .await;
    let took = start.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(code(&body), "DATABASE_UNAVAILABLE", "{body}");
    assert!(took < Duration::from_secs(2), "GraphQL took {took:?}");

    // The websocket stays open and answers.
    client.send(json!({"type": "ping"})).await;
    assert_eq!(client.recv().await["type"], "pong");

    proxy.restore();
    within(Duration::from_secs(10), "ready again", async || {
        get(&app, "/readyz").await.0 == StatusCode::OK
    })
    .await;
    let (status, body, _) = get(&app, "/api/plugins/packer/image-definitions/").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // An event committed by the other instance after the recovery reaches the subscriber that was
    // connected before the outage, through the `LISTEN` connection that reconnected by itself.
    let (_, queued) = writer.queue(definition).await;
    let event = client.next_event("1").await;
    assert_eq!(
        event["eventId"],
        crate::support::event_gid(queued),
        "{event}"
    );

    // A token revoked by the other instance closes its socket here within a second: the
    // credentials `LISTEN` reconnected too.
    let row = api_token::Entity::find()
        .filter(api_token::Column::UserId.eq(viewer))
        .one(&writer.app.db)
        .await
        .expect("read the token")
        .expect("the token");
    users::revoke_token(&writer.app.db, row.id)
        .await
        .expect("revoke");
    let (code, _) = tokio::time::timeout(Duration::from_secs(1), viewer_socket.closed())
        .await
        .expect("the revoked token's socket closes within a second");
    assert_eq!(code, 4403);

    drop(client);
    server.shutdown().await;
    drop(writer);
}
