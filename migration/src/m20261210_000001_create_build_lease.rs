//! `build_lease`: which dispatcher owns a running build, and until when (SPEC §7.1).
//!
//! A dispatcher writes the lease in the same transaction as the start that takes the build
//! (pending → running), renews it while the backend works, and removes it once the build ends.
//! A lease whose expiry has passed belongs to a dispatcher that died: another one adopts the
//! build by moving the lease to itself, guarded on the old owner and expiry, so exactly one does.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `build_lease`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261210_000001_create_build_lease"
    }
}

#[derive(DeriveIden)]
enum BuildLease {
    Table,
    BuildId,
    Owner,
    Backend,
    Expires,
}

#[derive(DeriveIden)]
enum ImageBuild {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BuildLease::Table)
                    .col(integer(BuildLease::BuildId).primary_key())
                    .col(string_len(BuildLease::Owner, 255))
                    .col(string_len(BuildLease::Backend, 32))
                    .col(timestamp_with_time_zone(BuildLease::Expires))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_build_lease_build")
                            .from(BuildLease::Table, BuildLease::BuildId)
                            .to(ImageBuild::Table, ImageBuild::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_build_lease_expires")
                    .table(BuildLease::Table)
                    .col(BuildLease::Expires)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BuildLease::Table).take())
            .await
    }
}
