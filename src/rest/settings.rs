//! `settings/`: the plugin settings singleton (SPEC §1.3): read (any principal that may read
//! reference data), replace (PUT: all five settings) and update (PATCH: those sent), through
//! `registry::settings`.

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use chrono::{DateTime, Utc};
use entity::plugin_settings;
use serde::Serialize;

use super::{
    Reply,
    body::{self, Fields},
    ctx, reply,
};
use crate::{
    app::App,
    auth::Principal,
    registry::settings::{self, SettingsPatch},
};

/// Every setting: what a PUT must carry.
const ALL: [&str; 5] = [
    "image_factory_enabled",
    "image_factory_max_concurrent_builds",
    "image_factory_default_job_timeout",
    "image_factory_allow_iso_builds",
    "image_factory_allow_custom_variables",
];

/// The settings as REST renders them.
#[derive(Serialize)]
pub struct Settings {
    image_factory_enabled: bool,
    image_factory_max_concurrent_builds: i32,
    image_factory_default_job_timeout: i32,
    image_factory_allow_iso_builds: bool,
    image_factory_allow_custom_variables: bool,
    last_updated: DateTime<Utc>,
}

impl From<plugin_settings::Model> for Settings {
    fn from(m: plugin_settings::Model) -> Self {
        Settings {
            image_factory_enabled: m.image_factory_enabled,
            image_factory_max_concurrent_builds: m.image_factory_max_concurrent_builds,
            image_factory_default_job_timeout: m.image_factory_default_job_timeout,
            image_factory_allow_iso_builds: m.image_factory_allow_iso_builds,
            image_factory_allow_custom_variables: m.image_factory_allow_custom_variables,
            last_updated: m.last_updated,
        }
    }
}

/// `GET settings/`.
pub async fn detail(State(app): State<App>, principal: Principal) -> Reply {
    let scope = principal.scope();
    reply(
        StatusCode::OK,
        Settings::from(settings::get(&app.db, &scope).await?),
    )
}

/// `PUT settings/`: every setting.
pub async fn replace(
    State(app): State<App>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    change(app, principal, headers, body, true).await
}

/// `PATCH settings/`: the settings sent.
pub async fn update(
    State(app): State<App>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    change(app, principal, headers, body, false).await
}

async fn change(
    app: App,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
    full: bool,
) -> Reply {
    let mut fields = Fields::new(body::object(&app, &headers, body).await?);
    if full {
        fields.require(&ALL);
    }
    let patch = SettingsPatch {
        image_factory_enabled: fields.boolean("image_factory_enabled"),
        image_factory_max_concurrent_builds: fields.integer("image_factory_max_concurrent_builds"),
        image_factory_default_job_timeout: fields.integer("image_factory_default_job_timeout"),
        image_factory_allow_iso_builds: fields.boolean("image_factory_allow_iso_builds"),
        image_factory_allow_custom_variables: fields
            .boolean("image_factory_allow_custom_variables"),
    };
    fields.finish()?;
    let saved = settings::update(ctx(&app, &principal), patch).await?;
    reply(StatusCode::OK, Settings::from(saved))
}
