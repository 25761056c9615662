//! Definitions, builds and their events, the plugin settings (with their one row) and the
//! idempotency keys of queued builds.

use sea_orm_migration::{prelude::*, schema::*};

use super::{
    Stamp, fk, link_table,
    reference::{CloudImageTemplate, Cluster, ProxmoxEndpoint},
    stamped,
    users::User,
};

#[derive(DeriveIden)]
pub(super) enum ImageDefinition {
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
pub(super) enum ImageDefinitionTenant {
    Table,
    DefinitionId,
}

#[derive(DeriveIden)]
pub(super) enum ImageBuild {
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
pub(super) enum BuildEvent {
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
pub(super) enum PluginSettings {
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
pub(super) enum IdempotencyKey {
    Table,
    Id,
    UserId,
    Key,
    RequestHash,
    BuildId,
}

/// Creates the tables of definitions and builds.
pub(super) async fn up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    use ForeignKeyAction::{Cascade, Restrict, SetNull};

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
    Ok(())
}
