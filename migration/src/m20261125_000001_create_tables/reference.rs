//! Reference data: tenants, clusters, Proxmox endpoints, the cloud image catalog and its
//! tenant list.

use sea_orm_migration::{prelude::*, schema::*};

use super::{fk, link_table, stamped};

#[derive(DeriveIden)]
pub(super) enum Tenant {
    Table,
    Id,
    Name,
    Slug,
    Description,
}

#[derive(DeriveIden)]
#[expect(
    clippy::enum_variant_names,
    reason = "iden enums spell the column names, `cluster_type` included"
)]
pub(super) enum Cluster {
    Table,
    Id,
    Name,
    ClusterType,
    TenantId,
    Description,
}

#[derive(DeriveIden)]
pub(super) enum ProxmoxEndpoint {
    Table,
    Id,
    Name,
    Domain,
    IpAddress,
    Port,
    Mode,
    VerifySsl,
    AllowWrites,
    Enabled,
    TenantId,
}

#[derive(DeriveIden)]
pub(super) enum CloudImageTemplate {
    Table,
    Id,
    Name,
    Slug,
    Description,
    ClusterId,
    SourceVmid,
    OsFamily,
    OsRelease,
    DefaultCiuser,
    IsActive,
}

#[derive(DeriveIden, Clone, Copy)]
pub(super) enum CloudImageTemplateTenant {
    Table,
    TemplateId,
}

/// Creates the reference tables.
pub(super) async fn up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    use ForeignKeyAction::{Restrict, SetNull};

    manager
        .create_table(stamped(
            Table::create()
                .table(Tenant::Table)
                .col(pk_auto(Tenant::Id))
                .col(string_len_uniq(Tenant::Name, 255))
                .col(string_len_uniq(Tenant::Slug, 255))
                .col(text(Tenant::Description))
                .take(),
        ))
        .await?;

    manager
        .create_table(stamped(
            Table::create()
                .table(Cluster::Table)
                .col(pk_auto(Cluster::Id))
                .col(string_len_uniq(Cluster::Name, 255))
                .col(string_len(Cluster::ClusterType, 100))
                .col(integer_null(Cluster::TenantId))
                .col(text(Cluster::Description))
                .foreign_key(&mut fk(
                    "fk_cluster_tenant",
                    (Cluster::Table, Cluster::TenantId),
                    (Tenant::Table, Tenant::Id),
                    SetNull,
                ))
                .take(),
        ))
        .await?;

    manager
        .create_table(stamped(
            Table::create()
                .table(ProxmoxEndpoint::Table)
                .col(pk_auto(ProxmoxEndpoint::Id))
                .col(string_len_uniq(ProxmoxEndpoint::Name, 255))
                .col(string_len_null(ProxmoxEndpoint::Domain, 255))
                .col(string_len_null(ProxmoxEndpoint::IpAddress, 64))
                .col(integer(ProxmoxEndpoint::Port))
                .col(string_len(ProxmoxEndpoint::Mode, 16))
                .col(boolean(ProxmoxEndpoint::VerifySsl))
                .col(boolean(ProxmoxEndpoint::AllowWrites))
                .col(boolean(ProxmoxEndpoint::Enabled))
                .col(integer_null(ProxmoxEndpoint::TenantId))
                .foreign_key(&mut fk(
                    "fk_proxmox_endpoint_tenant",
                    (ProxmoxEndpoint::Table, ProxmoxEndpoint::TenantId),
                    (Tenant::Table, Tenant::Id),
                    SetNull,
                ))
                .take(),
        ))
        .await?;

    manager
        .create_table(stamped(
            Table::create()
                .table(CloudImageTemplate::Table)
                .col(pk_auto(CloudImageTemplate::Id))
                .col(string_len(CloudImageTemplate::Name, 255))
                .col(string_len_uniq(CloudImageTemplate::Slug, 255))
                .col(text(CloudImageTemplate::Description))
                .col(integer(CloudImageTemplate::ClusterId))
                .col(integer(CloudImageTemplate::SourceVmid))
                .col(string_len(CloudImageTemplate::OsFamily, 32))
                .col(string_len(CloudImageTemplate::OsRelease, 64))
                .col(string_len(CloudImageTemplate::DefaultCiuser, 64))
                .col(boolean(CloudImageTemplate::IsActive))
                .foreign_key(&mut fk(
                    "fk_cloud_image_template_cluster",
                    (CloudImageTemplate::Table, CloudImageTemplate::ClusterId),
                    (Cluster::Table, Cluster::Id),
                    Restrict,
                ))
                .index(
                    Index::create()
                        .name("uq_cloud_image_template_cluster_vmid")
                        .unique()
                        .col(CloudImageTemplate::ClusterId)
                        .col(CloudImageTemplate::SourceVmid),
                )
                .take(),
        ))
        .await?;

    manager
        .create_table(link_table(
            CloudImageTemplateTenant::Table,
            CloudImageTemplateTenant::TemplateId,
            (CloudImageTemplate::Table, CloudImageTemplate::Id),
            Restrict,
            "cloud_image_template_tenant",
        ))
        .await?;
    Ok(())
}
