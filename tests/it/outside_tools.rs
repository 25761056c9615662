//! Conformance proven by outside tools, run as subprocesses against the real server listening on
//! 127.0.0.1: the `graphql-http` server audit (GraphQL over HTTP), a schemathesis fuzz run of
//! `/graphql`, and GraphiQL in a headless Chromium cut off from the network. `.ci/run` installs
//! them (tests/tools, Debian's chromium); without them these tests print a loud skip and pass,
//! unless `PACKER_GATEWAY_REQUIRE_TOOLS=1`.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use packer_gateway::registry::demo;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;

use crate::support::{TestApp, unique};

/// Set to `1` to fail, rather than skip, when a tool is not installed.
const REQUIRE_TOOLS: &str = "PACKER_GATEWAY_REQUIRE_TOOLS";

pub(crate) fn tools() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools")
}

/// Whether the test may run; a missing tool is a loud skip, or a failure when required.
pub(crate) fn available(tool: &str, present: bool, install: &str) -> bool {
    if present {
        return true;
    }
    let message = format!("{tool} is not installed ({install})");
    if std::env::var(REQUIRE_TOOLS).is_ok_and(|v| v == "1") {
        panic!("{message}, and {REQUIRE_TOOLS}=1 requires it");
    }
    eprintln!("\n!!!!!!!!!! SKIPPED: {message} !!!!!!!!!!\n");
    false
}

/// Serves `app` over TCP on 127.0.0.1, on a free port, for the life of the test's runtime.
async fn serve(app: &TestApp) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let address = listener.local_addr().expect("an address");
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

/// Runs `command` off the runtime, so that the server keeps answering it.
async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("start the tool")
}

fn show(output: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graphql_http_audit_finds_no_must_or_should_failure() {
    let node = Command::new("node").arg("--version").output().is_ok();
    let installed = tools()
        .join("node_modules/graphql-http/package.json")
        .exists();
    if !available(
        "graphql-http",
        node && installed,
        "run `npm ci` in tests/tools",
    ) {
        return;
    }
    let app = TestApp::new().await;
    let address = serve(&app).await;
    let mut command = Command::new("node");
    command
        .arg(tools().join("audit.mjs"))
        .env("AUDIT_URL", format!("http://{address}/graphql"))
        .env("AUDIT_TOKEN", &app.admin);
    let output = run(command).await;
    let report = show(&output);
    println!("{report}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Value = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no summary line:\n{report}"));
    assert!(summary["audits"].as_u64() > Some(50), "{report}");
    assert_eq!(summary["must"], 0, "{report}");
    assert_eq!(summary["should"], 0, "{report}");
    assert!(output.status.success(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schemathesis_fuzz_run_finds_no_server_error_and_no_malformed_error() {
    let executable = std::env::var_os("PACKER_GATEWAY_SCHEMATHESIS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| {
                Path::new(&home).join(".cache/packer-gateway-tools/venv/bin/schemathesis")
            })
        })
        .filter(|path| path.exists());
    let Some(executable) = executable else {
        available(
            "schemathesis",
            false,
            "`.ci/run` installs it; or set PACKER_GATEWAY_SCHEMATHESIS",
        );
        return;
    };
    let app = TestApp::new().await;
    demo::load(&app.app.db, Some(app.admin_id))
        .await
        .expect("load the demo data");
    let address = serve(&app).await;
    // Schemathesis keeps state in its working directory: give it a scratch one.
    let scratch = std::env::temp_dir().join(unique("schemathesis"));
    std::fs::create_dir_all(&scratch).expect("a scratch directory");
    let mut command = Command::new(executable);
    command
        .arg("--config-file")
        .arg(tools().join("schemathesis.toml"))
        .arg("--no-color")
        .arg("run")
        .arg(format!("http://{address}/graphql"))
        .arg("--header")
        .arg(format!("Authorization: Bearer {}", app.admin))
        .arg("--request-timeout")
        .arg("30")
        .current_dir(&scratch)
        .env("PYTHONPATH", tools())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks");
    let output = run(command).await;
    let _ = std::fs::remove_dir_all(&scratch);
    let report = show(&output);
    println!("{report}");
    assert!(output.status.success(), "{report}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("passed"), "{report}");
}

/// GraphiQL, as a browser sees it with every host but 127.0.0.1 unreachable: it renders, takes
/// the token from `#token=`, and introspects the schema through the service with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_renders_offline_in_a_browser() {
    let chromium = std::env::var("PACKER_GATEWAY_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let present = Command::new(&chromium)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available("chromium", present, "apt-get install chromium") {
        return;
    }
    let app = TestApp::new().await;
    let address = serve(&app).await;
    let profile = std::env::temp_dir().join(unique("chromium-profile"));
    let mut command = Command::new(&chromium);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=10000",
        "--dump-dom",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command.arg(format!("http://{address}/graphiql#token={}", app.admin));
    let output = run(command).await;
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", show(&output));
    assert!(
        dom.contains("graphiql-container"),
        "GraphiQL did not render:\n{dom}"
    );
    assert!(
        dom.contains("imageDefinitions"),
        "the default query is missing:\n{dom}"
    );
    // The token of the fragment authenticated a request: its first use was recorded.
    let hash = packer_gateway::auth::token::hash(&app.admin);
    let mut used = false;
    for _ in 0..100 {
        let token = entity::api_token::Entity::find()
            .filter(entity::api_token::Column::KeyHash.eq(hash.as_str()))
            .one(&app.app.db)
            .await
            .expect("read the token");
        if token.is_some_and(|t| t.last_used.is_some()) {
            used = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        used,
        "GraphiQL never reached the service with the token of #token="
    );
}
