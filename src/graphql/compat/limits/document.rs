//! The measure of a parsed document with its fragments expanded, in one memoized pass (each
//! fragment is summarized once): depth, nesting, aliases, fields, introspection.

use std::collections::HashMap;

use async_graphql::{
    Name,
    parser::types::{ExecutableDocument, Field, Selection, SelectionSet},
};

use super::{MAX_INTROSPECTION_LISTS, MAX_RECURSION, Refusal, directives::check_directives};
use crate::{config::Limits, graphql::error::codes};

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

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::check_document;
    use crate::graphql::{
        compat::limits::{MAX_RECURSION, Refusal, test_limits as limits},
        error::codes,
    };

    fn check(query: &str) -> Result<(), Refusal> {
        let document = parse_query(query).expect("the document parses");
        check_document(&document, &limits(), true)
    }

    fn code(query: &str) -> &'static str {
        check(query).err().map_or("ok", |refusal| refusal.code)
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
