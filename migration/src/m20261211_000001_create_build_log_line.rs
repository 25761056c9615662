//! `build_log_line`: the log lines of each build (SPEC §7.5), numbered 1.. per build.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `build_log_line` and its unique `(build_id, seq)` index.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261211_000001_create_build_log_line"
    }
}

#[derive(DeriveIden)]
enum BuildLogLine {
    Table,
    Id,
    BuildId,
    Seq,
    At,
    Stream,
    Line,
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
                    .table(BuildLogLine::Table)
                    .col(big_pk_auto(BuildLogLine::Id))
                    .col(integer(BuildLogLine::BuildId))
                    .col(integer(BuildLogLine::Seq))
                    .col(timestamp_with_time_zone(BuildLogLine::At))
                    .col(string_len(BuildLogLine::Stream, 16))
                    .col(text(BuildLogLine::Line))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_build_log_line_build")
                            .from(BuildLogLine::Table, BuildLogLine::BuildId)
                            .to(ImageBuild::Table, ImageBuild::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_build_log_line_build_seq")
                    .table(BuildLogLine::Table)
                    .col(BuildLogLine::BuildId)
                    .col(BuildLogLine::Seq)
                    .unique()
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BuildLogLine::Table).take())
            .await
    }
}
