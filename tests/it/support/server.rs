//! The service on a real socket, and the subscribers of its event hub.

use super::TestApp;
use packer_gateway::routes::{self};

/// The service served on a real socket (for websockets).
pub struct Server {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// `ws://…/graphql`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/graphql", self.addr)
    }

    /// Shuts down gracefully (as on SIGTERM) and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(std::time::Duration::from_secs(20), &mut self.task)
            .await
            .expect("the server stops in time")
            .expect("the server task")
            .expect("the server");
    }
}

impl TestApp {
    /// Serves this app on `127.0.0.1:0` as `serve` does, graceful shutdown included.
    pub async fn serve(&self) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(routes::serve(listener, self.app.clone(), async move {
            let _ = stopped.await;
        }));
        Server {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Waits until `count` subscription streams listen to this instance's event hub.
    pub async fn wait_for_subscribers(&self, count: usize) {
        let deadline = std::time::Duration::from_secs(10);
        tokio::time::timeout(deadline, async {
            while self.app.events.subscribers() < count {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{count} subscribers expected, {} listening",
                self.app.events.subscribers()
            )
        });
    }

    /// Waits until at most `count` subscription streams listen (the others were dropped).
    pub async fn wait_for_subscribers_at_most(&self, count: usize) {
        let deadline = std::time::Duration::from_secs(10);
        tokio::time::timeout(deadline, async {
            while self.app.events.subscribers() > count {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "at most {count} subscribers expected, {} listening",
                self.app.events.subscribers()
            )
        });
    }
}
