//! Which pending builds run: the concurrency limit, oldest first, and the switches that hold
//! builds back.

use entity::{build_event, enums::BuildStatus, image_build, image_definition, proxmox_endpoint};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;

use super::{rig::Rig, standin::Plan};
use crate::support::wait_for;

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
    // The endpoint is closed before the definition is enabled again: the dispatcher's rounds go
    // on meanwhile, and one between the two would run the build.
    let endpoint = rig.build(id).await.proxmox_endpoint_id;
    proxmox_endpoint::ActiveModel {
        id: Set(endpoint),
        allow_writes: Set(false),
        ..Default::default()
    }
    .update(&rig.app.app.db)
    .await
    .expect("close the endpoint");
    image_definition::ActiveModel {
        id: Set(rig.definition),
        enabled: Set(true),
        ..Default::default()
    }
    .update(&rig.app.app.db)
    .await
    .expect("enable the definition");
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
