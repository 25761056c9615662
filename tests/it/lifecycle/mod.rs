//! The build lifecycle through the API (SPEC §2): transitions, gates, concurrency, catalog
//! publish, timeouts and idempotency.

mod concurrency;
mod gates;
mod outcomes;
mod settings;
mod transitions;

use entity::{enums::BuildStatus, image_build};
use serde_json::json;

use crate::support::{TestApp, World, at, clone_input, gid, key_of};

/// A world with the factory on (and room for many running builds) and one definition.
async fn setup() -> (TestApp, World, String) {
    setup_with(&[]).await
}

/// [`setup`] with extra `serve` flags.
async fn setup_with(extra: &[&str]) -> (TestApp, World, String) {
    let app = TestApp::with_args(extra).await;
    let world = app.world().await;
    app.enable_factory(json!({"imageFactoryMaxConcurrentBuilds": 1000}))
        .await;
    let definition = app
        .create_definition(clone_input(&world, "Ubuntu 24.04", "ubuntu-2404"))
        .await;
    (app, world, definition)
}

async fn seed_build(app: &TestApp, world: &World, definition: &str, status: BuildStatus) -> String {
    let definition = key_of(definition);
    let id = app
        .seed()
        .build(
            definition,
            world.endpoint,
            status,
            at(-60),
            Some(app.admin_id),
            |_| {},
        )
        .await;
    gid::<image_build::Entity>(id)
}
