//! Every pair of statuses follows the transition table.

use entity::enums::BuildStatus;
use packer_gateway::registry::lifecycle;
use serde_json::json;

use crate::support::code;

use super::{seed_build, setup};

const ALL: [BuildStatus; 5] = [
    BuildStatus::Pending,
    BuildStatus::Running,
    BuildStatus::Failed,
    BuildStatus::Completed,
    BuildStatus::Cancelled,
];

fn gql(status: BuildStatus) -> &'static str {
    match status {
        BuildStatus::Pending => "PENDING",
        BuildStatus::Running => "RUNNING",
        BuildStatus::Failed => "FAILED",
        BuildStatus::Completed => "COMPLETED",
        BuildStatus::Cancelled => "CANCELLED",
    }
}

/// The mutation that asks for `to`, with its extra arguments.
fn mutation_to(to: BuildStatus) -> (&'static str, &'static str) {
    match to {
        BuildStatus::Pending => ("rebuildImage", ""),
        BuildStatus::Running => ("startImageBuild", ", backendBuildId: \"packer-1\""),
        BuildStatus::Completed => ("completeImageBuild", ""),
        BuildStatus::Failed => ("failImageBuild", ", error: \"disk full\""),
        BuildStatus::Cancelled => ("cancelImageBuild", ""),
    }
}

#[tokio::test]
async fn every_pair_of_statuses_follows_the_transition_table() {
    let (app, world, definition) = setup().await;
    for from in ALL {
        for to in ALL {
            let id = seed_build(&app, &world, &definition, from).await;
            let events_before = app.count("build_event").await;
            let builds_before = app.count("image_build").await;
            let (mutation, args) = mutation_to(to);
            let body = app.lifecycle(&app.admin, mutation, &id, args).await;
            let pair = format!("{from:?} -> {to:?}: {body}");
            if lifecycle::allowed(from, to) {
                assert!(body.get("errors").is_none(), "{pair}");
                let build = &body["data"][mutation];
                assert_eq!(build["status"], gql(to), "{pair}");
                assert_eq!(app.count("build_event").await, events_before + 1, "{pair}");
                let last = build["events"]
                    .as_array()
                    .and_then(|e| e.last())
                    .cloned()
                    .unwrap_or_default();
                assert_eq!(last["toStatus"], gql(to), "{pair}");
                match to {
                    BuildStatus::Pending => {
                        assert_eq!(build["rebuildOf"]["id"], id.as_str(), "{pair}");
                        assert_ne!(build["id"], id.as_str(), "a rebuild is a new build");
                        assert_eq!(app.count("image_build").await, builds_before + 1);
                    }
                    BuildStatus::Running => {
                        assert!(build["startedAt"].is_string(), "{pair}");
                        assert_eq!(build["timeoutSeconds"], 14_400, "{pair}");
                        assert_eq!(build["backendBuildId"], "packer-1", "{pair}");
                    }
                    BuildStatus::Failed => {
                        assert!(build["completedAt"].is_string(), "{pair}");
                        assert_eq!(build["error"], "disk full", "{pair}");
                    }
                    BuildStatus::Completed | BuildStatus::Cancelled => {
                        assert!(build["completedAt"].is_string(), "{pair}");
                    }
                }
            } else {
                assert_eq!(code(&body), "INVALID_STATUS_TRANSITION", "{pair}");
                let extensions = &body["errors"][0]["extensions"];
                assert_eq!(extensions["from"], gql(from), "{pair}");
                assert_eq!(extensions["to"], gql(to), "{pair}");
                assert_eq!(app.count("build_event").await, events_before, "{pair}");
                assert_eq!(app.count("image_build").await, builds_before, "{pair}");
                let status = app
                    .data(
                        "query ($id: ID!) { imageBuild(id: $id) { status } }",
                        json!({"id": id}),
                    )
                    .await;
                assert_eq!(status["imageBuild"]["status"], gql(from), "{pair}");
            }
        }
    }
}
