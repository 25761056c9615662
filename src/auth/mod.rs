//! Principals: who is calling, what they may do, and what they may see.
//!
//! Every request is authenticated once, by the [`Authenticator`] (from memory: see [`live`]),
//! into a [`Principal`]; resolvers and handlers ask it for permission ([`Principal::authorize`])
//! and for the [`Scope`] of their reads.

mod cache;
mod listener;
pub mod live;
mod lookup;
pub mod policy;
mod scope;
pub mod token;

use chrono::{DateTime, Utc};
use entity::enums::Role;
use sea_orm::ActiveEnum;

use crate::error::Error;
pub use cache::CacheSize;
pub use listener::CHANNEL;
pub use live::{Authenticator, Options};
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
    /// When the token stops working (checked on every use; an open websocket closes then).
    pub expires: Option<DateTime<Utc>>,
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

    /// When this principal's credentials stop working, if they do.
    pub fn expires(&self) -> Option<DateTime<Utc>> {
        match self {
            Principal::User(caller) => caller.expires,
            _ => None,
        }
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

/// The secret of `Bearer <secret>` or `Token <secret>` (NetBox's form).
fn parse_header(header: &str) -> Option<&str> {
    let (scheme, secret) = header.trim().split_once(' ')?;
    let secret = secret.trim();
    let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
    (known && !secret.is_empty()).then_some(secret)
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
