//! The stand-in's routes: the key check and the rate limit, endpoint lookup, submission, lookup,
//! cancel, and the build's event stream.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, atomic::Ordering},
};

use axum::{
    Json,
    body::{Body, Bytes},
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{ENDPOINT_ID, ENDPOINT_URL, Plan, Run, Shared};

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

pub(super) async fn by_url(
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

pub(super) async fn submit(
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

pub(super) async fn lookup(
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

pub(super) async fn cancel(
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

pub(super) async fn stream(
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
