//! The plugin settings singleton (SPEC §1.3): read by every authenticated principal (not by
//! anonymous readers), changed by ADMIN.

use entity::plugin_settings;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Value, sea_query::Expr};

use super::{
    Ctx,
    rules::Checks,
    tx::{SINGLETON, begin_lifecycle},
};
use crate::{
    auth::{Action, Scope},
    error::Error,
};

/// The settings, as `scope` may read them (anonymous readers may not: `UNAUTHENTICATED`).
pub async fn get(
    db: &impl ConnectionTrait,
    scope: &Scope,
) -> Result<plugin_settings::Model, Error> {
    scope.require_authenticated()?;
    current(db).await
}

/// The settings, for the rules that depend on them (inside the lifecycle's transaction).
pub(super) async fn current(db: &impl ConnectionTrait) -> Result<plugin_settings::Model, Error> {
    plugin_settings::Entity::find_by_id(SINGLETON)
        .one(db)
        .await?
        .ok_or_else(|| Error::internal("the plugin settings row is missing"))
}

/// A change to the settings; `None` keeps a field.
#[derive(Clone, Debug, Default)]
pub struct SettingsPatch {
    /// `image_factory_enabled`
    pub image_factory_enabled: Option<bool>,
    /// `image_factory_max_concurrent_builds`, 1..=1000
    pub image_factory_max_concurrent_builds: Option<i32>,
    /// `image_factory_default_job_timeout`, 60..=604800 seconds
    pub image_factory_default_job_timeout: Option<i32>,
    /// `image_factory_allow_iso_builds`
    pub image_factory_allow_iso_builds: Option<bool>,
    /// `image_factory_allow_custom_variables`
    pub image_factory_allow_custom_variables: Option<bool>,
}

/// Changes the settings (ADMIN). Only the given fields are written, in place: the row stays
/// single and concurrent changes of different fields do not undo each other.
pub async fn update(ctx: Ctx<'_>, patch: SettingsPatch) -> Result<plugin_settings::Model, Error> {
    ctx.principal.authorize(Action::ManageSettings)?;
    let mut c = Checks::default();
    if let Some(n) = patch.image_factory_max_concurrent_builds {
        c.check(
            "image_factory_max_concurrent_builds",
            (1..=1000).contains(&n),
            "must be between 1 and 1000",
        );
    }
    if let Some(n) = patch.image_factory_default_job_timeout {
        c.check(
            "image_factory_default_job_timeout",
            (60..=604_800).contains(&n),
            "must be between 60 and 604800 seconds",
        );
    }
    c.0.into_result()?;
    use plugin_settings::Column as C;
    let mut update = plugin_settings::Entity::update_many()
        .col_expr(C::LastUpdated, Expr::value(ctx.clock.now()))
        .filter(C::Id.eq(SINGLETON));
    for (column, value) in [
        (
            C::ImageFactoryEnabled,
            patch.image_factory_enabled.map(Value::from),
        ),
        (
            C::ImageFactoryMaxConcurrentBuilds,
            patch.image_factory_max_concurrent_builds.map(Value::from),
        ),
        (
            C::ImageFactoryDefaultJobTimeout,
            patch.image_factory_default_job_timeout.map(Value::from),
        ),
        (
            C::ImageFactoryAllowIsoBuilds,
            patch.image_factory_allow_iso_builds.map(Value::from),
        ),
        (
            C::ImageFactoryAllowCustomVariables,
            patch.image_factory_allow_custom_variables.map(Value::from),
        ),
    ] {
        if let Some(value) = value {
            update = update.col_expr(column, Expr::value(value));
        }
    }
    let txn = begin_lifecycle(ctx.db).await?;
    update.exec(&txn).await?;
    let settings = current(&txn).await?;
    txn.commit().await?;
    Ok(settings)
}
