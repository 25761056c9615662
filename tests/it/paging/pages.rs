//! `pageInfo`, the page size rules, cursor validation and `totalCount`.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use entity::enums::BuildStatus;
use serde_json::{Value, json};

use crate::support::{TestApp, code};

use super::{Fixture, List, Page, Row, builds, definitions, nested, order_by};

#[tokio::test]
async fn page_info_tells_where_a_page_lies() {
    let f = Fixture::new().await;
    let app = &f.app;
    let mut rows: Vec<Row> = (1..=5).map(|i| Row::pending(-10 * i)).collect();
    let r = f.seed(&mut rows).await;
    let list = builds(json!(null));
    // Ids and (hasPreviousPage, hasNextPage) of a page.
    let seen = |p: &Page| (p.ids.clone(), (p.has_previous, p.has_next));

    let p1 = list.page(app, json!({"first": 2})).await;
    assert_eq!(seen(&p1), (vec![r[0], r[1]], (false, true)));
    assert_eq!(p1.total, 5);
    let p2 = list.page(app, json!({"first": 2, "after": p1.end})).await;
    assert_eq!(seen(&p2), (vec![r[2], r[3]], (true, true)));
    let p3 = list.page(app, json!({"first": 2, "after": p2.end})).await;
    assert_eq!(seen(&p3), (vec![r[4]], (true, false)));
    let beyond = list.page(app, json!({"first": 2, "after": p3.end})).await;
    assert_eq!(seen(&beyond), (vec![], (true, false)));
    assert_eq!((beyond.start, beyond.end), (None, None));
    assert!(!list.page(app, json!({"first": 5})).await.has_next);
    assert!(list.page(app, json!({"first": 4})).await.has_next);

    let b1 = list.page(app, json!({"last": 2})).await;
    assert_eq!(seen(&b1), (vec![r[3], r[4]], (true, false)));
    let b2 = list.page(app, json!({"last": 2, "before": b1.start})).await;
    assert_eq!(seen(&b2), (vec![r[1], r[2]], (true, true)));
    let b3 = list.page(app, json!({"last": 2, "before": b2.start})).await;
    assert_eq!(seen(&b3), (vec![r[0]], (false, true)));
    assert!(!list.page(app, json!({"last": 5})).await.has_previous);

    // `after` and `before` together bound a window.
    let window = json!({"first": 10, "after": p1.cursors[0], "before": p3.cursors[0]});
    assert_eq!(list.page(app, window).await.ids, [r[1], r[2], r[3]]);

    // An empty list.
    let running = json!({"filter": {"status": {"eq": "RUNNING"}}, "first": 2});
    let empty = list.page(app, running).await;
    assert_eq!((seen(&empty), empty.total), ((vec![], (false, false)), 0));
    assert_eq!((empty.start, empty.end), (None, None));
}

/// Checks that `paging` on `list` is `BAD_USER_INPUT` naming one of `arguments`.
async fn refused(app: &TestApp, list: &List, paging: Value, arguments: &[&str]) {
    let body = list.run(app, paging.clone()).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{paging}: {body}");
    let fields = &body["errors"][0]["extensions"]["fields"];
    assert!(
        arguments.iter().any(|a| fields[a].is_array()),
        "{paging}: `extensions.fields` should name {arguments:?}: {body}"
    );
}

#[tokio::test]
async fn page_sizes_outside_1_to_100_are_bad_user_input() {
    let f = Fixture::new().await;
    let app = &f.app;
    let lists = [
        builds(json!(null)),
        definitions(json!(null)),
        nested(f.definition, json!(null)),
    ];
    for list in lists {
        for (paging, argument) in [
            (json!({"first": 0}), "first"),
            (json!({"first": 101}), "first"),
            (json!({"first": -1}), "first"),
            (json!({"last": 0}), "last"),
            (json!({"last": 101}), "last"),
        ] {
            refused(app, &list, paging, &[argument]).await;
        }
        let both = json!({"first": 1, "last": 1});
        refused(app, &list, both, &["first", "last"]).await;
        list.page(app, json!({"first": 100})).await;
        list.page(app, json!({"last": 100})).await;
        list.page(app, json!({"first": 1})).await;
    }
    for query in [
        "{ tenants(first: 0) { totalCount } }",
        "{ users(last: 101) { totalCount } }",
        "{ buildEvents(first: 101) { totalCount } }",
    ] {
        let body = app.as_user(&app.admin, query, json!({})).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{query}: {body}");
    }
}

/// A cursor with these contents.
fn forged(cursor: Value) -> String {
    URL_SAFE_NO_PAD.encode(cursor.to_string())
}

/// The end cursor of the first row of `list`.
async fn first_cursor(app: &TestApp, list: &List) -> String {
    let page = list.page(app, json!({"first": 1})).await;
    page.end.expect("a cursor")
}

#[tokio::test]
async fn cursors_of_another_ordering_or_list_and_garbage_are_refused() {
    let f = Fixture::new().await;
    let app = &f.app;
    f.seed(&mut [Row::pending(-1), Row::pending(-2), Row::pending(-3)])
        .await;
    app.seed().tenant("Tenant Three").await;

    let default = builds(json!(null));
    let cursor = first_cursor(app, &default).await;
    let by_id = builds(order_by(&[("ID", false)]));
    let by_created_asc = builds(order_by(&[("CREATED", false)]));
    for list in [&by_id, &by_created_asc] {
        refused(app, list, json!({"first": 1, "after": cursor}), &["after"]).await;
        refused(app, list, json!({"last": 1, "before": cursor}), &["before"]).await;
    }
    // The same ordering accepts it, also in a nested list of builds.
    default
        .page(app, json!({"first": 1, "after": cursor}))
        .await;
    let nested_builds = nested(f.definition, json!(null));
    nested_builds
        .page(app, json!({"first": 1, "after": cursor}))
        .await;

    // A definition cursor on builds, and a tenant cursor on definitions (both ordered by name).
    let definition_cursor = first_cursor(app, &definitions(json!(null))).await;
    refused(
        app,
        &default,
        json!({"after": definition_cursor}),
        &["after"],
    )
    .await;
    let tenants = List {
        query: "query($first: Int) { tenants(first: $first) {
            edges { cursor node { id } }
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
            totalCount } }",
        variables: json!({}),
        path: &["tenants"],
    };
    let tenant_cursor = first_cursor(app, &tenants).await;
    let by_name = definitions(json!(null));
    refused(app, &by_name, json!({"after": tenant_cursor}), &["after"]).await;

    let bytes = URL_SAFE_NO_PAD.decode(&cursor).expect("base64url");
    let o = serde_json::from_slice::<Value>(&bytes).expect("json")["o"].clone();
    for garbage in [
        "garbage".to_owned(),
        String::new(),
        "!!!!".to_owned(),
        URL_SAFE_NO_PAD.encode("not json"),
        forged(json!({})),
        forged(json!({"o": o, "v": []})),
        forged(json!({"o": o, "v": ["yesterday", 1]})),
        forged(json!({"o": o, "v": ["2026-01-01T00:00:00Z", "one"]})),
        forged(json!({"o": o, "v": ["2026-01-01T00:00:00Z", 1, 2]})),
        forged(json!({"o": o, "v": [null, 1]})),
    ] {
        refused(app, &default, json!({"after": garbage}), &["after"]).await;
        refused(
            app,
            &default,
            json!({"last": 2, "before": garbage}),
            &["before"],
        )
        .await;
    }
}

#[tokio::test]
async fn the_default_page_is_50_rows() {
    let f = Fixture::new().await;
    let mut rows: Vec<Row> = (1..=55).map(Row::pending).collect();
    f.seed(&mut rows).await;
    for list in [builds(json!(null)), nested(f.definition, json!(null))] {
        let page = list.page(&f.app, json!({})).await;
        assert_eq!((page.ids.len(), page.has_next, page.total), (50, true, 55));
        let rest = list.page(&f.app, json!({"after": page.end})).await;
        assert_eq!((rest.ids.len(), rest.has_next, rest.total), (5, false, 55));
    }
}

#[tokio::test]
async fn total_count_counts_the_filtered_rows_on_every_page() {
    let f = Fixture::new().await;
    let app = &f.app;
    let other = app
        .seed()
        .definition("other", f.world.endpoint, f.world.cluster, &[], |_| {})
        .await;
    // Nine builds, two in three running; one in three of the other definition.
    for i in 0..9 {
        let status = if i % 3 == 1 {
            BuildStatus::Pending
        } else {
            BuildStatus::Running
        };
        let definition = if i % 3 == 0 { other } else { f.definition };
        let row = Row::new(status, "t", 1000, "v").times(None, None, -i, 0);
        f.seed_of(definition, &mut [row]).await;
    }
    let list = builds(json!(null));
    let running = json!({"status": {"eq": "RUNNING"}});
    for paging in [
        json!({"filter": running, "first": 1}),
        json!({"filter": running, "first": 100}),
        json!({"filter": running, "last": 2}),
    ] {
        assert_eq!(list.page(app, paging).await.total, 6);
    }
    let page = list.page(app, json!({"filter": running, "first": 2})).await;
    let next = json!({"filter": running, "first": 2, "after": page.end});
    assert_eq!(
        list.page(app, next).await.total,
        6,
        "the cursor does not narrow the count"
    );
    assert_eq!(list.page(app, json!({"first": 1})).await.total, 9);
    let nested_running = nested(f.definition, json!(null))
        .page(app, json!({"filter": running, "first": 1}))
        .await;
    assert_eq!(nested_running.total, 3);
}
