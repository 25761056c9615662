//! Every table of SPEC §1, with its keys, constraints, `ON DELETE` behaviour and indexes.
//!
//! Deletion rules, chosen so that nothing is lost and no visibility widens by accident:
//! - a definition, endpoint, cluster or build that history points at cannot be deleted (RESTRICT);
//! - a tenant named in an `allowed_tenants` list cannot be deleted (RESTRICT): dropping it from the
//!   list would make a restricted definition visible to every tenant;
//! - a deleted user leaves its builds and events in place, without the attribution (SET NULL);
//! - a user's tenant links, tokens and idempotency keys go with it (CASCADE).

mod builds;
mod reference;
mod users;

use sea_orm_migration::{prelude::*, schema::*};

use self::{
    builds::{
        BuildEvent, IdempotencyKey, ImageBuild, ImageDefinition, ImageDefinitionTenant,
        PluginSettings,
    },
    reference::{CloudImageTemplate, CloudImageTemplateTenant, Cluster, ProxmoxEndpoint, Tenant},
    users::{ApiToken, User, UserTenant},
};

/// Creates every table.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000001_create_tables"
    }
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
        reference::up(manager).await?;
        users::up(manager).await?;
        builds::up(manager).await?;

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
