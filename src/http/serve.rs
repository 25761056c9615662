//! The accept loop of `serve`: hyper's HTTP/1 connections, each bounded.
//!
//! - A client has `--header-read-timeout` (10 s) to send a whole request head, from the
//!   connection's start or the end of its previous request, so a slow-header client and an idle
//!   keep-alive connection are closed alike, while the other connections are served.
//! - At most `--max-connections` are served at once; the next client waits in the listen backlog
//!   (its socket is not accepted, so it costs no file descriptor of ours). A websocket leaves the
//!   count when it is upgraded: `--ws-max-sockets` counts it from there.
//! - A request head, and the pipelined requests read ahead, take at most `--max-head-bytes`;
//!   hyper serves pipelined requests one after the other.
//! - Each request carries the peer's address (`ConnectInfo`) and the client's
//!   ([`ClientAddress`]: the peer's, or behind a `--trusted-proxy` the one it forwarded, see
//!   [`forwarded`]), for per-address rate limits and the logs.
//!
//! On the shutdown signal the loop stops accepting, tells idle connections to close and the
//! others to close after their response, tells the websockets to close (1001, through
//! [`Shutdown`]) and waits for both, each at most the grace period.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, extract::ConnectInfo, http::Request};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use ipnet::IpNet;
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

use super::{admission::ClientAddress, forwarded};
use crate::{
    app::Shutdown,
    config::Overload,
    telemetry::{Live, names},
};

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Serves `router` on `listener` until `signal` completes (see the module docs).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
    grace: Duration,
    limits: &Overload,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true)
        .max_buf_size(limits.max_head_bytes as usize);
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    let trusted: Arc<[IpNet]> = limits.trusted_proxies.clone().into();
    let stop = CancellationToken::new();
    let connections = TaskTracker::new();
    {
        let (stop, shutdown) = (stop.clone(), shutdown.clone());
        tokio::spawn(async move {
            signal.await;
            shutdown.begin();
            stop.cancel();
        });
    }
    loop {
        if slots.available_permits() == 0 {
            metrics::counter!(names::CONNECTIONS_AT_CAP).increment(1);
        }
        let slot = tokio::select! {
            () = stop.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, remote) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // keep serving the others, and do not spin.
                    tracing::warn!(%err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let trusted = trusted.clone();
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut request: Request<Incoming>| {
                let forwarded = request.headers().get_all(X_FORWARDED_FOR);
                let client = forwarded::client(
                    remote.ip(),
                    forwarded
                        .iter()
                        .map(|value| value.to_str().unwrap_or_default()),
                    &trusted,
                );
                let extensions = request.extensions_mut();
                extensions.insert(ConnectInfo::<SocketAddr>(remote));
                extensions.insert(ClientAddress(Some(client)));
                request
            },
        ));
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let stop = stop.clone();
        connections.spawn(async move {
            let _slot = slot;
            let _open = Live::track(names::CONNECTIONS_OPEN);
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = result {
                tracing::debug!(%err, %remote, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("some requests did not finish within the shutdown grace period");
    }
    if !shutdown.wait(grace).await {
        tracing::warn!("some websockets did not close within the shutdown grace period");
    }
    Ok(())
}
