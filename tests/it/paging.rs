//! Ordering and keyset pagination (SPEC §3.1): ties, every order field of builds with NULLs,
//! several keys, walking whole lists both ways while rows come and go, `pageInfo`, the page size
//! rules, cursor validation, `totalCount`, and nested `builds` connections.

use std::cmp::Ordering;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use entity::{build_event, enums::BuildStatus, image_build};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::support::{TestApp, World, code};

const BUILDS: &str = "query($orderBy: [ImageBuildOrder!], $filter: ImageBuildFilter,
    $first: Int, $after: String, $last: Int, $before: String) {
  imageBuilds(orderBy: $orderBy, filter: $filter, first: $first, after: $after, last: $last,
              before: $before) {
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount
  }
}";

const DEFINITIONS: &str = "query($orderBy: [ImageDefinitionOrder!],
    $first: Int, $after: String, $last: Int, $before: String) {
  imageDefinitions(orderBy: $orderBy, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount
  }
}";

const NESTED: &str = "query($id: ID!, $orderBy: [ImageBuildOrder!], $filter: ImageBuildFilter,
    $first: Int, $after: String, $last: Int, $before: String) {
  imageDefinition(id: $id) {
    builds(orderBy: $orderBy, filter: $filter, first: $first, after: $after, last: $last,
           before: $before) {
      edges { cursor node { id } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      totalCount
    }
  }
}";

/// A list query: the document, its fixed variables, and where its connection is in `data`.
struct List {
    query: &'static str,
    variables: Value,
    path: &'static [&'static str],
}

fn builds(order_by: Value) -> List {
    List {
        query: BUILDS,
        variables: json!({ "orderBy": order_by }),
        path: &["imageBuilds"],
    }
}

fn definitions(order_by: Value) -> List {
    List {
        query: DEFINITIONS,
        variables: json!({ "orderBy": order_by }),
        path: &["imageDefinitions"],
    }
}

fn nested(definition: i32, order_by: Value) -> List {
    List {
        query: NESTED,
        variables: json!({ "id": definition.to_string(), "orderBy": order_by }),
        path: &["imageDefinition", "builds"],
    }
}

/// One page as the tests look at it.
#[derive(Debug)]
struct Page {
    ids: Vec<i32>,
    cursors: Vec<String>,
    has_next: bool,
    has_previous: bool,
    start: Option<String>,
    end: Option<String>,
    total: i64,
}

impl List {
    /// Runs the list with `paging` (`first`, `after`, …) added to its variables.
    async fn page(&self, app: &TestApp, paging: Value) -> Page {
        let body = self.run(app, paging).await;
        assert!(body.get("errors").is_none(), "{body}");
        let mut connection = &body["data"];
        for step in self.path {
            connection = &connection[step];
        }
        let edges = connection["edges"].as_array().expect("edges");
        let info = &connection["pageInfo"];
        let text = |v: &Value| v.as_str().map(str::to_owned);
        let page = Page {
            ids: edges
                .iter()
                .map(|e| e["node"]["id"].as_str().expect("id").parse().expect("int"))
                .collect(),
            cursors: edges
                .iter()
                .map(|e| e["cursor"].as_str().expect("cursor").to_owned())
                .collect(),
            has_next: info["hasNextPage"].as_bool().expect("hasNextPage"),
            has_previous: info["hasPreviousPage"].as_bool().expect("hasPreviousPage"),
            start: text(&info["startCursor"]),
            end: text(&info["endCursor"]),
            total: connection["totalCount"].as_i64().expect("totalCount"),
        };
        assert_eq!(page.start, page.cursors.first().cloned(), "startCursor");
        assert_eq!(page.end, page.cursors.last().cloned(), "endCursor");
        page
    }

    /// The raw response body of the list with `paging`.
    async fn run(&self, app: &TestApp, paging: Value) -> Value {
        let mut variables = self.variables.clone();
        for (key, value) in paging.as_object().expect("an object") {
            variables[key] = value.clone();
        }
        app.as_user(&app.admin, self.query, variables).await
    }

    /// Every id, in one page of 100.
    async fn all(&self, app: &TestApp) -> Vec<i32> {
        let page = self.page(app, json!({"first": 100})).await;
        assert!(!page.has_next, "more than one page");
        page.ids
    }

    /// Every id, walking pages of `size` forward (`first`/`after`).
    async fn forward(&self, app: &TestApp, size: usize) -> Vec<i32> {
        let mut ids = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..100 {
            let page = self.page(app, json!({"first": size, "after": after})).await;
            assert!(page.ids.len() <= size);
            assert_eq!(page.has_previous, after.is_some(), "hasPreviousPage");
            ids.extend(page.ids);
            if !page.has_next {
                return ids;
            }
            after = page.end;
        }
        panic!("the walk does not end");
    }

    /// Every id, walking pages of `size` backward (`last`/`before`).
    async fn backward(&self, app: &TestApp, size: usize) -> Vec<i32> {
        let mut ids = Vec::new();
        let mut before: Option<String> = None;
        for _ in 0..100 {
            let page = self
                .page(app, json!({"last": size, "before": before}))
                .await;
            assert!(page.ids.len() <= size);
            assert_eq!(page.has_next, before.is_some(), "hasNextPage");
            ids.splice(0..0, page.ids);
            if !page.has_previous {
                return ids;
            }
            before = page.start;
        }
        panic!("the walk does not end");
    }
}

/// What a build sorts by, as seeded (times in seconds from the clock's origin).
#[derive(Clone, Debug)]
struct Row {
    id: i32,
    status: BuildStatus,
    name: &'static str,
    vmid: i32,
    version: &'static str,
    started: Option<i64>,
    completed: Option<i64>,
    created: i64,
    updated: i64,
}

impl Row {
    fn new(status: BuildStatus, name: &'static str, vmid: i32, version: &'static str) -> Row {
        Row {
            id: 0,
            status,
            name,
            vmid,
            version,
            started: None,
            completed: None,
            created: 0,
            updated: 0,
        }
    }

    fn times(
        mut self,
        started: Option<i64>,
        completed: Option<i64>,
        created: i64,
        updated: i64,
    ) -> Row {
        self.started = started;
        self.completed = completed;
        self.created = created;
        self.updated = updated;
        self
    }

    /// The value of an order field: a NULL flag (NULLs are larger than every value), then the
    /// number or the text.
    fn key(&self, field: &str) -> (bool, i64, String) {
        let number = |n: i64| (false, n, String::new());
        let text = |s: &str| (false, 0, s.to_owned());
        let nullable = |n: Option<i64>| n.map_or((true, 0, String::new()), number);
        match field {
            "ID" => number(i64::from(self.id)),
            "STATUS" => text(&sea_orm::ActiveEnum::to_value(&self.status)),
            "OUTPUT_NAME" => text(self.name),
            "OUTPUT_VMID" => number(i64::from(self.vmid)),
            "IMAGE_VERSION" => text(self.version),
            "STARTED_AT" => nullable(self.started),
            "COMPLETED_AT" => nullable(self.completed),
            "CREATED" => number(self.created),
            "LAST_UPDATED" => number(self.updated),
            _ => unreachable!("no order field {field}"),
        }
    }
}

/// The ids of `rows` in `order` (pairs of field and descending), ties broken by id in the
/// direction of the last key.
fn sorted(rows: &[Row], order: &[(&str, bool)]) -> Vec<i32> {
    let mut rows = rows.to_vec();
    let last_desc = order.last().is_some_and(|(_, desc)| *desc);
    let directed = |ordering: Ordering, desc: bool| {
        if desc { ordering.reverse() } else { ordering }
    };
    rows.sort_by(|a, b| {
        order
            .iter()
            .map(|(field, desc)| directed(a.key(field).cmp(&b.key(field)), *desc))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| directed(a.id.cmp(&b.id), last_desc))
    });
    rows.iter().map(|r| r.id).collect()
}

/// The `orderBy` argument of `order`.
fn order_by(order: &[(&str, bool)]) -> Value {
    order
        .iter()
        .map(|(field, desc)| json!({"field": field, "direction": if *desc { "DESC" } else { "ASC" }}))
        .collect()
}

/// Seeds `rows` (in order) as builds of one definition and fills in their ids.
async fn seed(
    app: &TestApp,
    world: &World,
    definition: i32,
    clock: DateTime<Utc>,
    rows: &mut [Row],
) {
    let at = |s: i64| clock + chrono::Duration::seconds(s);
    for row in rows.iter_mut() {
        let r = row.clone();
        row.id = app
            .seed()
            .build(
                definition,
                world.endpoint,
                r.status,
                at(r.created),
                None,
                |b| {
                    b.output_name = Set(r.name.into());
                    b.output_vmid = Set(r.vmid);
                    b.image_version = Set(r.version.into());
                    b.started_at = Set(r.started.map(at));
                    b.completed_at = Set(r.completed.map(at));
                    b.last_updated = Set(at(r.updated));
                },
            )
            .await;
    }
}

/// A world with one definition.
async fn one_definition(app: &TestApp) -> (World, i32) {
    let world = app.world().await;
    let definition = app
        .seed()
        .definition("paged", world.endpoint, world.cluster, &[], |_| {})
        .await;
    (world, definition)
}

/// Seven builds with ties in every key and NULLs in the nullable ones.
fn varied_rows() -> Vec<Row> {
    use BuildStatus::*;
    vec![
        Row::new(Completed, "img-b", 1001, "v1").times(Some(-500), Some(-400), -600, -400),
        Row::new(Running, "img-a", 1001, "v2").times(Some(-500), None, -600, -300),
        Row::new(Pending, "img-b", 1002, "v1").times(None, None, -300, -300),
        Row::new(Failed, "img-c", 1000, "v3").times(Some(-200), Some(-100), -300, -100),
        Row::new(Cancelled, "img-a", 1002, "v2").times(None, Some(-50), -100, -50),
        Row::new(Running, "img-c", 1000, "v1").times(Some(-200), None, -100, -100),
        Row::new(Completed, "img-a", 1003, "v3").times(Some(-150), Some(-100), -50, -100),
    ]
}

const BUILD_FIELDS: [&str; 9] = [
    "ID",
    "STATUS",
    "OUTPUT_NAME",
    "OUTPUT_VMID",
    "IMAGE_VERSION",
    "STARTED_AT",
    "COMPLETED_AT",
    "CREATED",
    "LAST_UPDATED",
];

/// Checks that `list` gives `expected` in one page and walking both ways in pages of 2 and 3.
async fn check_order(app: &TestApp, list: &List, expected: &[i32], what: &str) {
    assert_eq!(list.all(app).await, expected, "{what}: one page");
    for size in [2, 3] {
        assert_eq!(
            list.forward(app, size).await,
            expected,
            "{what}: forward by {size}"
        );
        assert_eq!(
            list.backward(app, size).await,
            expected,
            "{what}: backward by {size}"
        );
    }
}

#[tokio::test]
async fn ties_are_broken_by_id_in_the_direction_of_the_last_key() {
    let app = TestApp::new().await;
    let (world, definition) = one_definition(&app).await;
    let clock = packer_gateway::registry::now();
    // Six builds queued at the same instant, two earlier ones, interleaved by id.
    let created = [0, -10, 0, 0, -10, 0, 0, 0];
    let mut rows: Vec<Row> = created
        .iter()
        .map(|c| Row::new(BuildStatus::Pending, "same", 1000, "v").times(None, None, *c, *c))
        .collect();
    seed(&app, &world, definition, clock, &mut rows).await;
    let id = |i: usize| rows[i].id;

    let newest_first = [id(7), id(6), id(5), id(3), id(2), id(0), id(4), id(1)];
    check_order(&app, &builds(json!(null)), &newest_first, "default").await;
    let oldest_first = [id(1), id(4), id(0), id(2), id(3), id(5), id(6), id(7)];
    check_order(
        &app,
        &builds(order_by(&[("CREATED", false)])),
        &oldest_first,
        "CREATED ASC",
    )
    .await;
    // Equal in every key: the id alone decides, in the direction of the last key.
    let all = [("OUTPUT_NAME", false), ("STATUS", true)];
    let mut by_id: Vec<i32> = rows.iter().map(|r| r.id).collect();
    by_id.sort_unstable_by(|a, b| b.cmp(a));
    check_order(
        &app,
        &builds(order_by(&all)),
        &by_id,
        "all equal, last DESC",
    )
    .await;
    by_id.reverse();
    let all = [("OUTPUT_NAME", true), ("STATUS", false)];
    check_order(&app, &builds(order_by(&all)), &by_id, "all equal, last ASC").await;
}

#[tokio::test]
async fn every_build_order_field_sorts_both_ways_with_nulls_largest() {
    let app = TestApp::new().await;
    let (world, definition) = one_definition(&app).await;
    let mut rows = varied_rows();
    seed(
        &app,
        &world,
        definition,
        packer_gateway::registry::now(),
        &mut rows,
    )
    .await;
    for field in BUILD_FIELDS {
        for desc in [false, true] {
            let order = [(field, desc)];
            let expected = sorted(&rows, &order);
            check_order(
                &app,
                &builds(order_by(&order)),
                &expected,
                &format!("{order:?}"),
            )
            .await;
        }
    }
    // NULLs last ascending, first descending.
    let started = |order| {
        let expected = sorted(&rows, &[("STARTED_AT", order)]);
        expected
            .iter()
            .map(|id| {
                rows.iter()
                    .find(|r| r.id == *id)
                    .expect("row")
                    .started
                    .is_none()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        started(false),
        [false, false, false, false, false, true, true]
    );
    assert_eq!(
        started(true),
        [true, true, false, false, false, false, false]
    );
}

#[tokio::test]
async fn several_order_keys_combine() {
    let app = TestApp::new().await;
    let (world, definition) = one_definition(&app).await;
    let mut rows = varied_rows();
    seed(
        &app,
        &world,
        definition,
        packer_gateway::registry::now(),
        &mut rows,
    )
    .await;
    for order in [
        vec![("STATUS", false), ("CREATED", true)],
        vec![("OUTPUT_NAME", false), ("STARTED_AT", true)],
        vec![("COMPLETED_AT", false), ("OUTPUT_VMID", true)],
        vec![
            ("STARTED_AT", true),
            ("COMPLETED_AT", false),
            ("IMAGE_VERSION", true),
        ],
        vec![
            ("OUTPUT_VMID", false),
            ("OUTPUT_NAME", false),
            ("LAST_UPDATED", false),
        ],
    ] {
        let expected = sorted(&rows, &order);
        check_order(
            &app,
            &builds(order_by(&order)),
            &expected,
            &format!("{order:?}"),
        )
        .await;
    }
}

#[tokio::test]
async fn every_definition_order_field_pages_consistently() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let seed = app.seed();
    let mut ids = Vec::new();
    for (name, node, enabled, release) in [
        ("delta", "pve2", true, "24.04"),
        ("Alpha", "pve1", false, "12"),
        ("charlie", "pve1", true, "24.04"),
        ("bravo", "pve2", false, "9"),
        ("echo", "pve1", true, "12"),
    ] {
        ids.push(
            seed.definition(name, world.endpoint, world.cluster, &[], |d| {
                d.target_node = Set(node.into());
                d.enabled = Set(enabled);
                d.os_release = Set(release.into());
            })
            .await,
        );
    }
    // The default is by name (byte order on both backends: upper case first).
    let by_name = [ids[1], ids[3], ids[2], ids[0], ids[4]];
    check_order(&app, &definitions(json!(null)), &by_name, "default").await;
    let enabled = [ids[1], ids[3], ids[0], ids[2], ids[4]];
    check_order(
        &app,
        &definitions(order_by(&[("ENABLED", false)])),
        &enabled,
        "ENABLED",
    )
    .await;
    for field in [
        "ID",
        "NAME",
        "SLUG",
        "ENABLED",
        "BUILDER_TYPE",
        "TARGET_NODE",
        "OS_FAMILY",
        "OS_RELEASE",
        "CREATED",
        "LAST_UPDATED",
    ] {
        for desc in [false, true] {
            let list = definitions(order_by(&[(field, desc)]));
            let all = list.all(&app).await;
            let mut sorted = all.clone();
            sorted.sort_unstable();
            let mut expected = ids.clone();
            expected.sort_unstable();
            assert_eq!(sorted, expected, "{field} {desc}: every row once");
            check_order(&app, &list, &all, &format!("{field} {desc}")).await;
        }
    }
}

/// Removes a build and its events.
async fn delete_build(app: &TestApp, id: i32) {
    build_event::Entity::delete_many()
        .filter(build_event::Column::BuildId.eq(id))
        .exec(&app.app.db)
        .await
        .expect("delete events");
    image_build::Entity::delete_by_id(id)
        .exec(&app.app.db)
        .await
        .expect("delete build");
}

/// Twelve builds queued 100 s apart, newest first: `r[0]` is the newest.
async fn twelve(app: &TestApp) -> (World, i32, DateTime<Utc>, Vec<i32>) {
    let (world, definition) = one_definition(app).await;
    let clock = packer_gateway::registry::now();
    let mut rows: Vec<Row> = (1..=12)
        .map(|i| Row::new(BuildStatus::Pending, "r", 1000, "v").times(None, None, -100 * i, 0))
        .collect();
    seed(app, &world, definition, clock, &mut rows).await;
    (
        world,
        definition,
        clock,
        rows.iter().map(|r| r.id).collect(),
    )
}

async fn queue(app: &TestApp, world: &World, definition: i32, at: DateTime<Utc>) -> i32 {
    app.seed()
        .build(
            definition,
            world.endpoint,
            BuildStatus::Pending,
            at,
            None,
            |_| {},
        )
        .await
}

#[tokio::test]
async fn walking_forward_while_rows_come_and_go_neither_repeats_nor_skips() {
    let app = TestApp::new().await;
    let (world, definition, clock, r) = twelve(&app).await;
    let at = |s: i64| clock + chrono::Duration::seconds(s);
    let list = builds(json!(null));
    let mut seen = Vec::new();

    let page = list.page(&app, json!({"first": 3})).await;
    assert_eq!(page.ids, [r[0], r[1], r[2]]);
    seen.extend(page.ids);
    queue(&app, &world, definition, at(0)).await; // newer than everything: behind us
    let oldest = queue(&app, &world, definition, at(-5000)).await; // ahead of us
    delete_build(&app, r[2]).await; // the cursor row itself
    delete_build(&app, r[5]).await; // a row not yet seen

    let page = list
        .page(&app, json!({"first": 3, "after": page.end}))
        .await;
    assert_eq!(page.ids, [r[3], r[4], r[6]]);
    seen.extend(page.ids);
    queue(&app, &world, definition, at(-700)).await; // ties the cursor row, larger id: behind
    let tie = queue(&app, &world, definition, at(-800)).await; // ties an unseen row: ahead
    delete_build(&app, r[3]).await; // a row already seen

    let mut after = page.end;
    loop {
        let page = list.page(&app, json!({"first": 3, "after": after})).await;
        seen.extend(page.ids);
        if !page.has_next {
            break;
        }
        after = page.end;
    }
    let expected = [
        r[0], r[1], r[2], r[3], r[4], r[6], tie, r[7], r[8], r[9], r[10], r[11], oldest,
    ];
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn walking_backward_while_rows_come_and_go_neither_repeats_nor_skips() {
    let app = TestApp::new().await;
    let (world, definition, clock, r) = twelve(&app).await;
    let at = |s: i64| clock + chrono::Duration::seconds(s);
    let list = builds(json!(null));
    let mut seen = Vec::new();

    let page = list.page(&app, json!({"last": 3})).await;
    assert_eq!(page.ids, [r[9], r[10], r[11]]);
    seen.splice(0..0, page.ids);
    let newest = queue(&app, &world, definition, at(0)).await; // ahead of us
    queue(&app, &world, definition, at(-5000)).await; // older than everything: behind us
    delete_build(&app, r[9]).await; // the cursor row itself
    delete_build(&app, r[6]).await; // a row not yet seen

    let page = list
        .page(&app, json!({"last": 3, "before": page.start}))
        .await;
    assert_eq!(page.ids, [r[5], r[7], r[8]]);
    seen.splice(0..0, page.ids);
    let tie = queue(&app, &world, definition, at(-600)).await; // ties the cursor row: ahead
    queue(&app, &world, definition, at(-900)).await; // ties a seen row, larger id: behind
    delete_build(&app, r[8]).await; // a row already seen

    let mut before = page.start;
    loop {
        let page = list.page(&app, json!({"last": 3, "before": before})).await;
        seen.splice(0..0, page.ids);
        if !page.has_previous {
            break;
        }
        before = page.start;
    }
    let expected = [
        newest, r[0], r[1], r[2], r[3], r[4], tie, r[5], r[7], r[8], r[9], r[10], r[11],
    ];
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_cursor_on_a_null_key_survives_inserts_and_deletes() {
    let app = TestApp::new().await;
    let (world, definition) = one_definition(&app).await;
    let clock = packer_gateway::registry::now();
    let at = |s: i64| clock + chrono::Duration::seconds(s);
    // Four started builds, then four never started.
    let mut rows: Vec<Row> = (0..8)
        .map(|i| {
            let started = (i < 4).then_some(-100 + i);
            Row::new(BuildStatus::Running, "n", 1000, "v").times(started, None, -1000, 0)
        })
        .collect();
    seed(&app, &world, definition, clock, &mut rows).await;
    let r: Vec<i32> = rows.iter().map(|r| r.id).collect();
    let started = |s: i64| move |b: &mut image_build::ActiveModel| b.started_at = Set(Some(at(s)));
    let list = builds(order_by(&[("STARTED_AT", false)]));

    let first = list.page(&app, json!({"first": 3})).await;
    assert_eq!(first.ids, [r[0], r[1], r[2]]);
    let second = list
        .page(&app, json!({"first": 3, "after": first.end}))
        .await;
    assert_eq!(second.ids, [r[3], r[4], r[5]]); // ends on a NULL
    let seed = app.seed();
    let late_null = seed
        .build(
            definition,
            world.endpoint,
            BuildStatus::Pending,
            at(0),
            None,
            |_| {},
        )
        .await;
    let early = seed
        .build(
            definition,
            world.endpoint,
            BuildStatus::Running,
            at(0),
            None,
            started(-50),
        )
        .await; // a started build sorts before every NULL: behind us
    delete_build(&app, r[5]).await;
    let third = list
        .page(&app, json!({"first": 3, "after": second.end}))
        .await;
    assert_eq!(third.ids, [r[6], r[7], late_null]);
    assert!(!third.has_next);

    // Descending, NULLs come first; walk back from the end across the NULL border.
    let list = builds(order_by(&[("STARTED_AT", true)]));
    let expected = [late_null, r[7], r[6], r[4], early, r[3], r[2], r[1], r[0]];
    assert_eq!(list.all(&app).await, expected);
    let last = list.page(&app, json!({"last": 4})).await;
    assert_eq!(last.ids, [r[3], r[2], r[1], r[0]]);
    let before = list
        .page(&app, json!({"last": 3, "before": last.start}))
        .await;
    assert_eq!(before.ids, [r[6], r[4], early]);
    let first = list
        .page(&app, json!({"last": 3, "before": before.start}))
        .await;
    assert_eq!(
        (first.ids.as_slice(), first.has_previous),
        (&[late_null, r[7]][..], false)
    );
}

#[tokio::test]
async fn page_info_tells_where_a_page_lies() {
    let app = TestApp::new().await;
    let (world, definition) = one_definition(&app).await;
    let mut rows: Vec<Row> = (1..=5)
        .map(|i| Row::new(BuildStatus::Pending, "p", 1000, "v").times(None, None, -10 * i, 0))
        .collect();
    seed(
        &app,
        &world,
        definition,
        packer_gateway::registry::now(),
        &mut rows,
    )
    .await;
    let r: Vec<i32> = rows.iter().map(|r| r.id).collect();
    let list = builds(json!(null));
    let flags = |p: &Page| (p.has_previous, p.has_next);

    let p1 = list.page(&app, json!({"first": 2})).await;
    assert_eq!(
        (p1.ids.as_slice(), flags(&p1)),
        (&[r[0], r[1]][..], (false, true))
    );
    assert_eq!(p1.total, 5);
    let p2 = list.page(&app, json!({"first": 2, "after": p1.end})).await;
    assert_eq!(
        (p2.ids.as_slice(), flags(&p2)),
        (&[r[2], r[3]][..], (true, true))
    );
    let p3 = list.page(&app, json!({"first": 2, "after": p2.end})).await;
    assert_eq!(
        (p3.ids.as_slice(), flags(&p3)),
        (&[r[4]][..], (true, false))
    );
    let beyond = list.page(&app, json!({"first": 2, "after": p3.end})).await;
    assert_eq!((beyond.ids.len(), flags(&beyond)), (0, (true, false)));
    assert_eq!((beyond.start, beyond.end), (None, None));
    assert!(!list.page(&app, json!({"first": 5})).await.has_next);
    assert!(list.page(&app, json!({"first": 4})).await.has_next);

    let b1 = list.page(&app, json!({"last": 2})).await;
    assert_eq!(
        (b1.ids.as_slice(), flags(&b1)),
        (&[r[3], r[4]][..], (true, false))
    );
    let b2 = list
        .page(&app, json!({"last": 2, "before": b1.start}))
        .await;
    assert_eq!(
        (b2.ids.as_slice(), flags(&b2)),
        (&[r[1], r[2]][..], (true, true))
    );
    let b3 = list
        .page(&app, json!({"last": 2, "before": b2.start}))
        .await;
    assert_eq!(
        (b3.ids.as_slice(), flags(&b3)),
        (&[r[0]][..], (false, true))
    );
    assert!(!list.page(&app, json!({"last": 5})).await.has_previous);

    // `after` and `before` together bound a window.
    let window = list
        .page(
            &app,
            json!({"first": 10, "after": p1.cursors[0], "before": p3.cursors[0]}),
        )
        .await;
    assert_eq!(window.ids, [r[1], r[2], r[3]]);

    // An empty list.
    let empty = list
        .page(
            &app,
            json!({"filter": {"status": {"eq": "RUNNING"}}, "first": 2}),
        )
        .await;
    assert_eq!(
        (empty.ids.len(), flags(&empty), empty.total),
        (0, (false, false), 0)
    );
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
    let app = TestApp::new().await;
    let (_, definition) = one_definition(&app).await;
    for list in [
        builds(json!(null)),
        definitions(json!(null)),
        nested(definition, json!(null)),
    ] {
        for (paging, argument) in [
            (json!({"first": 0}), "first"),
            (json!({"first": 101}), "first"),
            (json!({"first": -1}), "first"),
            (json!({"last": 0}), "last"),
            (json!({"last": 101}), "last"),
        ] {
            refused(&app, &list, paging, &[argument]).await;
        }
        refused(
            &app,
            &list,
            json!({"first": 1, "last": 1}),
            &["first", "last"],
        )
        .await;
        list.page(&app, json!({"first": 100})).await;
        list.page(&app, json!({"last": 100})).await;
        list.page(&app, json!({"first": 1})).await;
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

#[tokio::test]
async fn cursors_of_another_ordering_or_list_and_garbage_are_refused() {
    let app = TestApp::new().await;
    let (world, definition) = one_definition(&app).await;
    let mut rows: Vec<Row> = (1..=3)
        .map(|i| Row::new(BuildStatus::Pending, "c", 1000, "v").times(None, None, -i, 0))
        .collect();
    seed(
        &app,
        &world,
        definition,
        packer_gateway::registry::now(),
        &mut rows,
    )
    .await;
    app.seed().tenant("Tenant Three").await;

    let default = builds(json!(null));
    let cursor = default
        .page(&app, json!({"first": 1}))
        .await
        .end
        .expect("a cursor");
    let by_id = builds(order_by(&[("ID", false)]));
    let by_created_asc = builds(order_by(&[("CREATED", false)]));
    for list in [&by_id, &by_created_asc] {
        refused(&app, list, json!({"first": 1, "after": cursor}), &["after"]).await;
        refused(
            &app,
            list,
            json!({"last": 1, "before": cursor}),
            &["before"],
        )
        .await;
    }
    // The same ordering accepts it, also in a nested list of builds.
    default
        .page(&app, json!({"first": 1, "after": cursor}))
        .await;
    nested(definition, json!(null))
        .page(&app, json!({"first": 1, "after": cursor}))
        .await;

    // A definition cursor on builds, and a tenant cursor on definitions (both ordered by name).
    let definition_cursor = definitions(json!(null))
        .page(&app, json!({"first": 1}))
        .await
        .end
        .expect("a cursor");
    refused(
        &app,
        &default,
        json!({"after": definition_cursor}),
        &["after"],
    )
    .await;
    let tenants = app
        .data(
            "{ tenants(first: 1) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    let tenant_cursor = tenants["tenants"]["pageInfo"]["endCursor"].clone();
    refused(
        &app,
        &definitions(json!(null)),
        json!({"after": tenant_cursor}),
        &["after"],
    )
    .await;

    let signature = |cursor: &str| -> Value {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).expect("base64url");
        serde_json::from_slice::<Value>(&bytes).expect("json")["o"].clone()
    };
    let o = signature(&cursor);
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
        refused(&app, &default, json!({"after": garbage}), &["after"]).await;
        refused(
            &app,
            &default,
            json!({"last": 2, "before": garbage}),
            &["before"],
        )
        .await;
    }
}

#[tokio::test]
async fn the_default_page_is_50_rows() {
    let app = TestApp::new().await;
    let (world, definition) = one_definition(&app).await;
    let mut rows: Vec<Row> = (1..=55)
        .map(|i| Row::new(BuildStatus::Pending, "d", 1000, "v").times(None, None, -i, 0))
        .collect();
    seed(
        &app,
        &world,
        definition,
        packer_gateway::registry::now(),
        &mut rows,
    )
    .await;
    for list in [builds(json!(null)), nested(definition, json!(null))] {
        let page = list.page(&app, json!({})).await;
        assert_eq!((page.ids.len(), page.has_next, page.total), (50, true, 55));
        let rest = list.page(&app, json!({"after": page.end})).await;
        assert_eq!((rest.ids.len(), rest.has_next, rest.total), (5, false, 55));
    }
}

#[tokio::test]
async fn total_count_counts_the_filtered_rows_on_every_page() {
    let app = TestApp::new().await;
    let (world, definition) = one_definition(&app).await;
    let other = app
        .seed()
        .definition("other", world.endpoint, world.cluster, &[], |_| {})
        .await;
    let statuses = [
        BuildStatus::Running,
        BuildStatus::Pending,
        BuildStatus::Running,
    ];
    for (i, status) in statuses.iter().cycle().take(9).enumerate() {
        let d = if i % 3 == 0 { other } else { definition };
        app.seed()
            .build(
                d,
                world.endpoint,
                *status,
                crate::support::at(-(i as i64)),
                None,
                |_| {},
            )
            .await;
    }
    let list = builds(json!(null));
    let running = json!({"status": {"eq": "RUNNING"}});
    for paging in [
        json!({"filter": running, "first": 1}),
        json!({"filter": running, "first": 100}),
        json!({"filter": running, "last": 2}),
    ] {
        assert_eq!(list.page(&app, paging).await.total, 6);
    }
    let page = list
        .page(&app, json!({"filter": running, "first": 2}))
        .await;
    let next = list
        .page(
            &app,
            json!({"filter": running, "first": 2, "after": page.end}),
        )
        .await;
    assert_eq!(next.total, 6, "the cursor does not narrow the count");
    assert_eq!(list.page(&app, json!({"first": 1})).await.total, 9);
    let nested_running = nested(definition, json!(null))
        .page(&app, json!({"filter": running, "first": 1}))
        .await;
    assert_eq!(nested_running.total, 3);
}

#[tokio::test]
async fn nested_builds_page_like_top_level_lists() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let clock = packer_gateway::registry::now();
    let mut definitions = Vec::new();
    let mut builds_of = Vec::new();
    for (name, count) in [("seven", 7), ("four", 4), ("none", 0)] {
        let definition = app
            .seed()
            .definition(name, world.endpoint, world.cluster, &[], |_| {})
            .await;
        let mut rows: Vec<Row> = (0..count)
            .map(|i| {
                Row::new(BuildStatus::Pending, "n", 1000 + (i % 3) as i32, "v").times(
                    None,
                    None,
                    -10 * i,
                    0,
                )
            })
            .collect();
        seed(&app, &world, definition, clock, &mut rows).await;
        definitions.push(definition);
        builds_of.push(rows);
    }

    // First pages of every definition in one request, each counted on its own.
    let data = app
        .data(
            "{ imageDefinitions(orderBy: [{field: ID}]) { nodes { id
                 builds(first: 2) { nodes { id } pageInfo { hasNextPage hasPreviousPage }
                                    totalCount } } } }",
            json!({}),
        )
        .await;
    let nodes = data["imageDefinitions"]["nodes"].as_array().expect("nodes");
    for (node, rows) in nodes.iter().zip(&builds_of) {
        let expected: Vec<Value> = sorted(rows, &[("CREATED", true)])
            .into_iter()
            .take(2)
            .map(|id| json!({"id": id.to_string()}))
            .collect();
        assert_eq!(node["builds"]["nodes"], json!(expected));
        assert_eq!(node["builds"]["totalCount"], json!(rows.len()));
        assert_eq!(
            node["builds"]["pageInfo"]["hasNextPage"],
            json!(rows.len() > 2)
        );
        assert_eq!(node["builds"]["pageInfo"]["hasPreviousPage"], json!(false));
    }

    // Walking one definition's builds, in several orders, both ways.
    for (definition, rows) in definitions.iter().zip(&builds_of) {
        for order in [
            vec![],
            vec![("OUTPUT_VMID", false)],
            vec![("CREATED", false)],
        ] {
            let list = nested(*definition, order_by(&order));
            let order = if order.is_empty() {
                vec![("CREATED", true)]
            } else {
                order
            };
            check_order(
                &app,
                &list,
                &sorted(rows, &order),
                &format!("{definition} {order:?}"),
            )
            .await;
        }
    }

    // The same, reached from a build: `definition { builds(first: 2, after: …) }`.
    let seven = &builds_of[0];
    let expected = sorted(seven, &[("CREATED", true)]);
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = app
            .data(
                "query($id: ID!, $after: String) { imageBuild(id: $id) { definition {
                   builds(first: 2, after: $after) {
                     edges { cursor node { id } } pageInfo { hasNextPage endCursor } totalCount
                   } } } }",
                json!({"id": seven[0].id.to_string(), "after": after}),
            )
            .await;
        let connection = &data["imageBuild"]["definition"]["builds"];
        assert_eq!(connection["totalCount"], json!(7));
        for edge in connection["edges"].as_array().expect("edges") {
            seen.push(
                edge["node"]["id"]
                    .as_str()
                    .expect("id")
                    .parse::<i32>()
                    .expect("int"),
            );
        }
        if connection["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = connection["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned);
    }
    assert_eq!(seen, expected);
}
