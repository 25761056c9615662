//! The layers import only downwards, and the dispatcher and the adapters reach the database only
//! through the core.

use super::{graph, paths, sources};

#[test]
fn the_layers_import_only_downwards() {
    let sources = sources();
    let edges = graph(&sources, &[]);
    // Below the adapters, nothing knows them; the adapters know the core, not each other. (Where
    // `http`, `app` and the adapters stand to each other is the edge's: see its README section.)
    let never: [(&str, &[&str]); 8] = [
        (
            "clock",
            &[
                "auth", "registry", "events", "graphql", "rest", "http", "app", "cli", "dispatch",
            ],
        ),
        (
            "error",
            &[
                "auth", "registry", "events", "graphql", "rest", "http", "app", "cli", "dispatch",
            ],
        ),
        (
            "auth",
            &[
                "registry", "events", "graphql", "rest", "http", "app", "cli", "dispatch",
            ],
        ),
        (
            "registry",
            &[
                "events", "graphql", "rest", "http", "app", "cli", "dispatch",
            ],
        ),
        (
            "events",
            &["graphql", "rest", "http", "app", "cli", "dispatch"],
        ),
        ("graphql", &["rest", "cli", "dispatch"]),
        ("rest", &["graphql", "cli", "dispatch"]),
        // The dispatcher drives the core like a worker would, never through a door.
        ("dispatch", &["graphql", "rest", "http", "cli"]),
    ];
    for (module, forbidden) in never {
        let imports = &edges[module];
        for other in forbidden {
            assert!(!imports.contains(*other), "`{module}` imports `{other}`");
        }
    }
    for source in sources
        .iter()
        .filter(|s| s.module.first().is_some_and(|m| m == "registry"))
    {
        for framework in ["async_graphql", "axum"] {
            assert!(
                paths(&source.code, framework).is_empty(),
                "{} uses {framework}",
                source.module.join("::")
            );
        }
    }
}

/// What the adapters may use of sea-orm: types to name the connection and the choice enums —
/// never a query, a statement or a value (the core builds every one of them).
const ADAPTER_SEA_ORM: [&str; 4] = [
    "DatabaseConnection",
    "FromQueryResult",
    "ActiveEnum",
    "Iterable",
];

#[test]
fn the_dispatcher_reads_and_writes_only_through_the_core() {
    let sources = sources();
    let mut checked = 0;
    for source in sources
        .iter()
        .filter(|s| s.module.first().is_some_and(|m| m == "dispatch"))
    {
        checked += 1;
        let name = source.module.join("::");
        for path in paths(&source.code, "sea_orm") {
            assert!(
                path.first()
                    .is_some_and(|item| ADAPTER_SEA_ORM.contains(&item.as_str())),
                "{name} uses sea_orm::{}",
                path.join("::")
            );
        }
        for side_door in ["::find(", "::find_by_id(", "::update_many(", "::insert("] {
            assert!(
                !source.code.contains(side_door),
                "{name} writes past the core: `{side_door}`"
            );
        }
    }
    assert!(checked >= 3, "the dispatcher is read");
}

#[test]
fn the_adapters_read_only_through_the_core_with_the_requests_scope() {
    let sources = sources();
    let adapters = sources.iter().filter(|s| {
        s.module
            .first()
            .is_some_and(|m| m == "graphql" || m == "rest")
    });
    let mut checked = 0;
    for source in adapters {
        checked += 1;
        let name = source.module.join("::");
        for path in paths(&source.code, "sea_orm") {
            assert!(
                path.first()
                    .is_some_and(|item| ADAPTER_SEA_ORM.contains(&item.as_str())),
                "{name} uses sea_orm::{}",
                path.join("::")
            );
        }
        for side_door in [
            "Scope::service",
            "Principal::Service",
            "::find(",
            "::find_by_id(",
        ] {
            assert!(
                !source.code.contains(side_door),
                "{name} reads past the core: `{side_door}`"
            );
        }
    }
    assert!(checked > 10, "the adapters are read");
}
