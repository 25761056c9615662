//! Reference-data writes (ADMIN): create, patch and delete tenants, clusters, Proxmox endpoints
//! and catalog entries, with the rules of SPEC §1.4.

use entity::{
    cloud_image_template, cloud_image_template_tenant, cluster,
    enums::{CatalogOsFamily, EndpointMode},
    proxmox_endpoint, tenant,
};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait,
    FromQueryResult, IntoActiveModel, Iterable, PaginatorTrait, PrimaryKeyToColumn,
    PrimaryKeyTrait, QueryFilter, Set,
};

use crate::{
    auth::Action,
    error::{Error, FieldErrors, conflict_on_reference, conflict_on_unique},
    registry::{
        Ctx, now,
        read::{self, Readable},
        rules::Checks,
        tx::begin_write,
        visibility::Scope,
    },
};

/// A change to a tenant; `None` keeps a field (creation names what is missing).
#[derive(Clone, Debug, Default)]
pub struct TenantPatch {
    /// `name`
    pub name: Option<String>,
    /// `slug`
    pub slug: Option<String>,
    /// `description`
    pub description: Option<String>,
}

/// A change to a cluster.
#[derive(Clone, Debug, Default)]
pub struct ClusterPatch {
    /// `name`
    pub name: Option<String>,
    /// `cluster_type`
    pub cluster_type: Option<String>,
    /// `tenant`
    pub tenant_id: Option<Option<i32>>,
    /// `description`
    pub description: Option<String>,
}

/// A change to a Proxmox endpoint.
#[derive(Clone, Debug, Default)]
pub struct EndpointPatch {
    /// `name`
    pub name: Option<String>,
    /// `domain`
    pub domain: Option<Option<String>>,
    /// `ip_address`
    pub ip_address: Option<Option<String>>,
    /// `port`
    pub port: Option<i32>,
    /// `mode`
    pub mode: Option<EndpointMode>,
    /// `verify_ssl`
    pub verify_ssl: Option<bool>,
    /// `allow_writes`
    pub allow_writes: Option<bool>,
    /// `enabled`
    pub enabled: Option<bool>,
    /// `tenant`
    pub tenant_id: Option<Option<i32>>,
}

/// A change to a catalog entry.
#[derive(Clone, Debug, Default)]
pub struct TemplatePatch {
    /// `name`
    pub name: Option<String>,
    /// `slug`
    pub slug: Option<String>,
    /// `description`
    pub description: Option<String>,
    /// `cluster`
    pub cluster_id: Option<i32>,
    /// `source_vmid`
    pub source_vmid: Option<i32>,
    /// `os_family`
    pub os_family: Option<CatalogOsFamily>,
    /// `os_release`
    pub os_release: Option<String>,
    /// `default_ciuser`
    pub default_ciuser: Option<String>,
    /// `is_active`
    pub is_active: Option<bool>,
    /// `allowed_tenants`
    pub allowed_tenant_ids: Option<Vec<i32>>,
}

macro_rules! apply {
    ($row:expr, $patch:expr, $($field:ident),*) => {
        $(if let Some(value) = $patch.$field { $row.$field = value; })*
    };
}

/// Creates or (with `id`) updates a tenant.
pub async fn save_tenant(
    ctx: Ctx<'_>,
    id: Option<i64>,
    patch: TenantPatch,
) -> Result<tenant::Model, Error> {
    ctx.principal.authorize(Action::ManageReference)?;
    let txn = begin_write(ctx.db).await?;
    let stamp = now();
    let mut row = match id {
        Some(id) => read::get::<tenant::Entity>(&txn, &Scope::All, id).await?,
        None => tenant::Model {
            id: 0,
            name: String::new(),
            slug: String::new(),
            description: String::new(),
            created: stamp,
            last_updated: stamp,
        },
    };
    if let Some(name) = &patch.name {
        row.name = name.trim().to_owned();
    }
    apply!(row, patch, slug, description);
    let mut c = Checks::default();
    c.required_text("name", &row.name, 255);
    c.slug("slug", &row.slug);
    c.max_len("description", &row.description, 65_536);
    c.0.into_result()?;
    let mut active: tenant::ActiveModel = row.into();
    active.last_updated = Set(stamp);
    let saved = persist(&txn, active, id.is_none()).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Creates or (with `id`) updates a cluster.
pub async fn save_cluster(
    ctx: Ctx<'_>,
    id: Option<i64>,
    patch: ClusterPatch,
) -> Result<cluster::Model, Error> {
    ctx.principal.authorize(Action::ManageReference)?;
    let txn = begin_write(ctx.db).await?;
    let stamp = now();
    let mut row = match id {
        Some(id) => read::get::<cluster::Entity>(&txn, &Scope::All, id).await?,
        None => cluster::Model {
            id: 0,
            name: String::new(),
            cluster_type: "proxmox".to_owned(),
            tenant_id: None,
            description: String::new(),
            created: stamp,
            last_updated: stamp,
        },
    };
    if let Some(name) = &patch.name {
        row.name = name.trim().to_owned();
    }
    apply!(row, patch, cluster_type, tenant_id, description);
    let mut c = Checks::default();
    c.required_text("name", &row.name, 255);
    c.required_text("cluster_type", &row.cluster_type, 100);
    c.max_len("description", &row.description, 65_536);
    exists::<tenant::Entity>(&txn, &mut c, "tenant_id", row.tenant_id).await?;
    c.0.into_result()?;
    let mut active: cluster::ActiveModel = row.into();
    active.last_updated = Set(stamp);
    let saved = persist(&txn, active, id.is_none()).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Creates or (with `id`) updates a Proxmox endpoint.
pub async fn save_endpoint(
    ctx: Ctx<'_>,
    id: Option<i64>,
    patch: EndpointPatch,
) -> Result<proxmox_endpoint::Model, Error> {
    ctx.principal.authorize(Action::ManageReference)?;
    let txn = begin_write(ctx.db).await?;
    let stamp = now();
    let mut row = match id {
        Some(id) => read::get::<proxmox_endpoint::Entity>(&txn, &Scope::All, id).await?,
        None => proxmox_endpoint::Model {
            id: 0,
            name: String::new(),
            domain: None,
            ip_address: None,
            port: 8006,
            mode: EndpointMode::Undefined,
            verify_ssl: false,
            allow_writes: false,
            enabled: true,
            tenant_id: None,
            created: stamp,
            last_updated: stamp,
        },
    };
    if let Some(name) = &patch.name {
        row.name = name.trim().to_owned();
    }
    apply!(
        row,
        patch,
        domain,
        ip_address,
        port,
        mode,
        verify_ssl,
        allow_writes,
        enabled,
        tenant_id
    );
    let mut c = Checks::default();
    c.required_text("name", &row.name, 255);
    c.check(
        "port",
        (1..=65_535).contains(&row.port),
        "must be between 1 and 65535",
    );
    if let Some(domain) = &row.domain {
        c.check(
            "domain",
            !domain.is_empty()
                && domain.len() <= 255
                && domain.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label
                            .chars()
                            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
                }),
            "must be a DNS name",
        );
    }
    if let Some(ip) = &row.ip_address {
        let address = ip.split('/').next().unwrap_or_default();
        c.check(
            "ip_address",
            address.parse::<std::net::IpAddr>().is_ok(),
            "must be an IPv4 or IPv6 address",
        );
    }
    exists::<tenant::Entity>(&txn, &mut c, "tenant_id", row.tenant_id).await?;
    c.0.into_result()?;
    let mut active: proxmox_endpoint::ActiveModel = row.into();
    active.last_updated = Set(stamp);
    let saved = persist(&txn, active, id.is_none()).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Creates or (with `id`) updates a catalog entry.
pub async fn save_template(
    ctx: Ctx<'_>,
    id: Option<i64>,
    patch: TemplatePatch,
) -> Result<cloud_image_template::Model, Error> {
    ctx.principal.authorize(Action::ManageReference)?;
    let txn = begin_write(ctx.db).await?;
    let stamp = now();
    let mut missing = FieldErrors::default();
    let mut row = match id {
        Some(id) => read::get::<cloud_image_template::Entity>(&txn, &Scope::All, id).await?,
        None => {
            for (field, given) in [
                ("cluster_id", patch.cluster_id.is_some()),
                ("source_vmid", patch.source_vmid.is_some()),
                ("os_family", patch.os_family.is_some()),
            ] {
                if !given {
                    missing.add(field, "is required");
                }
            }
            cloud_image_template::Model {
                id: 0,
                name: String::new(),
                slug: String::new(),
                description: String::new(),
                cluster_id: 0,
                source_vmid: 100,
                os_family: CatalogOsFamily::Generic,
                os_release: String::new(),
                default_ciuser: "cloud-user".to_owned(),
                is_active: true,
                created: stamp,
                last_updated: stamp,
            }
        }
    };
    if let Some(name) = &patch.name {
        row.name = name.trim().to_owned();
    }
    let tenants = patch.allowed_tenant_ids.clone();
    apply!(
        row,
        patch,
        slug,
        description,
        cluster_id,
        source_vmid,
        os_family,
        os_release,
        default_ciuser,
        is_active
    );
    let mut c = Checks::default();
    c.0.merge(missing);
    c.required_text("name", &row.name, 255);
    c.slug("slug", &row.slug);
    c.max_len("description", &row.description, 65_536);
    c.vmid("source_vmid", row.source_vmid);
    c.max_len("os_release", &row.os_release, 64);
    c.unix_user("default_ciuser", &row.default_ciuser);
    if row.cluster_id != 0 {
        exists::<cluster::Entity>(&txn, &mut c, "cluster_id", Some(row.cluster_id)).await?;
    }
    if let Some(tenants) = &tenants {
        all_exist(&txn, &mut c, "allowed_tenant_ids", tenants).await?;
    }
    c.0.into_result()?;
    let mut active: cloud_image_template::ActiveModel = row.into();
    active.last_updated = Set(stamp);
    let saved = persist(&txn, active, id.is_none()).await?;
    if let Some(tenants) = tenants {
        cloud_image_template_tenant::Entity::delete_many()
            .filter(cloud_image_template_tenant::Column::TemplateId.eq(saved.id))
            .exec(&txn)
            .await?;
        let mut tenants = tenants;
        tenants.sort_unstable();
        tenants.dedup();
        if !tenants.is_empty() {
            cloud_image_template_tenant::Entity::insert_many(tenants.into_iter().map(
                |tenant_id| cloud_image_template_tenant::ActiveModel {
                    template_id: Set(saved.id),
                    tenant_id: Set(tenant_id),
                },
            ))
            .exec(&txn)
            .await?;
        }
    }
    txn.commit().await?;
    Ok(saved)
}

/// Deletes a reference row; one still referenced is a `CONFLICT` (SPEC §1.4 and the migration's
/// deletion rules).
pub async fn delete<E: Readable>(ctx: Ctx<'_>, id: i64) -> Result<i64, Error>
where
    E::Model: FromQueryResult + Sync + Send,
{
    ctx.principal.authorize(Action::ManageReference)?;
    let txn = begin_write(ctx.db).await?;
    read::get::<E>(&txn, &Scope::All, id).await?;
    E::delete_many()
        .filter(read::primary_key::<E>().eq(id))
        .exec(&txn)
        .await
        .map_err(|err| conflict_on_reference(err, "id", "is still in use"))?;
    txn.commit().await?;
    Ok(id)
}

/// Inserts or updates `active`, turning a unique violation into `CONFLICT` on the field it names.
async fn persist<A>(
    txn: &impl ConnectionTrait,
    mut active: A,
    new: bool,
) -> Result<<A::Entity as EntityTrait>::Model, Error>
where
    A: ActiveModelTrait + ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    let result = if new {
        for column in <A::Entity as EntityTrait>::PrimaryKey::iter() {
            active.not_set(column.into_column());
        }
        active.insert(txn).await
    } else {
        active.reset_all().update(txn).await
    };
    result.map_err(|err| {
        let field = match err.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(detail)) => {
                if detail.contains("slug") {
                    "slug"
                } else if detail.contains("source_vmid") || detail.contains("cluster_vmid") {
                    "source_vmid"
                } else {
                    "name"
                }
            }
            _ => "name",
        };
        conflict_on_unique(err, field, "is already taken")
    })
}

/// Records an error unless the row `id` of `E` exists.
async fn exists<E: EntityTrait>(
    db: &impl ConnectionTrait,
    c: &mut Checks,
    field: &str,
    id: Option<i32>,
) -> Result<(), Error>
where
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<i32>,
    E::Model: FromQueryResult + Send + Sync,
{
    if let Some(id) = id {
        let found = E::find_by_id(id).count(db).await?;
        c.check(field, found == 1, "does not exist");
    }
    Ok(())
}

/// Records an error unless every tenant of `ids` exists.
pub async fn all_exist(
    db: &impl ConnectionTrait,
    c: &mut Checks,
    field: &str,
    ids: &[i32],
) -> Result<(), Error> {
    let mut unique = ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    if unique.is_empty() {
        return Ok(());
    }
    let found = tenant::Entity::find()
        .filter(tenant::Column::Id.is_in(unique.iter().copied()))
        .count(db)
        .await?;
    c.check(
        field,
        found as usize == unique.len(),
        "names a tenant that does not exist",
    );
    Ok(())
}
