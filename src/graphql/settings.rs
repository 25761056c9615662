//! `PluginSettings`: the singleton of SPEC §1.3.

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::plugin_settings;

use super::{db, reader};
use crate::registry::settings;

/// The plugin settings (one instance).
#[derive(SimpleObject, Clone)]
pub struct PluginSettings {
    /// Master switch: no build is queued while false.
    pub image_factory_enabled: bool,
    /// At most this many builds run at once (1..=1000).
    pub image_factory_max_concurrent_builds: i32,
    /// Seconds before a running build times out (60..=604800).
    pub image_factory_default_job_timeout: i32,
    /// Whether `PROXMOX_ISO` builds may be queued.
    pub image_factory_allow_iso_builds: bool,
    /// Whether per-build variables are accepted.
    pub image_factory_allow_custom_variables: bool,
    /// Last change.
    pub last_updated: DateTime<Utc>,
}

impl From<plugin_settings::Model> for PluginSettings {
    fn from(m: plugin_settings::Model) -> Self {
        PluginSettings {
            image_factory_enabled: m.image_factory_enabled,
            image_factory_max_concurrent_builds: m.image_factory_max_concurrent_builds,
            image_factory_default_job_timeout: m.image_factory_default_job_timeout,
            image_factory_allow_iso_builds: m.image_factory_allow_iso_builds,
            image_factory_allow_custom_variables: m.image_factory_allow_custom_variables,
            last_updated: m.last_updated,
        }
    }
}

/// Queries of the settings.
#[derive(Default)]
pub struct SettingsQuery;

#[Object]
impl SettingsQuery {
    /// The plugin settings.
    async fn plugin_settings(&self, ctx: &Context<'_>) -> Result<PluginSettings> {
        reader(ctx)?;
        Ok(settings::get(db(ctx)).await?.into())
    }
}
