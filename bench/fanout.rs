//! The fan-out client of `bench/run.sh` (issue 9): the same measurement as `bench/fanout.mjs`, in
//! Rust so that it measures the server rather than itself. The node client reads and parses
//! 10,000 messages on one thread (~160 ms of CPU per event, on the server's two cores) and
//! timestamps a message only when that thread gets to it; this one timestamps each `next` as its
//! socket's task reads it, on a multi-thread runtime, and parses only the build's `outputName`.
//!
//!   cargo run --release --example fanout -- WS_URL HTTP_URL TOKEN N EVENTS [DEFINITION_ID]
//!
//! N graphql-transport-ws sockets each subscribe to `buildStatusChanged` with a nested payload;
//! then EVENTS builds are queued one after another over HTTP. For each event: when the mutation
//! was acknowledged, when the median and the last subscriber got it. Prints one JSON object with
//! fanout.mjs's keys, plus the CPU time per event of the server (`/proc/RSS_PID/stat`) and of
//! this client (`/proc/self/stat`: utime + stime of all its threads), both over the events.
//! Environment: SQL_RESET / SQL_COUNT (shell commands: reset and read the statement counter),
//! RSS_PID (the server's pid: its RSS is read while every socket is still open, its CPU time
//! around the events).

#[path = "procfs.rs"]
mod procfs;

use std::{
    io::{Read, Write},
    net::TcpStream as StdTcpStream,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt, future::join_all};
use serde_json::{Value, json};
use tokio_tungstenite::{
    connect_async_with_config,
    tungstenite::{
        Message, client::IntoClientRequest, http::HeaderValue, protocol::WebSocketConfig,
    },
};

const SUB: &str = "subscription { buildStatusChanged { eventId status build { id outputName definition { name allowedTenants { slug } } createdBy { username } } } }";

/// Sockets opened at once, as fanout.mjs does.
const BATCH: usize = 200;

/// How long an event may take to reach every subscriber.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The arrivals of each event (the build `fanout-{base + e}` is event e), written by the sockets'
/// tasks as they read each `next`: nanoseconds since `start`.
struct Arrivals {
    start: Instant,
    base: u64,
    counts: Vec<AtomicUsize>,
    times: Vec<Box<[AtomicU64]>>,
}

impl Arrivals {
    fn new(base: u64, events: usize, subscribers: usize) -> Arrivals {
        // Room for two events of a build per subscriber (a build queued then started).
        let room = 2 * subscribers.max(1);
        Arrivals {
            start: Instant::now(),
            base,
            counts: (0..events).map(|_| AtomicUsize::new(0)).collect(),
            times: (0..events)
                .map(|_| (0..room).map(|_| AtomicU64::new(0)).collect())
                .collect(),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_nanos() as u64
    }

    /// Records a `next` read at `at`: whether it carried a build (of any event).
    fn record(&self, text: &str, at: Instant) -> bool {
        const KEY: &str = r#""outputName":""#;
        let Some(from) = text.find(KEY).map(|i| i + KEY.len()) else {
            return false;
        };
        let name = &text[from..];
        let name = &name[..name.find('"').unwrap_or(name.len())];
        let event = name
            .strip_prefix("fanout-")
            .and_then(|vmid| vmid.parse::<u64>().ok())
            .and_then(|vmid| vmid.checked_sub(self.base))
            .and_then(|e| usize::try_from(e).ok());
        if let Some(e) = event.filter(|e| *e < self.counts.len()) {
            let slot = self.counts[e].fetch_add(1, Ordering::AcqRel);
            if let Some(time) = self.times[e].get(slot) {
                time.store(self.nanos(at), Ordering::Release);
            }
        }
        true
    }

    /// The arrivals of event `e` so far, sorted.
    fn of(&self, e: usize) -> Vec<u64> {
        let got = self.counts[e]
            .load(Ordering::Acquire)
            .min(self.times[e].len());
        let mut times: Vec<u64> = self.times[e][..got]
            .iter()
            .map(|t| t.load(Ordering::Acquire))
            .collect();
        times.sort_unstable();
        times
    }
}

/// What one event measured: how many got it, when the mutation was acknowledged, when the
/// median and the last subscriber got it (ms after the mutation was sent).
struct Outcome {
    got: usize,
    ack_ms: f64,
    median_ms: Option<f64>,
    last_ms: Option<f64>,
}

struct Shared {
    arrivals: Arrivals,
    ready: AtomicUsize,
    failed: AtomicUsize,
}

/// Opens socket `i`: `connection_init`, then `subscribe` once acknowledged; then reads it until
/// it closes, recording each `next` and answering pings.
async fn open(url: &str, token: &str, shared: &Arc<Shared>) {
    let mut request = url.into_client_request().expect("WS_URL");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    // Small buffers: 10,000 sockets of tungstenite's default 128 KiB would be 1.3 GB.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let Ok((mut socket, _)) = connect_async_with_config(request, Some(config), true).await else {
        shared.failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let init =
        json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {token}")}});
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": SUB}});
    if socket.send(Message::text(init.to_string())).await.is_err() {
        shared.failed.fetch_add(1, Ordering::Relaxed);
        return;
    }
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                let message: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                match message["type"].as_str() {
                    Some("connection_ack") => break,
                    Some("ping") => {
                        let _ = socket.send(Message::text(r#"{"type":"pong"}"#)).await;
                    }
                    _ => {}
                }
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => {
                shared.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
    if socket
        .send(Message::text(subscribe.to_string()))
        .await
        .is_err()
    {
        shared.failed.fetch_add(1, Ordering::Relaxed);
        return;
    }
    shared.ready.fetch_add(1, Ordering::Relaxed);
    let shared = shared.clone();
    tokio::spawn(async move {
        while let Some(frame) = socket.next().await {
            let at = Instant::now();
            let Ok(Message::Text(text)) = frame else {
                // Pings are answered by tungstenite; a close or an error ends the socket.
                if frame.is_err() {
                    break;
                }
                continue;
            };
            if shared.arrivals.record(&text, at) {
                continue;
            }
            // Not a result with a build: a protocol message, parsed whole (rare).
            let message: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            match message["type"].as_str() {
                Some("ping") => {
                    let _ = socket.send(Message::text(r#"{"type":"pong"}"#)).await;
                }
                Some("error") => {
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    });
}

/// POSTs a GraphQL request to `http` (`host:port`, `path`); the response's JSON.
fn gql(http: &(String, String), token: &str, body: &Value) -> Value {
    let body = body.to_string();
    let mut stream = StdTcpStream::connect(&http.0).expect("HTTP_URL answers");
    let _ = stream.set_nodelay(true);
    write!(
        stream,
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        http.1,
        http.0,
        body.len()
    )
    .expect("send the request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("read the response");
    let text = String::from_utf8_lossy(&response);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or_else(|_| json!({"errors": [body]}))
}

fn shell(command: &str) -> String {
    let output = Command::new("sh")
        .args(["-c", command])
        .output()
        .expect("run a shell command");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn median(values: &[Option<f64>]) -> Option<f64> {
    let mut values: Vec<f64> = values.iter().flatten().copied().collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).map(|v| round(*v))
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// The CPU time of process `pid` (or `self`), in ms.
fn cpu_ms(pid: &str) -> Option<f64> {
    procfs::cpu_seconds(pid).map(|seconds| seconds * 1e3)
}

fn ms(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, ws_url, http_url, token, n, events, rest @ ..] = args.as_slice() else {
        eprintln!("usage: fanout WS_URL HTTP_URL TOKEN N EVENTS [DEFINITION_ID]");
        std::process::exit(1);
    };
    let n: usize = n.parse().expect("N");
    let events: usize = events.parse().expect("EVENTS");
    let definition = rest.first().map_or("1", String::as_str).to_owned();
    let http = url::Url::parse(http_url).expect("HTTP_URL");
    let http = (
        format!(
            "{}:{}",
            http.host_str().expect("HTTP_URL's host"),
            http.port_or_known_default().expect("HTTP_URL's port")
        ),
        http.path().to_owned(),
    );
    let rss_pid = std::env::var("RSS_PID").ok();
    let base = 50_000 + u64::from(rand::random::<u16>() % 10_000) * 10;
    let shared = Arc::new(Shared {
        arrivals: Arrivals::new(base, events, n),
        ready: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
    });

    let started = Instant::now();
    for from in (0..n).step_by(BATCH) {
        join_all((from..n.min(from + BATCH)).map(|_| open(ws_url, token, &shared))).await;
    }
    let connect_ms = started.elapsed().as_secs_f64() * 1e3;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ready = shared.ready.load(Ordering::Relaxed);

    let settings = "mutation { updatePluginSettings(input: {imageFactoryEnabled: true, imageFactoryMaxConcurrentBuilds: 100}) { imageFactoryEnabled } }";
    let (h, t) = (http.clone(), token.clone());
    tokio::task::spawn_blocking(move || gql(&h, &t, &json!({"query": settings})))
        .await
        .expect("the settings mutation");
    if let Ok(reset) = std::env::var("SQL_RESET") {
        shell(&reset);
    }
    let server_before = rss_pid.as_deref().and_then(cpu_ms);
    let client_before = cpu_ms("self");
    let queue = "mutation($i: QueueImageBuildInput!) { queueImageBuild(input: $i) { id } }";
    let mut results = Vec::new();
    for e in 0..events {
        let vmid = base + e as u64;
        let body = json!({"query": queue, "variables": {"i": {"definitionId": definition, "outputVmid": vmid, "outputName": format!("fanout-{vmid}")}}});
        let sent = Instant::now();
        let (h, t) = (http.clone(), token.clone());
        let response = tokio::task::spawn_blocking(move || gql(&h, &t, &body))
            .await
            .expect("the queue mutation");
        let ack_ms = sent.elapsed().as_secs_f64() * 1e3;
        if let Some(errors) = response.get("errors") {
            eprintln!("{errors}");
            std::process::exit(1);
        }
        let deadline = Instant::now() + EVENT_TIMEOUT;
        while shared.arrivals.counts[e].load(Ordering::Acquire) < ready && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let times = shared.arrivals.of(e);
        let sent = shared.arrivals.nanos(sent);
        let since = |t: &u64| ms(t.saturating_sub(sent));
        results.push(Outcome {
            got: times.len(),
            ack_ms,
            median_ms: times.get(times.len() / 2).map(since),
            last_ms: times.last().map(since),
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let per_event = |before: Option<f64>, after: Option<f64>| {
        before
            .zip(after)
            .map(|(b, a)| round((a - b) / events.max(1) as f64))
    };
    let server_cpu = per_event(server_before, rss_pid.as_deref().and_then(cpu_ms));
    let client_cpu = per_event(client_before, cpu_ms("self"));
    let sql = std::env::var("SQL_COUNT")
        .ok()
        .and_then(|count| shell(&count).parse::<f64>().ok());
    let rss_kb = rss_pid.as_deref().and_then(procfs::rss_kb);
    let column = |f: fn(&Outcome) -> Option<f64>| results.iter().map(f).collect::<Vec<_>>();
    println!(
        "{}",
        json!({
            "subscribers": ready,
            "failed": shared.failed.load(Ordering::Relaxed),
            "connect_ms": connect_ms.round() as u64,
            "events": events,
            "delivered_all": results.iter().all(|r| r.got == ready),
            "ack_ms_p50": median(&column(|r| Some(r.ack_ms))),
            "sub_p50_ms": median(&column(|r| r.median_ms)),
            "last_ms_p50": median(&column(|r| r.last_ms)),
            "sql_per_event": sql.map(|s| round(s / events.max(1) as f64)),
            "last_ms_max": round(results.iter().filter_map(|r| r.last_ms).fold(0.0, f64::max)),
            "rss_mb": rss_kb.map(|kb| (kb as f64 / 1024.0).round() as u64),
            "server_cpu_ms_per_event": server_cpu,
            "client_cpu_ms_per_event": client_cpu,
        })
    );
    // The sockets are dropped with the runtime, unclosed, as fanout.mjs terminates them.
    std::process::exit(0);
}
