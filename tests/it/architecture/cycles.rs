//! No import cycle among the top-level modules nor among the files of the core and of `rest`, and
//! the reader that finds the imports ignores comments and literals.

use std::collections::{BTreeMap, BTreeSet};

use super::{Source, blank, graph, paths, references, sources};

/// The strongly connected components of more than one node: the cycles.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let reaches = |from: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(node) = stack.pop() {
            for next in edges.get(&node).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> =
        edges.keys().map(|node| (node, reaches(node))).collect();
    let mut components: BTreeSet<BTreeSet<String>> = BTreeSet::new();
    for node in edges.keys() {
        let component: BTreeSet<String> = edges
            .keys()
            .filter(|other| {
                *other == node || (reach[node].contains(*other) && reach[*other].contains(node))
            })
            .cloned()
            .collect();
        if component.len() > 1 {
            components.insert(component);
        }
    }
    components.into_iter().collect()
}

#[test]
fn the_top_level_modules_import_each_other_without_a_cycle() {
    let sources = sources();
    let edges = graph(&sources, &[]);
    assert!(
        edges.contains_key("registry") && edges["events"].contains("registry"),
        "the graph is read: {edges:?}"
    );
    let found = cycles(&edges);
    assert!(found.is_empty(), "import cycles: {found:?}\n{edges:#?}");
}

#[test]
fn the_files_of_the_core_and_of_rest_import_each_other_without_a_cycle() {
    let sources = sources();
    for parent in [&["registry"][..], &["auth"], &["rest"], &["events"]] {
        let edges = graph(&sources, parent);
        let found = cycles(&edges);
        assert!(
            found.is_empty(),
            "cycles in {parent:?}: {found:?}\n{edges:#?}"
        );
    }
}

#[test]
fn the_reader_ignores_comments_and_literals() {
    let code = blank(
        "use crate::{a::{b, c}, d}; // crate::x\n/* crate::y */ let s = \"crate::z\"; \
         let r = r#\"crate::w\"#; let c = '\"'; use super::super::e;",
    );
    assert_eq!(
        paths(&code, "crate"),
        vec![vec!["a", "b"], vec!["a", "c"], vec!["d"]]
    );
    let source = Source {
        module: vec!["registry".into(), "lifecycle".into(), "queue".into()],
        code,
    };
    assert!(references(&source).contains(&vec!["registry".to_owned(), "e".to_owned()]));
    let edges: BTreeMap<String, BTreeSet<String>> =
        [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]
            .into_iter()
            .map(|(from, to)| (from.to_owned(), BTreeSet::from([to.to_owned()])))
            .collect();
    let expected = BTreeSet::from(["a", "b", "c"].map(str::to_owned));
    assert_eq!(cycles(&edges), vec![expected]);
}
