//! The build dispatcher (SPEC §7.1) with the `proxbox` backend (§7.2), run for real against a
//! stand-in of proxbox-api (`standin.rs`) on a real database.

mod packer;
mod standin;

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use entity::{build_event, enums::BuildStatus, image_build, image_definition, proxmox_endpoint};
use futures_util::future::BoxFuture;
use packer_gateway::dispatch::{self, Dispatcher, LogSink};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Value, json};

use crate::{
    support::{BUILD, TestApp, key_of, postgres},
    telemetry::scrape,
};
use standin::{Plan, Standin};

/// proxbox-api's key: it must never appear in a log line, an error or an API answer.
const KEY: &str = "pbx-key-9f8e7d6c5b4a3210";

/// The log lines the dispatcher wrote, per build.
#[derive(Default)]
struct Lines(Mutex<Vec<(i32, String, String)>>);

impl LogSink for Lines {
    fn write<'a>(&'a self, build: i32, stream: &'a str, line: &'a str) -> BoxFuture<'a, ()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push((
            build,
            stream.to_owned(),
            line.to_owned(),
        ));
        Box::pin(async {})
    }
}

impl Lines {
    fn of(&self, build: i32) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(b, _, _)| *b == build)
            .map(|(_, _, line)| line.clone())
            .collect()
    }
}

/// The `serve` flags of a dispatching instance talking to `standin`.
fn flags(standin: &Standin) -> Vec<String> {
    [
        "--dispatch",
        "proxbox",
        "--proxbox-url",
        &standin.url,
        "--proxbox-api-key",
        KEY,
        "--dispatch-poll-interval",
        "0.1",
        "--dispatch-lease",
        "30",
        "--dispatch-retry-delay",
        "0.05",
        "--dispatch-kill-grace",
        "5",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A service, a stand-in running `plan` by default, a clone definition on an endpoint the
/// stand-in knows, the factory on with `max` concurrent builds, and a dispatcher.
struct Rig {
    app: TestApp,
    standin: Standin,
    definition: i32,
    endpoint: i32,
    lines: Arc<Lines>,
    dispatcher: Option<Dispatcher>,
}

impl Rig {
    async fn new(plan: Plan, max: i32) -> Rig {
        let rig = Rig::without_dispatcher(plan, max).await;
        rig.with_dispatcher()
    }

    async fn without_dispatcher(plan: Plan, max: i32) -> Rig {
        let standin = Standin::start(KEY, plan).await;
        let flags = flags(&standin);
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let app = TestApp::with_args(&flags).await;
        let seed = app.seed();
        let cluster = seed.cluster("pve-prod").await;
        let endpoint = seed.endpoint("pve").await;
        proxmox_endpoint::ActiveModel {
            id: Set(endpoint),
            domain: Set(Some("pve.example.net".into())),
            ..Default::default()
        }
        .update(&app.app.db)
        .await
        .expect("give the endpoint a domain");
        let definition = seed
            .definition("Ubuntu 24.04", endpoint, cluster, &[], |_| {})
            .await;
        app.enable_factory(json!({"imageFactoryMaxConcurrentBuilds": max}))
            .await;
        Rig {
            app,
            standin,
            definition,
            endpoint,
            lines: Arc::new(Lines::default()),
            dispatcher: None,
        }
    }

    fn with_dispatcher(mut self) -> Rig {
        self.dispatcher = Some(start(&self.app, &self.lines));
        self
    }

    /// Queues a build through the API, as admin.
    async fn queue(&self) -> i32 {
        let body = self
            .app
            .queue_build(
                &self.app.admin,
                json!({"definitionId": self.definition.to_string(), "outputVmid": 9100}),
            )
            .await;
        body["data"]["queueImageBuild"]["id"]
            .as_str()
            .map(key_of)
            .unwrap_or_else(|| panic!("queued: {body}"))
    }

    async fn build(&self, id: i32) -> image_build::Model {
        image_build::Entity::find_by_id(id)
            .one(&self.app.app.db)
            .await
            .expect("read the build")
            .expect("the build exists")
    }

    async fn wait_status(&self, id: i32, status: BuildStatus) -> image_build::Model {
        wait_for(&format!("build {id} {status:?}"), || async {
            self.build(id).await.status == status
        })
        .await;
        self.build(id).await
    }

    /// The build as the API shows it (with its events' actors and messages).
    async fn api_build(&self, id: i32) -> Value {
        let body = self
            .app
            .data(
                &format!(
                    "query ($id: ID!) {{ imageBuild(id: $id) {{ {BUILD} backendResponse \
                     events {{ fromStatus toStatus message actor {{ username }} }} }} }}"
                ),
                json!({"id": id.to_string()}),
            )
            .await;
        body["imageBuild"].clone()
    }

    async fn leases(&self) -> i64 {
        self.app.count("build_lease").await
    }

    /// Waits until the dispatcher has looked for pending builds twice more.
    async fn two_more_rounds(&self) {
        let dispatcher = self.dispatcher.as_ref().expect("a dispatcher");
        let from = dispatcher.rounds();
        wait_for("two dispatch rounds", || async {
            dispatcher.rounds() >= from + 2
        })
        .await;
    }
}

/// Starts the dispatcher `app`'s flags configure, writing lines to `lines`.
fn start(app: &TestApp, lines: &Arc<Lines>) -> Dispatcher {
    dispatch::start(&app.app, lines.clone())
        .expect("the dispatcher starts")
        .expect("a backend is configured")
}

/// Awaits `check`, every 20 ms, for at most 30 s.
async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn no_secret(what: &str, text: &str) {
    assert!(
        !text.contains(KEY),
        "the API key leaked into {what}: {text}"
    );
}

/// The dispatch metrics (SPEC §9).
const SUBMISSIONS: &str = "packer_gateway_dispatch_submissions_total";
const ADOPTIONS: &str = "packer_gateway_dispatch_adoptions_total";
const FAILURES: &str = "packer_gateway_dispatch_failures_total";
const DURATION_COUNT: &str = "packer_gateway_dispatch_backend_duration_seconds_count";

#[tokio::test]
async fn a_build_completes_end_to_end_with_its_log_and_catalog_entry() {
    let lines: Vec<String> = (1..=5)
        .map(|i| format!("==> proxmox-clone.image: step {i}"))
        .collect();
    let rig = Rig::new(Plan::Complete { lines }, 1).await;
    let (before, _) = scrape(&rig.app).await;
    let id = rig.queue().await;
    let build = rig.wait_status(id, BuildStatus::Completed).await;
    assert!(!build.backend_build_id.is_empty());
    // The dispatch metrics moved (the recorder is the process's: at least by this build).
    let (after, body) = scrape(&rig.app).await;
    let grew = |name: &str, labels: &[&str]| after.sum(name, labels) - before.sum(name, labels);
    let proxbox = "backend=\"proxbox\"";
    assert!(grew(SUBMISSIONS, &[proxbox]) >= 1.0, "{body}");
    let completed = ["backend=\"proxbox\"", "outcome=\"completed\""];
    assert!(grew(DURATION_COUNT, &completed) >= 1.0, "{body}");
    assert_eq!(build.backend_response["status"], "completed");
    assert_eq!(
        build.backend_response["build_id"],
        build.backend_build_id.as_str()
    );
    assert!(
        build.cloud_image_template_id.is_some(),
        "published to the catalog"
    );
    assert_eq!(build.output_vmid, 9100);

    let shown = rig.api_build(id).await;
    assert_eq!(shown["status"], "COMPLETED");
    assert!(shown["cloudImageTemplate"]["slug"].is_string(), "{shown}");
    let events = shown["events"].as_array().expect("events");
    let start = &events[1];
    assert_eq!(start["toStatus"], "RUNNING");
    assert_eq!(start["actor"], Value::Null, "the service starts it");
    assert_eq!(start["message"], "dispatched to proxbox");
    assert_eq!(events[2]["toStatus"], "COMPLETED");

    // The submission, as SPEC §7.2 writes it.
    let submitted = rig.standin.submissions();
    assert_eq!(submitted.len(), 1);
    let body = &submitted[0];
    assert_eq!(body["endpoint_id"], standin::ENDPOINT_ID);
    assert_eq!(body["builder_type"], "proxmox-clone");
    assert_eq!(body["template_vmid"], 9000);
    assert_eq!(body["output_vmid"], 9100);
    assert_eq!(body["vm_storage"], "local-lvm");
    assert_eq!(body["cloud_init_storage"], "local-lvm");
    assert_eq!(body["bridge"], "vmbr0");
    assert_eq!(body["memory_mb"], 2048);
    assert_eq!(body["os_family"], "ubuntu");
    assert_eq!(body["provisioner_recipe"], "ubuntu-base");
    assert_eq!(body["variables"], json!({}));
    assert_eq!(body["dry_run"], false);

    // The stream was opened exactly once, and the log went to the sink.
    assert_eq!(rig.standin.opened().get(&build.backend_build_id), Some(&1));
    let log = rig.lines.of(id);
    assert!(
        log.contains(&"==> proxmox-clone.image: step 5".to_owned()),
        "{log:?}"
    );
    assert!(
        log.contains(&"packer validate exited with 0".to_owned()),
        "{log:?}"
    );
    wait_for("the lease released", || async { rig.leases().await == 0 }).await;
}

#[tokio::test]
async fn a_failed_build_carries_the_reason_and_the_last_20_log_lines() {
    let lines: Vec<String> = (1..=25).map(|i| format!("build line {i}")).collect();
    let plan = Plan::Fail {
        lines,
        error: "packer build failed".into(),
    };
    let rig = Rig::new(plan, 1).await;
    let id = rig.queue().await;
    let build = rig.wait_status(id, BuildStatus::Failed).await;
    assert!(
        build.error.starts_with("packer build failed\n"),
        "{}",
        build.error
    );
    assert!(build.error.contains("build line 25"));
    assert!(build.error.contains("build line 6\n"), "{}", build.error);
    assert!(
        !build.error.contains("build line 5\n"),
        "only the last 20: {}",
        build.error
    );
    assert_eq!(build.cloud_image_template_id, None);
}

#[tokio::test]
async fn a_stream_that_ends_early_fails_the_build_and_is_not_reopened() {
    let rig = Rig::new(Plan::EndEarly, 1).await;
    let id = rig.queue().await;
    let build = rig.wait_status(id, BuildStatus::Failed).await;
    assert!(
        build.error.starts_with("backend stream ended early"),
        "{}",
        build.error
    );
    assert!(build.error.contains("about to crash"));
    assert_eq!(rig.standin.opened().get(&build.backend_build_id), Some(&1));
}

#[tokio::test]
async fn refusals_fail_the_build_with_the_backends_detail_and_429_is_honoured() {
    let rig = Rig::new(Plan::Complete { lines: vec![] }, 1).await;
    // A 422 with its detail.
    rig.standin.next(Plan::Reject(
        422,
        json!({"detail": "VMID 9000 not found on node pve1"}),
    ));
    let id = rig.queue().await;
    let build = rig.wait_status(id, BuildStatus::Failed).await;
    assert_eq!(
        build.error,
        "proxbox-api refused the build (422): VMID 9000 not found on node pve1"
    );
    // Rate-limited twice, then accepted.
    rig.standin.rate_limit(2);
    let id = rig.queue().await;
    rig.wait_status(id, BuildStatus::Completed).await;
    assert_eq!(rig.standin.rate_limited(), 2);
    assert_eq!(rig.standin.unauthorized(), 0);
}

#[tokio::test]
async fn an_unknown_endpoint_or_an_iso_url_fails_the_build_clearly() {
    let rig = Rig::new(Plan::Complete { lines: vec![] }, 1).await;
    let seed = rig.app.seed();
    let cluster = seed.cluster("pve-other").await;
    let endpoint = seed.endpoint("elsewhere").await;
    proxmox_endpoint::ActiveModel {
        id: Set(endpoint),
        ip_address: Set(Some("10.0.0.9".into())),
        ..Default::default()
    }
    .update(&rig.app.app.db)
    .await
    .expect("an IP");
    let elsewhere = seed
        .definition("Elsewhere", endpoint, cluster, &[], |_| {})
        .await;
    let (before, _) = scrape(&rig.app).await;
    let body = rig
        .app
        .queue_build(
            &rig.app.admin,
            json!({"definitionId": elsewhere.to_string(), "outputVmid": 9200}),
        )
        .await;
    let id = key_of(
        body["data"]["queueImageBuild"]["id"]
            .as_str()
            .expect("queued"),
    );
    let build = rig.wait_status(id, BuildStatus::Failed).await;
    assert_eq!(
        build.error,
        "proxbox-api knows no Proxmox endpoint at https://10.0.0.9:8006"
    );
    let (after, body) = scrape(&rig.app).await;
    let rejected = ["backend=\"proxbox\"", "reason=\"rejected\""];
    assert!(
        after.sum(FAILURES, &rejected) - before.sum(FAILURES, &rejected) >= 1.0,
        "{body}"
    );

    rig.app
        .enable_factory(json!({"imageFactoryAllowIsoBuilds": true}))
        .await;
    let iso = seed
        .definition("Ubuntu ISO", rig.endpoint, cluster, &[], |d| {
            d.builder_type = Set(entity::enums::BuilderType::ProxmoxIso);
            d.source_template_vmid = Set(None);
            d.iso_url = Set(Some("https://releases.example.net/ubuntu.iso".into()));
            d.iso_checksum = Set(format!("sha256:{}", "a".repeat(64)));
        })
        .await;
    let body = rig
        .app
        .queue_build(
            &rig.app.admin,
            json!({"definitionId": iso.to_string(), "outputVmid": 9300}),
        )
        .await;
    let id = key_of(
        body["data"]["queueImageBuild"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}")),
    );
    let build = rig.wait_status(id, BuildStatus::Failed).await;
    assert!(
        build
            .error
            .starts_with("proxbox-api takes pre-uploaded ISOs only"),
        "{}",
        build.error
    );
    assert_eq!(rig.standin.submissions().len(), 0, "nothing was sent");
}

#[tokio::test]
async fn a_cancelled_build_stops_the_backend_and_stays_cancelled() {
    let rig = Rig::new(Plan::Hang, 1).await;
    let id = rig.queue().await;
    rig.wait_status(id, BuildStatus::Running).await;
    wait_for("the stream open", || async { rig.standin.active().0 == 1 }).await;
    let body = rig
        .app
        .lifecycle(&rig.app.admin, "cancelImageBuild", &id.to_string(), "")
        .await;
    assert_eq!(
        body["data"]["cancelImageBuild"]["status"], "CANCELLED",
        "{body}"
    );
    let backend_id = rig.build(id).await.backend_build_id;
    wait_for("proxbox-api told", || async {
        rig.standin.cancels().contains(&backend_id)
    })
    .await;
    wait_for("the lease released", || async { rig.leases().await == 0 }).await;
    let build = rig.build(id).await;
    assert_eq!(build.status, BuildStatus::Cancelled);
    assert_eq!(build.error, "");
    assert_eq!(rig.standin.opened().get(&backend_id), Some(&1));
}

#[tokio::test]
async fn a_build_past_its_timeout_fails_and_the_backend_is_stopped() {
    let rig = Rig::new(Plan::Hang, 1).await;
    let id = rig.queue().await;
    rig.wait_status(id, BuildStatus::Running).await;
    wait_for("the stream open", || async { rig.standin.active().0 == 1 }).await;
    rig.app.app.clock.advance(chrono::Duration::seconds(14_401));
    let build = rig.wait_status(id, BuildStatus::Failed).await;
    assert_eq!(build.error, "job timed out after 14400 s");
    wait_for("proxbox-api told", || async {
        rig.standin.cancels().contains(&build.backend_build_id)
    })
    .await;
    wait_for("the lease released", || async { rig.leases().await == 0 }).await;
    assert_eq!(rig.build(id).await.error, "job timed out after 14400 s");
}

#[tokio::test]
async fn a_dead_dispatchers_build_is_adopted_and_failed_when_the_backend_forgot_it() {
    let rig = Rig::new(Plan::Hang, 1).await;
    let id = rig.queue().await;
    rig.wait_status(id, BuildStatus::Running).await;
    wait_for("the stream open", || async { rig.standin.active().0 == 1 }).await;
    let Rig {
        app,
        standin,
        dispatcher,
        lines,
        ..
    } = rig;
    dispatcher.expect("the first dispatcher").kill();
    // proxbox-api restarts too: it forgets every build.
    standin.restart();
    let flags = flags(&standin);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let second = app.second_instance(&flags).await;
    let (before, _) = scrape(&second).await;
    let _adopter = start(&second, &lines);
    // Nobody adopts a lease that has not expired.
    second.app.clock.advance(chrono::Duration::seconds(31));
    let check = || async {
        image_build::Entity::find_by_id(id)
            .one(&second.app.db)
            .await
            .expect("read")
            .expect("exists")
    };
    wait_for("the build failed", || async {
        check().await.status == BuildStatus::Failed
    })
    .await;
    let build = check().await;
    assert_eq!(
        build.error,
        "dispatcher lost the build (backend no longer knows it)"
    );
    assert_eq!(
        standin.opened().get(&build.backend_build_id),
        Some(&1),
        "never reopened"
    );
    assert_eq!(standin.submissions().len(), 1, "never submitted twice");
    let (after, body) = scrape(&second).await;
    let grew = |name: &str, labels: &[&str]| after.sum(name, labels) - before.sum(name, labels);
    assert!(grew(ADOPTIONS, &["backend=\"proxbox\""]) >= 1.0, "{body}");
    let lost = ["backend=\"proxbox\"", "reason=\"lost\""];
    assert!(grew(FAILURES, &lost) >= 1.0, "{body}");
}

#[tokio::test]
async fn an_adopted_build_the_backend_still_runs_is_followed_and_can_be_cancelled() {
    let rig = Rig::new(Plan::Hang, 1).await;
    let id = rig.queue().await;
    rig.wait_status(id, BuildStatus::Running).await;
    wait_for("the stream open", || async { rig.standin.active().0 == 1 }).await;
    let Rig {
        app,
        standin,
        dispatcher,
        lines,
        ..
    } = rig;
    let first = dispatcher.expect("the first dispatcher");
    let first_owner = first.owner().to_owned();
    first.kill();
    let flags = flags(&standin);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let second = app.second_instance(&flags).await;
    let adopter = start(&second, &lines);
    second.app.clock.advance(chrono::Duration::seconds(31));
    let owner = || async {
        entity::build_lease::Entity::find_by_id(id)
            .one(&second.app.db)
            .await
            .expect("read")
            .map(|lease| lease.owner)
    };
    wait_for("the build adopted", || async {
        owner().await.as_deref() == Some(adopter.owner())
    })
    .await;
    assert_ne!(adopter.owner(), first_owner);
    let backend_id = image_build::Entity::find_by_id(id)
        .one(&second.app.db)
        .await
        .expect("read")
        .expect("exists")
        .backend_build_id;
    let body = second
        .lifecycle(&second.admin, "cancelImageBuild", &id.to_string(), "")
        .await;
    assert_eq!(
        body["data"]["cancelImageBuild"]["status"], "CANCELLED",
        "{body}"
    );
    wait_for("proxbox-api told", || async {
        standin.cancels().contains(&backend_id)
    })
    .await;
    wait_for("the lease released", || async { owner().await.is_none() }).await;
    assert_eq!(
        standin.opened().get(&backend_id),
        Some(&1),
        "never reopened"
    );
}

#[tokio::test]
async fn ten_pending_builds_with_a_limit_of_two_never_exceed_two_and_all_finish() {
    let rig = Rig::without_dispatcher(Plan::Gated, 2).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(rig.queue().await);
    }
    let rig = rig.with_dispatcher();
    let running = || async {
        image_build::Entity::find()
            .filter(image_build::Column::Status.eq(BuildStatus::Running))
            .all(&rig.app.app.db)
            .await
            .expect("read")
            .len()
    };
    wait_for("two running", || async {
        running().await == 2 && rig.standin.active().0 == 2
    })
    .await;
    // Oldest first.
    for id in &ids[..2] {
        assert_eq!(rig.build(*id).await.status, BuildStatus::Running);
    }
    for done in 1..=10 {
        rig.standin.release(1);
        wait_for(&format!("{done} completed"), || async {
            let mut completed = 0;
            for id in &ids {
                if rig.build(*id).await.status == BuildStatus::Completed {
                    completed += 1;
                }
            }
            completed == done
        })
        .await;
        assert!(running().await <= 2);
    }
    assert!(rig.standin.active().1 <= 2, "at most two streams at once");
    // The history agrees: never more than two running at any event.
    let events = build_event::Entity::find()
        .order_by_asc(build_event::Column::Id)
        .all(&rig.app.app.db)
        .await
        .expect("events");
    let (mut now, mut most) = (0i32, 0i32);
    for event in events {
        if event.to_status == BuildStatus::Running {
            now += 1;
        }
        if event.from_status == Some(BuildStatus::Running) {
            now -= 1;
        }
        most = most.max(now);
    }
    assert_eq!(most, 2);
    assert_eq!(rig.standin.submissions().len(), 10);
}

#[tokio::test]
async fn the_factory_switched_off_a_disabled_definition_or_endpoint_leave_builds_pending() {
    let rig = Rig::without_dispatcher(Plan::Complete { lines: vec![] }, 5).await;
    let id = rig.queue().await;
    rig.app
        .data(
            "mutation { updatePluginSettings(input: {imageFactoryEnabled: false}) { imageFactoryEnabled } }",
            json!({}),
        )
        .await;
    let rig = rig.with_dispatcher();
    rig.two_more_rounds().await;
    assert_eq!(rig.build(id).await.status, BuildStatus::Pending);
    assert!(rig.standin.submissions().is_empty());

    // A disabled definition: still pending, while the factory is on again.
    image_definition::ActiveModel {
        id: Set(rig.definition),
        enabled: Set(false),
        ..Default::default()
    }
    .update(&rig.app.app.db)
    .await
    .expect("disable the definition");
    rig.app.enable_factory(json!({})).await;
    rig.two_more_rounds().await;
    assert_eq!(rig.build(id).await.status, BuildStatus::Pending);

    // An endpoint without writes: still pending.
    image_definition::ActiveModel {
        id: Set(rig.definition),
        enabled: Set(true),
        ..Default::default()
    }
    .update(&rig.app.app.db)
    .await
    .expect("enable the definition");
    let endpoint = rig.build(id).await.proxmox_endpoint_id;
    proxmox_endpoint::ActiveModel {
        id: Set(endpoint),
        allow_writes: Set(false),
        ..Default::default()
    }
    .update(&rig.app.app.db)
    .await
    .expect("close the endpoint");
    rig.two_more_rounds().await;
    assert_eq!(rig.build(id).await.status, BuildStatus::Pending);
    assert!(rig.standin.submissions().is_empty());

    // Open again: it runs.
    proxmox_endpoint::ActiveModel {
        id: Set(endpoint),
        allow_writes: Set(true),
        ..Default::default()
    }
    .update(&rig.app.app.db)
    .await
    .expect("open the endpoint");
    rig.wait_status(id, BuildStatus::Completed).await;
}

#[tokio::test]
async fn no_secret_reaches_the_log_the_error_or_the_api() {
    let plan = Plan::Fail {
        lines: vec![format!("using key {KEY} for the API")],
        error: format!("auth failed with {KEY}"),
    };
    // What this thread logs (the dispatcher's tasks run on it). Not asserted non-empty: while
    // another test's capture ends, tracing's global level hint can drop this one's lines.
    let (logs, _guard) = crate::hygiene::capture_logs();
    let rig = Rig::new(plan, 1).await;
    // A refusal that quotes the key, and a rate limit.
    rig.standin.next(Plan::Reject(
        422,
        json!({"detail": format!("no PVE token for key {KEY}")}),
    ));
    rig.standin.rate_limit(1);
    let refused = rig.queue().await;
    let refused = rig.wait_status(refused, BuildStatus::Failed).await;
    no_secret("a refusal", &refused.error);
    assert!(
        refused.error.ends_with("no PVE token for key ***"),
        "{}",
        refused.error
    );
    let id = rig.queue().await;
    let build = rig.wait_status(id, BuildStatus::Failed).await;
    wait_for("the lease released", || async { rig.leases().await == 0 }).await;
    let logs = logs.text();
    no_secret("the service's logs", &logs);
    no_secret("the error", &build.error);
    assert!(
        build.error.contains("auth failed with ***"),
        "{}",
        build.error
    );
    assert!(
        build.error.contains("using key *** for the API"),
        "{}",
        build.error
    );
    for line in rig.lines.of(id) {
        no_secret("a log line", &line);
    }
    no_secret("the API", &rig.api_build(id).await.to_string());
    let settings = rig
        .app
        .data("{ pluginSettings { imageFactoryEnabled } }", json!({}))
        .await;
    no_secret("the settings", &settings.to_string());
    // The configuration prints no secret either.
    no_secret("the configuration", &format!("{:?}", rig.app.app.config));
}

#[tokio::test]
async fn two_dispatchers_on_one_postgresql_dispatch_each_build_once() {
    if postgres().is_none() {
        // SQLite serves one process; several dispatchers share only PostgreSQL.
        return;
    }
    let rig = Rig::without_dispatcher(Plan::Complete { lines: vec![] }, 3).await;
    let mut ids = Vec::new();
    for _ in 0..12 {
        ids.push(rig.queue().await);
    }
    let flags = flags(&rig.standin);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let second = rig.app.second_instance(&flags).await;
    let rig = rig.with_dispatcher();
    let _other = start(&second, &rig.lines);
    for id in &ids {
        rig.wait_status(*id, BuildStatus::Completed).await;
    }
    assert_eq!(rig.standin.submissions().len(), 12, "each submitted once");
    let opened = rig.standin.opened();
    assert_eq!(opened.len(), 12);
    assert!(opened.values().all(|n| *n == 1), "{opened:?}");
    for id in &ids {
        let starts = build_event::Entity::find()
            .filter(build_event::Column::BuildId.eq(*id))
            .filter(build_event::Column::ToStatus.eq(BuildStatus::Running))
            .all(&rig.app.app.db)
            .await
            .expect("events");
        assert_eq!(starts.len(), 1, "build {id} started once");
    }
}
