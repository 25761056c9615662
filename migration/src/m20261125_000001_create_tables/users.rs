//! Users, their tenant links and their API tokens.

use sea_orm_migration::{prelude::*, schema::*};

use super::{Stamp, fk, link_table, stamped};

#[derive(DeriveIden)]
pub(super) enum User {
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
pub(super) enum UserTenant {
    Table,
    UserId,
}

#[derive(DeriveIden)]
pub(super) enum ApiToken {
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

/// Creates the tables of users.
pub(super) async fn up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    use ForeignKeyAction::Cascade;

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
    Ok(())
}
