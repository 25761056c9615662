//! The catalog pushed to NetBox: entries published here, and a completed build's at once.

use entity::{cloud_image_template, enums::BuildStatus};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::json;

use crate::support::wait_for;

use super::rig::{count, pass, pushing, tenant_of, writes};
use super::stand_in::TEMPLATES;

#[tokio::test]
async fn a_catalog_entry_published_here_is_pushed_to_netbox() {
    let (netbox, app, cluster) = pushing().await;
    let a = tenant_of(&app, 1).await.expect("A");
    let local = app
        .seed()
        .template("Debian 12", cluster.id, 9100, &[a.id])
        .await;

    let report = pass(&app).await;
    assert!(report.ok(), "{report:?}");
    let entry = cloud_image_template::Entity::find_by_id(local)
        .one(&app.app.db)
        .await
        .expect("read")
        .expect("the entry");
    let netbox_id = entry.netbox_id.expect("the entry is NetBox's now");
    let object = netbox
        .get(TEMPLATES, i64::from(netbox_id))
        .expect("created in NetBox");
    assert_eq!(object["slug"], json!(entry.slug));
    assert_eq!(object["cluster"]["id"], 10);
    assert_eq!(object["source_vmid"], 9100);
    assert_eq!(object["allowed_tenants"], json!([{"id": 1}]));
    assert_eq!(object["os_family"]["value"], "ubuntu");
    assert_eq!(writes(&netbox.log()), 1);

    // In step: nothing pushed again, nothing changed by reading it back.
    let before = netbox.log().len();
    assert!(pass(&app).await.ok());
    assert_eq!(writes(&netbox.log()[before..]), 0);

    // Published again here (a rebuild): updated in NetBox, not duplicated.
    let mut changed: cloud_image_template::ActiveModel = entry.into();
    changed.name = Set("Debian 12 (rebuilt)".into());
    changed.last_updated = Set(chrono::Utc::now() + chrono::Duration::seconds(1));
    changed.update(&app.app.db).await.expect("republish");
    let before = netbox.log().len();
    assert!(pass(&app).await.ok());
    let asked = netbox.log()[before..].to_vec();
    assert!(asked.iter().any(|r| r.starts_with("PATCH")), "{asked:#?}");
    assert_eq!(
        netbox.get(TEMPLATES, i64::from(netbox_id)).expect("there")["name"],
        "Debian 12 (rebuilt)"
    );
    assert_eq!(count::<cloud_image_template::Entity>(&app).await, 2);
}

#[tokio::test]
async fn a_completed_build_pushes_its_catalog_entry_at_once() {
    let (netbox, app, cluster) = pushing().await;
    let seed = app.seed();
    let endpoint = seed.endpoint("local-pve").await;
    let definition = seed
        .definition("debian", endpoint, cluster.id, &[], |_| {})
        .await;
    let (build, _) = app.queue(definition).await;
    app.transition(build, BuildStatus::Running).await;
    app.transition(build, BuildStatus::Completed).await;

    // No pass was asked for: the completion alone brings the push, in the background.
    let posts = || {
        netbox
            .log()
            .iter()
            .filter(|r| r.starts_with("POST"))
            .count()
    };
    wait_for("the entry pushed", || async { posts() > 0 }).await;
    assert_eq!(posts(), 1);
}
