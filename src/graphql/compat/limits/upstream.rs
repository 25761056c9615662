//! async-graphql 7.0.19's own limits, driven against the documents that made us check ours
//! first. Each test asserts the bug on a plain `Schema` and the right answer from ours; when the
//! first half fails, async-graphql was fixed and the module docs of `compat::limits` need review.

use std::{
    process::Command,
    sync::atomic::{AtomicUsize, Ordering},
};

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, parser::parse_query};

use super::{check_document, check_nesting, max_nesting, test_limits as limits};
use crate::graphql::error::codes;

struct Query;

/// Counts the visits of async-graphql's complexity pass to `Query::counted`, which only
/// `fragments_are_walked_again_at_every_spread` selects (tests run in parallel).
static VISITS: AtomicUsize = AtomicUsize::new(0);

fn visit(child_complexity: usize) -> usize {
    VISITS.fetch_add(1, Ordering::SeqCst);
    child_complexity + 1
}

#[Object]
impl Query {
    async fn a(&self) -> i32 {
        1
    }

    #[graphql(complexity = "visit(child_complexity)")]
    async fn counted(&self) -> i32 {
        1
    }

    async fn q(&self) -> Query {
        Query
    }
}

fn schema() -> async_graphql::SchemaBuilder<Query, EmptyMutation, EmptySubscription> {
    Schema::build(Query, EmptyMutation, EmptySubscription)
}

/// `{ ...F0 }` where each of `levels` fragments spreads the next twice: 2^levels fields once
/// expanded, from a document of a few hundred bytes.
fn fan_out(levels: usize) -> String {
    let mut document = String::from("{ ...F0 }");
    for i in 0..levels {
        document.push_str(&format!(
            " fragment F{i} on Query {{ ...F{} ...F{} }}",
            i + 1,
            i + 1
        ));
    }
    document.push_str(&format!(" fragment F{levels} on Query {{ counted }}"));
    document
}

/// The bug: async-graphql walks a fragment again at every spread (its depth, complexity,
/// recursion-depth and directive passes alike), so the work grows as 2^levels. Counted here
/// through the complexity pass. The fix: one summary per fragment, refused before async-graphql
/// walks anything.
#[tokio::test]
async fn fragments_are_walked_again_at_every_spread() {
    let levels = 10;
    let before = VISITS.load(Ordering::SeqCst);
    let response = schema()
        .limit_complexity(usize::MAX)
        .finish()
        .execute(fan_out(levels))
        .await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let visits = VISITS.load(Ordering::SeqCst) - before;
    assert_eq!(
        visits,
        1 << levels,
        "the bug is gone: review compat::limits"
    );

    let document = parse_query(fan_out(30)).expect("it parses");
    let refused = check_document(&document, &limits(), true).map_err(|r| r.code);
    assert_eq!(refused, Err(codes::QUERY_TOO_COMPLEX));
}

/// The bug: a fragment cycle is followed until the recursion depth gives up, and reported as
/// that. The fix: refused as the validation error it is, before async-graphql follows it.
#[tokio::test]
async fn a_fragment_cycle_is_followed_to_the_recursion_limit() {
    let cycle = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
    let response = schema().finish().execute(cycle).await;
    assert!(
        response.errors[0].message.contains("recursion depth"),
        "the bug is gone: {:?}",
        response.errors
    );
    let document = parse_query(cycle).expect("it parses");
    let refused = check_document(&document, &limits(), true).map_err(|r| r.code);
    assert_eq!(refused, Err(codes::VALIDATION_FAILED));
}

/// The insufficiency (upstream issue #1696): `limit_depth` refuses GraphiQL's introspection
/// query at the default depth of 10. Ours bounds introspection by its lists instead.
#[tokio::test]
async fn limit_depth_refuses_graphiqls_introspection() {
    let response = schema()
        .limit_depth(10)
        .finish()
        .execute(GRAPHIQL_INTROSPECTION)
        .await;
    assert!(
        response.errors[0].message.contains("nested too deep"),
        "the bug is gone: {:?}",
        response.errors
    );
    let document = parse_query(GRAPHIQL_INTROSPECTION).expect("it parses");
    assert_eq!(check_document(&document, &limits(), true), Ok(()));
}

/// The insufficiency: `limit_directives` counts the directives of fields only.
#[tokio::test]
async fn limit_directives_ignores_fragment_spreads() {
    let spread = format!(
        "{{ ...F {} }} fragment F on Query {{ a }}",
        "@include(if: true) ".repeat(6)
    );
    let response = schema().limit_directives(5).finish().execute(&spread).await;
    assert!(
        !response
            .errors
            .iter()
            .any(|e| e.message.contains("number of directives")),
        "the bug is gone: {:?}",
        response.errors
    );
    let document = parse_query(&spread).expect("it parses");
    let refused = check_document(&document, &limits(), true).map_err(|r| r.code);
    assert_eq!(refused, Err(codes::TOO_MANY_DIRECTIVES));
}

/// Set in the child process of the test below.
const CHILD: &str = "PACKER_GATEWAY_PARSE_DEEP_NESTING";

/// A document nesting 5,000 brackets: 51 kB.
fn deep() -> String {
    let depth = 5_000;
    format!("{{ a(x: {}1{}) }}", "[".repeat(depth), "]".repeat(depth))
}

/// The bug: the parser recurses through every bracket and overflows the 2 MiB stack of a tokio
/// worker at a few thousand levels (observed in a debug build), which aborts the whole process —
/// so it is observed from a child process running this test. The fix: the linear scan refuses
/// the document before the parser sees it.
#[test]
fn the_parser_overflows_its_stack_on_deep_nesting() {
    if std::env::var_os(CHILD).is_some() {
        let parsed = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| parse_query(deep()).is_ok())
            .map(|thread| thread.join());
        println!("the parser survived: {parsed:?}");
        return;
    }
    let name = format!(
        "{}::the_parser_overflows_its_stack_on_deep_nesting",
        module_path!()
            .split_once("::")
            .map_or(module_path!(), |(_, path)| path)
    );
    let output = std::env::current_exe()
        .and_then(|exe| {
            Command::new(exe)
                .args(["--exact", &name, "--nocapture"])
                .env(CHILD, "1")
                .output()
        })
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("overflowed its stack"),
        "the bug is gone: {}{stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(check_nesting(&deep(), max_nesting(&limits())).is_err());
}

const GRAPHIQL_INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name }
    types { ...FullType }
    directives { name locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name
  fields(includeDeprecated: true) { name args { ...InputValue } type { ...TypeRef } }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType {
  kind name } } } } } } } } }
}"#;
