//! The committed SDL is the schema, and the GraphQL library propagates nulls as the spec says
//! (the nullable half of that is `graphql::compat::nullable`, tested there and in
//! `queries/nulls.rs`), and no schema has an extension (every field on async-graphql's fast path).

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};

/// Regenerates `schema.graphql` and fails when the committed file is stale. Run with
/// `UPDATE_SCHEMA=1` to rewrite it.
#[test]
fn committed_schema_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let current = packer_gateway::graphql::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &current).expect("write schema.graphql");
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == current,
        "schema.graphql is stale: run `UPDATE_SCHEMA=1 cargo test schema` and commit it"
    );
}

#[derive(SimpleObject)]
struct Child {
    ok: i32,
}

struct Parent;

#[Object]
impl Parent {
    async fn sibling(&self) -> i32 {
        1
    }

    async fn broken(&self) -> async_graphql::Result<i32> {
        Err("boom".into())
    }
}

struct Root;

#[Object]
impl Root {
    async fn parent(&self) -> Option<Parent> {
        Some(Parent)
    }

    async fn child(&self) -> Child {
        Child { ok: 1 }
    }
}

/// The trap of async-graphql 7.1–7.2: a failed non-null field must null its (nullable) parent,
/// not vanish from it. We pin 7.0.19; this proves it behaves.
#[tokio::test]
async fn a_failed_non_null_field_nulls_its_parent() {
    let schema = Schema::new(Root, EmptyMutation, EmptySubscription);
    let response = schema
        .execute("{ parent { sibling broken } child { ok } }")
        .await
        .into_result()
        .expect_err("the field fails");
    assert_eq!(response[0].message, "boom");
    let response = schema
        .execute("{ parent { sibling broken } child { ok } }")
        .await;
    let data = response.data.into_json().expect("json");
    assert_eq!(
        data,
        serde_json::json!({"parent": null, "child": {"ok": 1}})
    );
}

/// `DateTime` and `JSON` say what their values are, and name their specifications with
/// `@specifiedBy` (in the SDL, and to introspection as `specifiedByURL`).
#[tokio::test]
async fn the_scalars_describe_their_values_and_name_their_specifications() {
    let sdl = packer_gateway::graphql::sdl();
    assert!(sdl.contains(
        r#"scalar DateTime @specifiedBy(url: "https://www.rfc-editor.org/rfc/rfc3339")"#
    ));
    assert!(
        sdl.contains(r#"scalar JSON @specifiedBy(url: "https://www.rfc-editor.org/rfc/rfc8259")"#)
    );
    let app = crate::support::TestApp::new().await;
    let data = app
        .data(
            r#"{ dateTime: __type(name: "DateTime") { kind description specifiedByURL }
                 json: __type(name: "JSON") { kind description specifiedByURL } }"#,
            serde_json::json!({}),
        )
        .await;
    for (scalar, url, words) in [
        (
            "dateTime",
            "https://www.rfc-editor.org/rfc/rfc3339",
            "RFC 3339",
        ),
        ("json", "https://www.rfc-editor.org/rfc/rfc8259", "RFC 8259"),
    ] {
        assert_eq!(data[scalar]["kind"], "SCALAR");
        assert_eq!(data[scalar]["specifiedByURL"], url);
        let description = data[scalar]["description"].as_str().unwrap_or_default();
        assert!(description.contains(words), "{description}");
        assert!(!description.contains("Implement the"), "{description}");
    }
}

/// No schema of the service has an extension: with any, async-graphql 7.0.19 resolves every
/// field of every request on its slow path (a registry lookup, `ResolveInfo` and the extension
/// chain, boxed, per field; `resolver_utils/container.rs`), which cost ~5% of the list's CPU.
/// async-graphql exposes no schema's extensions and no behaviour only the fast path has, so this
/// reads the sources: no `.extension(` on a schema builder and no `ExtensionFactory` outside
/// tests (a file's tests are its `#[cfg(test)]` tail). Null propagation and request errors' codes
/// are done without one (`graphql::compat::nullable`, `graphql::compat::render::sanitize`).
#[test]
fn no_schema_has_an_extension() {
    fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read a source");
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (n, line) in code.lines().enumerate() {
                let line = line.trim_start();
                if line.starts_with("//") {
                    continue;
                }
                if line.contains(".extension(") || line.contains("ExtensionFactory") {
                    found.push(format!("{}:{}: {line}", path.display(), n + 1));
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    assert!(
        found.is_empty(),
        "a schema extension slows every field down:\n{}",
        found.join("\n")
    );
}
