//! A TCP proxy in front of the service, that can drop every connection and hold new ones.

use std::{net::SocketAddr, sync::Arc};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// A TCP proxy in front of the service, so that a test can drop the browser's connections —
/// as a network does — and hold new ones until it lets them through again.
pub(super) struct Proxy {
    pub(super) addr: SocketAddr,
    gate: Arc<watch::Sender<Gate>>,
}

#[derive(Clone, Copy)]
struct Gate {
    /// Bumped by every cut: connections of an older generation are dropped.
    generation: u64,
    /// New connections wait while this is set.
    held: bool,
}

impl Proxy {
    pub(super) async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("an address");
        let gate = Arc::new(
            watch::channel(Gate {
                generation: 0,
                held: false,
            })
            .0,
        );
        let watched = gate.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut gate = watched.subscribe();
                tokio::spawn(async move {
                    let Ok(open) = gate.wait_for(|g| !g.held).await.map(|g| *g) else {
                        return;
                    };
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = gate.wait_for(|g| g.generation != open.generation) => {}
                    }
                });
            }
        });
        Proxy { addr, gate }
    }

    /// Drops every open connection and holds new ones.
    pub(super) fn cut(&self) {
        self.gate.send_modify(|gate| {
            gate.generation += 1;
            gate.held = true;
        });
    }

    /// Lets connections through again.
    pub(super) fn restore(&self) {
        self.gate.send_modify(|gate| gate.held = false);
    }
}
