//! Every table of SPEC §1, with its keys, constraints, `ON DELETE` behaviour and indexes.
//!
//! Deletion rules, chosen so that nothing is lost and no visibility widens by accident:
//! - a definition, endpoint, cluster or build that history points at cannot be deleted (RESTRICT);
//! - a tenant named in an `allowed_tenants` list cannot be deleted (RESTRICT): dropping it from the
//!   list would make a restricted definition visible to every tenant;
//! - a deleted user leaves its builds and events in place, without the attribution (SET NULL);
//! - a user's tenant links, tokens and idempotency keys go with it (CASCADE).

use sea_orm_migration::{prelude::*, schema::*};

/// Creates every table.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000001_create_tables"
    }
}

#[derive(DeriveIden)]
enum Tenant {
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
enum Cluster {
    Table,
    Id,
    Name,
    ClusterType,
    TenantId,
    Description,
}

#[derive(DeriveIden)]
enum ProxmoxEndpoint {
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
enum CloudImageTemplate {
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
enum CloudImageTemplateTenant {
    Table,
    TemplateId,
}

#[derive(DeriveIden)]
enum User {
    Table,
    Id,
    Username,
    FirstName,
    LastName,
    Email,
    IsActive,
    Role,
}

#[derive(DeriveIden, Clone, Copy)]
enum UserTenant {
    Table,
    UserId,
}

#[derive(DeriveIden)]
enum ApiToken {
    Table,
    Id,
    UserId,
    KeyHash,
    KeyPrefix,
    Description,
    WriteEnabled,
    Expires,
    Enabled,
    LastUsed,
}

#[derive(DeriveIden)]
enum ImageDefinition {
    Table,
    Id,
    Name,
    Slug,
    Description,
    Enabled,
    BuilderType,
    ProxmoxEndpointId,
    TargetClusterId,
    TargetNode,
    SourceTemplateVmid,
    IsoUrl,
    IsoChecksum,
    IsoStorage,
    DefaultStorage,
    DefaultBridge,
    OsFamily,
    OsRelease,
    DefaultCiuser,
    ProvisionerRecipe,
    DefaultVariables,
}

#[derive(DeriveIden, Clone, Copy)]
enum ImageDefinitionTenant {
    Table,
    DefinitionId,
}

#[derive(DeriveIden)]
enum ImageBuild {
    Table,
    Id,
    DefinitionId,
    Status,
    BackendBuildId,
    ProxmoxEndpointId,
    TargetNode,
    OutputVmid,
    OutputName,
    ImageVersion,
    Variables,
    TimeoutSeconds,
    StartedAt,
    CompletedAt,
    CreatedById,
    NetboxJobId,
    CloudImageTemplateId,
    BackendResponse,
    Error,
    RebuildOfId,
}

#[derive(DeriveIden)]
enum BuildEvent {
    Table,
    Id,
    BuildId,
    FromStatus,
    ToStatus,
    ActorId,
    Message,
    At,
}

#[derive(DeriveIden)]
enum PluginSettings {
    Table,
    Id,
    ImageFactoryEnabled,
    ImageFactoryMaxConcurrentBuilds,
    ImageFactoryDefaultJobTimeout,
    ImageFactoryAllowIsoBuilds,
    ImageFactoryAllowCustomVariables,
    LastUpdated,
}

#[derive(DeriveIden)]
enum IdempotencyKey {
    Table,
    Id,
    UserId,
    Key,
    RequestHash,
    BuildId,
}

/// `created` and `last_updated`, set by the service (never by a database default, so that both
/// backends store the same format).
#[derive(DeriveIden)]
enum Stamp {
    Created,
    LastUpdated,
}

fn stamped(mut table: TableCreateStatement) -> TableCreateStatement {
    table
        .col(timestamp_with_time_zone(Stamp::Created))
        .col(timestamp_with_time_zone(Stamp::LastUpdated));
    table
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(on_delete)
        .on_update(ForeignKeyAction::Cascade)
        .take()
}

fn link_table(
    table: impl IntoIden,
    owner_col: impl IntoIden + Clone + 'static,
    owner: (impl IntoIden, impl IntoIden),
    tenant_delete: ForeignKeyAction,
    name: &str,
) -> TableCreateStatement {
    Table::create()
        .table(table)
        .col(integer(owner_col.clone()))
        .col(integer(Alias::new("tenant_id")))
        .primary_key(
            Index::create()
                .col(owner_col.clone())
                .col(Alias::new("tenant_id")),
        )
        .foreign_key(&mut fk(
            &format!("fk_{name}_owner"),
            (Alias::new(name), owner_col),
            owner,
            ForeignKeyAction::Cascade,
        ))
        .foreign_key(&mut fk(
            &format!("fk_{name}_tenant"),
            (Alias::new(name), Alias::new("tenant_id")),
            (Tenant::Table, Tenant::Id),
            tenant_delete,
        ))
        .take()
}

fn index(name: &str, table: impl IntoIden, cols: &[&'static str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(Alias::new(*col));
    }
    index.take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, Restrict, SetNull};

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

        manager
            .create_table(stamped(
                Table::create()
                    .table(User::Table)
                    .col(pk_auto(User::Id))
                    .col(string_len_uniq(User::Username, 150))
                    .col(string_len(User::FirstName, 150))
                    .col(string_len(User::LastName, 150))
                    .col(string_len(User::Email, 254))
                    .col(boolean(User::IsActive))
                    .col(string_len(User::Role, 16))
                    .take(),
            ))
            .await?;

        manager
            .create_table(link_table(
                UserTenant::Table,
                UserTenant::UserId,
                (User::Table, User::Id),
                Cascade,
                "user_tenant",
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiToken::Table)
                    .col(pk_auto(ApiToken::Id))
                    .col(integer(ApiToken::UserId))
                    .col(string_len_uniq(ApiToken::KeyHash, 64))
                    .col(string_len(ApiToken::KeyPrefix, 16))
                    .col(string_len(ApiToken::Description, 255))
                    .col(boolean(ApiToken::WriteEnabled))
                    .col(timestamp_with_time_zone_null(ApiToken::Expires))
                    .col(boolean(ApiToken::Enabled))
                    .col(timestamp_with_time_zone_null(ApiToken::LastUsed))
                    .col(timestamp_with_time_zone(Stamp::Created))
                    .foreign_key(&mut fk(
                        "fk_api_token_user",
                        (ApiToken::Table, ApiToken::UserId),
                        (User::Table, User::Id),
                        Cascade,
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(stamped(
                Table::create()
                    .table(ImageDefinition::Table)
                    .col(pk_auto(ImageDefinition::Id))
                    .col(string_len_uniq(ImageDefinition::Name, 255))
                    .col(string_len_uniq(ImageDefinition::Slug, 255))
                    .col(text(ImageDefinition::Description))
                    .col(boolean(ImageDefinition::Enabled))
                    .col(string_len(ImageDefinition::BuilderType, 32))
                    .col(integer(ImageDefinition::ProxmoxEndpointId))
                    .col(integer_null(ImageDefinition::TargetClusterId))
                    .col(string_len(ImageDefinition::TargetNode, 255))
                    .col(integer_null(ImageDefinition::SourceTemplateVmid))
                    .col(string_len_null(ImageDefinition::IsoUrl, 512))
                    .col(string_len(ImageDefinition::IsoChecksum, 128))
                    .col(string_len(ImageDefinition::IsoStorage, 255))
                    .col(string_len(ImageDefinition::DefaultStorage, 255))
                    .col(string_len(ImageDefinition::DefaultBridge, 64))
                    .col(string_len(ImageDefinition::OsFamily, 32))
                    .col(string_len(ImageDefinition::OsRelease, 64))
                    .col(string_len(ImageDefinition::DefaultCiuser, 64))
                    .col(string_len(ImageDefinition::ProvisionerRecipe, 32))
                    .col(json_binary(ImageDefinition::DefaultVariables))
                    .foreign_key(&mut fk(
                        "fk_image_definition_endpoint",
                        (ImageDefinition::Table, ImageDefinition::ProxmoxEndpointId),
                        (ProxmoxEndpoint::Table, ProxmoxEndpoint::Id),
                        Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_image_definition_cluster",
                        (ImageDefinition::Table, ImageDefinition::TargetClusterId),
                        (Cluster::Table, Cluster::Id),
                        Restrict,
                    ))
                    .take(),
            ))
            .await?;

        manager
            .create_table(link_table(
                ImageDefinitionTenant::Table,
                ImageDefinitionTenant::DefinitionId,
                (ImageDefinition::Table, ImageDefinition::Id),
                Restrict,
                "image_definition_tenant",
            ))
            .await?;

        manager
            .create_table(stamped(
                Table::create()
                    .table(ImageBuild::Table)
                    .col(pk_auto(ImageBuild::Id))
                    .col(integer(ImageBuild::DefinitionId))
                    .col(string_len(ImageBuild::Status, 16))
                    .col(string_len(ImageBuild::BackendBuildId, 255))
                    .col(integer(ImageBuild::ProxmoxEndpointId))
                    .col(string_len(ImageBuild::TargetNode, 255))
                    .col(integer(ImageBuild::OutputVmid))
                    .col(string_len(ImageBuild::OutputName, 255))
                    .col(string_len(ImageBuild::ImageVersion, 64))
                    .col(json_binary(ImageBuild::Variables))
                    .col(integer_null(ImageBuild::TimeoutSeconds))
                    .col(timestamp_with_time_zone_null(ImageBuild::StartedAt))
                    .col(timestamp_with_time_zone_null(ImageBuild::CompletedAt))
                    .col(integer_null(ImageBuild::CreatedById))
                    .col(integer_null(ImageBuild::NetboxJobId))
                    .col(integer_null(ImageBuild::CloudImageTemplateId))
                    .col(json_binary(ImageBuild::BackendResponse))
                    .col(text(ImageBuild::Error))
                    .col(integer_null(ImageBuild::RebuildOfId))
                    .foreign_key(&mut fk(
                        "fk_image_build_definition",
                        (ImageBuild::Table, ImageBuild::DefinitionId),
                        (ImageDefinition::Table, ImageDefinition::Id),
                        Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_image_build_endpoint",
                        (ImageBuild::Table, ImageBuild::ProxmoxEndpointId),
                        (ProxmoxEndpoint::Table, ProxmoxEndpoint::Id),
                        Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_image_build_created_by",
                        (ImageBuild::Table, ImageBuild::CreatedById),
                        (User::Table, User::Id),
                        SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "fk_image_build_template",
                        (ImageBuild::Table, ImageBuild::CloudImageTemplateId),
                        (CloudImageTemplate::Table, CloudImageTemplate::Id),
                        SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "fk_image_build_rebuild_of",
                        (ImageBuild::Table, ImageBuild::RebuildOfId),
                        (ImageBuild::Table, ImageBuild::Id),
                        Restrict,
                    ))
                    .take(),
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(BuildEvent::Table)
                    .col(big_pk_auto(BuildEvent::Id))
                    .col(integer(BuildEvent::BuildId))
                    .col(string_len_null(BuildEvent::FromStatus, 16))
                    .col(string_len(BuildEvent::ToStatus, 16))
                    .col(integer_null(BuildEvent::ActorId))
                    .col(text(BuildEvent::Message))
                    .col(timestamp_with_time_zone(BuildEvent::At))
                    .foreign_key(&mut fk(
                        "fk_build_event_build",
                        (BuildEvent::Table, BuildEvent::BuildId),
                        (ImageBuild::Table, ImageBuild::Id),
                        Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_build_event_actor",
                        (BuildEvent::Table, BuildEvent::ActorId),
                        (User::Table, User::Id),
                        SetNull,
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PluginSettings::Table)
                    .col(
                        integer(PluginSettings::Id)
                            .primary_key()
                            .check(Expr::col(PluginSettings::Id).eq(1)),
                    )
                    .col(boolean(PluginSettings::ImageFactoryEnabled))
                    .col(integer(PluginSettings::ImageFactoryMaxConcurrentBuilds))
                    .col(integer(PluginSettings::ImageFactoryDefaultJobTimeout))
                    .col(boolean(PluginSettings::ImageFactoryAllowIsoBuilds))
                    .col(boolean(PluginSettings::ImageFactoryAllowCustomVariables))
                    .col(timestamp_with_time_zone(PluginSettings::LastUpdated))
                    .take(),
            )
            .await?;

        manager
            .exec_stmt(
                Query::insert()
                    .into_table(PluginSettings::Table)
                    .columns([
                        PluginSettings::Id,
                        PluginSettings::ImageFactoryEnabled,
                        PluginSettings::ImageFactoryMaxConcurrentBuilds,
                        PluginSettings::ImageFactoryDefaultJobTimeout,
                        PluginSettings::ImageFactoryAllowIsoBuilds,
                        PluginSettings::ImageFactoryAllowCustomVariables,
                        PluginSettings::LastUpdated,
                    ])
                    .values_panic([
                        1.into(),
                        false.into(),
                        1.into(),
                        14_400.into(),
                        false.into(),
                        false.into(),
                        chrono::Utc::now().into(),
                    ])
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKey::Table)
                    .col(pk_auto(IdempotencyKey::Id))
                    .col(integer(IdempotencyKey::UserId))
                    .col(string_len(IdempotencyKey::Key, 255))
                    .col(string_len(IdempotencyKey::RequestHash, 64))
                    .col(integer(IdempotencyKey::BuildId))
                    .col(timestamp_with_time_zone(Stamp::Created))
                    .foreign_key(&mut fk(
                        "fk_idempotency_key_user",
                        (IdempotencyKey::Table, IdempotencyKey::UserId),
                        (User::Table, User::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_idempotency_key_build",
                        (IdempotencyKey::Table, IdempotencyKey::BuildId),
                        (ImageBuild::Table, ImageBuild::Id),
                        Restrict,
                    ))
                    .index(
                        Index::create()
                            .name("uq_idempotency_key_user_key")
                            .unique()
                            .col(IdempotencyKey::UserId)
                            .col(IdempotencyKey::Key),
                    )
                    .take(),
            )
            .await?;

        let indexes = [
            index(
                "ix_build_status_started",
                ImageBuild::Table,
                &["status", "started_at"],
            ),
            index(
                "ix_build_definition_created",
                ImageBuild::Table,
                &["definition_id", "created", "id"],
            ),
            index("ix_build_created", ImageBuild::Table, &["created", "id"]),
            index(
                "ix_build_endpoint",
                ImageBuild::Table,
                &["proxmox_endpoint_id"],
            ),
            index("ix_build_created_by", ImageBuild::Table, &["created_by_id"]),
            index(
                "ix_build_template",
                ImageBuild::Table,
                &["cloud_image_template_id"],
            ),
            index("ix_build_rebuild_of", ImageBuild::Table, &["rebuild_of_id"]),
            index("ix_event_build", BuildEvent::Table, &["build_id", "id"]),
            index("ix_event_actor", BuildEvent::Table, &["actor_id"]),
            index(
                "ix_definition_endpoint",
                ImageDefinition::Table,
                &["proxmox_endpoint_id"],
            ),
            index(
                "ix_definition_cluster",
                ImageDefinition::Table,
                &["target_cluster_id"],
            ),
            index(
                "ix_definition_created",
                ImageDefinition::Table,
                &["created", "id"],
            ),
            index(
                "ix_definition_tenant_tenant",
                ImageDefinitionTenant::Table,
                &["tenant_id"],
            ),
            index(
                "ix_template_tenant_tenant",
                CloudImageTemplateTenant::Table,
                &["tenant_id"],
            ),
            index("ix_user_tenant_tenant", UserTenant::Table, &["tenant_id"]),
            index("ix_cluster_tenant", Cluster::Table, &["tenant_id"]),
            index("ix_endpoint_tenant", ProxmoxEndpoint::Table, &["tenant_id"]),
            index("ix_api_token_user", ApiToken::Table, &["user_id"]),
            index(
                "ix_idempotency_key_build",
                IdempotencyKey::Table,
                &["build_id"],
            ),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables: [DynIden; 14] = [
            IdempotencyKey::Table.into_iden(),
            PluginSettings::Table.into_iden(),
            BuildEvent::Table.into_iden(),
            ImageBuild::Table.into_iden(),
            ImageDefinitionTenant::Table.into_iden(),
            ImageDefinition::Table.into_iden(),
            ApiToken::Table.into_iden(),
            UserTenant::Table.into_iden(),
            User::Table.into_iden(),
            CloudImageTemplateTenant::Table.into_iden(),
            CloudImageTemplate::Table.into_iden(),
            ProxmoxEndpoint::Table.into_iden(),
            Cluster::Table.into_iden(),
            Tenant::Table.into_iden(),
        ];
        for table in tables {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
