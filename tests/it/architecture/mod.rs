//! The architecture, checked: the `crate::` / `super::` paths of every source file form the import
//! graph of the crate, which must have no cycle among the top-level modules nor among the files of
//! the core, and must respect the layering of the README's code map (written here as absences).
//! A new import that closes a cycle, or an adapter that reaches past the core, fails this test.

mod cycles;
mod layers;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// One source file: its module path (`registry::lifecycle::queue`) and its text, comments and
/// literals blanked out.
struct Source {
    module: Vec<String>,
    code: String,
}

/// Every file under `src/` but `main.rs`.
fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let relative = path.strip_prefix(&root).ok()?.to_str()?.to_owned();
            if relative == "main.rs" {
                return None;
            }
            let mut module: Vec<String> = relative
                .trim_end_matches(".rs")
                .split('/')
                .map(str::to_owned)
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            let text = std::fs::read_to_string(&path).ok()?;
            Some(Source {
                module,
                code: blank(&text),
            })
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// `text` with comments, string and character literals replaced by spaces, so that a path in a
/// doc comment or a message is not taken for an import.
fn blank(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let at = |i: usize, s: &str| {
        s.chars()
            .enumerate()
            .all(|(k, c)| chars.get(i + k) == Some(&c))
    };
    while i < chars.len() {
        let c = chars[i];
        if at(i, "//") {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if at(i, "/*") {
            i += 2;
            while i < chars.len() && !at(i, "*/") {
                i += 1;
            }
            i += 2;
        } else if c == 'r'
            && (at(i + 1, "\"") || at(i + 1, "#"))
            && !ident_char(chars.get(i.wrapping_sub(1)))
        {
            let mut hashes = 0;
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let end: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            i = j + 1;
            while i < chars.len() && !at(i, &end) {
                i += 1;
            }
            i += end.len();
            out.push(' ');
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(' ');
        } else if c == '\'' && (at(i + 2, "'") || at(i + 1, "\\")) {
            // A character literal ('x', '\n', '\''); a lifetime has no closing quote.
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(' ');
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// Every path starting with `root::` in `code` (not `$root::`), `use` groups expanded: `use
/// crate::{a, b::{c, d}}` gives `a`, `b::c`, `b::d`.
fn paths(code: &str, root: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let needle: Vec<char> = format!("{root}::").chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i + needle.len() <= chars.len() {
        let before = i.checked_sub(1).and_then(|b| chars.get(b));
        if chars[i..i + needle.len()] == needle[..] && !ident_char(before) && before != Some(&'$') {
            let mut j = i + needle.len();
            tree(&chars, &mut j, Vec::new(), &mut found);
            i = j;
        } else {
            i += 1;
        }
    }
    found
}

/// Reads a path tree at `*i` (after a `::`), appending each full path to `found`.
fn tree(chars: &[char], i: &mut usize, prefix: Vec<String>, found: &mut Vec<Vec<String>>) {
    skip_space(chars, i);
    if chars.get(*i) == Some(&'{') {
        *i += 1;
        loop {
            skip_space(chars, i);
            match chars.get(*i) {
                Some('}') => {
                    *i += 1;
                    return;
                }
                Some(',') => *i += 1,
                None => return,
                _ => {
                    let before = *i;
                    tree(chars, i, prefix.clone(), found);
                    // Anything else (`*`, `as x`) is skipped to the next item.
                    if *i == before {
                        *i += 1;
                    }
                    while let Some(c) = chars.get(*i) {
                        if *c == ',' || *c == '}' {
                            break;
                        }
                        *i += 1;
                    }
                }
            }
        }
    }
    let start = *i;
    while ident_char(chars.get(*i)) {
        *i += 1;
    }
    if *i == start {
        if !prefix.is_empty() {
            found.push(prefix);
        }
        return;
    }
    let mut path = prefix;
    path.push(chars[start..*i].iter().collect());
    if chars.get(*i) == Some(&':') && chars.get(*i + 1) == Some(&':') {
        *i += 2;
        tree(chars, i, path, found);
    } else {
        found.push(path);
    }
}

fn skip_space(chars: &[char], i: &mut usize) {
    while chars.get(*i).is_some_and(|c| c.is_whitespace()) {
        *i += 1;
    }
}

/// The absolute module paths a file refers to: `crate::…`, `super::…` (from its own module) and
/// `self::…`.
fn references(source: &Source) -> Vec<Vec<String>> {
    let mut all = paths(&source.code, "crate");
    for path in paths(&source.code, "self") {
        let mut absolute = source.module.clone();
        absolute.extend(path);
        all.push(absolute);
    }
    for path in paths(&source.code, "super") {
        let mut base = source.module.clone();
        base.pop();
        let mut rest = path.into_iter().peekable();
        while rest.peek().map(String::as_str) == Some("super") {
            rest.next();
            base.pop();
        }
        base.extend(rest);
        all.push(base);
    }
    all
}

/// The import graph at one level: the modules under `parent` (`[]` for the top level), each
/// file counted as its module there, each path as the module it names there (a macro exported at
/// the crate root counts as the module that defines it).
fn graph(sources: &[Source], parent: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let depth = parent.len();
    let inside =
        |module: &[String]| module.len() > depth && module.iter().zip(parent).all(|(a, b)| a == b);
    let nodes: BTreeSet<String> = sources
        .iter()
        .filter(|s| inside(&s.module))
        .map(|s| s.module[depth].clone())
        .collect();
    let macros = exported_macros(sources);
    let mut edges: BTreeMap<String, BTreeSet<String>> =
        nodes.iter().map(|n| (n.clone(), BTreeSet::new())).collect();
    for source in sources.iter().filter(|s| inside(&s.module)) {
        let from = &source.module[depth];
        for mut path in references(source) {
            if path.len() == 1
                && let Some(module) = macros.get(&path[0])
            {
                path = module.clone();
            }
            if !inside(&path) {
                continue;
            }
            let to = &path[depth];
            if to != from && nodes.contains(to) {
                edges.entry(from.clone()).or_default().insert(to.clone());
            }
        }
    }
    edges
}

/// `#[macro_export]` macros by name, with the module that defines them.
fn exported_macros(sources: &[Source]) -> BTreeMap<String, Vec<String>> {
    let mut macros = BTreeMap::new();
    for source in sources {
        let mut rest = source.code.as_str();
        while let Some(at) = rest.find("#[macro_export]") {
            rest = &rest[at..];
            if let Some(start) = rest.find("macro_rules!") {
                let name: String = rest[start + "macro_rules!".len()..]
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                macros.insert(name, source.module.clone());
            }
            rest = &rest["#[macro_export]".len()..];
        }
    }
    macros
}
