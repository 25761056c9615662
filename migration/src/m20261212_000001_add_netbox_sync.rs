//! NetBox as the source of reference data (SPEC §10): each synced row keeps its NetBox id
//! (`netbox_id`, unique, null for rows created here, which a sync never touches), a cluster the
//! id of its NetBox cluster type (a rename of the type does not bump the cluster in NetBox), a
//! catalog entry when it was last pushed to NetBox (`--netbox-push-catalog`), and
//! `netbox_sync` holds, per synced type, the cursor of the incremental pass and the outcome of the
//! last one.

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `netbox_id` columns and the `netbox_sync` table.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261212_000001_add_netbox_sync"
    }
}

#[derive(DeriveIden)]
enum NetboxSync {
    Table,
    Kind,
    Cursor,
    LastPass,
    LastSuccess,
    Outcome,
    Error,
    Created,
    Updated,
    Deleted,
    Kept,
    Conflicts,
}

/// The tables whose rows NetBox can own.
const SYNCED: [&str; 5] = [
    "tenant",
    "cluster",
    "proxmox_endpoint",
    "user",
    "cloud_image_template",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in SYNCED {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(integer_null(Alias::new("netbox_id")))
                        .take(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name(format!("uq_{table}_netbox_id"))
                        .table(Alias::new(table))
                        .col(Alias::new("netbox_id"))
                        .unique()
                        .take(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("cluster"))
                    .add_column(integer_null(Alias::new("netbox_type_id")))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("cloud_image_template"))
                    .add_column(timestamp_with_time_zone_null(Alias::new("netbox_pushed")))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NetboxSync::Table)
                    .col(string_len(NetboxSync::Kind, 32).primary_key())
                    .col(timestamp_with_time_zone_null(NetboxSync::Cursor))
                    .col(timestamp_with_time_zone_null(NetboxSync::LastPass))
                    .col(timestamp_with_time_zone_null(NetboxSync::LastSuccess))
                    .col(string_len(NetboxSync::Outcome, 16))
                    .col(text(NetboxSync::Error))
                    .col(integer(NetboxSync::Created))
                    .col(integer(NetboxSync::Updated))
                    .col(integer(NetboxSync::Deleted))
                    .col(integer(NetboxSync::Kept))
                    .col(integer(NetboxSync::Conflicts))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(NetboxSync::Table).take())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("cluster"))
                    .drop_column(Alias::new("netbox_type_id"))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("cloud_image_template"))
                    .drop_column(Alias::new("netbox_pushed"))
                    .take(),
            )
            .await?;
        for table in SYNCED {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("uq_{table}_netbox_id"))
                        .table(Alias::new(table))
                        .to_owned(),
                )
                .await?;
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new("netbox_id"))
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
