//! Users and API tokens: `ApiToken`, `createUser`/`updateUser`/`deleteUser` (ADMIN),
//! `createApiToken` (the secret is returned once) and `revokeApiToken`.

use async_graphql::{
    ComplexObject, Context, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject,
};
use entity::{api_token, tenant, user};

use super::{
    connection::Node, enums::Role, ids, patch::Inputs, reference::User, request, scalars::DateTime,
    writer,
};
use crate::{
    error::Error,
    registry::{
        id::Id,
        users::{self, NewUser, UserPatch},
    },
};

/// An API token. Its secret is shown once, by `createApiToken`, and never stored.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct ApiToken {
    /// The global id: opaque, unique across types; `node(id:)` finds the object by it.
    pub id: ids::GlobalId<api_token::Entity>,
    /// The first characters of the secret, to recognise it.
    pub key_prefix: String,
    /// What it is for.
    pub description: String,
    /// Whether it may write.
    pub write_enabled: bool,
    /// When it stops working.
    pub expires: Option<DateTime>,
    /// A revoked token is disabled.
    pub enabled: bool,
    /// Last authentication (at most a minute stale).
    pub last_used: Option<DateTime>,
    /// Creation time.
    pub created: DateTime,
    /// Internal: the `user_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub user_id: Id<user::Entity>,
}

impl From<api_token::Model> for ApiToken {
    fn from(m: api_token::Model) -> Self {
        ApiToken {
            id: ids::GlobalId::of_row(m.id),
            key_prefix: m.key_prefix,
            description: m.description,
            write_enabled: m.write_enabled,
            expires: m.expires.map(Into::into),
            enabled: m.enabled,
            last_used: m.last_used.map(Into::into),
            created: m.created.into(),
            user_id: Id::of_row(m.user_id),
        }
    }
}

impl Node for ApiToken {
    const NAME: &'static str = "ApiToken";
}

#[ComplexObject]
impl ApiToken {
    /// Its owner.
    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        let user = request(ctx).loaders.users().load_one(self.user_id).await?;
        Ok(user.ok_or(Error::NotFound)?.into())
    }
}

/// A token just created, with its secret — shown only this once.
#[derive(SimpleObject)]
pub struct CreatedApiToken {
    /// The secret: send it as `Authorization: Bearer <token>`.
    pub token: String,
    /// The token.
    pub api_token: ApiToken,
}

/// A new user.
#[derive(InputObject)]
pub struct CreateUserInput {
    /// Unique login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Tenants.
    pub tenant_ids: Option<Vec<ID>>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
}

/// A change to a user.
#[derive(InputObject, Default)]
pub struct UpdateUserInput {
    /// Role.
    pub role: MaybeUndefined<Role>,
    /// Tenants.
    pub tenant_ids: MaybeUndefined<Vec<ID>>,
    /// Given name.
    pub first_name: MaybeUndefined<String>,
    /// Family name.
    pub last_name: MaybeUndefined<String>,
    /// E-mail address.
    pub email: MaybeUndefined<String>,
    /// Whether it may authenticate.
    pub is_active: MaybeUndefined<bool>,
}

/// A new token.
#[derive(InputObject)]
pub struct CreateApiTokenInput {
    /// Its owner (default: the caller; others' tokens are for ADMIN).
    pub user_id: Option<ID>,
    /// What it is for.
    pub description: Option<String>,
    /// Whether it may write (default true).
    pub write_enabled: Option<bool>,
    /// When it stops working.
    pub expires: Option<DateTime>,
}

/// Mutations of users and tokens.
#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Creates a user (ADMIN).
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> Result<User> {
        let mut i = Inputs::default();
        let tenants = i.ids::<tenant::Entity>("tenant_ids", &input.tenant_ids.unwrap_or_default());
        i.finish()?;
        let new = NewUser {
            username: input.username,
            role: input.role.into(),
            tenants,
            first_name: input.first_name.unwrap_or_default(),
            last_name: input.last_name.unwrap_or_default(),
            email: input.email.unwrap_or_default(),
        };
        Ok(users::create(writer(ctx), new).await?.into())
    }

    /// Changes a user (ADMIN).
    async fn update_user(&self, ctx: &Context<'_>, id: ID, input: UpdateUserInput) -> Result<User> {
        let id = ids::parse::<user::Entity>(&id, "id")?;
        let mut i = Inputs::default();
        let tenants = i.keep("tenant_ids", input.tenant_ids);
        let patch = UserPatch {
            tenants: tenants.map(|ids| i.ids::<tenant::Entity>("tenant_ids", &ids)),
            role: i.keep("role", input.role).map(Into::into),
            first_name: i.keep("first_name", input.first_name),
            last_name: i.keep("last_name", input.last_name),
            email: i.keep("email", input.email),
            is_active: i.keep("is_active", input.is_active),
        };
        i.finish()?;
        Ok(users::update(writer(ctx), id, patch).await?.into())
    }

    /// Deletes a user (ADMIN); its builds and events stay, without the attribution.
    async fn delete_user(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let id = ids::parse::<user::Entity>(&id, "id")?;
        Ok(ids::render(users::delete(writer(ctx), id).await?))
    }

    /// Creates a token and returns its secret, once. A user manages its own tokens; ADMIN
    /// everyone's.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        input: CreateApiTokenInput,
    ) -> Result<CreatedApiToken> {
        let mut i = Inputs::default();
        let user = input
            .user_id
            .and_then(|id| i.id::<user::Entity>("user_id", &id));
        i.finish()?;
        let (token, secret) = users::issue_token(
            writer(ctx),
            user,
            input.description.unwrap_or_default(),
            input.write_enabled.unwrap_or(true),
            input.expires.map(|t| t.0),
        )
        .await?;
        Ok(CreatedApiToken {
            token: secret,
            api_token: token.into(),
        })
    }

    /// Revokes a token: one's own, or (ADMIN) anyone's.
    async fn revoke_api_token(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let mut i = Inputs::default();
        let id = i.id::<api_token::Entity>("id", &id);
        i.finish()?;
        let id = id.ok_or_else(|| ids::not_an_id("id"))?;
        Ok(ids::of_row::<api_token::Entity>(
            users::revoke(writer(ctx), id).await?,
        ))
    }
}
