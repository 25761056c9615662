//! Ordering and keyset pagination (SPEC §3.1): ties, every order field of builds with NULLs,
//! several keys, walking whole lists both ways while rows come and go, `pageInfo`, the page size
//! rules, cursor validation, `totalCount`, and nested `builds` connections.

mod nested;
mod order;
mod pages;
mod walking;

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use entity::{build_event, enums::BuildStatus, image_build};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::support::{TestApp, World, row_of};

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
