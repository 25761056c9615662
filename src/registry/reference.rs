//! Reference data (SPEC §1.4): tenants, clusters, Proxmox endpoints, the cloud image catalog
//! and users — their fields, sort keys and visibility, declared once each. Only authenticated
//! principals read them (anonymous readers get `UNAUTHENTICATED`); only catalog entries are
//! restricted by tenant.

pub mod sync;
mod templates;
mod writes;

pub use templates::{TemplatePatch, save_template};
pub use writes::{
    ClusterPatch, EndpointPatch, TenantPatch, all_exist, delete, save_cluster, save_endpoint,
    save_tenant,
};

use entity::{
    cloud_image_template, cloud_image_template_tenant, cluster, proxmox_endpoint, tenant, user,
    user_tenant,
};
use sea_orm::sea_query::Expr;

use super::{
    page::Sort,
    read::{Audience, Readable},
    visibility,
};
use crate::{auth::Scope, filter_fields, sort_fields};

/// The filterable fields of a tenant, declared once: see `registry::filter`.
#[macro_export]
macro_rules! tenant_filter {
    ($callback:ident $(, $($extra:tt)*)?) => {
        $callback! {
            ($($($extra)*)?)
            TenantField for tenant search [Name, Slug, Description] {
                /// Id.
                Id id: Id(tenant) = column(Id, not_null),
                /// Name.
                Name name: Text = column(Name, not_null),
                /// Slug.
                Slug slug: Text = column(Slug, not_null),
                /// Creation time.
                Created created: Time = column(Created, not_null),
                /// Last change.
                LastUpdated last_updated: Time = column(LastUpdated, not_null),
            }
        }
    };
}

/// The sort keys of a tenant, declared once.
#[macro_export]
macro_rules! tenant_sort {
    ($callback:ident $(, $($extra:tt)*)?) => {
        $callback! {
            ($($($extra)*)?)
            TenantSort for tenant {
                /// Id.
                Id = (Id, "id", not_null),
                /// Name.
                Name = (Name, "name", not_null),
                /// Slug.
                Slug = (Slug, "slug", not_null),
                /// Creation time.
                Created = (Created, "created", not_null),
            }
        }
    };
}

/// The filterable fields of a cluster, declared once.
#[macro_export]
macro_rules! cluster_filter {
    ($callback:ident $(, $($extra:tt)*)?) => {
        $callback! {
            ($($($extra)*)?)
            ClusterField for cluster search [Name, Description] {
                /// Id.
                Id id: Id(cluster) = column(Id, not_null),
                /// Name.
                Name name: Text = column(Name, not_null),
                /// Cluster type.
                ClusterType cluster_type: Text = column(ClusterType, not_null),
                /// Tenant id.
                Tenant tenant: Id(tenant) = column(TenantId, nullable),
                /// Creation time.
                Created created: Time = column(Created, not_null),
            }
        }
    };
}

/// The sort keys of a cluster, declared once.
#[macro_export]
macro_rules! cluster_sort {
    ($callback:ident $(, $($extra:tt)*)?) => {
        $callback! {
            ($($($extra)*)?)
            ClusterSort for cluster {
                /// Id.
                Id = (Id, "id", not_null),
                /// Name.
                Name = (Name, "name", not_null),
                /// Creation time.
                Created = (Created, "created", not_null),
            }
        }
    };
}

/// The filterable fields of a Proxmox endpoint, declared once.
#[macro_export]
macro_rules! endpoint_filter {
    ($callback:ident $(, $($extra:tt)*)?) => {
        $callback! {
            ($($($extra)*)?)
            EndpointField for proxmox_endpoint search [Name, Domain, IpAddress] {
                /// Id.
                Id id: Id(proxmox_endpoint) = column(Id, not_null),
                /// Name.
                Name name: Text = column(Name, not_null),
                /// Domain.
                Domain domain: Text = column(Domain, nullable),
                /// IP address.
                IpAddress ip_address: Text = column(IpAddress, nullable),
                /// Port.
                Port port: Int = column(Port, not_null),
                /// Mode.
                Mode mode: Choice(EndpointMode) = column(Mode, not_null),
                /// Enabled.
                Enabled enabled: Flag = column(Enabled, not_null),
                /// Allows writes.
                AllowWrites allow_writes: Flag = column(AllowWrites, not_null),
                /// Tenant id.
                Tenant tenant: Id(tenant) = column(TenantId, nullable),
                /// Creation time.
                Created created: Time = column(Created, not_null),
            }
        }
    };
}

/// The sort keys of a Proxmox endpoint, declared once.
#[macro_export]
macro_rules! endpoint_sort {
    ($callback:ident $(, $($extra:tt)*)?) => {
        $callback! {
            ($($($extra)*)?)
            EndpointSort for proxmox_endpoint {
                /// Id.
                Id = (Id, "id", not_null),
                /// Name.
                Name = (Name, "name", not_null),
                /// Creation time.
                Created = (Created, "created", not_null),
            }
        }
    };
}

/// The filterable fields of a catalog entry, declared once.
#[macro_export]
macro_rules! template_filter {
    ($callback:ident $(, $($extra:tt)*)?) => {
        $callback! {
            ($($($extra)*)?)
            TemplateField for cloud_image_template search [Name, Slug, Description] {
                /// Id.
                Id id: Id(cloud_image_template) = column(Id, not_null),
                /// Name.
                Name name: Text = column(Name, not_null),
                /// Slug.
                Slug slug: Text = column(Slug, not_null),
                /// Cluster id.
                Cluster cluster: Id(cluster) = column(ClusterId, not_null),
                /// VMID on the cluster.
                SourceVmid source_vmid: Int = column(SourceVmid, not_null),
                /// Operating system family.
                OsFamily os_family: Choice(CatalogOsFamily) = column(OsFamily, not_null),
                /// Operating system release.
                OsRelease os_release: Text = column(OsRelease, not_null),
                /// Offered.
                IsActive is_active: Flag = column(IsActive, not_null),
                /// A tenant id among `allowedTenants`; `isNull: true` for unrestricted entries.
                Tenant tenant: Id(tenant) = through(Id, cloud_image_template_tenant, TemplateId, TenantId),
                /// Creation time.
                Created created: Time = column(Created, not_null),
            }
        }
    };
}

/// The sort keys of a catalog entry, declared once.
#[macro_export]
macro_rules! template_sort {
    ($callback:ident $(, $($extra:tt)*)?) => {
        $callback! {
            ($($($extra)*)?)
            TemplateSort for cloud_image_template {
                /// Id.
                Id = (Id, "id", not_null),
                /// Name.
                Name = (Name, "name", not_null),
                /// Slug.
                Slug = (Slug, "slug", not_null),
                /// VMID on the cluster.
                SourceVmid = (SourceVmid, "source_vmid", not_null),
                /// Creation time.
                Created = (Created, "created", not_null),
            }
        }
    };
}

/// The filterable fields of a user, declared once.
#[macro_export]
macro_rules! user_filter {
    ($callback:ident $(, $($extra:tt)*)?) => {
        $callback! {
            ($($($extra)*)?)
            UserField for user search [Username, FirstName, LastName, Email] {
                /// Id.
                Id id: Id(user) = column(Id, not_null),
                /// User name.
                Username username: Text = column(Username, not_null),
                /// E-mail address.
                Email email: Text = column(Email, not_null),
                /// Role.
                Role role: Choice(Role) = column(Role, not_null),
                /// Active.
                IsActive is_active: Flag = column(IsActive, not_null),
                /// A tenant id among its tenants.
                Tenant tenant: Id(tenant) = through(Id, user_tenant, UserId, TenantId),
                /// Creation time.
                Created created: Time = column(Created, not_null),
            }
        }
    };
}

/// The sort keys of a user, declared once.
#[macro_export]
macro_rules! user_sort {
    ($callback:ident $(, $($extra:tt)*)?) => {
        $callback! {
            ($($($extra)*)?)
            UserSort for user {
                /// Id.
                Id = (Id, "id", not_null),
                /// User name.
                Username = (Username, "username", not_null),
                /// Creation time.
                Created = (Created, "created", not_null),
            }
        }
    };
}

tenant_filter!(
    filter_fields,
    /// The filterable fields of a tenant; `q` searches name, slug and description.
);
tenant_sort!(sort_fields, /// The sortable fields of a tenant.
);
cluster_filter!(
    filter_fields,
    /// The filterable fields of a cluster; `q` searches name and description.
);
cluster_sort!(sort_fields, /// The sortable fields of a cluster.
);
endpoint_filter!(
    filter_fields,
    /// The filterable fields of a Proxmox endpoint; `q` searches name, domain and address.
);
endpoint_sort!(sort_fields, /// The sortable fields of a Proxmox endpoint.
);
template_filter!(
    filter_fields,
    /// The filterable fields of a catalog entry; `q` searches name, slug and description.
);
template_sort!(sort_fields, /// The sortable fields of a catalog entry.
);
user_filter!(
    filter_fields,
    /// The filterable fields of a user; `q` searches user name, names and e-mail.
);
user_sort!(sort_fields, /// The sortable fields of a user.
);

macro_rules! readable {
    ($entity:ident, $field:ident, $sort:ident, $default:ident, $rows:expr) => {
        impl Readable for $entity::Entity {
            type Field = $field;
            type Sort = $sort;
            const AUDIENCE: Audience = Audience::Authenticated;

            fn rows(scope: &Scope) -> Option<Expr> {
                let rows: fn(&Scope) -> Option<Expr> = $rows;
                rows(scope)
            }

            fn default_sort() -> Vec<Sort<$sort>> {
                vec![Sort {
                    field: $sort::$default,
                    desc: false,
                }]
            }
        }
    };
}

readable!(tenant, TenantField, TenantSort, Name, |_| None);
readable!(cluster, ClusterField, ClusterSort, Name, |_| None);
readable!(proxmox_endpoint, EndpointField, EndpointSort, Name, |_| {
    None
});
readable!(user, UserField, UserSort, Username, |_| None);
readable!(
    cloud_image_template,
    TemplateField,
    TemplateSort,
    Name,
    |scope| visibility::templates(
        scope,
        Expr::col((
            cloud_image_template::Entity,
            cloud_image_template::Column::Id
        ))
    )
);
