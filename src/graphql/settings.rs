//! `PluginSettings`: the singleton of SPEC §1.3.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};
use entity::plugin_settings;

use super::{db, ids, request, scalars::DateTime, writer};
use crate::registry::{
    id::Id,
    settings::{self, SettingsPatch},
};

/// The plugin settings (one instance).
#[derive(SimpleObject, Clone)]
pub struct PluginSettings {
    /// The global id of the one instance: a normalized cache keeps one record of the settings,
    /// which `updatePluginSettings` updates.
    pub id: ids::GlobalId<plugin_settings::Entity>,
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
    pub last_updated: DateTime,
}

impl From<plugin_settings::Model> for PluginSettings {
    fn from(m: plugin_settings::Model) -> Self {
        PluginSettings {
            id: Id::of(&m).into(),
            image_factory_enabled: m.image_factory_enabled,
            image_factory_max_concurrent_builds: m.image_factory_max_concurrent_builds,
            image_factory_default_job_timeout: m.image_factory_default_job_timeout,
            image_factory_allow_iso_builds: m.image_factory_allow_iso_builds,
            image_factory_allow_custom_variables: m.image_factory_allow_custom_variables,
            last_updated: m.last_updated.into(),
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
        Ok(settings::get(db(ctx), &request(ctx).scope).await?.into())
    }
}

/// A change to the settings; absent fields are unchanged.
#[derive(InputObject, Default)]
pub struct UpdatePluginSettingsInput {
    /// Master switch.
    pub image_factory_enabled: Option<bool>,
    /// 1..=1000.
    pub image_factory_max_concurrent_builds: Option<i32>,
    /// 60..=604800 seconds.
    pub image_factory_default_job_timeout: Option<i32>,
    /// Allow PROXMOX_ISO builds.
    pub image_factory_allow_iso_builds: Option<bool>,
    /// Allow per-build variables.
    pub image_factory_allow_custom_variables: Option<bool>,
}

/// Mutations of the settings.
#[derive(Default)]
pub struct SettingsMutation;

#[Object]
impl SettingsMutation {
    /// Changes the plugin settings (ADMIN).
    async fn update_plugin_settings(
        &self,
        ctx: &Context<'_>,
        input: UpdatePluginSettingsInput,
    ) -> Result<PluginSettings> {
        let patch = SettingsPatch {
            image_factory_enabled: input.image_factory_enabled,
            image_factory_max_concurrent_builds: input.image_factory_max_concurrent_builds,
            image_factory_default_job_timeout: input.image_factory_default_job_timeout,
            image_factory_allow_iso_builds: input.image_factory_allow_iso_builds,
            image_factory_allow_custom_variables: input.image_factory_allow_custom_variables,
        };
        Ok(settings::update(writer(ctx), patch).await?.into())
    }
}
