//! Build logs (SPEC §7.5) at the API boundary: lines written with `appendBuildLog` (the way
//! external workers feed the same batched writer the dispatcher does), read back through
//! `ImageBuild.log`, the REST log endpoint and the `buildLog` subscription; secrets scrubbed,
//! long lines cut, at most 20,000 lines kept; who may write and who may read.

use std::time::Duration;

use entity::enums::{BuildStatus, Role};
use serde_json::{Value, json};

use crate::{
    rest::get,
    support::{TestApp, build_gid, code, fields},
    ws_client::{Client, TRANSPORT_WS, WAIT, app_with_definition},
};

const APPEND: &str = "mutation ($id: ID!, $lines: [BuildLogInput!]!) {
    appendBuildLog(buildId: $id, lines: $lines) }";

const LOG: &str = "query ($id: ID!, $first: Int, $after: String) { imageBuild(id: $id) {
    log(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
      nodes { seq stream line at } } } }";

const TAIL: &str = "subscription ($id: ID!, $after: Int) {
    buildLog(buildId: $id, afterSeq: $after) { seq stream line } }";

/// Appends `lines` to `build` as `token`; returns the body.
async fn append(app: &TestApp, token: &str, build: i32, lines: Value) -> Value {
    app.as_user(
        token,
        APPEND,
        json!({"id": build_gid(build), "lines": lines}),
    )
    .await
}

/// Appends `lines` as admin, failing on errors.
async fn append_ok(app: &TestApp, build: i32, lines: Value) {
    let body = append(app, &app.admin, build, lines).await;
    assert!(body.get("errors").is_none(), "{body}");
}

/// `n` lines `line 1`, `line 2`, … from `from`.
fn numbered(from: usize, n: usize) -> Value {
    (from..from + n)
        .map(|i| json!({"line": format!("line {i}")}))
        .collect()
}

/// Waits until `build` has `count` lines stored (the writer works in the background).
async fn wait_for_lines(app: &TestApp, build: i32, count: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let data = app
            .data(LOG, json!({"id": build_gid(build), "first": 1}))
            .await;
        let total = data["imageBuild"]["log"]["totalCount"]
            .as_i64()
            .unwrap_or(-1);
        if total == count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{count} lines expected, {total} stored"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A running build of a fresh app's definition.
async fn running_build(flags: &[&str]) -> (TestApp, i32, i32) {
    let (app, definition) = app_with_definition(flags).await;
    let (build, _) = app.queue(definition).await;
    app.transition(build, BuildStatus::Running).await;
    (app, definition, build)
}

/// One list of secrets (SPEC §7.5): the proxbox-api key is scrubbed from the lines a worker
/// appends too, not only from the dispatcher's output.
#[tokio::test]
async fn the_proxbox_api_key_is_scrubbed_from_every_stored_line() {
    let (app, _, build) = running_build(&["--proxbox-api-key", "pbx-key-7"]).await;
    append_ok(
        &app,
        build,
        json!([{"line": "X-Proxbox-API-Key: pbx-key-7"}]),
    )
    .await;
    wait_for_lines(&app, build, 1).await;
    let data = app
        .data(LOG, json!({"id": build_gid(build), "first": 10}))
        .await;
    assert_eq!(
        data["imageBuild"]["log"]["nodes"][0]["line"],
        "X-Proxbox-API-Key: ***"
    );
}

#[tokio::test]
async fn lines_are_stored_in_order_scrubbed_and_capped_then_paged() {
    let (app, _, build) = running_build(&[
        "--log-secret",
        "s3cr3t-api-key",
        "--log-secret",
        "pve-token-42",
    ])
    .await;
    let long = "x".repeat(10_000);
    append_ok(
        &app,
        build,
        json!([
            {"line": "starting with key s3cr3t-api-key"},
            {"stream": "stderr", "line": "PROXMOX_TOKEN=pve-token-42 and pve-token-42"},
            {"line": long},
        ]),
    )
    .await;
    append_ok(&app, build, numbered(4, 3)).await;
    wait_for_lines(&app, build, 6).await;

    let data = app
        .data(LOG, json!({"id": build_gid(build), "first": 100}))
        .await;
    let nodes = data["imageBuild"]["log"]["nodes"]
        .as_array()
        .expect("nodes")
        .clone();
    let seqs: Vec<i64> = nodes
        .iter()
        .map(|n| n["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    assert_eq!(nodes[0]["line"], "starting with key ***");
    assert_eq!(nodes[0]["stream"], "stdout");
    assert_eq!(nodes[1]["line"], "PROXMOX_TOKEN=*** and ***");
    assert_eq!(nodes[1]["stream"], "stderr");
    let cut = nodes[2]["line"].as_str().expect("a line");
    assert!(
        cut.len() <= 8192 && cut.ends_with("…[truncated]"),
        "{}",
        cut.len()
    );
    assert_eq!(nodes[5]["line"], "line 6");
    let everything = serde_json::to_string(&data).expect("JSON");
    assert!(!everything.contains("s3cr3t") && !everything.contains("pve-token-42"));

    // Pages: two lines, then the rest after the cursor.
    let first = app
        .data(LOG, json!({"id": build_gid(build), "first": 2}))
        .await;
    let log = &first["imageBuild"]["log"];
    assert_eq!(log["pageInfo"]["hasNextPage"], true);
    assert_eq!(log["totalCount"], 6);
    let rest = app
        .data(
            LOG,
            json!({"id": build_gid(build), "first": 10, "after": log["pageInfo"]["endCursor"]}),
        )
        .await;
    let seqs: Vec<i64> = rest["imageBuild"]["log"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(seqs, [3, 4, 5, 6]);

    // REST: after and limit, with the next page's URL.
    let reply = get(
        &app,
        &format!("/image-builds/{build}/log/?after=1&limit=2"),
        &app.admin,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let results = reply.body["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["seq"], 2);
    assert_eq!(results[0]["line"], "PROXMOX_TOKEN=*** and ***");
    assert_eq!(results[1]["seq"], 3);
    let next = reply.body["next"].as_str().expect("a next page");
    assert!(
        next.ends_with(&format!("/image-builds/{build}/log/?after=3&limit=2")),
        "{next}"
    );
    let reply = get(
        &app,
        &format!("/image-builds/{build}/log/?after=6"),
        &app.admin,
    )
    .await;
    assert_eq!(reply.body, json!({"next": null, "results": []}));
    let reply = get(
        &app,
        &format!("/image-builds/{build}/log/?after=-1&limit=0&x=1"),
        &app.admin,
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
}

#[tokio::test]
async fn only_workers_and_admins_append_and_only_to_a_running_build() {
    let (app, definition, build) = running_build(&[]).await;
    let (_, viewer) = app.user(Role::Viewer, &[], true).await;
    let (_, operator) = app.user(Role::Operator, &[], true).await;
    let (_, worker) = app.user(Role::Worker, &[], true).await;
    let (_, read_only) = app.user(Role::Worker, &[], false).await;
    let lines = json!([{"line": "hello"}]);
    for token in [&viewer, &operator, &read_only] {
        let body = append(&app, token, build, lines.clone()).await;
        assert_eq!(code(&body), "FORBIDDEN", "{body}");
    }
    let body = append(&app, &worker, build, lines.clone()).await;
    assert_eq!(body["data"]["appendBuildLog"], 1, "{body}");

    let (pending, _) = app.queue(definition).await;
    let body = append(&app, &worker, pending, lines.clone()).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(fields(&body), ["buildId"]);
    let body = append(
        &app,
        &worker,
        build,
        json!([{"stream": "Marker!", "line": "x"}]),
    )
    .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let body = append(&app, &worker, build, numbered(1, 1001)).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let body = append(&app, &worker, 999_999, lines).await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    wait_for_lines(&app, build, 1).await;
}

#[tokio::test]
async fn a_log_has_the_visibility_of_its_build() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let private = app
        .seed()
        .definition(
            "Private",
            world.endpoint,
            world.cluster,
            &[world.t1],
            |_| {},
        )
        .await;
    let (build, _) = app.queue(private).await;
    app.transition(build, BuildStatus::Running).await;
    append_ok(&app, build, numbered(1, 2)).await;
    wait_for_lines(&app, build, 2).await;

    let (_, outsider) = app.user(Role::Viewer, &[world.t2], true).await;
    let (_, insider) = app.user(Role::Viewer, &[world.t1], true).await;
    let body = app
        .as_user(&outsider, LOG, json!({"id": build_gid(build), "first": 5}))
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    let body = app
        .as_user(&insider, LOG, json!({"id": build_gid(build), "first": 5}))
        .await;
    assert_eq!(body["data"]["imageBuild"]["log"]["totalCount"], 2, "{body}");
    let path = format!("/image-builds/{build}/log/");
    assert_eq!(get(&app, &path, &outsider).await.status, 404);
    assert_eq!(get(&app, &path, &insider).await.status, 200);

    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&outsider).await;
    client
        .subscribe("1", TAIL, json!({"id": build_gid(build)}))
        .await;
    let message = client.recv().await;
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(
        message["payload"][0]["extensions"]["code"], "NOT_FOUND",
        "{message}"
    );
}

#[tokio::test]
async fn at_most_20000_lines_are_kept_behind_one_marker() {
    let (app, _, build) = running_build(&[]).await;
    for call in 0..21 {
        append_ok(&app, build, numbered(call * 1000 + 1, 1000)).await;
    }
    wait_for_lines(&app, build, 20_000).await;
    // Once the writer is done, the oldest kept line is the marker.
    app.app.logs.flush().await;
    let data = app
        .data(LOG, json!({"id": build_gid(build), "first": 2}))
        .await;
    let nodes = &data["imageBuild"]["log"]["nodes"];
    assert_eq!(nodes[0]["seq"], 1001);
    assert_eq!(nodes[0]["stream"], "marker");
    assert_eq!(
        nodes[0]["line"],
        "[1001 earlier lines dropped: at most 20000 lines are kept per build]"
    );
    assert_eq!(nodes[1]["seq"], 1002);
    assert_eq!(nodes[1]["line"], "line 1002");
    assert_eq!(data["imageBuild"]["log"]["totalCount"], 20_000);
}

#[tokio::test]
async fn build_log_replays_then_follows_live_and_ends_when_the_build_is_final() {
    let (app, _, build) = running_build(&[]).await;
    append_ok(&app, build, numbered(1, 3)).await;
    wait_for_lines(&app, build, 3).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    client
        .subscribe("1", TAIL, json!({"id": build_gid(build), "after": 1}))
        .await;
    let mut next = async || client.next_data("1").await["buildLog"].clone();
    assert_eq!(next().await["seq"], 2);
    assert_eq!(next().await["seq"], 3);
    // Live.
    append_ok(&app, build, numbered(4, 2)).await;
    assert_eq!(next().await["line"], "line 4");
    assert_eq!(next().await["line"], "line 5");
    // A last line and the end, back to back: the line still arrives, then the subscription ends.
    append_ok(&app, build, numbered(6, 1)).await;
    app.transition(build, BuildStatus::Failed).await;
    assert_eq!(next().await["seq"], 6);
    let complete = client.recv().await;
    assert_eq!(complete["type"], "complete", "{complete}");

    // A final build's log is replayed whole, then the subscription ends.
    client
        .subscribe("2", TAIL, json!({"id": build_gid(build)}))
        .await;
    for seq in 1..=6 {
        assert_eq!(client.next_data("2").await["buildLog"]["seq"], seq);
    }
    let complete = tokio::time::timeout(WAIT, client.recv())
        .await
        .expect("an end");
    assert_eq!(complete["type"], "complete", "{complete}");
}

#[tokio::test]
async fn nested_logs_cost_the_same_statements_for_one_build_or_many() {
    let (app, definition) = app_with_definition(&[]).await;
    let query = "{ imageBuilds(first: 50) { nodes { id log(first: 3) { totalCount nodes { seq line } } } } }";
    let mut costs = Vec::new();
    for builds in [1, 4] {
        while app.count("image_build").await < builds {
            let (build, _) = app.queue(definition).await;
            app.transition(build, BuildStatus::Running).await;
            append_ok(&app, build, numbered(1, 5)).await;
        }
        app.app.logs.flush().await;
        let before = app.request_statements();
        let data = app.data(query, json!({})).await;
        costs.push(app.request_statements() - before);
        for node in data["imageBuilds"]["nodes"].as_array().expect("nodes") {
            assert_eq!(node["log"]["totalCount"], 5);
            assert_eq!(node["log"]["nodes"].as_array().map(Vec::len), Some(3));
        }
    }
    assert_eq!(
        costs[0], costs[1],
        "statements for 1 build and for 4: {costs:?}"
    );
}

#[tokio::test]
async fn lines_written_by_another_instance_reach_a_subscriber() {
    let flags = ["--log-poll-interval", "0.1", "--event-poll-interval", "0.2"];
    let (app, _, build) = running_build(&flags).await;
    let other = app.second_instance(&flags).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init(&app.admin).await;
    client
        .subscribe("1", TAIL, json!({"id": build_gid(build)}))
        .await;
    append_ok(&other, build, numbered(1, 3)).await;
    for seq in 1..=3 {
        assert_eq!(client.next_data("1").await["buildLog"]["seq"], seq);
    }
    // Lines queued on another instance are that instance's to commit before the build ends.
    other.app.logs.flush().await;
    other.transition(build, BuildStatus::Completed).await;
    let complete = client.recv().await;
    assert_eq!(complete["type"], "complete", "{complete}");
}
