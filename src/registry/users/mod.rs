//! Users and their API tokens, and what of a user is private: its e-mail address and its tokens
//! are shown to the user itself and to administrators only (`tokens` for the tokens).
//!
//! Every write here that can change what a token authenticates as (a revoked token, a user's
//! role, tenants or activation, a deleted user) calls `ctx.auth.refresh()` after its commit, so
//! that the change holds on this instance when the write returns; the database moves the
//! credentials generation in the same transaction, which tells the other instances.

mod tokens;

pub use tokens::{NewToken, create_token, issue_token, revoke, revoke_token, token, tokens_of};

use chrono::{DateTime, Utc};
use entity::{enums::Role, tenant, user, user_tenant};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, Set,
};

use super::{
    Ctx,
    id::Id,
    read,
    rules::{Checks, MAX_VALUES, too_many_values},
    tx::begin_write,
};
use crate::{
    auth::{Action, Scope},
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
    if new.tenants.len() > MAX_VALUES {
        errors.add("tenant_ids", too_many_values(new.tenants.len()));
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
    // A new role, tenants or deactivation applies to the user's tokens (and open websockets) on
    // this instance before the change returns.
    ctx.auth.refresh().await;
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
    ctx.auth.refresh().await;
    Ok(Id::of(&current))
}

/// A user's e-mail address, as `scope` may see it: the user itself and administrators do.
pub fn email<'a>(scope: &Scope, user: &'a user::Model) -> Option<&'a str> {
    scope
        .sees_private_of(user.id)
        .then_some(user.email.as_str())
}
