//! A dead dispatcher's builds, adopted by another instance; two dispatchers on one database.

use entity::{build_event, enums::BuildStatus, image_build};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{
    rig::{ADOPTIONS, FAILURES, Orphaned, Rig, cancel, second_instance, start},
    standin::Plan,
};
use crate::{
    support::{postgres, wait_for},
    telemetry::scrape,
};

#[tokio::test]
async fn a_dead_dispatchers_build_is_adopted_and_failed_when_the_backend_forgot_it() {
    let (rig, id) = Rig::running().await;
    // proxbox-api restarts too: it forgets every build.
    let Orphaned {
        app: _app,
        standin,
        lines,
        second,
        ..
    } = rig.kill_dispatcher(true).await;
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
    let (rig, id) = Rig::running().await;
    let Orphaned {
        app: _app,
        standin,
        lines,
        first_owner,
        second,
    } = rig.kill_dispatcher(false).await;
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
    cancel(&second, id).await;
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
    let second = second_instance(&rig.app, &rig.standin).await;
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
