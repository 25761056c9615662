//! Principals: who is calling, what they may do, and what they may see.
//!
//! Every request is authenticated once, here, into a [`Principal`]; resolvers and handlers ask it
//! for permission ([`Principal::authorize`]) and for the [`Scope`] of their reads.

pub mod policy;
mod scope;
pub mod token;

use chrono::{DateTime, Duration, Utc};
use entity::{api_token, enums::Role};
use sea_orm::{
    ActiveEnum, ColumnTrait, DatabaseBackend, DatabaseConnection, EntityTrait, FromQueryResult,
    QueryFilter, Statement, sea_query::Expr,
};

use crate::{clock::Clock, error::Error};
pub use policy::Action;
pub use scope::Scope;

/// Who is calling.
#[derive(Clone, Debug)]
pub enum Principal {
    /// No credentials, with anonymous read access enabled.
    Anonymous,
    /// A user, through one of its tokens.
    User(Caller),
    /// The service itself (the timeout reaper, the command line, the demo loader).
    Service,
}

/// An authenticated user.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user's id.
    pub user_id: i32,
    /// The user's name.
    pub username: String,
    /// The user's role.
    pub role: Role,
    /// The user's tenants.
    pub tenants: Vec<i32>,
    /// The token used.
    pub token_id: i32,
    /// Whether the token may write.
    pub write_enabled: bool,
}

impl Principal {
    /// What this principal may read.
    pub fn scope(&self) -> Scope {
        match self {
            Principal::Service => Scope::service(),
            Principal::Anonymous => Scope::anonymous(),
            Principal::User(caller) => {
                let tenants = match caller.role {
                    Role::Admin | Role::Worker => None,
                    Role::Viewer | Role::Operator => Some(caller.tenants.clone()),
                };
                Scope::user(caller.user_id, caller.role == Role::Admin, tenants)
            }
        }
    }

    /// Whether this principal is authenticated (not anonymous).
    pub fn is_authenticated(&self) -> bool {
        !matches!(self, Principal::Anonymous)
    }

    /// The user acting, if any (for `created_by` and event actors).
    pub fn user_id(&self) -> Option<i32> {
        match self {
            Principal::User(caller) => Some(caller.user_id),
            _ => None,
        }
    }

    /// Allows `action` or says why not: anonymous principals may only read; read-only tokens may
    /// not write; otherwise the role decides (SPEC §4).
    pub fn authorize(&self, action: Action) -> Result<(), Error> {
        match self {
            Principal::Service => Ok(()),
            Principal::Anonymous if action == Action::Read => Ok(()),
            Principal::Anonymous => Err(Error::Unauthenticated),
            Principal::User(caller) => {
                if action.writes() && !caller.write_enabled {
                    return Err(Error::forbidden("this token is read-only"));
                }
                if !policy::allows(caller.role, action) {
                    return Err(Error::forbidden(format!(
                        "the {} role may not do this",
                        caller.role.to_value().to_uppercase()
                    )));
                }
                Ok(())
            }
        }
    }
}

/// How often `last_used` is written at most.
const LAST_USED_PRECISION: Duration = Duration::seconds(60);

/// Authenticates the value of an `Authorization` header (absent: anonymous, when allowed).
///
/// One statement reads the token, its user and the user's tenants; `last_used` is refreshed in
/// the background at most once a minute, so a request never waits on a write. Expiry and
/// `last_used` are read from `clock`.
pub async fn authenticate(
    db: &DatabaseConnection,
    clock: &Clock,
    authorization: Option<&str>,
    anonymous_read: bool,
) -> Result<Principal, Error> {
    let Some(header) = authorization else {
        return if anonymous_read {
            Ok(Principal::Anonymous)
        } else {
            Err(Error::Unauthenticated)
        };
    };
    let secret = parse_header(header).ok_or(Error::Unauthenticated)?;
    let hash = token::hash(secret);
    let Some(found) = find_token(db, &hash).await? else {
        return Err(Error::Unauthenticated);
    };
    let now = clock.now();
    let usable = token::same_hash(&found.key_hash, &hash)
        && found.enabled
        && found.is_active
        && found.expires.is_none_or(|expires| expires > now);
    if !usable {
        return Err(Error::Unauthenticated);
    }
    if found
        .last_used
        .is_none_or(|used| now - used >= LAST_USED_PRECISION)
    {
        let db = db.clone();
        let token_id = found.token_id;
        tokio::spawn(async move {
            let result = api_token::Entity::update_many()
                .col_expr(api_token::Column::LastUsed, Expr::value(now))
                .filter(api_token::Column::Id.eq(token_id))
                .exec(&db)
                .await;
            if let Err(err) = result {
                tracing::warn!(%err, token_id, "could not record the token's last use");
            }
        });
    }
    let role = Role::try_from_value(&found.role).map_err(Error::from)?;
    Ok(Principal::User(Caller {
        user_id: found.user_id,
        username: found.username,
        role,
        tenants: found
            .tenants
            .unwrap_or_default()
            .split(',')
            .filter_map(|t| t.trim().parse().ok())
            .collect(),
        token_id: found.token_id,
        write_enabled: found.write_enabled,
    }))
}

/// The secret of `Bearer <secret>` or `Token <secret>` (NetBox's form).
fn parse_header(header: &str) -> Option<&str> {
    let (scheme, secret) = header.trim().split_once(' ')?;
    let secret = secret.trim();
    let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
    (known && !secret.is_empty()).then_some(secret)
}

#[derive(Debug, sea_orm::FromQueryResult)]
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

async fn find_token(db: &DatabaseConnection, hash: &str) -> Result<Option<FoundToken>, Error> {
    let backend = db.get_database_backend();
    let (aggregate, placeholder) = match backend {
        DatabaseBackend::Postgres => ("string_agg(CAST(ut.tenant_id AS TEXT), ',')", "$1"),
        _ => ("group_concat(CAST(ut.tenant_id AS TEXT), ',')", "?"),
    };
    let sql = format!(
        r#"SELECT t.id AS token_id, t.key_hash, t.write_enabled, t.expires, t.enabled, t.last_used,
                  u.id AS user_id, u.username, u.role, u.is_active,
                  (SELECT {aggregate} FROM user_tenant ut WHERE ut.user_id = u.id) AS tenants
             FROM api_token t JOIN "user" u ON u.id = t.user_id
            WHERE t.key_hash = {placeholder}"#
    );
    let statement = Statement::from_sql_and_values(backend, sql, [hash.into()]);
    Ok(FoundToken::find_by_statement(statement).one(db).await?)
}

#[cfg(test)]
mod tests {
    use super::parse_header;

    #[test]
    fn bearer_and_token_schemes_are_accepted() {
        assert_eq!(parse_header("Bearer abc"), Some("abc"));
        assert_eq!(parse_header("bearer  abc "), Some("abc"));
        assert_eq!(parse_header("Token abc"), Some("abc"));
        assert_eq!(parse_header("Basic abc"), None);
        assert_eq!(parse_header("Bearer"), None);
        assert_eq!(parse_header("Bearer "), None);
    }
}
