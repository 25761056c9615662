//! Who may see and start a pass: the status and the mutation, the signed webhook, and the token
//! kept out of every log.

use axum::http::StatusCode;
use entity::{cluster, enums::Role, tenant};
use packer_gateway::netbox::webhook;
use serde_json::json;

use crate::support::{TestApp, code};

use super::rig::{HOOK_SECRET, await_tenants, count, fill, hook, service, tenant_of};
use super::stand_in::{NetBox, V1_TOKEN, V2_TOKEN};

#[tokio::test]
async fn the_status_and_the_mutation_are_for_administrators() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    let app = service(&netbox, V2_TOKEN).await;
    let data = app
        .data(
            "mutation { syncNetbox { objectType outcome created } }",
            json!({}),
        )
        .await;
    assert_eq!(data["syncNetbox"][0]["created"], 3, "{data}");
    assert_eq!(count::<tenant::Entity>(&app).await, 3);

    let (_, viewer) = app.user(Role::Viewer, &[], true).await;
    for document in [
        "{ netboxSync { outcome } }",
        "mutation { syncNetbox { outcome } }",
    ] {
        let body = app.as_user(&viewer, document, json!({})).await;
        assert_eq!(code(&body), "FORBIDDEN", "{body}");
    }

    let unconfigured = TestApp::new().await;
    let (_, body) = unconfigured
        .post(
            Some(&unconfigured.admin.clone()),
            "mutation { syncNetbox { outcome } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "FEATURE_DISABLED", "{body}");
}

#[tokio::test]
async fn a_signed_webhook_brings_a_pass_forward_and_anything_else_is_refused() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    let app = service(&netbox, V2_TOKEN).await;
    let body = json!({"event": "created", "object_type": "tenancy.tenant",
                      "timestamp": "2026-11-30T10:00:00Z", "data": {"id": 1, "name": "forged"}})
    .to_string();

    let (status, _) = hook(&app, &body, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let forged = webhook::sign("not-the-secret", body.as_bytes());
    let (status, _) = hook(&app, &body, Some(&forged)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = hook(&app, &body, Some("zz")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(count::<tenant::Entity>(&app).await, 0);

    let signature = webhook::sign(HOOK_SECRET, body.as_bytes());
    let (status, answer) = hook(&app, &body, Some(&signature)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    // The pass runs in the background: wait for it, with a deadline.
    await_tenants(&app, 3).await;
    // Only the webhook's type was synced, from NetBox, not from the payload.
    assert!(
        tenant_of(&app, 1)
            .await
            .is_some_and(|t| t.name == "NB Tenant A")
    );
    assert_eq!(count::<cluster::Entity>(&app).await, 0);
}

#[tokio::test]
async fn no_token_ever_reaches_a_log() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    let app = TestApp::new().await;
    let wrong = "feedfacefeedfacefeedfacefeedfacefeedface";
    let secrets = [V1_TOKEN, V2_TOKEN, wrong, HOOK_SECRET];
    // A pass that works, one with a refused token, one against a NetBox that is down.
    for (token, down, ok) in [
        (V1_TOKEN, false, true),
        (wrong, false, false),
        (V2_TOKEN, true, false),
    ] {
        if down {
            netbox.fail_after(0);
        }
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_packer-gateway"))
            .args([
                "sync",
                "netbox",
                "--netbox-url",
                &netbox.url,
                "--netbox-retry-backoff",
                "0.01",
            ])
            .env("PACKER_GATEWAY_DATABASE_URL", &app.url)
            .env("PACKER_GATEWAY_NETBOX_TOKEN", token)
            .env("PACKER_GATEWAY_NETBOX_WEBHOOK_SECRET", HOOK_SECRET)
            .env("RUST_LOG", "trace")
            .output()
            .await
            .expect("run packer-gateway sync netbox");
        assert_eq!(output.status.success(), ok, "{output:?}");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(printed.contains("tenants"), "{printed}");
        for secret in secrets {
            assert!(
                !printed.contains(secret),
                "a secret was printed:\n{printed}"
            );
        }
    }
    netbox.heal();
    // And the configuration never shows it either.
    let args = crate::support::serve_args(&["--netbox-token", V2_TOKEN]);
    assert!(!format!("{args:?}").contains(V2_TOKEN));
}
