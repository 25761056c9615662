//! `and` / `or` / `not`, the characters SQL treats specially, and unusual text.

use sea_orm::Set;
use serde_json::json;

use crate::support::TestApp;

use super::{ALL_DEFINITIONS, List, case, definitions, expect, expect_complements};

#[tokio::test]
async fn and_or_not_combine() {
    let app = TestApp::new().await;
    let d = definitions(&app).await;
    let (c1, t1, t2) = (d.c1.to_string(), d.t1.to_string(), d.t2.to_string());
    #[rustfmt::skip]
    let cases = [
        case(json!({"and": []}), &ALL_DEFINITIONS),
        case(json!({"or": []}), &[]),
        case(json!({"not": {"or": []}}), &ALL_DEFINITIONS),
        case(json!({"not": {"and": []}}), &[]),
        case(json!({"and": [{"osFamily": {"in": ["UBUNTU", "DEBIAN"]}}, {"enabled": {"eq": true}}]}), &["Alpha"]),
        case(json!({"or": [{"name": {"exact": "Alpha"}}, {"osFamily": {"eq": "ROCKY"}}]}), &["Alpha", "Beta"]),
        // `not` on a nullable column includes the NULL rows: exactly the complement.
        case(json!({"not": {"targetCluster": {"eq": c1}}}), &["alphabet", "Beta"]),
        case(json!({"not": {"targetCluster": {"isNull": true}}}), &["Alpha", "Beta", "gamma-ALPHA"]),
        case(json!({"not": {"not": {"targetCluster": {"eq": c1}}}}), &["Alpha", "gamma-ALPHA"]),
        case(json!({"name": {"startsWith": "a"}, "not": {"enabled": {"eq": false}}}), &[]),
        case(
            json!({"or": [{"and": [{"tenant": {"eq": t2}}, {"osFamily": {"eq": "ALMALINUX"}}]}, {"q": "first"}]}),
            &["Alpha", "gamma-ALPHA"],
        ),
        // The fields of one filter object, `and`, `or` and `not` all hold together.
        case(
            json!({
                "enabled": {"eq": true},
                "and": [{"name": {"iContains": "a"}}],
                "or": [{"tenant": {"eq": t1}}, {"targetNode": {"exact": "pve1"}}],
                "not": {"osFamily": {"eq": "ROCKY"}}
            }),
            &["Alpha", "gamma-ALPHA"],
        ),
    ];
    expect(&app, List::Definitions, cases).await;
    expect_complements(
        &app,
        List::Definitions,
        &[
            json!({"targetCluster": {"eq": c1}}),
            json!({"targetCluster": {"gt": c1}}),
            json!({"targetCluster": {"in": [c1]}}),
            json!({"tenant": {"eq": d.t1.to_string()}}),
            json!({"tenant": {"isNull": true}}),
            json!({"name": {"iContains": "alpha"}}),
        ],
    )
    .await;
}

#[tokio::test]
async fn like_metacharacters_match_themselves() {
    let app = TestApp::new().await;
    let world = app.world().await;
    for name in ["100% done", "a_b", "axb", "abb", r"back\slash", "backslash"] {
        app.seed()
            .definition(name, world.endpoint, world.cluster, &[], |_| {})
            .await;
    }
    #[rustfmt::skip]
    let cases = [
        case(json!({"name": {"contains": "_"}}), &["a_b"]),
        case(json!({"name": {"contains": "%"}}), &["100% done"]),
        case(json!({"name": {"contains": "a_b"}}), &["a_b"]),
        case(json!({"name": {"iContains": "A_B"}}), &["a_b"]),
        case(json!({"name": {"iContains": "%"}}), &["100% done"]),
        case(json!({"name": {"startsWith": "a_"}}), &["a_b"]),
        case(json!({"name": {"startsWith": "%"}}), &[]),
        case(json!({"name": {"endsWith": "_b"}}), &["a_b"]),
        case(json!({"name": {"endsWith": "% done"}}), &["100% done"]),
        case(json!({"name": {"contains": r"\"}}), &[r"back\slash"]),
        case(json!({"name": {"contains": r"k\s"}}), &[r"back\slash"]),
        case(json!({"name": {"exact": "a_b"}}), &["a_b"]),
        case(json!({"name": {"iExact": "A_B"}}), &["a_b"]),
        case(json!({"name": {"iExact": "a%"}}), &[]),
        case(json!({"name": {"in": ["a_b", "a%"]}}), &["a_b"]),
        case(json!({"q": "_"}), &["a_b"]),
        case(json!({"q": "%"}), &["100% done"]),
        case(json!({"q": r"\"}), &[r"back\slash"]),
    ];
    expect(&app, List::Definitions, cases).await;
}

#[tokio::test]
async fn unusual_text_round_trips_and_filters_exactly() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let names = [
        r#"O'Brien "the quoted""#,
        "🚀 Rocket 日本語",
        "'; DROP TABLE image_definition; --",
        "Robert'); DELETE FROM image_build WHERE ('1'='1",
        "$1 ? :name %s {} $$",
        "tab\tand\nnewline",
    ];
    for name in names {
        app.seed()
            .definition(name, world.endpoint, world.cluster, &[], |d| {
                d.description = Set(format!("about {name}"));
            })
            .await;
    }
    for name in names {
        #[rustfmt::skip]
        let cases = [
            case(json!({"name": {"exact": name}}), &[name]),
            case(json!({"name": {"iExact": name}}), &[name]),
            case(json!({"name": {"contains": name}}), &[name]),
            case(json!({"name": {"in": [name]}}), &[name]),
            case(json!({"q": format!("about {name}")}), &[name]),
        ];
        expect(&app, List::Definitions, cases).await;
    }
    #[rustfmt::skip]
    let cases = [
        case(json!({"name": {"contains": "'"}}), &[names[0], names[2], names[3]]),
        case(json!({"name": {"contains": "\""}}), &[names[0]]),
        case(json!({"name": {"iContains": "rocket"}}), &[names[1]]),
        case(json!({"name": {"contains": "🚀"}}), &[names[1]]),
        case(json!({"name": {"endsWith": "日本語"}}), &[names[1]]),
        case(json!({"name": {"contains": "$"}}), &[names[4]]),
        case(json!({"name": {"contains": "\n"}}), &[names[5]]),
        case(json!({}), &names),
    ];
    expect(&app, List::Definitions, cases).await;
    // The text comes back byte for byte.
    let data = app
        .data(
            "{ imageDefinitions { nodes { name description } } }",
            json!({}),
        )
        .await;
    for node in data["imageDefinitions"]["nodes"].as_array().expect("nodes") {
        let name = node["name"].as_str().expect("name");
        assert!(names.contains(&name), "{name:?} did not round-trip");
        assert_eq!(node["description"], json!(format!("about {name}")));
    }
}
