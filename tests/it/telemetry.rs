//! Operations (SPEC §9): `/metrics` scraped before and after each kind of event, every family
//! moving when its event happens.
//!
//! The recorder is the process's (one per process, as in production), shared by the tests that
//! run at the same time: counters are compared as "grew", and gauges are read while this test
//! holds what they count.

use std::collections::BTreeMap;

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use entity::enums::BuildStatus;
use serde_json::json;

use crate::{
    rest,
    support::TestApp,
    ws_client::{Client, SUBSCRIPTION, TRANSPORT_WS, app_with_definition},
};

/// One scrape: every sample by its series (`name{labels}` as the exposition writes it).
pub struct Scrape(BTreeMap<String, f64>);

impl Scrape {
    /// The sample of `series`, 0 when absent.
    fn get(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }

    /// The sum of the samples of `name` whose labels contain every one of `labels`.
    pub fn sum(&self, name: &str, labels: &[&str]) -> f64 {
        self.0
            .iter()
            .filter(|(series, _)| {
                let (family, rest) = series.split_once('{').unwrap_or((series.as_str(), ""));
                family == name && labels.iter().all(|label| rest.contains(label))
            })
            .map(|(_, value)| value)
            .sum()
    }
}

pub async fn scrape(app: &TestApp) -> (Scrape, String) {
    let request = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .expect("request");
    let (status, headers, body) = app.send(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{headers:?}"
    );
    let samples = body
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect();
    (Scrape(samples), body)
}

#[tokio::test]
async fn every_family_moves_when_its_event_happens() {
    let (app, definition) = app_with_definition(&[]).await;
    let (before, _) = scrape(&app).await;

    // HTTP by route template, GraphQL by type and outcome, SQL.
    let ok = app
        .data("{ imageDefinitions { totalCount } }", json!({}))
        .await;
    assert_eq!(ok["imageDefinitions"]["totalCount"], 1);
    let parse_failed = app.post(Some(&app.admin), "{ nope", json!({})).await;
    assert!(parse_failed.1.get("errors").is_some());
    let reply = rest::get(
        &app,
        &format!("/image-definitions/{definition}/"),
        &app.admin,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let (after, body) = scrape(&app).await;
    let route = |r: &str| format!("route=\"{r}\"");
    for (route, status) in [
        (route("/graphql"), "status=\"200\""),
        (
            route("/api/plugins/packer/image-definitions/{id}/"),
            "status=\"200\"",
        ),
    ] {
        let labels = [route.as_str(), status];
        assert!(
            after.sum("packer_gateway_http_requests_total", &labels)
                > before.sum("packer_gateway_http_requests_total", &labels),
            "{route} {status}:\n{body}"
        );
        assert!(
            after.sum(
                "packer_gateway_http_request_duration_seconds_count",
                &labels[..1]
            ) > before.sum(
                "packer_gateway_http_request_duration_seconds_count",
                &labels[..1]
            ),
            "{route}:\n{body}"
        );
    }
    assert!(
        !body.contains(&format!("image-definitions/{definition}/")),
        "raw paths are never labels:\n{body}"
    );
    for labels in [
        ["type=\"query\"", "outcome=\"OK\""],
        ["type=\"unknown\"", "outcome=\"GRAPHQL_PARSE_FAILED\""],
    ] {
        assert!(
            after.sum("packer_gateway_graphql_operations_total", &labels)
                > before.sum("packer_gateway_graphql_operations_total", &labels),
            "{labels:?}:\n{body}"
        );
    }
    for family in [
        "packer_gateway_sql_statements_total",
        "packer_gateway_sql_statement_duration_seconds_count",
    ] {
        assert!(after.get(family) > before.get(family), "{family}:\n{body}");
    }
    for family in [
        "packer_gateway_db_pool_connections",
        "packer_gateway_db_pool_max_connections",
    ] {
        assert!(after.get(family) >= 1.0, "{family}:\n{body}");
    }
    assert!(
        body.contains("packer_gateway_db_pool_idle_connections "),
        "{body}"
    );

    // Builds by status and the queue's age.
    let (build, _) = app.queue(definition).await;
    let (queued, body) = scrape(&app).await;
    assert!(
        queued.get("packer_gateway_builds{status=\"pending\"}") >= 1.0,
        "{body}"
    );
    assert!(
        body.contains("packer_gateway_queue_oldest_pending_age_seconds "),
        "{body}"
    );

    // Websockets, subscriptions, events delivered, replays from history.
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    client.subscribe("live", SUBSCRIPTION, json!({})).await;
    client
        .subscribe("replay", SUBSCRIPTION, json!({"after": "0"}))
        .await;
    app.wait_for_subscribers(2).await;
    app.transition(build, BuildStatus::Running).await;
    // The replay hears both events, the live one at least the transition, in whatever order
    // the two operations' messages interleave.
    let mut heard = Vec::new();
    while !(heard.contains(&("live".to_owned(), "RUNNING".to_owned()))
        && heard.contains(&("replay".to_owned(), "RUNNING".to_owned())))
    {
        let message = client.recv().await;
        assert_eq!(message["type"], "next", "{message}");
        let event = &message["payload"]["data"]["buildStatusChanged"];
        heard.push((
            message["id"].as_str().unwrap_or_default().to_owned(),
            event["status"].as_str().unwrap_or_default().to_owned(),
        ));
        assert!(heard.len() <= 4, "{heard:?}");
    }
    let (open, body) = scrape(&app).await;
    assert!(open.get("packer_gateway_websockets_open") >= 1.0, "{body}");
    assert!(
        open.get("packer_gateway_subscriptions_active") >= 2.0,
        "{body}"
    );
    assert!(
        open.get("packer_gateway_builds{status=\"running\"}") >= 1.0,
        "{body}"
    );
    for (family, labels) in [
        (
            "packer_gateway_subscription_events_delivered_total",
            &[][..],
        ),
        (
            "packer_gateway_subscription_catch_ups_total",
            &["reason=\"replay\""][..],
        ),
    ] {
        assert!(
            open.sum(family, labels) >= before.sum(family, labels) + 1.0,
            "{family}:\n{body}"
        );
    }
    for family in [
        "packer_gateway_http_requests_total",
        "packer_gateway_http_request_duration_seconds",
        "packer_gateway_graphql_operations_total",
        "packer_gateway_sql_statements_total",
        "packer_gateway_websockets_open",
        "packer_gateway_builds",
    ] {
        assert!(
            body.contains(&format!("# HELP {family} ")),
            "{family}:\n{body}"
        );
    }
    drop(client);
    server.shutdown().await;
}

/// `--log-format json`: one JSON object per line, with timestamp, level, target and message, and
/// the request id on the lines of a request; never a colour code (standard error is not a
/// terminal here, so the text format has none either).
#[tokio::test]
async fn json_logs_carry_the_request_id_and_no_colour() {
    if crate::support::postgres().is_some() {
        // The binary's logging is the same on both backends; once is enough.
        return;
    }
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let dir = std::env::temp_dir().join(crate::support::unique("pgw-logs"));
    std::fs::create_dir_all(&dir).expect("a directory");
    let url = format!("sqlite://{}/logs.db", dir.display());
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_packer-gateway"))
        .args(["serve", "--log-format", "json", "--listen", "127.0.0.1:0"])
        .args(["--database-url", &url])
        .env("RUST_LOG", "packer_gateway=info,tower_http=debug")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the binary");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    let read = async {
        let mut address = None;
        while let Ok(Some(line)) = lines.next_line().await {
            assert!(!line.contains('\u{1b}'), "a colour code: {line}");
            // The admin token's banner is written as plain text, once, on purpose.
            let Ok(object) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            for key in ["timestamp", "level", "target", "message"] {
                assert!(object.get(key).is_some(), "{key} in {line}");
            }
            let message = object["message"].as_str().unwrap_or_default().to_owned();
            seen.push(object);
            if let Some(rest) = message.strip_prefix("listening on http://") {
                address = rest.split_whitespace().next().map(str::to_owned);
                break;
            }
        }
        let address = address.expect("the service says where it listens");
        let mut stream = tokio::net::TcpStream::connect(&address)
            .await
            .expect("connect");
        stream
            .write_all(
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nx-request-id: logs-test-1\r\n\
                  Connection: close\r\n\r\n",
            )
            .await
            .expect("send");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .expect("read the response");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        while let Ok(Some(line)) = lines.next_line().await {
            assert!(!line.contains('\u{1b}'), "a colour code: {line}");
            let Ok(object) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if object["span"]["request_id"] == "logs-test-1" {
                assert_eq!(object["span"]["path"], "/healthz", "{line}");
                return object;
            }
            seen.push(object);
        }
        panic!("no line of the request: {seen:?}")
    };
    let line = tokio::time::timeout(std::time::Duration::from_secs(30), read)
        .await
        .expect("the service starts and logs the request");
    assert!(line["level"].is_string(), "{line}");
    child.kill().await.ok();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn no_metrics_switches_the_page_off() {
    let app = TestApp::with_args(&["--no-metrics"]).await;
    let request = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .expect("request");
    let (status, _, _) = app.send(request).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let request = Request::builder()
        .uri("/healthz")
        .body(Body::empty())
        .expect("request");
    assert_eq!(
        app.send(request).await.0,
        StatusCode::OK,
        "the other pages stay"
    );
}
