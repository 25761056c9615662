//! A stand-in for proxbox-api's image factory, speaking its real protocol (reference
//! `proxbox-api-and-packer.md` §1): the API key header, endpoint lookup by URL, submission (201,
//! 404/422 with `detail`, 429 with `Retry-After`), the build's SSE stream in the contract's order
//! (`build_started`, `packer_init`, `packer_validate`, `packer_log`…, `packer_artifact`,
//! `build_completed` | `build_failed`, then `complete`), lookup (hard-coded `running`, 404 once
//! gone), cancel, and a restart that forgets every build. It counts every open of each stream.

use std::{
    collections::{HashMap, VecDeque},
    convert::Infallible,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

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

/// The API key check and the rate limit every path goes through.
fn gate(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    if headers
        .get("x-proxbox-api-key")
        .and_then(|v| v.to_str().ok())
        != Some(shared.key.as_str())
    {
        shared.unauthorized.fetch_add(1, Ordering::SeqCst);
        return Some(
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"detail": "Invalid or missing API key"})),
            )
                .into_response(),
        );
    }
    let limited = shared
        .limit_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if limited {
        shared
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .rate_limited += 1;
        return Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "1")],
                Json(json!({"detail": "Rate limit exceeded"})),
            )
                .into_response(),
        );
    }
    None
}

async fn by_url(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = gate(&shared, &headers) {
        return refused;
    }
    if query.get("url").map(String::as_str) == Some(ENDPOINT_URL) {
        Json(json!({"id": ENDPOINT_ID, "name": "pve", "url": ENDPOINT_URL})).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"detail": "No Proxmox endpoint matches that URL"})),
        )
            .into_response()
    }
}

async fn submit(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(refused) = gate(&shared, &headers) {
        return refused;
    }
    let mut inner = shared.inner.lock().unwrap_or_else(|e| e.into_inner());
    inner.submissions.push(body.clone());
    let plan = inner.plans.pop_front().unwrap_or(shared.default.clone());
    if let Plan::Reject(status, detail) = plan {
        return (
            StatusCode::from_u16(status).expect("a status"),
            Json(detail),
        )
            .into_response();
    }
    if body["endpoint_id"] != json!(ENDPOINT_ID) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"reason": "endpoint_not_found", "detail": "no such endpoint"})),
        )
            .into_response();
    }
    let id = uuid();
    inner.builds.insert(
        id.clone(),
        Run {
            plan,
            body: body.clone(),
            cancel: CancellationToken::new(),
            forget: CancellationToken::new(),
        },
    );
    (StatusCode::CREATED, Json(response(&id, &body, "queued"))).into_response()
}

async fn lookup(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = gate(&shared, &headers) {
        return refused;
    }
    let inner = shared.inner.lock().unwrap_or_else(|e| e.into_inner());
    match inner.builds.get(&id) {
        // proxbox-api answers `running` whatever the build does.
        Some(run) => Json(response(&id, &run.body, "running")).into_response(),
        None => not_found(&id),
    }
}

async fn cancel(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = gate(&shared, &headers) {
        return refused;
    }
    let mut inner = shared.inner.lock().unwrap_or_else(|e| e.into_inner());
    let Some(run) = inner.builds.remove(&id) else {
        return not_found(&id);
    };
    inner.cancels.push(id.clone());
    run.cancel.cancel();
    Json(response(&id, &run.body, "cancelled")).into_response()
}

fn not_found(id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"detail": format!("No active image factory build with id={id}")})),
    )
        .into_response()
}

async fn stream(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = gate(&shared, &headers) {
        return refused;
    }
    let (plan, body, cancel, forget) = {
        let mut inner = shared.inner.lock().unwrap_or_else(|e| e.into_inner());
        *inner.opened.entry(id.clone()).or_default() += 1;
        match inner.builds.get(&id) {
            Some(run) => (
                run.plan.clone(),
                run.body.clone(),
                run.cancel.clone(),
                run.forget.clone(),
            ),
            None => return not_found(&id),
        }
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    let active = shared.active.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_active.fetch_max(active, Ordering::SeqCst);
    tokio::spawn({
        let shared = shared.clone();
        async move {
            // On a client that went away proxbox-api's generator just returns and leaves the
            // run registered (lookups keep answering `running`).
            let finished = tokio::select! {
                () = produce(&shared, &id, plan, &body, &cancel, &tx) => true,
                () = forget.cancelled() => false,
                () = tx.closed() => false,
            };
            shared.active.fetch_sub(1, Ordering::SeqCst);
            if finished {
                // A finished run is dropped, as proxbox-api does (lookups then answer 404).
                shared
                    .inner
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .builds
                    .remove(&id);
            }
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
        .expect("a response")
}

/// The events of one run, in the contract's order.
async fn produce(
    shared: &Shared,
    id: &str,
    plan: Plan,
    body: &Value,
    cancel: &CancellationToken,
    tx: &mpsc::Sender<Result<Bytes, Infallible>>,
) {
    let send = |name: &str, data: Value| {
        let frame = format!("event: {name}\ndata: {data}\n\n");
        async move {
            let _ = tx.send(Ok(Bytes::from(frame))).await;
        }
    };
    let log = |message: String| json!({"build_id": id, "phase": "build", "stream": "stdout", "message": message});
    send(
        "build_started",
        json!({"build_id": id, "endpoint_id": ENDPOINT_ID, "target_node": body["target_node"],
               "output_vmid": body["output_vmid"], "output_name": body["output_name"],
               "started_at": "2026-12-10T10:00:00Z"}),
    )
    .await;
    for step in ["packer_init", "packer_validate"] {
        send(
            step,
            json!({"build_id": id, "exit_code": 0, "stdout_lines": 3, "stderr_lines": 0}),
        )
        .await;
    }
    match plan {
        Plan::Complete { lines } => {
            for line in lines {
                send("packer_log", log(line)).await;
            }
            complete(id, body, &send).await;
        }
        Plan::Fail { lines, error } => {
            for line in lines {
                send("packer_log", log(line)).await;
            }
            send("build_failed", json!({"build_id": id, "error": error})).await;
            send("complete", json!({"build_id": id, "status": "failed"})).await;
        }
        Plan::Hang => {
            send(
                "packer_log",
                log("Waiting for SSH to become available...".into()),
            )
            .await;
            cancel.cancelled().await;
            send("complete", json!({"build_id": id, "status": "cancelled"})).await;
        }
        Plan::Gated => {
            tokio::select! {
                permit = shared.release.acquire() => {
                    permit.expect("the semaphore").forget();
                    complete(id, body, &send).await;
                }
                () = cancel.cancelled() => {
                    send("complete", json!({"build_id": id, "status": "cancelled"})).await;
                }
            }
        }
        Plan::EndEarly => {
            send("packer_log", log("about to crash".into())).await;
        }
        Plan::Reject(..) => {}
    }
}

async fn complete<F, Fut>(id: &str, body: &Value, send: &F)
where
    F: Fn(&str, Value) -> Fut,
    Fut: Future<Output = ()>,
{
    let vmid = body["output_vmid"].clone();
    send(
        "packer_artifact",
        json!({"build_id": id, "template_name": body["output_name"], "vmid": vmid}),
    )
    .await;
    let mut done = response(id, body, "completed");
    done["completed_at"] = json!("2026-12-10T10:30:00Z");
    send("build_completed", done).await;
    send("complete", json!({"build_id": id, "status": "completed"})).await;
}

/// A `PackerImageBuildResponse`.
fn response(id: &str, body: &Value, status: &str) -> Value {
    json!({
        "build_id": id,
        "status": status,
        "endpoint_id": body["endpoint_id"],
        "target_node": body["target_node"],
        "output_vmid": body["output_vmid"],
        "output_name": body["output_name"],
        "artifact_template_name": body["output_name"],
        "packer_template_path": format!("/var/lib/proxbox/packer/builds/{id}/template.pkr.hcl"),
        "started_at": "2026-12-10T10:00:00Z",
        "completed_at": null,
        "log_url": format!("/cloud/image-factory/builds/{id}/stream"),
    })
}

/// A random uuid4-looking id.
fn uuid() -> String {
    let bits: u128 = rand::random();
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}
