//! Users and their API tokens, and what of a user is private: its e-mail address and its tokens
//! are shown to the user itself and to administrators only.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{api_token, enums::Role, tenant, user, user_tenant};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use super::{Ctx, id::Id, read, rules::Checks, tx::begin_write};
use crate::{
    auth::{Action, Scope, token},
    clock,
    error::{Error, FieldErrors, conflict_on_unique},
};

/// A user to create.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Tenant ids.
    pub tenants: Vec<i32>,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// E-mail address.
    pub email: String,
}

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

/// Whether the database has no user yet (the service's bootstrap asks).
pub async fn none_exist(db: &impl ConnectionTrait) -> Result<bool, Error> {
    Ok(user::Entity::find().count(db).await? == 0)
}

/// Validates and creates a user with its tenants, in one transaction, as the service (the command
/// line and the bootstrap; [`create`] is the ADMIN's).
pub async fn create_user(db: &DatabaseConnection, new: NewUser) -> Result<user::Model, Error> {
    insert_user(db, clock::now(), new).await
}

async fn insert_user(
    db: &DatabaseConnection,
    stamp: DateTime<Utc>,
    new: NewUser,
) -> Result<user::Model, Error> {
    let username = new.username.trim().to_owned();
    let mut errors = FieldErrors::default();
    if username.is_empty() || username.len() > 150 {
        errors.add("username", "must be 1 to 150 characters");
    }
    if !username
        .chars()
        .all(|c| c.is_alphanumeric() || "@.+-_".contains(c))
    {
        errors.add("username", "may contain letters, digits and @ . + - _ only");
    }
    if new.email.len() > 254 || (!new.email.is_empty() && !new.email.contains('@')) {
        errors.add("email", "is not an e-mail address");
    }
    for (field, value) in [
        ("first_name", &new.first_name),
        ("last_name", &new.last_name),
    ] {
        if value.len() > 150 {
            errors.add(field, "must be at most 150 characters");
        }
    }
    errors.into_result()?;
    let txn = begin_write(db).await?;
    let known = tenant::Entity::find()
        .filter(tenant::Column::Id.is_in(new.tenants.iter().copied()))
        .count(&txn)
        .await?;
    if known as usize != new.tenants.len() {
        return Err(Error::bad_input(
            "tenant_ids",
            "names a tenant that does not exist",
        ));
    }
    let created = user::ActiveModel {
        username: Set(username),
        first_name: Set(new.first_name),
        last_name: Set(new.last_name),
        email: Set(new.email),
        is_active: Set(true),
        role: Set(new.role),
        created: Set(stamp),
        last_updated: Set(stamp),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|err| conflict_on_unique(err, "username", "is already taken"))?;
    set_tenants(&txn, created.id, &new.tenants).await?;
    txn.commit().await?;
    Ok(created)
}

/// Replaces the tenants of a user.
async fn set_tenants(
    db: &impl ConnectionTrait,
    user_id: i32,
    tenants: &[i32],
) -> Result<(), Error> {
    user_tenant::Entity::delete_many()
        .filter(user_tenant::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    if tenants.is_empty() {
        return Ok(());
    }
    let mut unique = tenants.to_vec();
    unique.sort_unstable();
    unique.dedup();
    user_tenant::Entity::insert_many(unique.into_iter().map(|tenant_id| {
        user_tenant::ActiveModel {
            user_id: Set(user_id),
            tenant_id: Set(tenant_id),
        }
    }))
    .exec(db)
    .await?;
    Ok(())
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

/// Disables a token for good, as the service (the command line; [`revoke`] is a user's).
pub async fn revoke_token(db: &impl ConnectionTrait, id: i32) -> Result<api_token::Model, Error> {
    let token = api_token::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Error::NotFound)?;
    let mut active: api_token::ActiveModel = token.into();
    active.enabled = Set(false);
    Ok(active.update(db).await?)
}

/// The user named `username`, if `scope` may read it.
pub async fn by_username(
    db: &impl ConnectionTrait,
    scope: &Scope,
    username: &str,
) -> Result<user::Model, Error> {
    read::visible::<user::Entity>(scope)?
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await?
        .ok_or(Error::NotFound)
}

/// A change to a user; `None` keeps a field.
#[derive(Clone, Debug, Default)]
pub struct UserPatch {
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Role.
    pub role: Option<Role>,
    /// Whether it may authenticate.
    pub is_active: Option<bool>,
    /// Tenant ids.
    pub tenants: Option<Vec<i32>>,
}

/// Creates a user (ADMIN).
pub async fn create(ctx: Ctx<'_>, new: NewUser) -> Result<user::Model, Error> {
    ctx.principal.authorize(Action::ManageUsers)?;
    insert_user(ctx.db, ctx.clock.now(), new).await
}

/// Changes a user (ADMIN).
pub async fn update(
    ctx: Ctx<'_>,
    id: Id<user::Entity>,
    patch: UserPatch,
) -> Result<user::Model, Error> {
    ctx.principal.authorize(Action::ManageUsers)?;
    let txn = begin_write(ctx.db).await?;
    let current = read::get::<user::Entity>(&txn, &Scope::service(), id).await?;
    if ctx.principal.user_id() == Some(current.id)
        && (patch.role.is_some_and(|r| r != Role::Admin) || patch.is_active == Some(false))
    {
        return Err(Error::bad_input(
            "role",
            "an administrator cannot demote or deactivate itself",
        ));
    }
    let mut c = Checks::default();
    for (field, value) in [
        ("first_name", &patch.first_name),
        ("last_name", &patch.last_name),
    ] {
        if let Some(value) = value {
            c.max_len(field, value, 150);
        }
    }
    if let Some(email) = &patch.email {
        c.check(
            "email",
            email.len() <= 254 && (email.is_empty() || email.contains('@')),
            "is not an e-mail address",
        );
    }
    if let Some(tenants) = &patch.tenants {
        super::reference::all_exist(&txn, &mut c, "tenant_ids", tenants).await?;
    }
    c.0.into_result()?;
    let mut active: user::ActiveModel = current.into();
    if let Some(v) = patch.first_name {
        active.first_name = Set(v);
    }
    if let Some(v) = patch.last_name {
        active.last_name = Set(v);
    }
    if let Some(v) = patch.email {
        active.email = Set(v);
    }
    if let Some(v) = patch.role {
        active.role = Set(v);
    }
    if let Some(v) = patch.is_active {
        active.is_active = Set(v);
    }
    active.last_updated = Set(ctx.clock.now());
    let saved = active.update(&txn).await?;
    if let Some(tenants) = patch.tenants {
        set_tenants(&txn, saved.id, &tenants).await?;
    }
    txn.commit().await?;
    Ok(saved)
}

/// Deletes a user (ADMIN); its builds and events stay, without the attribution.
pub async fn delete(ctx: Ctx<'_>, id: Id<user::Entity>) -> Result<Id<user::Entity>, Error> {
    ctx.principal.authorize(Action::ManageUsers)?;
    let txn = begin_write(ctx.db).await?;
    let current = read::get::<user::Entity>(&txn, &Scope::service(), id).await?;
    if ctx.principal.user_id() == Some(current.id) {
        return Err(Error::Conflict(FieldErrors::one(
            "id",
            "you cannot delete yourself",
        )));
    }
    user::Entity::delete_by_id(current.id).exec(&txn).await?;
    txn.commit().await?;
    Ok(Id::of(&current))
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

/// A user's e-mail address, as `scope` may see it: the user itself and administrators do.
pub fn email<'a>(scope: &Scope, user: &'a user::Model) -> Option<&'a str> {
    scope
        .sees_private_of(user.id)
        .then_some(user.email.as_str())
}
