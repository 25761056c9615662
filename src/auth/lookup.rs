//! The statements of authentication: tokens by hash with their user and the user's tenants (one
//! statement for one token or a thousand), and the credentials generation.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{credentials_generation, enums::Role};
use sea_orm::{
    ActiveEnum, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, Statement,
};

use super::{Caller, cache::Entry};
use crate::error::Error;

/// Hashes read per statement when known tokens are read again.
const CHUNK: usize = 1000;

/// The token whose stored hash is `hash`, if any.
pub(super) async fn one(db: &impl ConnectionTrait, hash: &str) -> Result<Option<Entry>, Error> {
    let backend = db.get_database_backend();
    let placeholder = match backend {
        DatabaseBackend::Postgres => "$1",
        _ => "?",
    };
    let statement = select(backend, &format!("t.key_hash = {placeholder}"), hash);
    FoundToken::find_by_statement(statement)
        .one(db)
        .await?
        .map(FoundToken::into_entry)
        .transpose()
}

/// The tokens of `hashes` that exist, by hash: one statement per thousand, whose text does not
/// depend on how many (so PostgreSQL prepares it once), binding one value.
pub(super) async fn many(
    db: &impl ConnectionTrait,
    hashes: &[String],
) -> Result<HashMap<String, Entry>, Error> {
    let backend = db.get_database_backend();
    let condition = match backend {
        DatabaseBackend::Postgres => "t.key_hash = ANY(string_to_array($1, ','))",
        _ => "t.key_hash IN (SELECT value FROM json_each(?))",
    };
    let mut found = HashMap::with_capacity(hashes.len());
    for chunk in hashes.chunks(CHUNK) {
        // Hashes are hex digits: a comma-separated list (PostgreSQL) or a JSON array of them
        // (SQLite) needs no escaping.
        let list = match backend {
            DatabaseBackend::Postgres => chunk.join(","),
            _ => serde_json::to_string(chunk).unwrap_or_default(),
        };
        let statement = select(backend, condition, &list);
        for row in FoundToken::find_by_statement(statement).all(db).await? {
            let entry = row.into_entry()?;
            found.insert(entry.hash.clone(), entry);
        }
    }
    Ok(found)
}

/// The credentials generation (see the migration that creates it).
pub(super) async fn generation(db: &impl ConnectionTrait) -> Result<i64, Error> {
    let row = credentials_generation::Entity::find_by_id(1)
        .one(db)
        .await?;
    Ok(row.map_or(0, |row| row.generation))
}

#[derive(Debug, FromQueryResult)]
struct FoundToken {
    token_id: i32,
    key_hash: String,
    write_enabled: bool,
    expires: Option<DateTime<Utc>>,
    enabled: bool,
    last_used: Option<DateTime<Utc>>,
    user_id: i32,
    username: String,
    role: String,
    is_active: bool,
    tenants: Option<String>,
}

impl FoundToken {
    fn into_entry(self) -> Result<Entry, Error> {
        let role = Role::try_from_value(&self.role).map_err(Error::from)?;
        let tenants = self
            .tenants
            .unwrap_or_default()
            .split(',')
            .filter_map(|t| t.trim().parse().ok())
            .collect();
        let caller = Caller {
            user_id: self.user_id,
            username: self.username,
            role,
            tenants,
            token_id: self.token_id,
            write_enabled: self.write_enabled,
            expires: self.expires,
        };
        Ok(Entry::new(
            self.key_hash,
            caller,
            self.enabled && self.is_active,
            self.last_used,
        ))
    }
}

/// The token, its user and the user's tenants, for the tokens `condition` picks with its one
/// bound `value`.
fn select(backend: DatabaseBackend, condition: &str, value: &str) -> Statement {
    let aggregate = match backend {
        DatabaseBackend::Postgres => "string_agg(CAST(ut.tenant_id AS TEXT), ',')",
        _ => "group_concat(CAST(ut.tenant_id AS TEXT), ',')",
    };
    let sql = format!(
        r#"SELECT t.id AS token_id, t.key_hash, t.write_enabled, t.expires, t.enabled, t.last_used,
                  u.id AS user_id, u.username, u.role, u.is_active,
                  (SELECT {aggregate} FROM user_tenant ut WHERE ut.user_id = u.id) AS tenants
             FROM api_token t JOIN "user" u ON u.id = t.user_id
            WHERE {condition}"#
    );
    Statement::from_sql_and_values(backend, sql, [value.into()])
}
