//! A stand-in for proxbox-api's image factory, speaking its real protocol (reference
//! `proxbox-api-and-packer.md` §1): the API key header, endpoint lookup by URL, submission (201,
//! 404/422 with `detail`, 429 with `Retry-After`), the build's SSE stream in the contract's order
//! (`build_started`, `packer_init`, `packer_validate`, `packer_log`…, `packer_artifact`,
//! `build_completed` | `build_failed`, then `complete`), lookup (hard-coded `running`, 404 once
//! gone), cancel, and a restart that forgets every build. It counts every open of each stream.

mod routes;

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{
    Router,
    routing::{get, post},
};
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use routes::{by_url, cancel, lookup, stream, submit};

/// The one Proxmox endpoint the stand-in knows, and proxbox-api's id of it.
pub const ENDPOINT_URL: &str = "https://pve.example.net:8006";
pub const ENDPOINT_ID: i64 = 7;

/// What a submitted build does.
#[derive(Clone, Debug)]
pub enum Plan {
    /// Logs `lines`, then completes.
    Complete { lines: Vec<String> },
    /// Logs `lines`, then fails with `error`.
    Fail { lines: Vec<String>, error: String },
    /// Starts, logs a line, then waits until it is cancelled (or forgotten).
    Hang,
    /// Starts, then waits for a permit of [`Standin::release`], then completes.
    Gated,
    /// The submission is refused with this status and body.
    Reject(u16, Value),
    /// Starts, logs a line, then the stream ends without `complete`.
    EndEarly,
}

#[derive(Default)]
struct Inner {
    builds: HashMap<String, Run>,
    plans: VecDeque<Plan>,
    opened: HashMap<String, usize>,
    cancels: Vec<String>,
    submissions: Vec<Value>,
    rate_limited: usize,
}

struct Run {
    plan: Plan,
    body: Value,
    /// Fired by cancel (`cancelled`) or by a restart (`forget`).
    cancel: CancellationToken,
    forget: CancellationToken,
}

struct Shared {
    key: String,
    default: Plan,
    inner: Mutex<Inner>,
    /// 429 answers still to give (each with `Retry-After: 1`).
    limit_next: AtomicUsize,
    active: AtomicUsize,
    max_active: AtomicUsize,
    release: Semaphore,
    /// Every request, for counting.
    requests: AtomicUsize,
    unauthorized: AtomicUsize,
}

/// A running stand-in.
pub struct Standin {
    pub url: String,
    shared: Arc<Shared>,
    _task: tokio::task::JoinHandle<()>,
}

impl Standin {
    /// Starts one on `127.0.0.1:0` expecting `key`, running `default` for every build not given
    /// a plan of its own ([`Standin::next`]).
    pub async fn start(key: &str, default: Plan) -> Standin {
        let shared = Arc::new(Shared {
            key: key.to_owned(),
            default,
            inner: Mutex::new(Inner::default()),
            limit_next: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            max_active: AtomicUsize::new(0),
            release: Semaphore::new(0),
            requests: AtomicUsize::new(0),
            unauthorized: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/cloud/proxmox-endpoint/by-url", get(by_url))
            .route("/cloud/image-factory/builds", post(submit))
            .route("/cloud/image-factory/builds/{id}", get(lookup))
            .route("/cloud/image-factory/builds/{id}/stream", get(stream))
            .route("/cloud/image-factory/builds/{id}/cancel", post(cancel))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the stand-in");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Standin {
            url,
            shared,
            _task: task,
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The plan of the next submission.
    pub fn next(&self, plan: Plan) {
        self.inner().plans.push_back(plan);
    }

    /// Answers the next `count` requests 429 with `Retry-After: 1`.
    pub fn rate_limit(&self, count: usize) {
        self.shared.limit_next.store(count, Ordering::SeqCst);
    }

    /// Lets `count` gated builds finish.
    pub fn release(&self, count: usize) {
        self.shared.release.add_permits(count);
    }

    /// Restarts: every build is forgotten (their streams break off).
    pub fn restart(&self) {
        let runs: Vec<Run> = self.inner().builds.drain().map(|(_, run)| run).collect();
        for run in runs {
            run.forget.cancel();
        }
    }

    /// How many times each build's stream was opened.
    pub fn opened(&self) -> HashMap<String, usize> {
        self.inner().opened.clone()
    }

    /// The builds cancelled.
    pub fn cancels(&self) -> Vec<String> {
        self.inner().cancels.clone()
    }

    /// The bodies submitted.
    pub fn submissions(&self) -> Vec<Value> {
        self.inner().submissions.clone()
    }

    /// Streams open now, and the most ever open at once.
    pub fn active(&self) -> (usize, usize) {
        (
            self.shared.active.load(Ordering::SeqCst),
            self.shared.max_active.load(Ordering::SeqCst),
        )
    }

    /// 429 answers given.
    pub fn rate_limited(&self) -> usize {
        self.inner().rate_limited
    }

    /// Requests refused for a missing or wrong key.
    pub fn unauthorized(&self) -> usize {
        self.shared.unauthorized.load(Ordering::SeqCst)
    }
}
