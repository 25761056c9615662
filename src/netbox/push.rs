//! The catalog push (`--netbox-push-catalog`, SPEC §10): catalog entries that builds published
//! here are created or updated in NetBox's cloud image templates, before the templates are read
//! back. An entry already in NetBox (same slug) is updated, not duplicated; once pushed, the
//! entry carries its NetBox id and is followed like any synced row.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Syncer, client::Client, path};
use crate::registry::reference::sync::{self, Kind, Unpushed};

impl Syncer {
    /// Pushes every entry changed here since it was last in step with NetBox; returns how many
    /// were pushed. An entry that fails stays to be pushed at the next pass.
    pub(super) async fn push(&self) -> Result<u32, String> {
        let entries = sync::unpushed(&self.inner.db)
            .await
            .map_err(|err| format!("cannot read the catalog: {}", err.message()))?;
        let mut pushed = 0;
        for unpushed in entries {
            let netbox_id = push_one(&self.inner.client, &unpushed).await?;
            sync::pushed(
                &self.inner.db,
                unpushed.entry.id,
                unpushed.entry.last_updated,
                netbox_id,
            )
            .await
            .map_err(|err| format!("cannot record a push: {}", err.message()))?;
            pushed += 1;
        }
        Ok(pushed)
    }
}

/// The body NetBox's cloud image template serializer takes.
pub fn body(unpushed: &Unpushed) -> Value {
    let entry = &unpushed.entry;
    let family: &str = match entry.os_family {
        entity::enums::CatalogOsFamily::Ubuntu => "ubuntu",
        entity::enums::CatalogOsFamily::Debian => "debian",
        entity::enums::CatalogOsFamily::Rocky => "rocky",
        entity::enums::CatalogOsFamily::Alpine => "alpine",
        entity::enums::CatalogOsFamily::Generic => "generic",
    };
    json!({
        "name": entry.name,
        "slug": entry.slug,
        "description": entry.description,
        "cluster": unpushed.cluster,
        "source_vmid": entry.source_vmid,
        "os_family": family,
        "os_release": entry.os_release,
        "default_ciuser": entry.default_ciuser,
        "is_active": entry.is_active,
        "allowed_tenants": unpushed.tenants,
    })
}

async fn push_one(client: &Client, unpushed: &Unpushed) -> Result<i32, String> {
    let list = path(Kind::Templates);
    let known = match unpushed.entry.netbox_id {
        Some(id) => Some(id),
        None => client
            .list(list, &[("slug", unpushed.entry.slug.clone())])
            .await?
            .first()
            .and_then(|object| object.get("id"))
            .and_then(Value::as_i64)
            .and_then(|id| i32::try_from(id).ok()),
    };
    let answer = match known {
        Some(id) => {
            client
                .write(Method::PATCH, &format!("{list}{id}/"), &body(unpushed))
                .await?
        }
        None => client.write(Method::POST, list, &body(unpushed)).await?,
    };
    answer
        .get("id")
        .and_then(Value::as_i64)
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| "NetBox did not answer the pushed template's id".to_owned())
}
