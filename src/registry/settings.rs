//! The plugin settings singleton (SPEC §1.3).

use entity::plugin_settings;
use sea_orm::{ConnectionTrait, EntityTrait};

use crate::error::Error;

/// The id of the one settings row.
pub const SINGLETON: i32 = 1;

/// The settings.
pub async fn get(db: &impl ConnectionTrait) -> Result<plugin_settings::Model, Error> {
    plugin_settings::Entity::find_by_id(SINGLETON)
        .one(db)
        .await?
        .ok_or_else(|| Error::internal("the plugin settings row is missing"))
}
