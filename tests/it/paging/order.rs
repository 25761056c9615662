//! Ordering: ties broken by id, every order field of builds (NULLs largest) and of definitions,
//! and several keys.

use entity::enums::BuildStatus;
use sea_orm::Set;
use serde_json::json;

use crate::support::TestApp;

use super::{Fixture, Row, builds, check_order, definitions, order_by, sorted};

/// Seven builds with ties in every key and NULLs in the nullable ones.
fn varied_rows() -> Vec<Row> {
    use BuildStatus::*;
    vec![
        Row::new(Completed, "img-b", 1001, "v1").times(Some(-500), Some(-400), -600, -400),
        Row::new(Running, "img-a", 1001, "v2").times(Some(-500), None, -600, -300),
        Row::new(Pending, "img-b", 1002, "v1").times(None, None, -300, -300),
        Row::new(Failed, "img-c", 1000, "v3").times(Some(-200), Some(-100), -300, -100),
        Row::new(Cancelled, "img-a", 1002, "v2").times(None, Some(-50), -100, -50),
        Row::new(Running, "img-c", 1000, "v1").times(Some(-200), None, -100, -100),
        Row::new(Completed, "img-a", 1003, "v3").times(Some(-150), Some(-100), -50, -100),
    ]
}

const BUILD_FIELDS: [&str; 9] = [
    "ID",
    "STATUS",
    "OUTPUT_NAME",
    "OUTPUT_VMID",
    "IMAGE_VERSION",
    "STARTED_AT",
    "COMPLETED_AT",
    "CREATED",
    "LAST_UPDATED",
];

#[tokio::test]
async fn ties_are_broken_by_id_in_the_direction_of_the_last_key() {
    let f = Fixture::new().await;
    // Six builds queued at the same instant and two earlier ones, interleaved by id.
    let mut rows: Vec<Row> = [0, -10, 0, 0, -10, 0, 0, 0].map(Row::pending).to_vec();
    let id = f.seed(&mut rows).await;

    let newest_first = [id[7], id[6], id[5], id[3], id[2], id[0], id[4], id[1]];
    check_order(&f.app, &builds(json!(null)), &newest_first, "default").await;
    let oldest_first = [id[1], id[4], id[0], id[2], id[3], id[5], id[6], id[7]];
    let created = builds(order_by(&[("CREATED", false)]));
    check_order(&f.app, &created, &oldest_first, "CREATED ASC").await;
    // Equal in every key: the id alone decides, in the direction of the last key.
    let mut by_id = id.clone();
    by_id.reverse();
    let last_desc = builds(order_by(&[("OUTPUT_NAME", false), ("STATUS", true)]));
    check_order(&f.app, &last_desc, &by_id, "all equal, last DESC").await;
    by_id.reverse();
    let last_asc = builds(order_by(&[("OUTPUT_NAME", true), ("STATUS", false)]));
    check_order(&f.app, &last_asc, &by_id, "all equal, last ASC").await;
}

#[tokio::test]
async fn every_build_order_field_sorts_both_ways_with_nulls_largest() {
    let f = Fixture::new().await;
    let mut rows = varied_rows();
    f.seed(&mut rows).await;
    for field in BUILD_FIELDS {
        for desc in [false, true] {
            let order = [(field, desc)];
            let expected = sorted(&rows, &order);
            let what = format!("{order:?}");
            check_order(&f.app, &builds(order_by(&order)), &expected, &what).await;
        }
    }
    // NULLs last ascending, first descending.
    let never_started = |desc| -> Vec<bool> {
        sorted(&rows, &[("STARTED_AT", desc)])
            .iter()
            .map(|id| rows.iter().any(|r| r.id == *id && r.started.is_none()))
            .collect()
    };
    assert_eq!(
        never_started(false),
        [false, false, false, false, false, true, true]
    );
    assert_eq!(
        never_started(true),
        [true, true, false, false, false, false, false]
    );
}

#[tokio::test]
async fn several_order_keys_combine() {
    let f = Fixture::new().await;
    let mut rows = varied_rows();
    f.seed(&mut rows).await;
    #[rustfmt::skip]
    let orders = [
        vec![("STATUS", false), ("CREATED", true)],
        vec![("OUTPUT_NAME", false), ("STARTED_AT", true)],
        vec![("COMPLETED_AT", false), ("OUTPUT_VMID", true)],
        vec![("STARTED_AT", true), ("COMPLETED_AT", false), ("IMAGE_VERSION", true)],
        vec![("OUTPUT_VMID", false), ("OUTPUT_NAME", false), ("LAST_UPDATED", false)],
    ];
    for order in orders {
        let expected = sorted(&rows, &order);
        let what = format!("{order:?}");
        check_order(&f.app, &builds(order_by(&order)), &expected, &what).await;
    }
}

#[tokio::test]
async fn every_definition_order_field_pages_consistently() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let seed = app.seed();
    let mut ids = Vec::new();
    for (name, node, enabled, release) in [
        ("delta", "pve2", true, "24.04"),
        ("Alpha", "pve1", false, "12"),
        ("charlie", "pve1", true, "24.04"),
        ("bravo", "pve2", false, "9"),
        ("echo", "pve1", true, "12"),
    ] {
        ids.push(
            seed.definition(name, world.endpoint, world.cluster, &[], |d| {
                d.target_node = Set(node.into());
                d.enabled = Set(enabled);
                d.os_release = Set(release.into());
            })
            .await,
        );
    }
    // The default is by name (byte order on both backends: upper case first).
    let by_name = [ids[1], ids[3], ids[2], ids[0], ids[4]];
    check_order(&app, &definitions(json!(null)), &by_name, "default").await;
    let enabled = [ids[1], ids[3], ids[0], ids[2], ids[4]];
    let by_enabled = definitions(order_by(&[("ENABLED", false)]));
    check_order(&app, &by_enabled, &enabled, "ENABLED").await;
    let mut every_id = ids.clone();
    every_id.sort_unstable();
    for field in [
        "ID",
        "NAME",
        "SLUG",
        "ENABLED",
        "BUILDER_TYPE",
        "TARGET_NODE",
        "OS_FAMILY",
        "OS_RELEASE",
        "CREATED",
        "LAST_UPDATED",
    ] {
        for desc in [false, true] {
            let list = definitions(order_by(&[(field, desc)]));
            let all = list.all(&app).await;
            let mut sorted = all.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, every_id, "{field} {desc}: every row once");
            check_order(&app, &list, &all, &format!("{field} {desc}")).await;
        }
    }
}
