//! Reference data (SPEC §1.4): tenants, clusters, Proxmox endpoints, the cloud image catalog
//! and users. Only catalog entries are restricted by tenant; the rest is readable by every
//! principal that may read at all.

mod writes;

pub use writes::{
    ClusterPatch, EndpointPatch, TemplatePatch, TenantPatch, all_exist, delete, save_cluster,
    save_endpoint, save_template, save_tenant,
};

use entity::{
    cloud_image_template, cloud_image_template_tenant, cluster, proxmox_endpoint, tenant, user,
    user_tenant,
};
use sea_orm::sea_query::Expr;

use super::{
    page::Sort,
    read::Readable,
    visibility::{self, Scope},
};
use crate::{filter_fields, sort_fields};

filter_fields! {
    /// The filterable fields of a tenant; `q` searches name, slug and description.
    pub enum TenantField for tenant {
        /// `id`
        Id => column(Id, Number, not_null, "id"),
        /// `name`
        Name => column(Name, Text, not_null, "name"),
        /// `slug`
        Slug => column(Slug, Text, not_null, "slug"),
        /// `created`
        Created => column(Created, Time, not_null, "created"),
        /// `last_updated`
        LastUpdated => column(LastUpdated, Time, not_null, "last_updated"),
    }
    search [Name, Slug, Description]
}

sort_fields! {
    /// The sortable fields of a tenant.
    pub enum TenantSort for tenant {
        /// `id`
        Id => (Id, "id", not_null),
        /// `name`
        Name => (Name, "name", not_null),
        /// `slug`
        Slug => (Slug, "slug", not_null),
        /// `created`
        Created => (Created, "created", not_null),
    }
}

filter_fields! {
    /// The filterable fields of a cluster; `q` searches name and description.
    pub enum ClusterField for cluster {
        /// `id`
        Id => column(Id, Number, not_null, "id"),
        /// `name`
        Name => column(Name, Text, not_null, "name"),
        /// `cluster_type`
        ClusterType => column(ClusterType, Text, not_null, "cluster_type"),
        /// `tenant`
        Tenant => column(TenantId, Number, nullable, "tenant"),
        /// `created`
        Created => column(Created, Time, not_null, "created"),
    }
    search [Name, Description]
}

sort_fields! {
    /// The sortable fields of a cluster.
    pub enum ClusterSort for cluster {
        /// `id`
        Id => (Id, "id", not_null),
        /// `name`
        Name => (Name, "name", not_null),
        /// `created`
        Created => (Created, "created", not_null),
    }
}

filter_fields! {
    /// The filterable fields of a Proxmox endpoint; `q` searches name, domain and address.
    pub enum EndpointField for proxmox_endpoint {
        /// `id`
        Id => column(Id, Number, not_null, "id"),
        /// `name`
        Name => column(Name, Text, not_null, "name"),
        /// `domain`
        Domain => column(Domain, Text, nullable, "domain"),
        /// `ip_address`
        IpAddress => column(IpAddress, Text, nullable, "ip_address"),
        /// `port`
        Port => column(Port, Number, not_null, "port"),
        /// `mode`
        Mode => column(Mode, Choice, not_null, "mode"),
        /// `enabled`
        Enabled => column(Enabled, Flag, not_null, "enabled"),
        /// `allow_writes`
        AllowWrites => column(AllowWrites, Flag, not_null, "allow_writes"),
        /// `tenant`
        Tenant => column(TenantId, Number, nullable, "tenant"),
        /// `created`
        Created => column(Created, Time, not_null, "created"),
    }
    search [Name, Domain, IpAddress]
}

sort_fields! {
    /// The sortable fields of a Proxmox endpoint.
    pub enum EndpointSort for proxmox_endpoint {
        /// `id`
        Id => (Id, "id", not_null),
        /// `name`
        Name => (Name, "name", not_null),
        /// `created`
        Created => (Created, "created", not_null),
    }
}

filter_fields! {
    /// The filterable fields of a catalog entry; `q` searches name, slug and description.
    pub enum TemplateField for cloud_image_template {
        /// `id`
        Id => column(Id, Number, not_null, "id"),
        /// `name`
        Name => column(Name, Text, not_null, "name"),
        /// `slug`
        Slug => column(Slug, Text, not_null, "slug"),
        /// `cluster`
        Cluster => column(ClusterId, Number, not_null, "cluster"),
        /// `source_vmid`
        SourceVmid => column(SourceVmid, Number, not_null, "source_vmid"),
        /// `os_family`
        OsFamily => column(OsFamily, Choice, not_null, "os_family"),
        /// `os_release`
        OsRelease => column(OsRelease, Text, not_null, "os_release"),
        /// `is_active`
        IsActive => column(IsActive, Flag, not_null, "is_active"),
        /// `allowed_tenants`; `isNull: true` means unrestricted.
        Tenant => through(Id, cloud_image_template_tenant, TemplateId, TenantId, Number, "tenant"),
        /// `created`
        Created => column(Created, Time, not_null, "created"),
    }
    search [Name, Slug, Description]
}

sort_fields! {
    /// The sortable fields of a catalog entry.
    pub enum TemplateSort for cloud_image_template {
        /// `id`
        Id => (Id, "id", not_null),
        /// `name`
        Name => (Name, "name", not_null),
        /// `slug`
        Slug => (Slug, "slug", not_null),
        /// `source_vmid`
        SourceVmid => (SourceVmid, "source_vmid", not_null),
        /// `created`
        Created => (Created, "created", not_null),
    }
}

filter_fields! {
    /// The filterable fields of a user; `q` searches user name, names and e-mail.
    pub enum UserField for user {
        /// `id`
        Id => column(Id, Number, not_null, "id"),
        /// `username`
        Username => column(Username, Text, not_null, "username"),
        /// `email`
        Email => column(Email, Text, not_null, "email"),
        /// `role`
        Role => column(Role, Choice, not_null, "role"),
        /// `is_active`
        IsActive => column(IsActive, Flag, not_null, "is_active"),
        /// `tenants`
        Tenant => through(Id, user_tenant, UserId, TenantId, Number, "tenant"),
        /// `created`
        Created => column(Created, Time, not_null, "created"),
    }
    search [Username, FirstName, LastName, Email]
}

sort_fields! {
    /// The sortable fields of a user.
    pub enum UserSort for user {
        /// `id`
        Id => (Id, "id", not_null),
        /// `username`
        Username => (Username, "username", not_null),
        /// `created`
        Created => (Created, "created", not_null),
    }
}

macro_rules! readable {
    ($entity:ident, $field:ident, $sort:ident, $default:ident, $scope:expr) => {
        impl Readable for $entity::Entity {
            type Field = $field;
            type Sort = $sort;

            fn scope(scope: &Scope) -> Option<Expr> {
                let scope_of: fn(&Scope) -> Option<Expr> = $scope;
                scope_of(scope)
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
