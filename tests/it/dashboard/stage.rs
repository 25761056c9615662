//! The stage: a seeded service on a socket (behind a [`Proxy`]), and the browser script.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use entity::{
    enums::{BuildStatus, OsFamily, Role},
    image_build, image_definition,
};
use packer_gateway::registry::demo;
use sea_orm::Set;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::proxy::Proxy;
use crate::outside_tools::{available, tools};
use crate::support::{Server, TestApp, at, gid, key_of};

/// A service on a real socket (behind a [`Proxy`]), tokens by role, and what the script needs to
/// know of the seeded rows.
pub(super) struct Stage {
    pub(super) app: TestApp,
    _server: Server,
    proxy: Proxy,
    tokens: BTreeMap<&'static str, String>,
    pub(super) operator_id: i32,
    fixture: Value,
    chromium: PathBuf,
}

impl Stage {
    /// Two definitions (one for every tenant, one for tenant One) and a build of the first in
    /// each status; the factory on, with room for 100 running builds and custom variables.
    pub(super) async fn seeded() -> Option<Stage> {
        let chromium = browser()?;
        let app = TestApp::new().await;
        app.enable_factory(json!({
            "imageFactoryMaxConcurrentBuilds": 100,
            "imageFactoryAllowCustomVariables": true,
        }))
        .await;
        let world = app.world().await;
        let seed = app.seed();
        let ubuntu = seed
            .definition(
                "Ubuntu 24.04 base",
                world.endpoint,
                world.cluster,
                &[],
                |_| {},
            )
            .await;
        let debian = seed
            .definition(
                "Debian 12 docker",
                world.endpoint,
                world.cluster,
                &[world.t1],
                |d| {
                    d.os_family = Set(OsFamily::Debian);
                    d.os_release = Set("12".into());
                },
            )
            .await;
        // Oldest first, so that the newest first order is the reverse.
        let mut builds = BTreeMap::new();
        let mut newest_first = Vec::new();
        for (minutes, status, name) in [
            (50, BuildStatus::Completed, "completed"),
            (40, BuildStatus::Cancelled, "cancelled"),
            (30, BuildStatus::Failed, "failed"),
            (20, BuildStatus::Running, "running"),
            (10, BuildStatus::Pending, "pending"),
        ] {
            let id = seed
                .build(
                    ubuntu,
                    world.endpoint,
                    status,
                    at(-60 * minutes),
                    Some(app.admin_id),
                    |_| {},
                )
                .await;
            builds.insert(name, gid::<image_build::Entity>(id));
            newest_first.insert(0, gid::<image_build::Entity>(id));
        }
        let (operator_id, operator) = app.user(Role::Operator, &[world.t1], true).await;
        let (_, viewer) = app.user(Role::Viewer, &[world.t1], true).await;
        let (_, worker) = app.user(Role::Worker, &[], true).await;
        let tokens = BTreeMap::from([
            ("admin", app.admin.clone()),
            ("operator", operator),
            ("viewer", viewer),
            ("worker", worker),
        ]);
        let fixture = json!({
            "definitions": {
                "ubuntu": gid::<image_definition::Entity>(ubuntu),
                "debian": gid::<image_definition::Entity>(debian),
            },
            "names": {"ubuntu": "Ubuntu 24.04 base", "debian": "Debian 12 docker"},
            "builds": builds,
            "newestFirst": newest_first,
        });
        Some(Stage::serve(app, tokens, operator_id, fixture, chromium).await)
    }

    /// The demo data (`--demo`): 20 definitions, 500 builds.
    pub(super) async fn demo() -> Option<Stage> {
        let chromium = browser()?;
        let app = TestApp::new().await;
        demo::load(&app.app.db, Some(app.admin_id))
            .await
            .expect("load the demo data");
        let data = app
            .data(
                r#"{
                  all: imageDefinitions { totalCount }
                  docker: imageDefinitions(filter: { q: "docker" }) { totalCount }
                  first: imageDefinitions(first: 1) { nodes { id name } }
                  builds: imageBuilds { totalCount }
                  failed: imageBuilds(first: 1, filter: { status: { eq: FAILED } }) { nodes { id } }
                }"#,
                json!({}),
            )
            .await;
        let fixture = json!({
            "definitions": {"ubuntu": data["first"]["nodes"][0]["id"]},
            "names": {"ubuntu": data["first"]["nodes"][0]["name"]},
            "builds": {"failed": data["failed"]["nodes"][0]["id"]},
            "definitionCount": data["all"]["totalCount"],
            "dockerDefinitions": data["docker"]["totalCount"],
            "buildCount": data["builds"]["totalCount"],
        });
        let tokens = BTreeMap::from([("admin", app.admin.clone())]);
        let admin = app.admin_id;
        Some(Stage::serve(app, tokens, admin, fixture, chromium).await)
    }

    async fn serve(
        app: TestApp,
        tokens: BTreeMap<&'static str, String>,
        operator_id: i32,
        mut fixture: Value,
        chromium: PathBuf,
    ) -> Stage {
        let server = app.serve().await;
        let proxy = Proxy::start(server.addr).await;
        fixture["tokens"] = json!(tokens);
        fixture["features"] = features(&app).await;
        Stage {
            app,
            _server: server,
            proxy,
            tokens,
            operator_id,
            fixture,
            chromium,
        }
    }

    /// The id of the seeded build that was in `status`.
    pub(super) fn build(&self, status: BuildStatus) -> i32 {
        let name = match status {
            BuildStatus::Pending => "pending",
            BuildStatus::Running => "running",
            BuildStatus::Failed => "failed",
            BuildStatus::Completed => "completed",
            BuildStatus::Cancelled => "cancelled",
        };
        self.fixture["builds"][name]
            .as_str()
            .map(key_of)
            .expect("a seeded build")
    }

    /// Runs one case of the browser script to its end, answering what it asks; fails with the
    /// script's transcript when the case fails.
    pub(super) async fn run(&self, case: &str) {
        let screenshots = std::env::var_os("PACKER_GATEWAY_SCREENSHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots")
            });
        std::fs::create_dir_all(&screenshots).expect("a folder for the screenshots");
        let mut child = tokio::process::Command::new("node")
            .arg(tools().join("dashboard.mjs"))
            .arg(case)
            .env("DASHBOARD_URL", format!("http://{}/", self.proxy.addr))
            .env("DASHBOARD_FIXTURE", self.fixture.to_string())
            .env("DASHBOARD_SCREENSHOTS", &screenshots)
            .env("CHROMIUM", &self.chromium)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start node");
        let mut stdin = child.stdin.take().expect("stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut stderr = child.stderr.take().expect("stderr");
        let errors = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });

        let mut transcript = Vec::new();
        let mut done = false;
        let talk = async {
            while let Some(line) = lines.next_line().await.expect("read the script") {
                let message: Value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                if let Some(question) = message.get("ask") {
                    let answer = self.answer(question).await;
                    let reply = json!({"id": message["id"], "answer": answer}).to_string() + "\n";
                    stdin
                        .write_all(reply.as_bytes())
                        .await
                        .expect("answer the script");
                    transcript.push(format!("asked {question}"));
                } else if let Some(path) = message.get("screenshot").and_then(Value::as_str) {
                    println!("screenshot: {path}");
                    transcript.push(format!("screenshot {path}"));
                } else if let Some(step) = message.get("step").and_then(Value::as_str) {
                    transcript.push(format!("step: {step}"));
                } else if message.get("done").is_some() {
                    done = message["done"] == json!(true);
                } else {
                    transcript.push(message.to_string());
                }
            }
        };
        let finished = tokio::time::timeout(Duration::from_secs(180), talk).await;
        let status = child.wait().await.expect("wait for node");
        let errors = errors.await.unwrap_or_default();
        let report = format!(
            "case {case}: {status}\n--- transcript\n{}\n--- stderr\n{errors}",
            transcript.join("\n")
        );
        println!("{report}");
        assert!(finished.is_ok(), "the case did not end in 180 s\n{report}");
        assert!(done && status.success(), "{report}");
    }

    /// What the script asked of "another client" or of the network.
    async fn answer(&self, question: &Value) -> Value {
        if let Some(request) = question.get("graphql") {
            let role = request["as"].as_str().expect("a role");
            let token = self
                .tokens
                .get(role)
                .unwrap_or_else(|| panic!("no token for {role}"));
            let query = request["query"].as_str().expect("a query");
            let (_, body) = self
                .app
                .post(Some(token), query, request["variables"].clone())
                .await;
            return body;
        }
        if let Some(count) = question.get("subscribers").and_then(Value::as_u64) {
            self.app
                .wait_for_subscribers(usize::try_from(count).expect("a count"))
                .await;
            return json!({});
        }
        if question.get("cut").is_some() {
            self.proxy.cut();
            return json!({});
        }
        if question.get("restore").is_some() {
            self.proxy.restore();
            return json!({});
        }
        panic!("the script asked something unknown: {question}");
    }
}

/// Which fields of SPEC §7.4 and §7.5 this service has: `{packerTemplate, log, buildLog}`.
async fn features(app: &TestApp) -> Value {
    let data = app
        .data(
            r#"{ definition: __type(name: "ImageDefinition") { fields { name } }
                 build: __type(name: "ImageBuild") { fields { name } }
                 subscription: __type(name: "Subscription") { fields { name } } }"#,
            json!({}),
        )
        .await;
    let has = |kind: &str, field: &str| {
        data[kind]["fields"]
            .as_array()
            .is_some_and(|fields| fields.iter().any(|f| f["name"] == field))
    };
    json!({
        "packerTemplate": has("definition", "packerTemplate") && has("build", "packerTemplate"),
        "log": has("build", "log"),
        "buildLog": has("subscription", "buildLog"),
    })
}

/// The chromium to drive, when node, playwright-core and chromium are installed.
fn browser() -> Option<PathBuf> {
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let playwright = tools()
        .join("node_modules/playwright-core/package.json")
        .exists();
    if !available(
        "node and playwright-core",
        node && playwright,
        "run `npm ci` in tests/tools",
    ) {
        return None;
    }
    let name = std::env::var("PACKER_GATEWAY_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let found = if name.contains('/') {
        Some(PathBuf::from(&name)).filter(|path| path.exists())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(&name))
                .find(|path| path.is_file())
        })
    };
    if !available("chromium", found.is_some(), "apt-get install chromium") {
        return None;
    }
    found
}
