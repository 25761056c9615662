//! The columns a page's statement selects: those the fields its query asks for read.
//!
//! Every object type whose rows a page reads says once, in a table of [`Reads`], which columns of
//! its row each of its fields reads (its key always comes along). From the query's selection set
//! below the page — through fragments, under every alias — the page's adapter takes the union
//! ([`columns`]); a field missing from the table reads every column, so a field added to a type
//! and forgotten in its table costs speed, never an answer. The registry selects those columns
//! only, and gives the other fields of the models placeholders (`registry::rows::Columns`).
//!
//! Such a model answers only what reads its columns, so:
//! - the page's own rows become the page's nodes, and nothing else;
//! - rows a page reads along with some of their columns (a build's definition) go to no loader
//!   (whose answers are whole rows, for any field of the request): they are kept for the page's
//!   nodes alone ([`Kept`], [`kept`]); read whole, they feed the loaders as before. Narrow rows
//!   that other fields of a request often ask for again (a build's creator, who is also its
//!   events' actor) are read whole ([`whole`]): the loaders then answer those fields with no
//!   statement.
//!
//! `tests/it/projection.rs` asks every field of every table through a projected page and
//! compares it with the same field of the whole row.

use std::{collections::HashMap, hash::Hash, sync::Arc};

use async_graphql::{Context, SelectionField};

use crate::registry::rows::{ByIndex, Columns};

/// The columns each field of an object type reads from its row, by the field's name.
pub type Reads = &'static [(&'static str, Columns)];

/// A [`Reads`] table of the columns of `entity::$entity`'s model: `"field" => [Column, …]`.
#[macro_export]
macro_rules! reads {
    ($entity:ident { $($field:literal => [$($column:ident),* $(,)?]),* $(,)? }) => {
        &[$((
            $field,
            $crate::registry::rows::Columns::at(&[$(entity::$entity::Column::$column as usize),*]),
        )),*]
    };
}

/// The fields selected on a page's nodes: below `nodes` and `edges { node }`.
pub fn nodes<'a>(ctx: &'a Context<'a>) -> Vec<SelectionField<'a>> {
    let look = ctx.look_ahead();
    let mut nodes = look.field("nodes").selection_fields();
    nodes.extend(look.field("edges").field("node").selection_fields());
    nodes
}

/// The fields named `name` in the selection sets of `fields` (their fragments included).
pub fn field<'a>(fields: &[SelectionField<'a>], name: &str) -> Vec<SelectionField<'a>> {
    fields
        .iter()
        .flat_map(SelectionField::selection_set)
        .filter(|child| child.name() == name)
        .collect()
}

/// The columns that the fields selected below `fields` read, by `reads`: all of them when one of
/// those fields is not in `reads`.
pub fn columns(reads: Reads, fields: &[SelectionField<'_>]) -> Columns {
    let mut columns = Columns::KEY;
    for child in fields.iter().flat_map(SelectionField::selection_set) {
        let name = child.name();
        if name == "__typename" {
            continue;
        }
        match reads.iter().find(|(field, _)| *field == name) {
            Some((_, read)) => columns = columns.and(*read),
            None => return Columns::ALL,
        }
    }
    columns
}

/// The columns of the rows found below `fields` (`None` when nothing is asked there).
pub fn columns_below(reads: Reads, fields: &[SelectionField<'_>]) -> Option<Columns> {
    (!fields.is_empty()).then(|| columns(reads, fields))
}

/// Every column of the rows found below the fields named `name` of `fields`, when asked for: a
/// relation read along whole, for the loaders.
pub fn whole(fields: &[SelectionField<'_>], name: &str) -> Option<Columns> {
    (!field(fields, name).is_empty()).then_some(Columns::ALL)
}

/// A to-one relation of a page's row, as the page read it along: `None` when it did not (the
/// request's loaders answer), else the row found (`Some(None)`: none), with only the columns the
/// page's query asks of it.
pub type Kept<M> = Option<Option<Arc<M>>>;

/// The rows a page read along with `columns` (`None`: it did not read them): kept by key for
/// its own nodes when they are some of their columns; else, read whole, given to `feed` (the
/// request's loader) and `None`, so that the loaders answer.
pub fn kept<M: ByIndex, K: Hash + Eq>(
    columns: Option<Columns>,
    rows: Option<Vec<M>>,
    key: impl Fn(&M) -> K,
    feed: impl FnOnce(Vec<M>),
) -> Option<HashMap<K, Arc<M>>> {
    let rows = rows?;
    match columns {
        Some(columns) if !columns.whole::<M>() => Some(
            rows.into_iter()
                .map(|row| (key(&row), Arc::new(row)))
                .collect(),
        ),
        _ => {
            feed(rows);
            None
        }
    }
}

/// What a node's relation pointing at `key` reads from what a page [`kept`].
pub fn along<M, K: Hash + Eq>(kept: Option<&HashMap<K, Arc<M>>>, key: Option<K>) -> Kept<M> {
    kept.map(|rows| key.and_then(|key| rows.get(&key).cloned()))
}
