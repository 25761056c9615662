//! The lookups of every filter field of definitions.

use serde_json::json;

use crate::support::TestApp;

use super::{ALL_DEFINITIONS, List, case, definitions, expect};

#[tokio::test]
async fn definition_string_lookups() {
    let app = TestApp::new().await;
    definitions(&app).await;
    #[rustfmt::skip]
    let cases = [
        case(json!({"name": {"exact": "Alpha"}}), &["Alpha"]),
        case(json!({"name": {"exact": "alpha"}}), &[]),
        case(json!({"name": {"iExact": "ALPHA"}}), &["Alpha"]),
        case(json!({"name": {"contains": "lpha"}}), &["Alpha", "alphabet"]),
        case(json!({"name": {"iContains": "ALPHA"}}), &["Alpha", "alphabet", "gamma-ALPHA"]),
        case(json!({"name": {"startsWith": "al"}}), &["alphabet"]),
        case(json!({"name": {"startsWith": "Al"}}), &["Alpha"]),
        case(json!({"name": {"endsWith": "ALPHA"}}), &["gamma-ALPHA"]),
        case(json!({"name": {"endsWith": "a"}}), &["Alpha", "Beta"]),
        case(json!({"name": {"in": ["Beta", "gamma-ALPHA", "nope"]}}), &["Beta", "gamma-ALPHA"]),
        case(json!({"name": {"in": []}}), &[]),
        case(json!({"name": {"isNull": true}}), &[]),
        case(json!({"name": {"isNull": false}}), &ALL_DEFINITIONS),
        // Several lookups on one field must all hold.
        case(json!({"name": {"contains": "a", "startsWith": "B"}}), &["Beta"]),
        case(json!({"slug": {"exact": "beta"}}), &["Beta"]),
        case(json!({"slug": {"startsWith": "alpha"}}), &["Alpha", "alphabet"]),
        case(json!({"slug": {"iExact": "GAMMA"}}), &["gamma-ALPHA"]),
        case(json!({"targetNode": {"exact": "pve1"}}), &["Alpha", "gamma-ALPHA"]),
        case(json!({"targetNode": {"startsWith": "pve-"}}), &["Beta"]),
        case(json!({"targetNode": {"iContains": "EDGE"}}), &["Beta"]),
        case(json!({"targetNode": {"endsWith": "2"}}), &["alphabet"]),
        case(json!({"targetNode": {"in": ["pve2", "pve-edge"]}}), &["alphabet", "Beta"]),
    ];
    expect(&app, List::Definitions, cases).await;
}

#[tokio::test]
async fn definition_id_lookups() {
    let app = TestApp::new().await;
    let d = definitions(&app).await;
    let [a, b, c, g] = d.ids.map(|id| id.to_string());
    #[rustfmt::skip]
    let cases = [
        case(json!({"id": {"eq": a}}), &["Alpha"]),
        case(json!({"id": {"in": [a, c]}}), &["Alpha", "Beta"]),
        case(json!({"id": {"gt": a}}), &["alphabet", "Beta", "gamma-ALPHA"]),
        case(json!({"id": {"gte": b}}), &["alphabet", "Beta", "gamma-ALPHA"]),
        case(json!({"id": {"lt": c}}), &["Alpha", "alphabet"]),
        case(json!({"id": {"lte": c}}), &["Alpha", "alphabet", "Beta"]),
        case(json!({"id": {"gt": a, "lt": g}}), &["alphabet", "Beta"]),
        case(json!({"id": {"isNull": true}}), &[]),
        case(json!({"id": {"isNull": false}}), &ALL_DEFINITIONS),
        case(json!({"id": {"eq": "999999"}}), &[]),
        case(json!({"id": {"lt": "9223372036854775807"}}), &ALL_DEFINITIONS),
        case(json!({"proxmoxEndpoint": {"eq": d.e2.to_string()}}), &["alphabet", "gamma-ALPHA"]),
        case(json!({"proxmoxEndpoint": {"in": [d.e1.to_string()]}}), &["Alpha", "Beta"]),
        case(json!({"targetCluster": {"eq": d.c1.to_string()}}), &["Alpha", "gamma-ALPHA"]),
        case(json!({"targetCluster": {"in": [d.c2.to_string()]}}), &["Beta"]),
        case(json!({"targetCluster": {"gt": d.c1.to_string()}}), &["Beta"]),
        case(json!({"targetCluster": {"gte": d.c1.to_string()}}), &["Alpha", "Beta", "gamma-ALPHA"]),
        case(json!({"targetCluster": {"lt": d.c2.to_string()}}), &["Alpha", "gamma-ALPHA"]),
        case(json!({"targetCluster": {"lte": d.c1.to_string()}}), &["Alpha", "gamma-ALPHA"]),
        case(json!({"targetCluster": {"isNull": true}}), &["alphabet"]),
        case(json!({"targetCluster": {"isNull": false}}), &["Alpha", "Beta", "gamma-ALPHA"]),
    ];
    expect(&app, List::Definitions, cases).await;
}

#[tokio::test]
async fn definition_enum_and_boolean_lookups() {
    let app = TestApp::new().await;
    definitions(&app).await;
    #[rustfmt::skip]
    let cases = [
        case(json!({"enabled": {"eq": false}}), &["alphabet"]),
        case(json!({"enabled": {"eq": true}}), &["Alpha", "Beta", "gamma-ALPHA"]),
        case(json!({"builderType": {"eq": "PROXMOX_ISO"}}), &["alphabet"]),
        case(json!({"builderType": {"in": ["PROXMOX_CLONE"]}}), &["Alpha", "Beta", "gamma-ALPHA"]),
        case(json!({"builderType": {"in": []}}), &[]),
        case(json!({"osFamily": {"eq": "ROCKY"}}), &["Beta"]),
        case(json!({"osFamily": {"eq": "FREEBSD"}}), &[]),
        case(json!({"osFamily": {"in": ["UBUNTU", "DEBIAN"]}}), &["Alpha", "alphabet"]),
        case(json!({"provisionerRecipe": {"eq": "QEMU_AGENT"}}), &["gamma-ALPHA"]),
        case(json!({"provisionerRecipe": {"in": ["DOCKER_HOST", "UBUNTU_BASE"]}}), &["Alpha", "Beta"]),
    ];
    expect(&app, List::Definitions, cases).await;
}

#[tokio::test]
async fn definition_tenant_filter_matches_allowed_tenants() {
    let app = TestApp::new().await;
    let d = definitions(&app).await;
    let (t1, t2) = (d.t1.to_string(), d.t2.to_string());
    #[rustfmt::skip]
    let cases = [
        case(json!({"tenant": {"eq": t1}}), &["Alpha", "Beta"]),
        case(json!({"tenant": {"eq": t2}}), &["Beta", "gamma-ALPHA"]),
        case(json!({"tenant": {"in": [t1, t2]}}), &["Alpha", "Beta", "gamma-ALPHA"]),
        case(json!({"tenant": {"gt": t1}}), &["Beta", "gamma-ALPHA"]),
        // `isNull: true` means unrestricted (no allowed tenant at all).
        case(json!({"tenant": {"isNull": true}}), &["alphabet"]),
        case(json!({"tenant": {"isNull": false}}), &["Alpha", "Beta", "gamma-ALPHA"]),
        case(json!({"not": {"tenant": {"eq": t1}}}), &["alphabet", "gamma-ALPHA"]),
        // Both tenants at once: an `and` of two memberships, not one row equal to both.
        case(json!({"and": [{"tenant": {"eq": t1}}, {"tenant": {"eq": t2}}]}), &["Beta"]),
    ];
    expect(&app, List::Definitions, cases).await;
}

#[tokio::test]
async fn definition_timestamp_lookups() {
    let app = TestApp::new().await;
    let d = definitions(&app).await;
    let t = |s| d.clock.text(s);
    let plus_two = chrono::FixedOffset::east_opt(2 * 3600).expect("an offset");
    let elsewhere = d.clock.at(-10).with_timezone(&plus_two).to_rfc3339();
    #[rustfmt::skip]
    let cases = [
        case(json!({"created": {"gt": t(-300)}}), &["alphabet", "Beta", "gamma-ALPHA"]),
        case(json!({"created": {"gte": t(-300)}}), &ALL_DEFINITIONS),
        case(json!({"created": {"lt": t(-100)}}), &["Alpha", "alphabet"]),
        case(json!({"created": {"lte": t(-100)}}), &["Alpha", "alphabet", "Beta"]),
        case(json!({"created": {"gt": t(-200), "lt": t(-10)}}), &["Beta"]),
        case(json!({"created": {"isNull": true}}), &[]),
        case(json!({"created": {"isNull": false}}), &ALL_DEFINITIONS),
        case(json!({"lastUpdated": {"gt": t(-60)}}), &["alphabet", "gamma-ALPHA"]),
        case(json!({"lastUpdated": {"gte": t(-50)}}), &["alphabet", "gamma-ALPHA"]),
        case(json!({"lastUpdated": {"lt": t(-100)}}), &["Alpha"]),
        case(json!({"lastUpdated": {"lte": t(-100)}}), &["Alpha", "Beta"]),
        // Another offset, the same instant.
        case(json!({"created": {"gte": elsewhere}}), &["gamma-ALPHA"]),
    ];
    expect(&app, List::Definitions, cases).await;
}

#[tokio::test]
async fn definition_free_text_searches_name_and_description() {
    let app = TestApp::new().await;
    definitions(&app).await;
    #[rustfmt::skip]
    let cases = [
        case(json!({"q": "alpha"}), &["Alpha", "alphabet", "Beta", "gamma-ALPHA"]),
        case(json!({"q": "FIRST IMAGE"}), &["Alpha"]),
        case(json!({"q": "inside"}), &["Beta"]),
        case(json!({"q": "zzz"}), &[]),
        case(json!({"q": ""}), &ALL_DEFINITIONS),
        case(json!({"q": "alpha", "enabled": {"eq": false}}), &["alphabet"]),
    ];
    expect(&app, List::Definitions, cases).await;
}
