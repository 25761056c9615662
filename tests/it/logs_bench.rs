//! `bench/logs.sh`: whether one build writing 1,000 log lines per second delays the other builds'
//! transitions and the status subscription. Ignored by the suite (it measures, it asserts
//! nothing about time); the script runs it with `--ignored --nocapture` and prints the figures.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use entity::enums::BuildStatus;
use serde_json::json;

use crate::{
    support::{TestApp, build_gid},
    ws_client::{Client, SUBSCRIPTION, TRANSPORT_WS, app_with_definition},
};

/// Transition cycles (queue, start, complete) measured per phase.
const CYCLES: usize = 40;
/// Lines per `appendBuildLog` call, and calls per second: 1,000 lines/s.
const LINES_PER_CALL: usize = 50;
const CALLS_PER_SECOND: u64 = 20;

#[tokio::test]
#[ignore = "a benchmark: run bench/logs.sh"]
async fn bench_log_load() {
    let (app, definition) = app_with_definition(&[]).await;
    let app = Arc::new(app);
    let server = app.serve().await;
    let mut status = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    status.init(&app.admin).await;
    status.subscribe("s", SUBSCRIPTION, json!({})).await;
    app.wait_for_subscribers(1).await;

    let quiet = measure(&app, &mut status, definition).await;

    // The noisy build: running, 1,000 lines a second through the API, one live log subscriber.
    let (noisy, _) = app.queue(definition).await;
    let _ = status.next_event("s").await;
    app.transition(noisy, BuildStatus::Running).await;
    let _ = status.next_event("s").await;
    let mut tail = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    tail.init(&app.admin).await;
    tail.subscribe(
        "t",
        "subscription ($id: ID!) { buildLog(buildId: $id) { seq } }",
        json!({"id": build_gid(noisy)}),
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let producer = tokio::spawn({
        let (app, stop, sent) = (app.clone(), stop.clone(), sent.clone());
        async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1000 / CALLS_PER_SECOND));
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                tick.tick().await;
                let lines: Vec<_> = (0..LINES_PER_CALL)
                    .map(|i| json!({"line": format!("noisy line {} with some packer output", n + i)}))
                    .collect();
                n += LINES_PER_CALL;
                app.data(
                    "mutation ($id: ID!, $l: [BuildLogInput!]!) { appendBuildLog(buildId: $id, lines: $l) }",
                    json!({"id": build_gid(noisy), "l": lines}),
                )
                .await;
                sent.fetch_add(LINES_PER_CALL as u64, Ordering::SeqCst);
            }
        }
    });
    let received = Arc::new(AtomicU64::new(0));
    let consumer = tokio::spawn({
        let received = received.clone();
        async move {
            loop {
                let data = tail.next_data("t").await;
                if data["buildLog"]["seq"].is_number() {
                    received.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let (sent_before, received_before) =
        (sent.load(Ordering::SeqCst), received.load(Ordering::SeqCst));
    let loaded = measure(&app, &mut status, definition).await;
    let elapsed = started.elapsed().as_secs_f64();
    let sent_rate = (sent.load(Ordering::SeqCst) - sent_before) as f64 / elapsed;
    let received_rate = (received.load(Ordering::SeqCst) - received_before) as f64 / elapsed;
    stop.store(true, Ordering::SeqCst);
    let _ = producer.await;
    consumer.abort();
    app.app.logs.flush().await;
    let stored = app.count("build_log_line").await;

    println!(
        "\nbuild logs under load (debug build, shared machine: compare ratios, not absolutes)"
    );
    println!(
        "backend: {}",
        if app.url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );
    println!(
        "log lines appended: {sent_rate:.0}/s, delivered to a buildLog subscriber: {received_rate:.0}/s, stored in total: {stored}"
    );
    println!(
        "{:<38} {:>10} {:>10} {:>8}",
        "per transition (queue, start, complete)", "quiet", "loaded", "ratio"
    );
    for (name, q, l) in [
        ("mutation, median ms", quiet.mutation.0, loaded.mutation.0),
        ("mutation, p95 ms", quiet.mutation.1, loaded.mutation.1),
        (
            "mutation → subscriber, median ms",
            quiet.delivery.0,
            loaded.delivery.0,
        ),
        (
            "mutation → subscriber, p95 ms",
            quiet.delivery.1,
            loaded.delivery.1,
        ),
    ] {
        println!("{name:<38} {q:>10.1} {l:>10.1} {:>8.2}", l / q.max(0.001));
    }
}

/// Median and 95th percentile, in ms.
struct Figures {
    mutation: (f64, f64),
    delivery: (f64, f64),
}

/// Runs [`CYCLES`] queue/start/complete cycles; times each mutation and the arrival of its event
/// at the status subscriber.
async fn measure(app: &TestApp, status: &mut Client, definition: i32) -> Figures {
    let mut mutation = Vec::new();
    let mut delivery = Vec::new();
    for _ in 0..CYCLES {
        let t = Instant::now();
        let (build, _) = app.queue(definition).await;
        mutation.push(t.elapsed());
        let _ = status.next_event("s").await;
        delivery.push(t.elapsed());
        for to in [BuildStatus::Running, BuildStatus::Completed] {
            let t = Instant::now();
            app.transition(build, to).await;
            mutation.push(t.elapsed());
            let _ = status.next_event("s").await;
            delivery.push(t.elapsed());
        }
    }
    Figures {
        mutation: percentiles(mutation),
        delivery: percentiles(delivery),
    }
}

fn percentiles(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (
        ms(times[times.len() / 2]),
        ms(times[times.len() * 95 / 100]),
    )
}
