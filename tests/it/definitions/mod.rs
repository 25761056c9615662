//! Definition writes through the API (SPEC §1.1, §3.2): field rules reported together, patch
//! semantics, uniqueness, deletion.

mod fields;
mod writes;

use serde_json::{Value, json};

use crate::support::TestApp;

const CREATE: &str = "mutation ($input: CreateImageDefinitionInput!) {
    createImageDefinition(input: $input) {
        id name slug description enabled builderType targetNode sourceTemplateVmid isoUrl
        isoChecksum isoStorage defaultStorage defaultBridge osFamily osRelease defaultCiuser
        provisionerRecipe defaultVariables proxmoxEndpoint { id } targetCluster { id }
        allowedTenants { id }
    }
}";

async fn create(app: &TestApp, input: Value) -> Value {
    app.as_user(&app.admin, CREATE, json!({"input": input}))
        .await
}
