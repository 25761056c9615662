//! Builds moved through the real lifecycle mutations, and bursts of pending builds.

use std::sync::atomic::Ordering;

use super::{TestApp, key_of, row_of, unique};
use entity::{build_event, enums::BuildStatus, image_build, image_definition};
use packer_gateway::{clock::now, registry::events::prepare_event_write};
use sea_orm::{ActiveModelTrait, EntityTrait, Set, TransactionTrait};
use serde_json::{Value, json};

/// The id of the last event of a build read with [`BUILD`].
fn last_event(build: &Value) -> i64 {
    build["events"]
        .as_array()
        .and_then(|events| events.last())
        .and_then(|event| event["id"].as_str())
        .map(row_of)
        .unwrap_or_else(|| panic!("a build with events: {build}"))
}

impl TestApp {
    /// Moves `build` to `to` through the real lifecycle mutation, as admin; returns the id of the
    /// event it recorded.
    pub async fn transition(&self, build: i32, to: BuildStatus) -> i64 {
        self.ensure_factory().await;
        let (mutation, args) = match to {
            BuildStatus::Running => ("startImageBuild", ""),
            BuildStatus::Completed => ("completeImageBuild", ""),
            BuildStatus::Failed => ("failImageBuild", ", error: \"failed in a test\""),
            BuildStatus::Cancelled => ("cancelImageBuild", ""),
            BuildStatus::Pending => ("rebuildImage", ""),
        };
        let body = self
            .lifecycle(&self.admin, mutation, &build.to_string(), args)
            .await;
        assert!(body.get("errors").is_none(), "{mutation}: {body}");
        last_event(&body["data"][mutation])
    }

    /// Queues a build of `definition` through `queueImageBuild`, as admin; returns (build id,
    /// event id).
    pub async fn queue(&self, definition: i32) -> (i32, i64) {
        self.ensure_factory().await;
        let body = self
            .queue_build(
                &self.admin,
                json!({"definitionId": definition.to_string(), "outputVmid": 1000}),
            )
            .await;
        let build = &body["data"]["queueImageBuild"];
        let id = build["id"]
            .as_str()
            .map(key_of)
            .unwrap_or_else(|| panic!("queued: {body}"));
        (id, last_event(build))
    }

    /// Turns the image factory on (once), with room for many running builds.
    async fn ensure_factory(&self) {
        if !self.factory_on.swap(true, Ordering::SeqCst) {
            self.enable_factory(json!({"imageFactoryMaxConcurrentBuilds": 1000}))
                .await;
        }
    }

    /// TEST-ONLY seeding: `count` pending builds and their creation events in ONE transaction
    /// (a burst the event fetcher reads as one batch), following the events contract
    /// (`prepare_event_write` inside, `committed()` after) like the lifecycle does. (a burst the fetcher reads as one
    /// batch).
    pub async fn queue_many(&self, definition: i32, count: usize) -> Vec<(i32, i64)> {
        // Read before the transaction (see `transition`).
        let endpoint = image_definition::Entity::find_by_id(definition)
            .one(&self.app.db)
            .await
            .expect("read the definition")
            .expect("the definition exists")
            .proxmox_endpoint_id;
        let txn = self.app.db.begin().await.expect("begin");
        prepare_event_write(&txn)
            .await
            .expect("prepare the event write");
        let mut queued = Vec::new();
        for _ in 0..count {
            let at = now();
            let build = image_build::ActiveModel {
                definition_id: Set(definition),
                status: Set(BuildStatus::Pending),
                backend_build_id: Set(String::new()),
                proxmox_endpoint_id: Set(endpoint),
                target_node: Set("pve1".into()),
                output_vmid: Set(1000),
                output_name: Set(unique("out")),
                image_version: Set(at.format("%Y-%m-%d").to_string()),
                variables: Set(json!({})),
                timeout_seconds: Set(None),
                started_at: Set(None),
                completed_at: Set(None),
                created_by_id: Set(Some(self.admin_id)),
                netbox_job_id: Set(None),
                cloud_image_template_id: Set(None),
                backend_response: Set(json!({})),
                error: Set(String::new()),
                rebuild_of_id: Set(None),
                created: Set(at),
                last_updated: Set(at),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .expect("insert the build");
            let event = build_event::ActiveModel {
                build_id: Set(build.id),
                from_status: Set(None),
                to_status: Set(BuildStatus::Pending),
                actor_id: Set(Some(self.admin_id)),
                message: Set(String::new()),
                at: Set(at),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .expect("insert the event");
            queued.push((build.id, event.id));
        }
        txn.commit().await.expect("commit");
        self.app.events.committed();
        queued
    }
}
