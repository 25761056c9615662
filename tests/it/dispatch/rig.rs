//! The proxbox rig: a service, a stand-in proxbox-api and a dispatcher; and the log sink, the
//! reads and the waits both backends' tests share.

use std::sync::{Arc, Mutex};

use entity::{enums::BuildStatus, image_build, proxmox_endpoint};
use futures_util::future::BoxFuture;
use packer_gateway::dispatch::{self, Dispatcher, LogSink};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};

use super::standin::{Plan, Standin};
use crate::support::{BUILD, TestApp, key_of, wait_for};

/// proxbox-api's key: it must never appear in a log line, an error or an API answer.
pub(super) const KEY: &str = "pbx-key-9f8e7d6c5b4a3210";

/// The log lines the dispatcher wrote, per build.
#[derive(Default)]
pub(super) struct Lines(Mutex<Vec<(i32, String, String)>>);

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
    /// The lines of `build`.
    pub(super) fn of(&self, build: i32) -> Vec<String> {
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
pub(super) fn flags(standin: &Standin) -> Vec<String> {
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
pub(super) struct Rig {
    pub(super) app: TestApp,
    pub(super) standin: Standin,
    pub(super) definition: i32,
    pub(super) endpoint: i32,
    pub(super) lines: Arc<Lines>,
    pub(super) dispatcher: Option<Dispatcher>,
}

/// What is left of a [`Rig`] whose dispatcher died: its service, the stand-in, the log sink, the
/// dead dispatcher's owner name, and a second instance on the same database and stand-in that
/// dispatches nothing yet.
pub(super) struct Orphaned {
    pub(super) app: TestApp,
    pub(super) standin: Standin,
    pub(super) lines: Arc<Lines>,
    pub(super) first_owner: String,
    pub(super) second: TestApp,
}

impl Rig {
    pub(super) async fn new(plan: Plan, max: i32) -> Rig {
        let rig = Rig::without_dispatcher(plan, max).await;
        rig.with_dispatcher()
    }

    pub(super) async fn without_dispatcher(plan: Plan, max: i32) -> Rig {
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

    pub(super) fn with_dispatcher(mut self) -> Rig {
        self.dispatcher = Some(start(&self.app, &self.lines));
        self
    }

    /// A rig with a dispatcher and one build that runs, its stream open: the stand-in hangs.
    pub(super) async fn running() -> (Rig, i32) {
        let rig = Rig::new(Plan::Hang, 1).await;
        let id = rig.queue().await;
        rig.wait_status(id, BuildStatus::Running).await;
        wait_for("the stream open", || async { rig.standin.active().0 == 1 }).await;
        (rig, id)
    }

    /// Kills the dispatcher, as a crash would, and starts a second instance on the same database
    /// and stand-in; with `forget`, proxbox-api restarts in between and forgets every build.
    pub(super) async fn kill_dispatcher(self, forget: bool) -> Orphaned {
        let Rig {
            app,
            standin,
            dispatcher,
            lines,
            ..
        } = self;
        let first = dispatcher.expect("the first dispatcher");
        let first_owner = first.owner().to_owned();
        first.kill();
        if forget {
            standin.restart();
        }
        let second = second_instance(&app, &standin).await;
        Orphaned {
            app,
            standin,
            lines,
            first_owner,
            second,
        }
    }

    /// Queues a build through the API, as admin.
    pub(super) async fn queue(&self) -> i32 {
        queue(&self.app, self.definition).await
    }

    /// The build's row.
    pub(super) async fn build(&self, id: i32) -> image_build::Model {
        build(&self.app, id).await
    }

    /// Waits until the build has `status`, and returns its row.
    pub(super) async fn wait_status(&self, id: i32, status: BuildStatus) -> image_build::Model {
        wait_status(&self.app, id, status).await
    }

    /// The build as the API shows it (with its events' actors and messages).
    pub(super) async fn api_build(&self, id: i32) -> Value {
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

    /// How many builds are leased.
    pub(super) async fn leases(&self) -> i64 {
        self.app.count("build_lease").await
    }

    /// Waits until the dispatcher has looked for pending builds twice more.
    pub(super) async fn two_more_rounds(&self) {
        let dispatcher = self.dispatcher.as_ref().expect("a dispatcher");
        let from = dispatcher.rounds();
        wait_for("two dispatch rounds", || async {
            dispatcher.rounds() >= from + 2
        })
        .await;
    }
}

/// A second instance on `app`'s database, dispatching to `standin` once a dispatcher is started.
pub(super) async fn second_instance(app: &TestApp, standin: &Standin) -> TestApp {
    let flags = flags(standin);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    app.second_instance(&flags).await
}

/// Queues a build of `definition` through the API, as admin, with output VMID 9100.
pub(super) async fn queue(app: &TestApp, definition: i32) -> i32 {
    let body = app
        .queue_build(
            &app.admin,
            json!({"definitionId": definition.to_string(), "outputVmid": 9100}),
        )
        .await;
    body["data"]["queueImageBuild"]["id"]
        .as_str()
        .map(key_of)
        .unwrap_or_else(|| panic!("queued: {body}"))
}

/// The build's row.
pub(super) async fn build(app: &TestApp, id: i32) -> image_build::Model {
    image_build::Entity::find_by_id(id)
        .one(&app.app.db)
        .await
        .expect("read the build")
        .expect("the build exists")
}

/// Waits until the build has `status`, and returns its row.
pub(super) async fn wait_status(app: &TestApp, id: i32, status: BuildStatus) -> image_build::Model {
    wait_for(&format!("build {id} {status:?}"), || async {
        build(app, id).await.status == status
    })
    .await;
    build(app, id).await
}

/// Cancels the build through the API, as admin, and checks that it is cancelled.
pub(super) async fn cancel(app: &TestApp, id: i32) {
    let body = app
        .lifecycle(&app.admin, "cancelImageBuild", &id.to_string(), "")
        .await;
    assert_eq!(
        body["data"]["cancelImageBuild"]["status"], "CANCELLED",
        "{body}"
    );
}

/// Starts the dispatcher `app`'s flags configure, writing lines to `lines`.
pub(super) fn start(app: &TestApp, lines: &Arc<Lines>) -> Dispatcher {
    dispatch::start(&app.app, lines.clone())
        .expect("the dispatcher starts")
        .expect("a backend is configured")
}

/// Fails when `text` holds proxbox-api's key.
pub(super) fn no_secret(what: &str, text: &str) {
    assert!(
        !text.contains(KEY),
        "the API key leaked into {what}: {text}"
    );
}

/// The dispatch metrics (SPEC §9).
pub(super) const SUBMISSIONS: &str = "packer_gateway_dispatch_submissions_total";
pub(super) const ADOPTIONS: &str = "packer_gateway_dispatch_adoptions_total";
pub(super) const FAILURES: &str = "packer_gateway_dispatch_failures_total";
pub(super) const DURATION_COUNT: &str = "packer_gateway_dispatch_backend_duration_seconds_count";
