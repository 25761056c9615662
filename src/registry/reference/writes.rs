//! Reference-data writes (ADMIN): create, patch and delete tenants, clusters and Proxmox
//! endpoints (catalog entries: [`super::templates`]), with the rules of SPEC §1.4.

use entity::{cluster, enums::EndpointMode, proxmox_endpoint, tenant};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait,
    FromQueryResult, IntoActiveModel, Iterable, PaginatorTrait, PrimaryKeyToColumn,
    PrimaryKeyTrait, QueryFilter, Set,
};

use crate::registry::rows::ByIndex;
use crate::{
    auth::{Action, Scope},
    error::{Error, conflict_on_reference, conflict_on_unique},
    registry::{
        Ctx,
        id::{self, Id},
        read::{self, Readable},
        rules::{Checks, MAX_VALUES, too_many_values},
        tx::begin_write,
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

/// Sets each of the fields a patch carries.
macro_rules! apply {
    ($row:expr, $patch:expr, $($field:ident),*) => {
        $(if let Some(value) = $patch.$field { $row.$field = value; })*
    };
}
pub(super) use apply;

/// Creates or (with `id`) updates a tenant.
pub async fn save_tenant(
    ctx: Ctx<'_>,
    id: Option<Id<tenant::Entity>>,
    patch: TenantPatch,
) -> Result<tenant::Model, Error> {
    ctx.principal.authorize(Action::ManageReference)?;
    let txn = begin_write(ctx.db).await?;
    let stamp = ctx.clock.now();
    let mut row = match id {
        Some(id) => read::get::<tenant::Entity>(&txn, &Scope::service(), id).await?,
        None => tenant::Model {
            id: 0,
            name: String::new(),
            slug: String::new(),
            description: String::new(),
            netbox_id: None,
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
    id: Option<Id<cluster::Entity>>,
    patch: ClusterPatch,
) -> Result<cluster::Model, Error> {
    ctx.principal.authorize(Action::ManageReference)?;
    let txn = begin_write(ctx.db).await?;
    let stamp = ctx.clock.now();
    let mut row = match id {
        Some(id) => read::get::<cluster::Entity>(&txn, &Scope::service(), id).await?,
        None => cluster::Model {
            id: 0,
            name: String::new(),
            cluster_type: "proxmox".to_owned(),
            tenant_id: None,
            description: String::new(),
            netbox_id: None,
            netbox_type_id: None,
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
    id: Option<Id<proxmox_endpoint::Entity>>,
    patch: EndpointPatch,
) -> Result<proxmox_endpoint::Model, Error> {
    ctx.principal.authorize(Action::ManageReference)?;
    let txn = begin_write(ctx.db).await?;
    let stamp = ctx.clock.now();
    let mut row = match id {
        Some(id) => read::get::<proxmox_endpoint::Entity>(&txn, &Scope::service(), id).await?,
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
            netbox_id: None,
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

/// Deletes a reference row; one still referenced is a `CONFLICT` (SPEC §1.4 and the migration's
/// deletion rules).
pub async fn delete<E: Readable>(ctx: Ctx<'_>, id: Id<E>) -> Result<Id<E>, Error>
where
    E::Model: ByIndex + Sync + Send,
{
    ctx.principal.authorize(Action::ManageReference)?;
    let txn = begin_write(ctx.db).await?;
    let row = read::get::<E>(&txn, &Scope::service(), id).await?;
    E::delete_many()
        .filter(id::primary_key::<E>().is_in(Id::<E>::of(&row).value()))
        .exec(&txn)
        .await
        .map_err(|err| conflict_on_reference(err, "id", "is still in use"))?;
    txn.commit().await?;
    // A deleted tenant leaves the users it was given to (its links cascade): their tokens see
    // less from now on. (For other rows the generation has not moved, and this reads only it.)
    ctx.auth.refresh().await;
    Ok(id)
}

/// Inserts or updates `active`, turning a unique violation into `CONFLICT` on the field it names.
pub(super) async fn persist<A>(
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
pub(super) async fn exists<E: EntityTrait>(
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
    if unique.len() > MAX_VALUES {
        c.check(field, false, &too_many_values(unique.len()));
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
