//! Ordering and keyset pagination (SPEC §3.1): ties, every order field of builds with NULLs,
//! several keys, walking whole lists both ways while rows come and go, `pageInfo`, the page size
//! rules, cursor validation, `totalCount`, and nested `builds` connections.

use std::cmp::Ordering;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use entity::{build_event, enums::BuildStatus, image_build};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::support::{TestApp, World, code, gid, row_of};

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
                .map(|e| {
                    row_of(e["node"]["id"].as_str().expect("id"))
                        .try_into()
                        .expect("int")
                })
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

    /// A pending build queued `created` seconds from the origin.
    fn pending(created: i64) -> Row {
        Row::new(BuildStatus::Pending, "build", 1000, "v").times(None, None, created, 0)
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

/// A service with one definition whose builds a test queues, and the origin of their times.
struct Fixture {
    app: TestApp,
    world: World,
    definition: i32,
    clock: DateTime<Utc>,
}

impl Fixture {
    async fn new() -> Fixture {
        let app = TestApp::new().await;
        let world = app.world().await;
        let definition = app
            .seed()
            .definition("paged", world.endpoint, world.cluster, &[], |_| {})
            .await;
        Fixture {
            app,
            world,
            definition,
            clock: packer_gateway::clock::now(),
        }
    }

    /// The instant `seconds` from the origin.
    fn at(&self, seconds: i64) -> DateTime<Utc> {
        self.clock + chrono::Duration::seconds(seconds)
    }

    /// Seeds `rows`, in order, as builds of `definition`; fills in and returns their ids.
    async fn seed_of(&self, definition: i32, rows: &mut [Row]) -> Vec<i32> {
        for row in rows.iter_mut() {
            let r = row.clone();
            let at = |s: i64| self.at(s);
            row.id = self
                .app
                .seed()
                .build(
                    definition,
                    self.world.endpoint,
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
        rows.iter().map(|r| r.id).collect()
    }

    /// Seeds `rows` as builds of the fixture's definition.
    async fn seed(&self, rows: &mut [Row]) -> Vec<i32> {
        self.seed_of(self.definition, rows).await
    }

    /// Queues one pending build `seconds` from the origin.
    async fn queue(&self, seconds: i64) -> i32 {
        self.seed(&mut [Row::pending(seconds)]).await[0]
    }

    /// Removes a build and its events.
    async fn delete(&self, id: i32) {
        let db = &self.app.app.db;
        build_event::Entity::delete_many()
            .filter(build_event::Column::BuildId.eq(id))
            .exec(db)
            .await
            .expect("delete events");
        image_build::Entity::delete_by_id(id)
            .exec(db)
            .await
            .expect("delete build");
    }
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
        let forward = list.forward(app, size).await;
        assert_eq!(forward, expected, "{what}: forward by {size}");
        let backward = list.backward(app, size).await;
        assert_eq!(backward, expected, "{what}: backward by {size}");
    }
}

#[tokio::test]
async fn ties_are_broken_by_id_in_the_direction_of_the_last_key() {
    let f = Fixture::new().await;
    // Six builds queued at the same instant and two earlier ones, interleaved by id.
    let mut rows: Vec<Row> = [0, -10, 0, 0, -10, 0, 0, 0].map(Row::pending).to_vec();
    let id = f.seed(&mut rows).await;

    let newest_first = [id[7], id[6], id[5], id[3], id[2], id[0], id[4], id[1]];
    check_order(&f.app, &builds(json!(null)), &newest_first, "default").await;
    let oldest_first = [id[1], id[4], id[0], id[2], id[3], id[5], id[6], id[7]];
    let created = builds(order_by(&[("CREATED", false)]));
    check_order(&f.app, &created, &oldest_first, "CREATED ASC").await;
    // Equal in every key: the id alone decides, in the direction of the last key.
    let mut by_id = id.clone();
    by_id.reverse();
    let last_desc = builds(order_by(&[("OUTPUT_NAME", false), ("STATUS", true)]));
    check_order(&f.app, &last_desc, &by_id, "all equal, last DESC").await;
    by_id.reverse();
    let last_asc = builds(order_by(&[("OUTPUT_NAME", true), ("STATUS", false)]));
    check_order(&f.app, &last_asc, &by_id, "all equal, last ASC").await;
}

#[tokio::test]
async fn every_build_order_field_sorts_both_ways_with_nulls_largest() {
    let f = Fixture::new().await;
    let mut rows = varied_rows();
    f.seed(&mut rows).await;
    for field in BUILD_FIELDS {
        for desc in [false, true] {
            let order = [(field, desc)];
            let expected = sorted(&rows, &order);
            let what = format!("{order:?}");
            check_order(&f.app, &builds(order_by(&order)), &expected, &what).await;
        }
    }
    // NULLs last ascending, first descending.
    let never_started = |desc| -> Vec<bool> {
        sorted(&rows, &[("STARTED_AT", desc)])
            .iter()
            .map(|id| rows.iter().any(|r| r.id == *id && r.started.is_none()))
            .collect()
    };
    assert_eq!(
        never_started(false),
        [false, false, false, false, false, true, true]
    );
    assert_eq!(
        never_started(true),
        [true, true, false, false, false, false, false]
    );
}

#[tokio::test]
async fn several_order_keys_combine() {
    let f = Fixture::new().await;
    let mut rows = varied_rows();
    f.seed(&mut rows).await;
    #[rustfmt::skip]
    let orders = [
        vec![("STATUS", false), ("CREATED", true)],
        vec![("OUTPUT_NAME", false), ("STARTED_AT", true)],
        vec![("COMPLETED_AT", false), ("OUTPUT_VMID", true)],
        vec![("STARTED_AT", true), ("COMPLETED_AT", false), ("IMAGE_VERSION", true)],
        vec![("OUTPUT_VMID", false), ("OUTPUT_NAME", false), ("LAST_UPDATED", false)],
    ];
    for order in orders {
        let expected = sorted(&rows, &order);
        let what = format!("{order:?}");
        check_order(&f.app, &builds(order_by(&order)), &expected, &what).await;
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
    let by_enabled = definitions(order_by(&[("ENABLED", false)]));
    check_order(&app, &by_enabled, &enabled, "ENABLED").await;
    let mut every_id = ids.clone();
    every_id.sort_unstable();
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
            assert_eq!(sorted, every_id, "{field} {desc}: every row once");
            check_order(&app, &list, &all, &format!("{field} {desc}")).await;
        }
    }
}

/// Twelve builds queued 100 s apart, newest first: `r[0]` is the newest.
async fn twelve(f: &Fixture) -> Vec<i32> {
    let mut rows: Vec<Row> = (1..=12).map(|i| Row::pending(-100 * i)).collect();
    f.seed(&mut rows).await
}

#[tokio::test]
async fn walking_forward_while_rows_come_and_go_neither_repeats_nor_skips() {
    let f = Fixture::new().await;
    let r = twelve(&f).await;
    let list = builds(json!(null));
    let mut seen = Vec::new();

    let page = list.page(&f.app, json!({"first": 3})).await;
    assert_eq!(page.ids, [r[0], r[1], r[2]]);
    seen.extend(page.ids);
    f.queue(0).await; // newer than everything: behind us
    let oldest = f.queue(-5000).await; // ahead of us
    f.delete(r[2]).await; // the cursor row itself
    f.delete(r[5]).await; // a row not yet seen

    let page = list
        .page(&f.app, json!({"first": 3, "after": page.end}))
        .await;
    assert_eq!(page.ids, [r[3], r[4], r[6]]);
    seen.extend(page.ids);
    f.queue(-700).await; // ties the cursor row with a larger id: behind us
    let tie = f.queue(-800).await; // ties a row not yet seen: ahead of us
    f.delete(r[3]).await; // a row already seen

    let mut after = page.end;
    loop {
        let page = list.page(&f.app, json!({"first": 3, "after": after})).await;
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
    let f = Fixture::new().await;
    let r = twelve(&f).await;
    let list = builds(json!(null));
    let mut seen = Vec::new();

    let page = list.page(&f.app, json!({"last": 3})).await;
    assert_eq!(page.ids, [r[9], r[10], r[11]]);
    seen.splice(0..0, page.ids);
    let newest = f.queue(0).await; // ahead of us
    f.queue(-5000).await; // older than everything: behind us
    f.delete(r[9]).await; // the cursor row itself
    f.delete(r[6]).await; // a row not yet seen

    let page = list
        .page(&f.app, json!({"last": 3, "before": page.start}))
        .await;
    assert_eq!(page.ids, [r[5], r[7], r[8]]);
    seen.splice(0..0, page.ids);
    let tie = f.queue(-600).await; // ties the cursor row with a larger id: ahead of us
    f.queue(-900).await; // ties a row already seen: behind us
    f.delete(r[8]).await; // a row already seen

    let mut before = page.start;
    loop {
        let page = list
            .page(&f.app, json!({"last": 3, "before": before}))
            .await;
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
    let f = Fixture::new().await;
    // Four started builds, then four never started.
    let mut rows: Vec<Row> = (0..8)
        .map(|i| {
            let started = (i < 4).then_some(-100 + i);
            Row::new(BuildStatus::Running, "n", 1000, "v").times(started, None, -1000, 0)
        })
        .collect();
    let r = f.seed(&mut rows).await;
    let list = builds(order_by(&[("STARTED_AT", false)]));

    let first = list.page(&f.app, json!({"first": 3})).await;
    assert_eq!(first.ids, [r[0], r[1], r[2]]);
    let second = list
        .page(&f.app, json!({"first": 3, "after": first.end}))
        .await;
    assert_eq!(second.ids, [r[3], r[4], r[5]]); // ends on a NULL
    let late_null = f.queue(0).await; // ahead of us
    let early = Row::new(BuildStatus::Running, "n", 1000, "v").times(Some(-50), None, 0, 0);
    let early = f.seed(&mut [early]).await[0]; // started: before every NULL, behind us
    f.delete(r[5]).await;
    let third = list
        .page(&f.app, json!({"first": 3, "after": second.end}))
        .await;
    assert_eq!(
        (third.ids.as_slice(), third.has_next),
        (&[r[6], r[7], late_null][..], false)
    );

    // Descending, NULLs come first; walk back from the end across the NULL border.
    let list = builds(order_by(&[("STARTED_AT", true)]));
    let expected = [late_null, r[7], r[6], r[4], early, r[3], r[2], r[1], r[0]];
    assert_eq!(list.all(&f.app).await, expected);
    let last = list.page(&f.app, json!({"last": 4})).await;
    assert_eq!(last.ids, [r[3], r[2], r[1], r[0]]);
    let before = list
        .page(&f.app, json!({"last": 3, "before": last.start}))
        .await;
    assert_eq!(before.ids, [r[6], r[4], early]);
    let first = list
        .page(&f.app, json!({"last": 3, "before": before.start}))
        .await;
    assert_eq!(
        (first.ids.as_slice(), first.has_previous),
        (&[late_null, r[7]][..], false)
    );
}

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

#[tokio::test]
async fn nested_builds_page_like_top_level_lists() {
    let f = Fixture::new().await;
    let app = &f.app;
    let mut definitions = Vec::new();
    let mut builds_of = Vec::new();
    for (name, count) in [("seven", 7), ("four", 4), ("none", 0)] {
        let definition = app
            .seed()
            .definition(name, f.world.endpoint, f.world.cluster, &[], |_| {})
            .await;
        let mut rows: Vec<Row> = (0..count)
            .map(|i| {
                let vmid = 1000 + (i % 3) as i32;
                Row::new(BuildStatus::Pending, "n", vmid, "v").times(None, None, -10 * i, 0)
            })
            .collect();
        f.seed_of(definition, &mut rows).await;
        definitions.push(definition);
        builds_of.push(rows);
    }

    // First pages of every definition in one request, each counted on its own.
    let data = app
        .data(
            "{ imageDefinitions(filter: {name: {in: [\"seven\", \"four\", \"none\"]}},
                                orderBy: [{field: ID}]) { nodes {
                 builds(first: 2) { nodes { id } pageInfo { hasNextPage hasPreviousPage }
                                    totalCount } } } }",
            json!({}),
        )
        .await;
    let nodes = data["imageDefinitions"]["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3);
    for (node, rows) in nodes.iter().zip(&builds_of) {
        let first_two: Vec<Value> = sorted(rows, &[("CREATED", true)])
            .into_iter()
            .take(2)
            .map(|id| json!({"id": gid::<image_build::Entity>(id)}))
            .collect();
        let builds = &node["builds"];
        assert_eq!(builds["nodes"], json!(first_two));
        assert_eq!(builds["totalCount"], json!(rows.len()));
        assert_eq!(builds["pageInfo"]["hasNextPage"], json!(rows.len() > 2));
        assert_eq!(builds["pageInfo"]["hasPreviousPage"], json!(false));
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
            let what = format!("{definition} {order:?}");
            check_order(app, &list, &sorted(rows, &order), &what).await;
        }
    }

    // The same, reached from a build: `imageBuild { definition { builds(first: 2, after: …) } }`.
    let seven = &builds_of[0];
    let from_a_build = List {
        query: "query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
            imageBuild(id: $id) { definition {
              builds(first: $first, after: $after, last: $last, before: $before) {
                edges { cursor node { id } }
                pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
                totalCount
            } } } }",
        variables: json!({"id": seven[0].id.to_string()}),
        path: &["imageBuild", "definition", "builds"],
    };
    let expected = sorted(seven, &[("CREATED", true)]);
    assert_eq!(from_a_build.forward(app, 2).await, expected);
    assert_eq!(from_a_build.backward(app, 2).await, expected);
    assert_eq!(from_a_build.page(app, json!({"first": 2})).await.total, 7);
}
