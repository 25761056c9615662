//! The schema of packer-gateway: the only place DDL is written.
//!
//! Migrations are named `mYYYYMMDD_NNNNNN_verb_noun` and run unchanged on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_tables;
mod m20261203_000001_create_credentials_generation;
mod m20261211_000001_create_build_log_line;
mod m20261212_000001_add_netbox_sync;

/// Every migration, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_tables::Migration),
            Box::new(m20261203_000001_create_credentials_generation::Migration),
            Box::new(m20261211_000001_create_build_log_line::Migration),
            Box::new(m20261212_000001_add_netbox_sync::Migration),
        ]
    }
}
