//! Image definitions: reads, and (with the rules of SPEC §1.1) writes.

use entity::{image_definition, image_definition_tenant};
use sea_orm::sea_query::Expr;

use super::{
    page::Sort,
    read::Readable,
    visibility::{self, Scope},
};
use crate::{filter_fields, sort_fields};

filter_fields! {
    /// The filterable fields of a definition (SPEC §3.1); `q` searches name and description.
    pub enum DefinitionField for image_definition {
        /// `id`
        Id => column(Id, Number, not_null, "id"),
        /// `name`
        Name => column(Name, Text, not_null, "name"),
        /// `slug`
        Slug => column(Slug, Text, not_null, "slug"),
        /// `enabled`
        Enabled => column(Enabled, Flag, not_null, "enabled"),
        /// `builder_type`
        BuilderType => column(BuilderType, Choice, not_null, "builder_type"),
        /// `proxmox_endpoint`
        ProxmoxEndpoint => column(ProxmoxEndpointId, Number, not_null, "proxmox_endpoint"),
        /// `target_cluster`
        TargetCluster => column(TargetClusterId, Number, nullable, "target_cluster"),
        /// `target_node`
        TargetNode => column(TargetNode, Text, not_null, "target_node"),
        /// `os_family`
        OsFamily => column(OsFamily, Choice, not_null, "os_family"),
        /// `provisioner_recipe`
        ProvisionerRecipe => column(ProvisionerRecipe, Choice, not_null, "provisioner_recipe"),
        /// `allowed_tenants`; `isNull: true` means unrestricted.
        Tenant => through(Id, image_definition_tenant, DefinitionId, TenantId, Number, "tenant"),
        /// `created`
        Created => column(Created, Time, not_null, "created"),
        /// `last_updated`
        LastUpdated => column(LastUpdated, Time, not_null, "last_updated"),
    }
    search [Name, Description]
}

sort_fields! {
    /// The sortable fields of a definition.
    pub enum DefinitionSort for image_definition {
        /// `id`
        Id => (Id, "id", not_null),
        /// `name`
        Name => (Name, "name", not_null),
        /// `slug`
        Slug => (Slug, "slug", not_null),
        /// `enabled`
        Enabled => (Enabled, "enabled", not_null),
        /// `builder_type`
        BuilderType => (BuilderType, "builder_type", not_null),
        /// `target_node`
        TargetNode => (TargetNode, "target_node", not_null),
        /// `os_family`
        OsFamily => (OsFamily, "os_family", not_null),
        /// `os_release`
        OsRelease => (OsRelease, "os_release", not_null),
        /// `created`
        Created => (Created, "created", not_null),
        /// `last_updated`
        LastUpdated => (LastUpdated, "last_updated", not_null),
    }
}

impl Readable for image_definition::Entity {
    type Field = DefinitionField;
    type Sort = DefinitionSort;

    fn scope(scope: &Scope) -> Option<Expr> {
        visibility::definitions(
            scope,
            Expr::col((image_definition::Entity, image_definition::Column::Id)),
        )
    }

    fn default_sort() -> Vec<Sort<DefinitionSort>> {
        vec![Sort {
            field: DefinitionSort::Name,
            desc: false,
        }]
    }
}
