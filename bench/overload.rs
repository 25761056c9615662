//! The overload client of `bench/hostile.py` (issue 14, deliver item 2): `CONNECTIONS` keep-alive
//! connections, each posting the same GraphQL body as soon as its previous answer arrived, for
//! `SECONDS`; every answer's latency is recorded by its status. Written in Rust so that a thousand
//! connections do not measure the client's own scheduling (Python's event loop did).
//!
//!   cargo run --release --example overload -- ADDR TOKEN CONNECTIONS SECONDS BODY_FILE [PID]
//!
//! Prints one JSON object: per status class (`admitted` 200, `refused` 503, `other`) the count,
//! p50 and p99 in ms; `timeouts` (no answer within 30 s: the connection is dropped and opened
//! again); `errors` (connections refused, reset or closed); the client's CPU seconds (user and
//! system); and, with PID, the server's RSS high-water in KiB, sampled every 100 ms, and its CPU
//! seconds during the load (so that runs on a shared machine compare by CPU per answer). With `HONOR_RETRY_AFTER=1` in the environment a
//! refused client waits the answer's `Retry-After` (1 s) before its next request, as a polite
//! client would; by default it asks again at once, as a flash crowd does.

#[path = "procfs.rs"]
mod procfs;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Tally {
    admitted: Vec<f64>,
    refused: Vec<f64>,
    other: Vec<f64>,
    timeouts: u64,
    errors: u64,
}

async fn exchange(
    stream: &mut BufReader<TcpStream>,
    request: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    stream.get_mut().write_all(request).await?;
    let mut status = 0;
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if status == 0 {
            status = trimmed
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
        } else if let Some((name, value)) = trimmed.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    Ok((status, body))
}

async fn client(addr: String, request: Arc<Vec<u8>>, until: Instant, polite: bool) -> Tally {
    let mut tally = Tally::default();
    'connection: while Instant::now() < until {
        let Ok(stream) = TcpStream::connect(&addr).await else {
            tally.errors += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let mut stream = BufReader::new(stream);
        while Instant::now() < until {
            let started = Instant::now();
            match tokio::time::timeout(ANSWER_TIMEOUT, exchange(&mut stream, &request)).await {
                Err(_) => {
                    tally.timeouts += 1;
                    continue 'connection;
                }
                Ok(Err(_)) => {
                    tally.errors += 1;
                    continue 'connection;
                }
                Ok(Ok((status, body))) => {
                    let ms = started.elapsed().as_secs_f64() * 1e3;
                    match status {
                        200 => {
                            if body.windows(9).any(|w| w == b"\"errors\":") {
                                eprintln!("the query failed: {}", String::from_utf8_lossy(&body));
                                std::process::exit(2);
                            }
                            tally.admitted.push(ms);
                        }
                        503 => {
                            tally.refused.push(ms);
                            if polite {
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                        }
                        _ => tally.other.push(ms),
                    }
                }
            }
        }
    }
    tally
}

fn summary(values: &mut [f64]) -> serde_json::Value {
    values.sort_by(f64::total_cmp);
    let at = |p: f64| {
        values
            .get(((values.len() as f64 * p) as usize).min(values.len().saturating_sub(1)))
            .map(|v| (v * 10.0).round() / 10.0)
    };
    serde_json::json!({"count": values.len(), "p50_ms": at(0.5), "p99_ms": at(0.99)})
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, token, connections, seconds, body_file, rest @ ..] = args.as_slice() else {
        eprintln!("usage: overload ADDR TOKEN CONNECTIONS SECONDS BODY_FILE [PID]");
        std::process::exit(1);
    };
    let connections: usize = connections.parse().expect("CONNECTIONS");
    let seconds: f64 = seconds.parse().expect("SECONDS");
    let body = std::fs::read(body_file).expect("BODY_FILE");
    let pid: Option<u32> = rest.first().map(|p| p.parse().expect("PID"));
    let mut request = format!(
        "POST /graphql HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let request = Arc::new(request);
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let polite = std::env::var("HONOR_RETRY_AFTER").is_ok_and(|v| v == "1");
    let peak = Arc::new(AtomicU64::new(
        pid.and_then(|pid| procfs::rss_kb(&pid.to_string()))
            .unwrap_or(0),
    ));
    if let Some(pid) = pid {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(
                    procfs::rss_kb(&pid.to_string()).unwrap_or(0),
                    Ordering::Relaxed,
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
    let server_cpu = pid.and_then(|pid| procfs::cpu_seconds(&pid.to_string()));
    let client_cpu = procfs::cpu_seconds("self").unwrap_or(0.0);
    let tasks: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(client(addr.clone(), request.clone(), until, polite)))
        .collect();
    let mut all = Tally::default();
    for task in tasks {
        let tally = task.await.expect("a client task");
        all.admitted.extend(tally.admitted);
        all.refused.extend(tally.refused);
        all.other.extend(tally.other);
        all.timeouts += tally.timeouts;
        all.errors += tally.errors;
    }
    let client_cpu = procfs::cpu_seconds("self").unwrap_or(0.0) - client_cpu;
    let server_cpu = pid
        .zip(server_cpu)
        .and_then(|(pid, before)| Some(procfs::cpu_seconds(&pid.to_string())? - before));
    if let Some(pid) = pid {
        peak.fetch_max(
            procfs::rss_kb(&pid.to_string()).unwrap_or(0),
            Ordering::Relaxed,
        );
    }
    println!(
        "{}",
        serde_json::json!({
            "connections": connections,
            "honor_retry_after": polite,
            "seconds": seconds,
            "admitted": summary(&mut all.admitted),
            "refused": summary(&mut all.refused),
            "other": summary(&mut all.other),
            "timeouts": all.timeouts,
            "errors": all.errors,
            "rss_peak_kb": pid.map(|_| peak.load(Ordering::Relaxed)),
            "server_cpu_s": server_cpu.map(|s| (s * 100.0).round() / 100.0),
            "client_cpu_s": (client_cpu * 100.0).round() / 100.0,
        })
    );
}
