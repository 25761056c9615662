//! The clients frontend apps are written with, pinned in `tests/tools` and run as subprocesses
//! against the real server on 127.0.0.1: Apollo Client 3 with a graphql-ws split link and
//! automatic persisted queries (`tests/tools/apollo.mjs`), and relay-compiler 21 compiling
//! `@refetchable` fragments against `schema.graphql` (`tests/tools/relay/`). Like the other
//! outside tools: a loud skip without them, a failure with `PACKER_GATEWAY_REQUIRE_TOOLS=1`.

use std::{
    path::Path,
    process::{Command, Output},
};

use entity::{build_event, enums::BuildStatus, image_definition};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};

use crate::{
    outside_tools::{available, tools},
    support::{TestApp, at, event_gid, gid, unique},
};

/// How many builds the paged definition has: three pages of three.
const BUILDS: usize = 7;

fn node_and(package: &str) -> bool {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    node && tools()
        .join("node_modules")
        .join(package)
        .join("package.json")
        .exists()
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
async fn apollo_client_with_a_split_link_and_persisted_queries() {
    if !available(
        "@apollo/client",
        node_and("@apollo/client") && node_and("graphql-ws") && node_and("ws"),
        "run `npm ci` in tests/tools",
    ) {
        return;
    }
    let app = TestApp::new().await;
    let world = app.world().await;
    let seed = app.seed();
    let definition = seed
        .definition("Ubuntu 24.04", world.endpoint, world.cluster, &[], |_| {})
        .await;
    let statuses = [
        BuildStatus::Completed,
        BuildStatus::Failed,
        BuildStatus::Running,
    ];
    for i in 0..BUILDS {
        seed.build(
            definition,
            world.endpoint,
            statuses[i % statuses.len()],
            at(-600 + i as i64),
            Some(app.admin_id),
            |_| {},
        )
        .await;
    }
    app.enable_factory(json!({})).await;
    let last_event = build_event::Entity::find()
        .order_by_desc(build_event::Column::Id)
        .one(&app.app.db)
        .await
        .expect("read events")
        .map_or_else(|| "0".to_owned(), |event| event_gid(event.id));
    let fixture = json!({
        "definition": gid::<image_definition::Entity>(definition),
        "builds": BUILDS,
        "lastEvent": last_event,
    });
    let server = app.serve().await;
    let mut command = Command::new("node");
    command
        .arg(tools().join("apollo.mjs"))
        .env("APOLLO_URL", format!("http://{}/graphql", server.addr))
        .env("APOLLO_TOKEN", &app.admin)
        .env("APOLLO_FIXTURE", fixture.to_string())
        .current_dir(tools());
    let output = run(command).await;
    let report = show(&output);
    println!("{report}");
    assert!(output.status.success(), "{report}");
    let summary: Value = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no summary line:\n{report}"));
    assert_eq!(
        summary["steps"],
        json!([
            "apq miss then hit",
            "nested query",
            "relayStylePagination",
            "failing mutation",
            "settings normalized",
            "subscription fed by mutations",
        ]),
        "{report}"
    );
    assert_eq!(summary["paged"], BUILDS, "{report}");
    assert_eq!(summary["pages"], 3, "{report}");
    server.shutdown().await;
}

/// Copies `from` into `to`, recursively.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a directory");
    for entry in std::fs::read_dir(from).expect("read a directory") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

#[tokio::test]
async fn relay_compiler_accepts_refetchable_fragments_on_builds_and_definitions() {
    let cli = tools().join("node_modules/relay-compiler/cli.js");
    if !available(
        "relay-compiler",
        node_and("relay-compiler") && cli.exists(),
        "run `npm ci` in tests/tools",
    ) {
        return;
    }
    // A scratch project: the fragments of tests/tools/relay and the committed schema.
    let project = std::env::temp_dir().join(unique("relay-project"));
    copy_tree(&tools().join("relay"), &project);
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql"),
        project.join("schema.graphql"),
    )
    .expect("copy the schema");
    let generated = project.join("src/__generated__");
    std::fs::create_dir_all(&generated).expect("the artifact directory");
    let mut command = Command::new("node");
    command.arg(&cli).current_dir(&project).env("NO_COLOR", "1");
    let output = run(command).await;
    let report = show(&output);
    println!("{report}");
    let artifact =
        |name: &str| std::fs::read_to_string(generated.join(format!("{name}.graphql.js")));
    let refetch = [
        ("BuildRowRefetchQuery", "BuildRow_build"),
        ("DefinitionCardPaginationQuery", "DefinitionCard_definition"),
        ("SettingsRefetchQuery", "DefinitionCard_settings"),
    ]
    .map(|(query, fragment)| (query, fragment, artifact(query)));
    let _ = std::fs::remove_dir_all(&project);
    assert!(output.status.success(), "{report}");
    for (query, fragment, text) in refetch {
        let text = text.unwrap_or_else(|_| panic!("no {query} artifact:\n{report}"));
        assert!(
            text.contains("node(id: $id)") && text.contains(&format!("...{fragment}")),
            "{query} refetches {fragment} through node(id:):\n{text}"
        );
    }
}
