//! The credentials generation: one counter that every change to what a token authenticates as
//! moves, in the transaction that makes the change, so that every instance can tell that its
//! cache of principals is stale (see `auth::live` in the service).
//!
//! The database moves it, with triggers, rather than the service's writers: no writer can forget
//! it — the GraphQL and REST mutations, the command line (`token revoke`), a sync from NetBox,
//! and the cascades of a deleted user or tenant all move it alike. What moves it:
//! - `api_token`: `enabled`, `expires` or `write_enabled` changed, or a token deleted (a
//!   deleted user's tokens go with it). A new token does not: nothing can have cached it, and
//!   `last_used` (written once a minute) does not either;
//! - `user`: `role` or `is_active` changed;
//! - `user_tenant`: a link added or removed for a user that has tokens (a new user's links, made
//!   before its first token, do not; a deleted tenant's links do).
//!
//! On PostgreSQL the trigger also notifies the channel `packer_gateway_credentials` (the
//! service's `auth::CHANNEL`) with the writer's `current_schema()`, which PostgreSQL
//! delivers at commit only (the same notification sent several times in one transaction is
//! delivered once).

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `credentials_generation` and the triggers that move it.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000001_create_credentials_generation"
    }
}

#[derive(DeriveIden)]
enum CredentialsGeneration {
    Table,
    Id,
    Generation,
}

/// SQLite: one trigger per event (SQLite triggers are per row; `WHEN` may hold a subquery).
const SQLITE: [&str; 5] = [
    "CREATE TRIGGER credentials_token_update AFTER UPDATE OF enabled, expires, write_enabled
       ON api_token
       WHEN OLD.enabled IS NOT NEW.enabled OR OLD.expires IS NOT NEW.expires
         OR OLD.write_enabled IS NOT NEW.write_enabled
     BEGIN UPDATE credentials_generation SET generation = generation + 1 WHERE id = 1; END",
    "CREATE TRIGGER credentials_token_delete AFTER DELETE ON api_token
     BEGIN UPDATE credentials_generation SET generation = generation + 1 WHERE id = 1; END",
    "CREATE TRIGGER credentials_user_update AFTER UPDATE OF role, is_active ON \"user\"
       WHEN OLD.role IS NOT NEW.role OR OLD.is_active IS NOT NEW.is_active
     BEGIN UPDATE credentials_generation SET generation = generation + 1 WHERE id = 1; END",
    "CREATE TRIGGER credentials_user_tenant_insert AFTER INSERT ON user_tenant
       WHEN EXISTS (SELECT 1 FROM api_token WHERE user_id = NEW.user_id)
     BEGIN UPDATE credentials_generation SET generation = generation + 1 WHERE id = 1; END",
    "CREATE TRIGGER credentials_user_tenant_delete AFTER DELETE ON user_tenant
       WHEN EXISTS (SELECT 1 FROM api_token WHERE user_id = OLD.user_id)
     BEGIN UPDATE credentials_generation SET generation = generation + 1 WHERE id = 1; END",
];

/// PostgreSQL: two functions (a plain change, and a tenant link that counts only for a user with
/// tokens: a trigger's `WHEN` may not hold a subquery there) and their row triggers.
const POSTGRES: [&str; 6] = [
    "CREATE FUNCTION credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       UPDATE credentials_generation SET generation = generation + 1 WHERE id = 1;
       PERFORM pg_notify('packer_gateway_credentials', coalesce(current_schema(), ''));
       RETURN NULL;
     END $$",
    "CREATE FUNCTION credentials_link_changed() RETURNS trigger LANGUAGE plpgsql AS $$
     DECLARE owner integer;
     BEGIN
       IF TG_OP = 'DELETE' THEN owner := OLD.user_id; ELSE owner := NEW.user_id; END IF;
       IF EXISTS (SELECT 1 FROM api_token WHERE user_id = owner) THEN
         UPDATE credentials_generation SET generation = generation + 1 WHERE id = 1;
         PERFORM pg_notify('packer_gateway_credentials', coalesce(current_schema(), ''));
       END IF;
       RETURN NULL;
     END $$",
    "CREATE TRIGGER credentials_token_update AFTER UPDATE OF enabled, expires, write_enabled
       ON api_token FOR EACH ROW
       WHEN (OLD.enabled IS DISTINCT FROM NEW.enabled OR OLD.expires IS DISTINCT FROM NEW.expires
             OR OLD.write_enabled IS DISTINCT FROM NEW.write_enabled)
       EXECUTE FUNCTION credentials_changed()",
    "CREATE TRIGGER credentials_token_delete AFTER DELETE ON api_token FOR EACH ROW
       EXECUTE FUNCTION credentials_changed()",
    "CREATE TRIGGER credentials_user_update AFTER UPDATE OF role, is_active ON \"user\"
       FOR EACH ROW
       WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.is_active IS DISTINCT FROM NEW.is_active)
       EXECUTE FUNCTION credentials_changed()",
    "CREATE TRIGGER credentials_user_tenant AFTER INSERT OR DELETE ON user_tenant FOR EACH ROW
       EXECUTE FUNCTION credentials_link_changed()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CredentialsGeneration::Table)
                    .col(
                        integer(CredentialsGeneration::Id)
                            .primary_key()
                            .check(Expr::col(CredentialsGeneration::Id).eq(1)),
                    )
                    .col(big_integer(CredentialsGeneration::Generation))
                    .take(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(CredentialsGeneration::Table)
                    .columns([CredentialsGeneration::Id, CredentialsGeneration::Generation])
                    .values_panic([1.into(), 0i64.into()])
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
        let statements: &[&str] = match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => &POSTGRES,
            _ => &SQLITE,
        };
        for statement in statements {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let drops: &[&str] = match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => &[
                "DROP TRIGGER credentials_token_update ON api_token",
                "DROP TRIGGER credentials_token_delete ON api_token",
                "DROP TRIGGER credentials_user_update ON \"user\"",
                "DROP TRIGGER credentials_user_tenant ON user_tenant",
                "DROP FUNCTION credentials_changed()",
                "DROP FUNCTION credentials_link_changed()",
            ],
            _ => &[
                "DROP TRIGGER credentials_token_update",
                "DROP TRIGGER credentials_token_delete",
                "DROP TRIGGER credentials_user_update",
                "DROP TRIGGER credentials_user_tenant_insert",
                "DROP TRIGGER credentials_user_tenant_delete",
            ],
        };
        for statement in drops {
            db.execute_unprepared(statement).await?;
        }
        manager
            .drop_table(Table::drop().table(CredentialsGeneration::Table).to_owned())
            .await
    }
}
