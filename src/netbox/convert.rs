//! NetBox's JSON objects → the registry's sync rows: pure functions. A field a plugin version
//! lacks (`enabled`, `allow_writes` before netbox-proxbox 0.0.17) becomes `None`, so the local
//! value stays; an object without its identity (`id`, a name) is an error naming it.

use chrono::{DateTime, Utc};
use entity::enums::{CatalogOsFamily, EndpointMode, Role};
use serde_json::Value;

use crate::registry::reference::sync::{
    ClusterRow, ClusterTypeRow, EndpointRow, TemplateRow, TenantRow, UserRow,
};

/// A tenant.
pub fn tenant(object: &Value) -> Result<TenantRow, String> {
    Ok(TenantRow {
        netbox_id: id(object)?,
        last_updated: last_updated(object),
        name: required(object, "name")?,
        slug: required(object, "slug")?,
        description: text(object, "description"),
    })
}

/// A cluster type.
pub fn cluster_type(object: &Value) -> Result<ClusterTypeRow, String> {
    Ok(ClusterTypeRow {
        netbox_id: id(object)?,
        last_updated: last_updated(object),
        name: required(object, "name")?,
    })
}

/// A cluster: its type's name becomes `cluster_type`.
pub fn cluster(object: &Value) -> Result<ClusterRow, String> {
    let kind = object.get("type");
    Ok(ClusterRow {
        netbox_id: id(object)?,
        last_updated: last_updated(object),
        name: required(object, "name")?,
        type_id: kind.and_then(nested_id),
        cluster_type: kind
            .and_then(|t| t.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("proxmox")
            .to_owned(),
        tenant: object.get("tenant").and_then(nested_id),
        description: text(object, "description"),
    })
}

/// A netbox-proxbox Proxmox endpoint (never its credentials, which NetBox does not return).
pub fn endpoint(object: &Value) -> Result<EndpointRow, String> {
    let address = object
        .get("ip_address")
        .and_then(|ip| ip.get("address").or(Some(ip)))
        .and_then(Value::as_str)
        .map(|address| address.split('/').next().unwrap_or(address).to_owned())
        .filter(|address| !address.is_empty());
    let mode = object
        .get("mode")
        .and_then(|mode| mode.get("value").or(Some(mode)))
        .and_then(Value::as_str)
        .map(|mode| match mode {
            "standalone" => EndpointMode::Standalone,
            "cluster" => EndpointMode::Cluster,
            _ => EndpointMode::Undefined,
        });
    Ok(EndpointRow {
        netbox_id: id(object)?,
        last_updated: last_updated(object),
        name: required(object, "name")?,
        domain: object
            .get("domain")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .filter(|domain| !domain.is_empty()),
        ip_address: address,
        port: object
            .get("port")
            .and_then(Value::as_i64)
            .and_then(|port| i32::try_from(port).ok()),
        mode,
        verify_ssl: object.get("verify_ssl").and_then(Value::as_bool),
        allow_writes: object.get("allow_writes").and_then(Value::as_bool),
        enabled: object.get("enabled").and_then(Value::as_bool),
        tenant: object.get("tenant").and_then(nested_id),
    })
}

/// A user; its role is the first entry of `roles` naming one of its groups, VIEWER otherwise.
pub fn user(object: &Value, roles: &[(String, Role)]) -> Result<UserRow, String> {
    let groups: Vec<&str> = object
        .get("groups")
        .and_then(Value::as_array)
        .map(|groups| {
            groups
                .iter()
                .filter_map(|g| g.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let role = roles
        .iter()
        .find(|(group, _)| groups.contains(&group.as_str()))
        .map_or(Role::Viewer, |(_, role)| *role);
    Ok(UserRow {
        netbox_id: id(object)?,
        username: required(object, "username")?,
        first_name: text(object, "first_name"),
        last_name: text(object, "last_name"),
        email: text(object, "email"),
        is_active: object
            .get("is_active")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        role,
    })
}

/// A cloud image template; a family this service does not know is `generic`.
pub fn template(object: &Value) -> Result<TemplateRow, String> {
    let netbox_id = id(object)?;
    let family = object
        .get("os_family")
        .and_then(|family| family.get("value").or(Some(family)))
        .and_then(Value::as_str)
        .unwrap_or("generic");
    Ok(TemplateRow {
        netbox_id,
        last_updated: last_updated(object),
        name: required(object, "name")?,
        slug: required(object, "slug")?,
        description: text(object, "description"),
        cluster: object
            .get("cluster")
            .and_then(nested_id)
            .ok_or_else(|| format!("template {netbox_id} has no cluster"))?,
        source_vmid: object
            .get("source_vmid")
            .and_then(Value::as_i64)
            .and_then(|vmid| i32::try_from(vmid).ok())
            .ok_or_else(|| format!("template {netbox_id} has no source_vmid"))?,
        os_family: match family {
            "ubuntu" => CatalogOsFamily::Ubuntu,
            "debian" => CatalogOsFamily::Debian,
            "rocky" => CatalogOsFamily::Rocky,
            "alpine" => CatalogOsFamily::Alpine,
            _ => CatalogOsFamily::Generic,
        },
        os_release: text(object, "os_release"),
        default_ciuser: object
            .get("default_ciuser")
            .and_then(Value::as_str)
            .filter(|user| !user.is_empty())
            .unwrap_or("cloud-user")
            .to_owned(),
        is_active: object
            .get("is_active")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        allowed_tenants: object
            .get("allowed_tenants")
            .and_then(Value::as_array)
            .map(|tenants| tenants.iter().filter_map(nested_id).collect())
            .unwrap_or_default(),
    })
}

/// The ids of an id listing (`?fields=id`).
pub fn ids(objects: &[Value]) -> Result<Vec<i32>, String> {
    objects.iter().map(id).collect()
}

fn id(object: &Value) -> Result<i32, String> {
    object
        .get("id")
        .and_then(Value::as_i64)
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| "a NetBox object without an integer id".to_owned())
}

/// The id of a nested object (`{"id": 3, …}`) or a bare id.
fn nested_id(value: &Value) -> Option<i32> {
    value
        .get("id")
        .unwrap_or(value)
        .as_i64()
        .and_then(|id| i32::try_from(id).ok())
}

fn required(object: &Value, field: &str) -> Result<String, String> {
    object
        .get(field)
        .and_then(Value::as_str)
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .ok_or_else(|| {
            format!(
                "NetBox object {} has no {field}",
                object.get("id").unwrap_or(&Value::Null)
            )
        })
}

fn text(object: &Value, field: &str) -> String {
    object
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn last_updated(object: &Value) -> Option<DateTime<Utc>> {
    object
        .get("last_updated")
        .and_then(Value::as_str)
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|at| at.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use entity::enums::{EndpointMode, Role};
    use serde_json::json;

    use super::{endpoint, user};

    #[test]
    fn an_endpoint_keeps_its_host_and_lacks_what_an_old_plugin_lacks() {
        let old = endpoint(&json!({
            "id": 4, "name": "pve", "domain": "", "port": 8006,
            "ip_address": {"id": 9, "family": 4, "address": "10.0.0.5/24"},
            "mode": {"value": "cluster", "label": "Cluster"}, "verify_ssl": true,
            "last_updated": "2026-11-30T10:00:00.123456Z"
        }))
        .expect("an endpoint");
        assert_eq!(old.ip_address.as_deref(), Some("10.0.0.5"));
        assert_eq!(old.domain, None);
        assert_eq!(old.mode, Some(EndpointMode::Cluster));
        assert_eq!((old.enabled, old.allow_writes), (None, None));
        assert!(old.last_updated.is_some());
    }

    #[test]
    fn the_first_mapped_group_gives_the_role() {
        let roles = vec![
            ("ops".to_owned(), Role::Operator),
            ("admins".to_owned(), Role::Admin),
        ];
        let object = json!({"id": 1, "username": "ann",
                            "groups": [{"id": 1, "name": "admins"}, {"id": 2, "name": "ops"}]});
        assert_eq!(user(&object, &roles).expect("a user").role, Role::Operator);
        let plain = json!({"id": 2, "username": "bob", "groups": []});
        assert_eq!(user(&plain, &roles).expect("a user").role, Role::Viewer);
    }
}
