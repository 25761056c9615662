//! Query limits (SPEC §5), checked before async-graphql sees a document.
//!
//! async-graphql parses with a recursive pest grammar and walks fragment spreads without
//! memoization, so a hostile document can overflow the stack while parsing or cost exponential
//! time while validating. Every transport therefore parses through [`parse`], which runs, in this
//! order:
//!
//! 1. a size check against `--max-document-bytes`;
//! 2. [`check_nesting`] on the text: one linear scan that refuses brackets nested deeper than
//!    [`max_nesting`] before the parser recurses into them;
//! 3. the parser;
//! 4. [`check_document`] on the parsed document: one memoized pass (each fragment is summarized
//!    once) that measures what validation and execution would see with fragments expanded, and
//!    refuses fragment cycles, deep nesting, too many directives, aliases or fields, and
//!    introspection for principals that may not introspect.
//!
//! Only then does async-graphql validate the document, with its complexity limit: connection
//! fields cost their page size times their selection ([`connection_cost`]).
//!
//! Counting rules (the README documents them for clients):
//! - depth: fields on the longest path, fragments expanded; the subtree of an introspection field
//!   (`__schema`, `__type`) counts as one level, and is bounded instead by the introspection list
//!   rule of graphql-js (`fields`, `inputFields`, `interfaces`, `possibleTypes` nest at most
//!   [`MAX_INTROSPECTION_LISTS`] deep) — the standard introspection query of GraphiQL is 14
//!   fields deep, but harmless;
//! - aliases: every alias where it is written, in every operation of the document; an alias
//!   inside a fragment counts once per spread of that fragment, because each spread can execute
//!   it again under another parent;
//! - directives: per location (field, fragment spread, inline fragment, operation, fragment or
//!   variable definition), as written;
//! - fields: every field of every operation with fragments expanded; since every field costs at
//!   least 1, more fields than the complexity limit is refused as `QUERY_TOO_COMPLEX` here,
//!   before async-graphql's own (non-memoized) complexity pass could take exponential time.

use std::collections::HashMap;

use async_graphql::{
    Name, Positioned, VisitorContext,
    parser::{
        parse_query,
        types::{
            Directive, ExecutableDocument, Field, Selection, SelectionSet, VariableDefinition,
        },
    },
};

use super::error::{codes, parse_message};
use crate::{config::Limits, registry::page};

/// How deep selection sets, fragment spreads and inline fragments may nest together: the
/// recursion limit async-graphql applies before validation (refused there as a parse failure;
/// here, earlier, as `QUERY_TOO_DEEP`).
pub const MAX_RECURSION: u64 = 32;

/// How deep the introspection lists `fields`, `inputFields`, `interfaces` and `possibleTypes` may
/// nest, as graphql-js's `MaxIntrospectionDepthRule` allows.
pub const MAX_INTROSPECTION_LISTS: u64 = 2;

/// The cost a connection field can reach at most, so that sums of costs never overflow.
const MAX_CONNECTION_COST: usize = u32::MAX as usize;

/// A document refused by a limit: the code and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `extensions.code`.
    pub code: &'static str,
    /// What was exceeded, and the limit.
    pub message: String,
}

impl Refusal {
    /// A refusal with its code.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// How deep brackets (`{`, `[`, `(` together) may nest in a document: room for `max_depth`
/// selection levels plus generous nesting of argument values (filters nest `and`/`or`/`not`).
pub fn max_nesting(limits: &Limits) -> usize {
    limits.max_depth.saturating_add(64)
}

/// Parses `query` under `limits`, for every transport: its size (`QUERY_TOO_LARGE`), its bracket
/// nesting before the parser recurses into it, the parse itself (`GRAPHQL_PARSE_FAILED`), then
/// [`check_document`]. `introspection` says whether the principal may introspect.
pub fn parse(
    query: &str,
    limits: &Limits,
    introspection: bool,
) -> Result<ExecutableDocument, Refusal> {
    if query.len() > limits.max_document_bytes {
        return Err(Refusal::new(
            codes::QUERY_TOO_LARGE,
            format!(
                "the GraphQL document exceeds {} bytes",
                limits.max_document_bytes
            ),
        ));
    }
    check_nesting(query, max_nesting(limits))?;
    let document = match parse_query(query) {
        Ok(document) => document,
        Err(async_graphql::parser::Error::RecursionLimitExceeded) => {
            return Err(Refusal::new(
                codes::QUERY_TOO_DEEP,
                "selections nest too deeply",
            ));
        }
        Err(err) => return Err(Refusal::new(codes::PARSE_FAILED, parse_message(&err))),
    };
    check_document(&document, limits, introspection)?;
    Ok(document)
}

/// Refuses a document whose brackets nest deeper than `max_nesting`, without parsing it: strings,
/// block strings and comments are skipped, everything else is one pass over the bytes.
pub fn check_nesting(query: &str, max_nesting: usize) -> Result<(), Refusal> {
    let bytes = query.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > max_nesting {
                    return Err(Refusal::new(
                        codes::QUERY_TOO_DEEP,
                        format!("the document nests brackets more than {max_nesting} levels deep"),
                    ));
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Checks a parsed document against `limits` (see the module docs for how each is counted);
/// `introspection` says whether the principal may introspect.
pub fn check_document(
    document: &ExecutableDocument,
    limits: &Limits,
    introspection: bool,
) -> Result<(), Refusal> {
    check_directives(document, limits.max_directives)?;
    let mut walker = Walker {
        document,
        fragments: HashMap::new(),
    };
    let mut total = Cost::default();
    for (_, operation) in document.operations.iter() {
        let cost = walker.selection_set(&operation.node.selection_set.node, 0)?;
        total.add(&cost);
    }
    if total.introspection && !introspection {
        return Err(Refusal::new(
            codes::INTROSPECTION_DISABLED,
            "introspection is only available to authenticated principals",
        ));
    }
    if total.depth > limits.max_depth as u64 {
        return Err(Refusal::new(
            codes::QUERY_TOO_DEEP,
            format!(
                "the query is {} fields deep; at most {} are allowed",
                total.depth, limits.max_depth
            ),
        ));
    }
    if total.introspection_lists > MAX_INTROSPECTION_LISTS {
        return Err(Refusal::new(
            codes::QUERY_TOO_DEEP,
            format!(
                "introspection lists (fields, inputFields, interfaces, possibleTypes) nest at \
                 most {MAX_INTROSPECTION_LISTS} levels deep"
            ),
        ));
    }
    if total.aliases > limits.max_aliases as u64 {
        return Err(Refusal::new(
            codes::TOO_MANY_ALIASES,
            format!(
                "the document has {} aliases (those of a fragment counted once per spread); at \
                 most {} are allowed",
                total.aliases, limits.max_aliases
            ),
        ));
    }
    if total.fields > limits.max_complexity as u64 {
        return Err(Refusal::new(
            codes::QUERY_TOO_COMPLEX,
            format!(
                "the document selects {} fields with its fragments expanded; its complexity \
                 may not exceed {}",
                total.fields, limits.max_complexity
            ),
        ));
    }
    Ok(())
}

/// The complexity of a connection field: its page size (`first` or `last`, 50 when absent,
/// clamped to 1..=100 — the resolver refuses anything outside with `BAD_USER_INPUT`, and a literal
/// that does not parse counts as the largest page) times the complexity of its selection, plus
/// one. Capped so that the sums async-graphql makes of it never overflow.
///
/// Used by `#[graphql(complexity = …)]` on every connection field. It reads the arguments itself
/// rather than through the typed bindings of the attribute because those turn a declared but
/// absent nullable variable (`query ($n: Int) { … first: $n … }` without `n`) into a validation
/// error.
pub fn connection_cost(
    ctx: &VisitorContext<'_>,
    variables: &[Positioned<VariableDefinition>],
    field: &Field,
    child_complexity: usize,
) -> usize {
    let size = |name: &str| -> Option<u64> {
        let argument = field.get_argument(name)?;
        match ctx.param_value::<Option<i32>>(variables, field, name, None) {
            Ok(Some(n)) => Some(u64::try_from(n).unwrap_or(1).clamp(1, page::MAX_PAGE)),
            Ok(None) => None,
            // Variables are coerced before validation, so a variable that fails here was not
            // provided: the argument is absent.
            Err(_) if argument.node.clone().into_const().is_none() => None,
            Err(_) => Some(page::MAX_PAGE),
        }
    };
    let rows = match (size("first"), size("last")) {
        (Some(first), Some(last)) => first.max(last),
        (Some(n), None) | (None, Some(n)) => n,
        (None, None) => page::DEFAULT_PAGE,
    };
    usize::try_from(rows)
        .unwrap_or(usize::MAX)
        .saturating_mul(child_complexity)
        .saturating_add(1)
        .min(MAX_CONNECTION_COST)
}

/// What a selection set costs with its fragments expanded.
#[derive(Clone, Copy, Debug, Default)]
struct Cost {
    /// Fields, saturating.
    fields: u64,
    /// Aliases, saturating.
    aliases: u64,
    /// Fields on the longest path (an introspection field counts one).
    depth: u64,
    /// Nesting of selection sets, spreads and inline fragments (async-graphql's recursion depth).
    nesting: u64,
    /// Introspection list nesting, if this selection set is inside introspection.
    lists: u64,
    /// Introspection list nesting under the introspection fields it contains.
    introspection_lists: u64,
    /// Whether it contains an introspection field.
    introspection: bool,
}

impl Cost {
    /// Adds a sibling.
    fn add(&mut self, other: &Cost) {
        self.fields = self.fields.saturating_add(other.fields);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.depth = self.depth.max(other.depth);
        self.nesting = self.nesting.max(other.nesting);
        self.lists = self.lists.max(other.lists);
        self.introspection_lists = self.introspection_lists.max(other.introspection_lists);
        self.introspection |= other.introspection;
    }
}

enum Summary {
    InProgress,
    Done(Cost),
}

struct Walker<'a> {
    document: &'a ExecutableDocument,
    fragments: HashMap<&'a Name, Summary>,
}

impl<'a> Walker<'a> {
    /// The cost of `set`, found `level` nesting levels below its operation.
    fn selection_set(&mut self, set: &'a SelectionSet, level: u64) -> Result<Cost, Refusal> {
        if level > MAX_RECURSION {
            return Err(too_nested());
        }
        let mut cost = Cost::default();
        for selection in &set.items {
            let item = match &selection.node {
                Selection::Field(field) => self.field(&field.node, level)?,
                Selection::FragmentSpread(spread) => {
                    let mut inner = self.fragment(&spread.node.fragment_name.node, level + 1)?;
                    inner.nesting += 1;
                    inner
                }
                Selection::InlineFragment(inline) => {
                    let mut inner =
                        self.selection_set(&inline.node.selection_set.node, level + 1)?;
                    inner.nesting += 1;
                    inner
                }
            };
            cost.add(&item);
        }
        if level + cost.nesting > MAX_RECURSION {
            return Err(too_nested());
        }
        Ok(cost)
    }

    fn field(&mut self, field: &'a Field, level: u64) -> Result<Cost, Refusal> {
        let name = field.name.node.as_str();
        let children = &field.selection_set.node;
        let inner = if children.items.is_empty() {
            Cost::default()
        } else {
            let mut inner = self.selection_set(children, level + 1)?;
            inner.nesting += 1;
            inner
        };
        let introspection_root = matches!(name, "__schema" | "__type");
        let list = matches!(
            name,
            "fields" | "inputFields" | "interfaces" | "possibleTypes"
        );
        Ok(Cost {
            fields: inner.fields.saturating_add(1),
            aliases: inner
                .aliases
                .saturating_add(u64::from(field.alias.is_some())),
            depth: if introspection_root {
                1
            } else {
                inner.depth + 1
            },
            nesting: inner.nesting,
            lists: inner.lists + u64::from(list),
            introspection_lists: if introspection_root {
                inner.lists
            } else {
                inner.introspection_lists
            },
            introspection: introspection_root || inner.introspection,
        })
    }

    /// The cost of a fragment, summarized once; a fragment that spreads itself (directly or not)
    /// is refused here, as validation would refuse it, because async-graphql's checks that run
    /// before validation would follow the cycle.
    fn fragment(&mut self, name: &'a Name, level: u64) -> Result<Cost, Refusal> {
        match self.fragments.get(name) {
            Some(Summary::Done(cost)) => {
                if level + cost.nesting > MAX_RECURSION {
                    return Err(too_nested());
                }
                return Ok(*cost);
            }
            Some(Summary::InProgress) => {
                return Err(Refusal::new(
                    codes::VALIDATION_FAILED,
                    format!("the fragment \"{name}\" spreads itself"),
                ));
            }
            None => {}
        }
        let Some(fragment) = self.document.fragments.get(name) else {
            // Unknown fragments are reported by validation.
            return Ok(Cost::default());
        };
        self.fragments.insert(name, Summary::InProgress);
        let cost = self.selection_set(&fragment.node.selection_set.node, level)?;
        self.fragments.insert(name, Summary::Done(cost));
        Ok(cost)
    }
}

fn too_nested() -> Refusal {
    Refusal::new(
        codes::QUERY_TOO_DEEP,
        format!(
            "selections, fragment spreads and inline fragments nest more than {MAX_RECURSION} \
             levels deep"
        ),
    )
}

/// Refuses more than `max` directives on any one location, as written.
fn check_directives(document: &ExecutableDocument, max: usize) -> Result<(), Refusal> {
    fn check(directives: &[Positioned<Directive>], max: usize, what: &str) -> Result<(), Refusal> {
        if directives.len() > max {
            return Err(Refusal::new(
                codes::TOO_MANY_DIRECTIVES,
                format!(
                    "{what} has {} directives; at most {max} are allowed",
                    directives.len()
                ),
            ));
        }
        Ok(())
    }
    fn selection_set(set: &SelectionSet, max: usize) -> Result<(), Refusal> {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let name = format!("the field \"{}\"", field.node.response_key().node);
                    check(&field.node.directives, max, &name)?;
                    selection_set(&field.node.selection_set.node, max)?;
                }
                Selection::FragmentSpread(spread) => {
                    check(&spread.node.directives, max, "a fragment spread")?;
                }
                Selection::InlineFragment(inline) => {
                    check(&inline.node.directives, max, "an inline fragment")?;
                    selection_set(&inline.node.selection_set.node, max)?;
                }
            }
        }
        Ok(())
    }
    for (_, operation) in document.operations.iter() {
        check(&operation.node.directives, max, "the operation")?;
        for variable in &operation.node.variable_definitions {
            check(&variable.node.directives, max, "a variable definition")?;
        }
        selection_set(&operation.node.selection_set.node, max)?;
    }
    for fragment in document.fragments.values() {
        check(&fragment.node.directives, max, "a fragment definition")?;
        selection_set(&fragment.node.selection_set.node, max)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::{MAX_RECURSION, Refusal, check_document, check_nesting, codes};
    use crate::config::Limits;

    fn limits() -> Limits {
        crate::config::Limits {
            body_limit: 256 * 1024,
            max_document_bytes: 128 * 1024,
            max_depth: 10,
            max_complexity: 2000,
            max_aliases: 30,
            max_directives: 5,
            request_timeout: 15,
            max_subscriptions: 50,
        }
    }

    fn check(query: &str) -> Result<(), Refusal> {
        let document = parse_query(query).expect("the document parses");
        check_document(&document, &limits(), true)
    }

    fn code(query: &str) -> &'static str {
        check(query).err().map_or("ok", |refusal| refusal.code)
    }

    #[test]
    fn nesting_is_scanned_outside_strings_and_comments() {
        assert!(check_nesting("{ a { b } }", 2).is_ok());
        assert!(check_nesting("{ a { b { c } } }", 2).is_err());
        assert!(check_nesting(r#"{ a(x: "{{{{{{") }"#, 2).is_ok());
        assert!(check_nesting(r#"{ a(x: "\"{{{{{{") }"#, 2).is_ok());
        assert!(check_nesting("{ a(x: \"\"\"{{{\\\"\"\"{{{\"\"\") }", 2).is_ok());
        assert!(check_nesting("{ a # {{{{{{\n}", 2).is_ok());
        assert!(check_nesting("[[[", 2).is_err());
        assert!(check_nesting(&"{".repeat(1 << 20), 74).is_err());
    }

    /// The scan lets through what the recursive parser survives with a wide margin: brackets at
    /// the default limit parse on a quarter of a tokio worker's 2 MiB stack (a debug build
    /// overflows 2 MiB somewhere beyond 1,200 levels of nested values).
    #[test]
    fn the_parser_survives_the_nesting_limit_on_a_small_stack() {
        let n = super::max_nesting(&limits()) - 2;
        let document = format!("{{ a(x: {}1{}) }}", "[".repeat(n), "]".repeat(n));
        assert!(check_nesting(&document, n + 2).is_ok());
        let parsed = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || parse_query(&document).is_ok())
            .expect("spawn")
            .join()
            .expect("no overflow");
        assert!(parsed);
    }

    #[test]
    fn depth_counts_fields_through_fragments() {
        let nested = |n: usize| format!("{}{}", "{ a ".repeat(n), "}".repeat(n));
        assert_eq!(code(&nested(10)), "ok");
        assert_eq!(code(&nested(11)), codes::QUERY_TOO_DEEP);
        let through_fragment =
            "{ a { ...F } } fragment F on T { b { c { d { e { f { g { h { i { j } } } } } } } } }";
        assert_eq!(code(through_fragment), "ok");
        let deeper = "{ a { ...F } } fragment F on T { b { c { d { e { f { g { h { i { j { k } } } } } } } } } }";
        assert_eq!(code(deeper), codes::QUERY_TOO_DEEP);
    }

    #[test]
    fn introspection_is_bounded_by_its_lists_not_by_depth() {
        let of_type = format!("{}kind{}", "ofType { ".repeat(9), " }".repeat(9));
        let graphiql = format!(
            "{{ __schema {{ types {{ fields {{ args {{ type {{ {of_type} }} }} }} }} }} }}"
        );
        assert_eq!(code(&graphiql), "ok");
        let lists =
            "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
        assert_eq!(code(lists), codes::QUERY_TOO_DEEP);
        let two = "{ __type(name: \"X\") { fields { type { fields { name } } } } }";
        assert_eq!(code(two), "ok");
        let document = parse_query(
            "{ a { ...F } } fragment F on T { __typename __type(name: \"T\") { name } }",
        )
        .expect("parses");
        assert_eq!(
            check_document(&document, &limits(), false).map_err(|r| r.code),
            Err(codes::INTROSPECTION_DISABLED)
        );
        let typename = parse_query("{ __typename }").expect("parses");
        assert!(check_document(&typename, &limits(), false).is_ok());
    }

    #[test]
    fn aliases_count_where_written_and_once_per_spread() {
        let aliases = |n: usize| {
            let fields: Vec<String> = (0..n).map(|i| format!("a{i}: x")).collect();
            format!("{{ {} }}", fields.join(" "))
        };
        assert_eq!(code(&aliases(30)), "ok");
        assert_eq!(code(&aliases(31)), codes::TOO_MANY_ALIASES);
        // 10 aliases in a fragment spread 3 times, plus 1: 31.
        let fragment: Vec<String> = (0..10).map(|i| format!("f{i}: x")).collect();
        let spread = format!(
            "{{ one: a {{ ...F }} b {{ ...F }} c {{ ...F }} }} fragment F on T {{ {} }}",
            fragment.join(" ")
        );
        assert_eq!(code(&spread), codes::TOO_MANY_ALIASES);
        let twice = format!(
            "{{ b {{ ...F }} c {{ ...F }} }} fragment F on T {{ {} }}",
            fragment.join(" ")
        );
        assert_eq!(code(&twice), "ok");
    }

    #[test]
    fn directives_are_counted_per_location() {
        let on_field = |n: usize| format!("{{ a {} }}", "@skip(if: false) ".repeat(n));
        assert_eq!(code(&on_field(5)), "ok");
        assert_eq!(code(&on_field(6)), codes::TOO_MANY_DIRECTIVES);
        let on_spread = format!(
            "{{ ...F {} }} fragment F on Q {{ a }}",
            "@include(if: true) ".repeat(6)
        );
        assert_eq!(code(&on_spread), codes::TOO_MANY_DIRECTIVES);
        let spread_out = "{ a @skip(if: false) @include(if: true) b @skip(if: false) @include(if: true) @a @b @c }";
        assert_eq!(code(spread_out), "ok");
    }

    #[test]
    fn fragment_fan_out_is_refused_in_linear_time() {
        // 2^30 fields once expanded: counted from one summary per fragment.
        let mut document = String::from("{ ...F0 }");
        for i in 0..30 {
            document.push_str(&format!(
                " fragment F{i} on Q {{ ...F{} ...F{} }}",
                i + 1,
                i + 1
            ));
        }
        document.push_str(" fragment F30 on Q { a }");
        assert_eq!(code(&document), codes::QUERY_TOO_COMPLEX);
    }

    #[test]
    fn fragment_cycles_and_deep_chains_are_refused() {
        assert_eq!(
            code("{ ...A } fragment A on Q { ...B } fragment B on Q { ...A ...A }"),
            "GRAPHQL_VALIDATION_FAILED"
        );
        let mut chain = String::from("{ ...F0 }");
        let n = MAX_RECURSION as usize + 1;
        for i in 0..n {
            chain.push_str(&format!(" fragment F{i} on Q {{ ...F{} }}", i + 1));
        }
        chain.push_str(&format!(" fragment F{n} on Q {{ a }}"));
        assert_eq!(code(&chain), codes::QUERY_TOO_DEEP);
    }

    #[test]
    fn fields_beyond_the_complexity_limit_are_refused() {
        let fields = |n: usize| format!("{{ a {{ {} }} }}", "b ".repeat(n));
        assert_eq!(code(&fields(1999)), "ok");
        assert_eq!(code(&fields(2000)), codes::QUERY_TOO_COMPLEX);
    }
}
