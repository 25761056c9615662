//! A pass: every type following `next` links, incremental updates, renames and deletions.

use entity::{cloud_image_template, cloud_image_template_tenant, enums::Role, user};
use packer_gateway::registry::reference::sync::Kind;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::telemetry::scrape;

use super::rig::{cluster_of, endpoint_of, fill, pass, service, summary, tenant_of};
use super::stand_in::{CLUSTER_TYPES, CLUSTERS, NetBox, TENANTS, V1_TOKEN, V2_TOKEN};

#[tokio::test]
async fn a_first_pass_brings_every_type_following_next_links() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    let app = service(&netbox, V2_TOKEN).await;

    let report = pass(&app).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(summary(&report, Kind::Tenants).created, 3);

    let a = tenant_of(&app, 1).await.expect("tenant A");
    assert_eq!((a.name.as_str(), a.slug.as_str()), ("NB Tenant A", "nb-a"));
    let b = tenant_of(&app, 2).await.expect("tenant B");
    let cluster = cluster_of(&app, 10).await;
    assert_eq!(cluster.cluster_type, "Proxmox VE");
    assert_eq!(cluster.tenant_id, Some(a.id));
    let endpoint = endpoint_of(&app, 20).await;
    assert_eq!(endpoint.ip_address.as_deref(), Some("10.1.2.3"));
    assert_eq!(endpoint.domain.as_deref(), Some("pve.example.net"));
    assert!(endpoint.verify_ssl && endpoint.allow_writes && endpoint.enabled);
    assert_eq!(endpoint.tenant_id, Some(b.id));
    let users = user::Entity::find()
        .filter(user::Column::NetboxId.is_not_null())
        .all(&app.app.db)
        .await
        .expect("read");
    let role = |name: &str| {
        users
            .iter()
            .find(|u| u.username == name)
            .map(|u| u.role)
            .expect("a synced user")
    };
    assert_eq!(role("nb-alice"), Role::Operator);
    assert_eq!(role("nb-bob"), Role::Viewer);
    let template = cloud_image_template::Entity::find()
        .filter(cloud_image_template::Column::NetboxId.eq(40))
        .one(&app.app.db)
        .await
        .expect("read")
        .expect("the template");
    assert_eq!(template.cluster_id, cluster.id);
    let links = cloud_image_template_tenant::Entity::find()
        .filter(cloud_image_template_tenant::Column::TemplateId.eq(template.id))
        .all(&app.app.db)
        .await
        .expect("read");
    assert_eq!(
        links.iter().map(|l| l.tenant_id).collect::<Vec<_>>(),
        [a.id]
    );

    // Three tenants on pages of two: the second page came from the `next` link.
    let log = netbox.log();
    assert!(
        log.iter()
            .any(|r| r.starts_with(TENANTS) && r.contains("offset=2")),
        "{log:#?}"
    );
    assert!(log.iter().any(|r| r.contains("fields=id")), "{log:#?}");

    // The status, over GraphQL.
    let data = app
        .data(
            "{ netboxSync { objectType outcome created updated deleted kept conflicts lastSuccess } }",
            json!({}),
        )
        .await;
    let states = data["netboxSync"].as_array().expect("a list");
    assert_eq!(states.len(), 6, "{data}");
    assert_eq!(states[0]["objectType"], "TENANTS");
    assert_eq!(states[0]["created"], 3);
    assert!(states.iter().all(|s| s["outcome"] == "ok"), "{data}");
}

#[tokio::test]
async fn an_update_is_picked_up_incrementally() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    let app = service(&netbox, V1_TOKEN).await;
    assert!(pass(&app).await.ok());

    netbox.edit(
        TENANTS,
        2,
        json!({"description": "changed in NetBox"}),
        true,
    );
    let before = netbox.log().len();
    let report = pass(&app).await;
    let tenants = summary(&report, Kind::Tenants);
    assert_eq!((tenants.created, tenants.updated), (0, 1), "{report:?}");
    assert_eq!(
        tenant_of(&app, 2).await.expect("B").description,
        "changed in NetBox"
    );
    let asked = &netbox.log()[before..];
    let changed = asked
        .iter()
        .find(|r| r.starts_with(TENANTS) && !r.contains("fields=id"))
        .expect("the tenants were asked for");
    assert!(changed.contains("last_updated__gte="), "{changed}");

    // Nothing changed since: nothing is written.
    let report = pass(&app).await;
    assert!(report.ok());
    for kind in Kind::ALL {
        let s = summary(&report, kind);
        assert_eq!(
            (s.created, s.updated, s.deleted),
            (0, 0, 0),
            "{}",
            kind.name()
        );
    }
}

#[tokio::test]
async fn a_renamed_cluster_type_renames_the_clusters_of_that_type() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    let app = service(&netbox, V2_TOKEN).await;
    assert!(pass(&app).await.ok());

    // NetBox bumps the type, not the clusters of that type.
    netbox.edit(CLUSTER_TYPES, 1, json!({"name": "PVE 9"}), true);
    netbox.edit(
        CLUSTERS,
        10,
        json!({"type": {"id": 1, "name": "PVE 9", "slug": "proxmox-ve"}}),
        false,
    );
    let report = pass(&app).await;
    assert_eq!(summary(&report, Kind::ClusterTypes).updated, 1);
    let cluster = cluster_of(&app, 10).await;
    assert_eq!(cluster.cluster_type, "PVE 9");
}

#[tokio::test]
async fn a_deleted_tenant_goes_unless_something_references_it() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    let app = service(&netbox, V2_TOKEN).await;
    assert!(pass(&app).await.ok());
    let c = tenant_of(&app, 3).await.expect("C");
    let seed = app.seed();
    let endpoint = seed.endpoint("local-pve").await;
    let cluster = seed.cluster("local-cluster").await;
    seed.definition("restricted", endpoint, cluster, &[c.id], |_| {})
        .await;

    netbox.delete(TENANTS, 2);
    netbox.delete(TENANTS, 3);
    let (before, _) = scrape(&app).await;
    let report = pass(&app).await;
    let tenants = summary(&report, Kind::Tenants);
    assert_eq!(tenants.deleted, 1, "{report:?}");
    assert_eq!(tenants.kept, ["NB Tenant C"]);
    // The pass moved its metrics (SPEC §10): the recorder is the process's, shared by the tests
    // running beside this one, so the counters grew by at least this pass's counts.
    let (after, body) = scrape(&app).await;
    let grew = |name: &str, labels: &[&str]| after.sum(name, labels) - before.sum(name, labels);
    let objects = "packer_gateway_netbox_sync_objects_total";
    assert!(
        grew(objects, &["type=\"tenants\"", "change=\"deleted\""]) >= 1.0,
        "{body}"
    );
    assert!(
        grew(objects, &["type=\"tenants\"", "change=\"kept\""]) >= 1.0,
        "{body}"
    );
    let passes = "packer_gateway_netbox_sync_passes_total";
    assert!(
        grew(passes, &["type=\"tenants\"", "outcome=\"ok\""]) >= 1.0,
        "{body}"
    );
    let success = "packer_gateway_netbox_sync_last_success_timestamp_seconds";
    assert!(after.sum(success, &["type=\"tenants\""]) > 0.0, "{body}");
    assert!(tenant_of(&app, 2).await.is_none());
    assert!(tenant_of(&app, 3).await.is_some());
    // The endpoint that belonged to B stays, without a tenant.
    let endpoint = endpoint_of(&app, 20).await;
    assert_eq!(endpoint.tenant_id, None);

    let data = app
        .data("{ netboxSync { objectType deleted kept } }", json!({}))
        .await;
    assert_eq!(
        data["netboxSync"][0],
        json!({"objectType": "TENANTS", "deleted": 1, "kept": 1})
    );
}
