//! API tokens: issued and revoked by their user (or ADMIN), or by the service from the command
//! line; listed for the user itself and administrators only.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{api_token, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use crate::{
    auth::{Action, Scope, token},
    clock,
    error::Error,
    registry::{Ctx, id::Id},
};

/// A token to create.
#[derive(Clone, Debug)]
pub struct NewToken {
    /// Its owner.
    pub user_id: i32,
    /// What it is for.
    pub description: String,
    /// Whether it may write.
    pub write_enabled: bool,
    /// When it stops working.
    pub expires: Option<DateTime<Utc>>,
}

/// Creates a token as the service (the command line and the bootstrap; [`issue_token`] is a
/// user's); returns its row and the secret, which is never available again.
pub async fn create_token(
    db: &impl ConnectionTrait,
    new: NewToken,
) -> Result<(api_token::Model, String), Error> {
    insert_token(db, clock::now(), new).await
}

async fn insert_token(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    new: NewToken,
) -> Result<(api_token::Model, String), Error> {
    if new.description.len() > 255 {
        return Err(Error::bad_input(
            "description",
            "must be at most 255 characters",
        ));
    }
    if new.expires.is_some_and(|expires| expires <= now) {
        return Err(Error::bad_input("expires", "must be in the future"));
    }
    let secret = token::generate();
    let row = api_token::ActiveModel {
        user_id: Set(new.user_id),
        key_hash: Set(secret.hash),
        key_prefix: Set(secret.prefix),
        description: Set(new.description),
        write_enabled: Set(new.write_enabled),
        expires: Set(new.expires),
        enabled: Set(true),
        last_used: Set(None),
        created: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((row, secret.secret))
}

/// Disables a token for good, as the service (the command line; [`revoke`] is a user's). Every
/// instance serving the database stops accepting it within the credentials poll interval (the
/// database moves the credentials generation).
pub async fn revoke_token(db: &impl ConnectionTrait, id: i32) -> Result<api_token::Model, Error> {
    let token = api_token::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Error::NotFound)?;
    let mut active: api_token::ActiveModel = token.into();
    active.enabled = Set(false);
    Ok(active.update(db).await?)
}

/// Issues a token for `user` (default: the caller). A user manages its own tokens, ADMIN
/// everyone's. Returns the row and the secret, shown this once.
pub async fn issue_token(
    ctx: Ctx<'_>,
    user: Option<i32>,
    description: String,
    write_enabled: bool,
    expires: Option<DateTime<Utc>>,
) -> Result<(api_token::Model, String), Error> {
    let owner = owner_for(ctx, user)?;
    user::Entity::find_by_id(owner)
        .one(ctx.db)
        .await?
        .ok_or(Error::NotFound)?;
    insert_token(
        ctx.db,
        ctx.clock.now(),
        NewToken {
            user_id: owner,
            description,
            write_enabled,
            expires,
        },
    )
    .await
}

/// Revokes a token: one's own, or (ADMIN) anyone's; others' tokens are `NOT_FOUND`.
pub async fn revoke(ctx: Ctx<'_>, id: i32) -> Result<i32, Error> {
    ctx.principal.authorize(Action::ManageOwnTokens)?;
    let token = api_token::Entity::find_by_id(id)
        .one(ctx.db)
        .await?
        .ok_or(Error::NotFound)?;
    if ctx.principal.user_id() != Some(token.user_id)
        && ctx.principal.authorize(Action::ManageUsers).is_err()
    {
        return Err(Error::NotFound);
    }
    revoke_token(ctx.db, id).await?;
    // The token stops working on this instance before the revocation returns (elsewhere within
    // the credentials poll interval, at once on PostgreSQL).
    ctx.auth.refresh().await;
    Ok(id)
}

/// Whose tokens the caller may manage: its own, or (ADMIN) anyone's.
fn owner_for(ctx: Ctx<'_>, user: Option<i32>) -> Result<i32, Error> {
    ctx.principal.authorize(Action::ManageOwnTokens)?;
    let me = ctx.principal.user_id();
    match (user, me) {
        (None, Some(me)) => Ok(me),
        (Some(user), Some(me)) if user == me => Ok(me),
        (Some(user), _) => {
            ctx.principal.authorize(Action::ManageUsers)?;
            Ok(user)
        }
        (None, None) => Err(Error::bad_input(
            "user_id",
            "is required for the service itself",
        )),
    }
}

/// The token `id`, for the user itself and administrators; anyone else's, like a missing one, is
/// `NOT_FOUND` (anonymous readers: `UNAUTHENTICATED`).
pub async fn token(
    db: &impl ConnectionTrait,
    scope: &Scope,
    id: Id<api_token::Entity>,
) -> Result<api_token::Model, Error> {
    scope.require_authenticated()?;
    let id = id.as_i32().ok_or(Error::NotFound)?;
    api_token::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|token| scope.sees_private_of(token.user_id))
        .ok_or(Error::NotFound)
}

/// The tokens of each of `owners` (newest first, never their secret, which is not stored): for
/// the user itself and administrators; another user's are `FORBIDDEN`, and anonymous readers
/// read none (`UNAUTHENTICATED`). One statement for every owner the scope may see.
pub async fn tokens_of(
    db: &impl ConnectionTrait,
    scope: &Scope,
    owners: &[Id<user::Entity>],
) -> Result<HashMap<Id<user::Entity>, Result<Vec<api_token::Model>, Error>>, Error> {
    scope.require_authenticated()?;
    let (shown, hidden): (Vec<_>, Vec<_>) = owners
        .iter()
        .partition(|owner| owner.as_i32().is_some_and(|id| scope.sees_private_of(id)));
    let mut tokens: HashMap<Id<user::Entity>, Result<Vec<api_token::Model>, Error>> = hidden
        .into_iter()
        .map(|owner| {
            let forbidden =
                Error::forbidden("only the user itself and administrators see its tokens");
            (owner, Err(forbidden))
        })
        .collect();
    if shown.is_empty() {
        return Ok(tokens);
    }
    tokens.extend(shown.iter().map(|owner| (*owner, Ok(Vec::new()))));
    let rows = api_token::Entity::find()
        .filter(api_token::Column::UserId.is_in(shown.iter().filter_map(|id| id.as_i32())))
        .order_by_desc(api_token::Column::Id)
        .all(db)
        .await?;
    for row in rows {
        if let Some(Ok(list)) = tokens.get_mut(&Id::of_row(row.user_id)) {
            list.push(row);
        }
    }
    Ok(tokens)
}
