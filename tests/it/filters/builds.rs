//! The lookups of every filter field of builds, within the visible rows.

use entity::enums::{BuildStatus, OsFamily, Role};
use sea_orm::Set;
use serde_json::json;

use crate::support::TestApp;

use super::{Builds, Clock, List, case, expect, expect_as, expect_complements};

async fn builds(app: &TestApp) -> Builds {
    use BuildStatus as S;
    let world = app.world().await;
    let seed = app.seed();
    let e2 = seed.endpoint("pve-edge-api").await;
    let (user, _) = app.user(Role::Operator, &[world.t1], true).await;
    let template = seed
        .template("ubuntu-24.04", world.cluster, 1001, &[])
        .await;
    let clock = Clock::new();
    let mut definitions = [0; 3];
    for (i, (name, os, tenants)) in [
        ("d1", OsFamily::Ubuntu, vec![world.t1]),
        ("d2", OsFamily::Debian, vec![]),
        ("d3", OsFamily::Rocky, vec![world.t2]),
    ]
    .into_iter()
    .enumerate()
    {
        definitions[i] = seed
            .definition(name, world.endpoint, world.cluster, &tenants, |d| {
                d.os_family = Set(os);
            })
            .await;
    }
    let [d1, d2, d3] = definitions;
    let (e1, admin, tpl) = (world.endpoint, Some(app.admin_id), Some(template));
    let by_user = Some(user);
    // Ids increase in this order; times are seconds from the clock's origin.
    #[rustfmt::skip]
    let rows = [
        // name def endp status        backend    node        vmid  version       by       job      tpl   started     completed   created error
        ("b1", d1, e1, S::Completed, "job-100", "pve1",     1001, "2026-01-01", admin,   Some(7), tpl,  Some(-500), Some(-400), -600, ""),
        ("b2", d1, e2, S::Failed,    "job-200", "pve2",     1002, "2026-01-02", by_user, None,    None, Some(-300), Some(-200), -350, "disk full: 100% used"),
        ("b3", d2, e1, S::Running,   "",        "pve1",     2001, "2026-02-01", admin,   Some(8), None, Some(-100), None,       -150, ""),
        ("b4", d2, e2, S::Pending,   "",        "pve-edge", 2002, "2026-02-02", None,    None,    None, None,       None,       -50,  ""),
        ("b5", d3, e1, S::Cancelled, "job_300", "pve1",     3001, "2026-03-01", by_user, Some(9), None, None,       Some(-20),  -30,  ""),
    ];
    let mut ids = [0; 5];
    for (i, row) in rows.into_iter().enumerate() {
        let (name, definition, endpoint, status, backend, node, vmid, version) =
            (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7);
        let (created_by, job, template, error) = (row.8, row.9, row.10, row.14);
        let started = row.11.map(|s| clock.at(s));
        let completed = row.12.map(|s| clock.at(s));
        let created = clock.at(row.13);
        ids[i] = seed
            .build(definition, endpoint, status, created, created_by, |b| {
                b.output_name = Set(name.into());
                b.backend_build_id = Set(backend.into());
                b.target_node = Set(node.into());
                b.output_vmid = Set(vmid);
                b.image_version = Set(version.into());
                b.netbox_job_id = Set(job);
                b.cloud_image_template_id = Set(template);
                b.started_at = Set(started);
                b.completed_at = Set(completed);
                b.error = Set(error.into());
            })
            .await;
    }
    Builds {
        ids,
        definitions,
        t1: world.t1,
        t2: world.t2,
        e2,
        user,
        template,
        clock,
    }
}

const ALL_BUILDS: [&str; 5] = ["b1", "b2", "b3", "b4", "b5"];

#[tokio::test]
async fn build_id_and_integer_lookups() {
    let app = TestApp::new().await;
    let b = builds(&app).await;
    let [b1, b2, b3, _, b5] = b.ids.map(|id| id.to_string());
    let [d1, d2, d3] = b.definitions.map(|id| id.to_string());
    let (admin, user) = (app.admin_id.to_string(), b.user.to_string());
    #[rustfmt::skip]
    let cases = [
        case(json!({"id": {"eq": b1}}), &["b1"]),
        case(json!({"id": {"in": [b1, b5]}}), &["b1", "b5"]),
        case(json!({"id": {"gt": b3}}), &["b4", "b5"]),
        case(json!({"id": {"gte": b3}}), &["b3", "b4", "b5"]),
        case(json!({"id": {"lt": b2}}), &["b1"]),
        case(json!({"id": {"lte": b2}}), &["b1", "b2"]),
        case(json!({"id": {"isNull": false}}), &ALL_BUILDS),
        case(json!({"definition": {"eq": d1}}), &["b1", "b2"]),
        case(json!({"definition": {"in": [d2, d3]}}), &["b3", "b4", "b5"]),
        case(json!({"definition": {"gt": d1}}), &["b3", "b4", "b5"]),
        case(json!({"definition": {"lte": d2}}), &["b1", "b2", "b3", "b4"]),
        case(json!({"proxmoxEndpoint": {"eq": b.e2.to_string()}}), &["b2", "b4"]),
        case(json!({"proxmoxEndpoint": {"lt": b.e2.to_string()}}), &["b1", "b3", "b5"]),
        case(json!({"outputVmid": {"eq": 1001}}), &["b1"]),
        case(json!({"outputVmid": {"in": [1002, 2002, 9]}}), &["b2", "b4"]),
        case(json!({"outputVmid": {"gt": 2001}}), &["b4", "b5"]),
        case(json!({"outputVmid": {"gte": 2001}}), &["b3", "b4", "b5"]),
        case(json!({"outputVmid": {"lt": 2001}}), &["b1", "b2"]),
        case(json!({"outputVmid": {"lte": 2001}}), &["b1", "b2", "b3"]),
        case(json!({"outputVmid": {"isNull": true}}), &[]),
        case(json!({"outputVmid": {"isNull": false}}), &ALL_BUILDS),
        case(json!({"createdBy": {"eq": admin}}), &["b1", "b3"]),
        case(json!({"createdBy": {"eq": user}}), &["b2", "b5"]),
        case(json!({"createdBy": {"in": [admin, user]}}), &["b1", "b2", "b3", "b5"]),
        case(json!({"createdBy": {"gt": admin}}), &["b2", "b5"]),
        case(json!({"createdBy": {"isNull": true}}), &["b4"]),
        case(json!({"netboxJobId": {"eq": 7}}), &["b1"]),
        case(json!({"netboxJobId": {"in": [8, 9]}}), &["b3", "b5"]),
        case(json!({"netboxJobId": {"gt": 7}}), &["b3", "b5"]),
        case(json!({"netboxJobId": {"gte": 8}}), &["b3", "b5"]),
        case(json!({"netboxJobId": {"lt": 9}}), &["b1", "b3"]),
        case(json!({"netboxJobId": {"lte": 9}}), &["b1", "b3", "b5"]),
        case(json!({"netboxJobId": {"isNull": true}}), &["b2", "b4"]),
        case(json!({"cloudImageTemplate": {"eq": b.template.to_string()}}), &["b1"]),
        case(json!({"cloudImageTemplate": {"isNull": true}}), &["b2", "b3", "b4", "b5"]),
    ];
    expect(&app, List::Builds, cases).await;
}

#[tokio::test]
async fn build_string_enum_and_definition_lookups() {
    let app = TestApp::new().await;
    let b = builds(&app).await;
    let (t1, t2) = (b.t1.to_string(), b.t2.to_string());
    #[rustfmt::skip]
    let cases = [
        case(json!({"status": {"eq": "RUNNING"}}), &["b3"]),
        case(json!({"status": {"in": ["COMPLETED", "FAILED"]}}), &["b1", "b2"]),
        case(json!({"backendBuildId": {"exact": "job-100"}}), &["b1"]),
        case(json!({"backendBuildId": {"exact": ""}}), &["b3", "b4"]),
        case(json!({"backendBuildId": {"iExact": "JOB-200"}}), &["b2"]),
        case(json!({"backendBuildId": {"contains": "job"}}), &["b1", "b2", "b5"]),
        case(json!({"backendBuildId": {"contains": "JOB"}}), &[]),
        case(json!({"backendBuildId": {"iContains": "JOB"}}), &["b1", "b2", "b5"]),
        case(json!({"backendBuildId": {"contains": "_"}}), &["b5"]),
        case(json!({"backendBuildId": {"startsWith": "job-"}}), &["b1", "b2"]),
        case(json!({"backendBuildId": {"endsWith": "00"}}), &["b1", "b2", "b5"]),
        case(json!({"backendBuildId": {"in": ["", "job_300"]}}), &["b3", "b4", "b5"]),
        case(json!({"backendBuildId": {"isNull": false}}), &ALL_BUILDS),
        case(json!({"targetNode": {"exact": "pve1"}}), &["b1", "b3", "b5"]),
        case(json!({"targetNode": {"startsWith": "pve-"}}), &["b4"]),
        case(json!({"imageVersion": {"exact": "2026-02-01"}}), &["b3"]),
        case(json!({"imageVersion": {"startsWith": "2026-02"}}), &["b3", "b4"]),
        case(json!({"imageVersion": {"endsWith": "-01"}}), &["b1", "b3", "b5"]),
        case(json!({"imageVersion": {"contains": "-0"}}), &ALL_BUILDS),
        case(json!({"imageVersion": {"in": ["2026-01-02", "2026-03-01"]}}), &["b2", "b5"]),
        case(json!({"osFamily": {"eq": "DEBIAN"}}), &["b3", "b4"]),
        case(json!({"osFamily": {"in": ["UBUNTU", "ROCKY"]}}), &["b1", "b2", "b5"]),
        case(json!({"tenant": {"eq": t1}}), &["b1", "b2"]),
        case(json!({"tenant": {"eq": t2}}), &["b5"]),
        case(json!({"tenant": {"in": [t1, t2]}}), &["b1", "b2", "b5"]),
        case(json!({"tenant": {"isNull": true}}), &["b3", "b4"]),
        case(json!({"tenant": {"isNull": false}}), &["b1", "b2", "b5"]),
        case(json!({"q": "job"}), &["b1", "b2", "b5"]),
        case(json!({"q": "DISK"}), &["b2"]),
        case(json!({"q": "b4"}), &["b4"]),
        case(json!({"q": "%"}), &["b2"]),
        case(json!({"q": "_"}), &["b5"]),
    ];
    expect(&app, List::Builds, cases).await;
}

#[tokio::test]
async fn build_timestamp_lookups() {
    let app = TestApp::new().await;
    let b = builds(&app).await;
    let t = |s| b.clock.text(s);
    #[rustfmt::skip]
    let cases = [
        case(json!({"startedAt": {"gt": t(-300)}}), &["b3"]),
        case(json!({"startedAt": {"gte": t(-300)}}), &["b2", "b3"]),
        case(json!({"startedAt": {"lt": t(-300)}}), &["b1"]),
        case(json!({"startedAt": {"lte": t(-300)}}), &["b1", "b2"]),
        case(json!({"startedAt": {"isNull": true}}), &["b4", "b5"]),
        case(json!({"startedAt": {"isNull": false}}), &["b1", "b2", "b3"]),
        case(json!({"completedAt": {"gt": t(-200)}}), &["b5"]),
        case(json!({"completedAt": {"gte": t(-200)}}), &["b2", "b5"]),
        case(json!({"completedAt": {"lt": t(-200)}}), &["b1"]),
        case(json!({"completedAt": {"lte": t(-200)}}), &["b1", "b2"]),
        case(json!({"completedAt": {"isNull": true}}), &["b3", "b4"]),
        case(json!({"created": {"gt": t(-150)}}), &["b4", "b5"]),
        case(json!({"created": {"gte": t(-150)}}), &["b3", "b4", "b5"]),
        case(json!({"created": {"lt": t(-350)}}), &["b1"]),
        case(json!({"created": {"lte": t(-350)}}), &["b1", "b2"]),
        case(json!({"created": {"isNull": false}}), &ALL_BUILDS),
        case(json!({"not": {"startedAt": {"gt": t(-300)}}}), &["b1", "b2", "b4", "b5"]),
    ];
    expect(&app, List::Builds, cases).await;
    let (admin, t1) = (app.admin_id.to_string(), b.t1.to_string());
    expect_complements(
        &app,
        List::Builds,
        &[
            json!({"startedAt": {"gt": t(-300)}}),
            json!({"completedAt": {"lte": t(-200)}}),
            json!({"createdBy": {"eq": admin}}),
            json!({"netboxJobId": {"lt": 9}}),
            json!({"cloudImageTemplate": {"eq": b.template.to_string()}}),
            json!({"tenant": {"eq": t1}}),
            json!({"osFamily": {"eq": "UBUNTU"}}),
            json!({"q": "job"}),
        ],
    )
    .await;
}

#[tokio::test]
async fn filters_and_counts_stay_within_the_visible_rows() {
    let app = TestApp::new().await;
    let b = builds(&app).await;
    let (_, viewer) = app.user(Role::Viewer, &[b.t2], false).await;
    let t1 = b.t1.to_string();
    #[rustfmt::skip]
    let cases = [
        case(json!({}), &["b3", "b4", "b5"]),
        case(json!({"tenant": {"eq": t1}}), &[]),
        case(json!({"definition": {"eq": b.definitions[0].to_string()}}), &[]),
        case(json!({"not": {"tenant": {"eq": t1}}}), &["b3", "b4", "b5"]),
        case(json!({"q": "job"}), &["b5"]),
    ];
    expect_as(&app, &viewer, List::Builds, cases).await;
    #[rustfmt::skip]
    let cases = [
        case(json!({}), &["d2", "d3"]),
        case(json!({"tenant": {"eq": t1}}), &[]),
        case(json!({"or": [{"name": {"exact": "d1"}}, {"tenant": {"isNull": true}}]}), &["d2"]),
    ];
    expect_as(&app, &viewer, List::Definitions, cases).await;
}
