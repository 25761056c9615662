//! Filters: one tree shape for every aggregate, built by the GraphQL and REST adapters and compiled
//! here to a single SQL `WHERE` expression. Nothing is ever filtered in memory.
//!
//! An aggregate's filterable fields are declared once, next to the aggregate (`build_filter!`,
//! `definition_filter!`, …, in the format of [`filter_fields!`](crate::filter_fields)): the
//! registry expands each declaration into its [`FilterField`] enum, GraphQL into its filter input
//! type, and REST reads names, kinds and choices from the [`FilterField`]. Lookup values are
//! typed core values ([`Scalar`]); only this module turns them into SQL values, of the column's
//! type (`bind`).
//!
//! Semantics worth knowing:
//! - `%` and `_` in string lookups match themselves (patterns are escaped, `ESCAPE '\'`);
//! - string lookups are case-sensitive except `iExact` / `iContains` / `q` (and the REST-only
//!   `IStartsWith` / `IEndsWith`), which compare
//!   `LOWER(column)` with `LOWER(value)` (on SQLite `LOWER` folds ASCII letters only);
//! - a comparison on a nullable column is false for NULL, so `not` of it includes the NULL rows:
//!   `not: {targetCluster: {eq: 3}}` is exactly the complement of `targetCluster: {eq: 3}`
//!   (the same holds for `q` over nullable columns);
//! - `and: []` matches everything, `or: []` matches nothing.

mod bind;
mod fields;

pub use bind::{ids_of, integer};
pub use fields::{FilterField, Target, choices};

use chrono::{DateTime, Utc};
use sea_orm::{
    DatabaseBackend, Value,
    sea_query::{BinOper, Expr, ExprTrait, Func, LikeExpr, Query, SelectStatement},
};

use crate::{
    error::{Error, FieldErrors},
    registry::rules::{MAX_VALUES, too_many_values},
};

/// A filter over the fields `F` of one aggregate.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter<F> {
    /// One field compared with one lookup.
    Field(F, Lookup),
    /// Every sub-filter matches (an empty list matches everything).
    All(Vec<Filter<F>>),
    /// Some sub-filter matches (an empty list matches nothing).
    Any(Vec<Filter<F>>),
    /// The sub-filter does not match.
    Not(Box<Filter<F>>),
    /// Free-text search over the aggregate's search columns (case-insensitive contains).
    Search(String),
}

impl<F> Filter<F> {
    /// The filter that matches everything.
    pub fn everything() -> Self {
        Filter::All(Vec::new())
    }

    /// Both filters match.
    #[must_use]
    pub fn and(self, other: Filter<F>) -> Self {
        match self {
            Filter::All(mut items) => {
                items.push(other);
                Filter::All(items)
            }
            first => Filter::All(vec![first, other]),
        }
    }
}

/// A value compared with a field, typed as the adapters parsed it. Ids are [`Scalar::Int`] (an
/// id lookup compares numbers); the core binds integers as their column's type.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    /// An integer or an id (fields of [`Kind::Number`]).
    Int(i64),
    /// Text ([`Kind::Text`]).
    Text(String),
    /// The stored value of a choice (`proxmox-clone`; [`Kind::Choice`]).
    Choice(String),
    /// A boolean ([`Kind::Flag`]).
    Flag(bool),
    /// An instant ([`Kind::Time`]).
    Time(DateTime<Utc>),
}

impl From<i64> for Scalar {
    fn from(n: i64) -> Self {
        Scalar::Int(n)
    }
}

/// One comparison with values of type `V`: [`Scalar`]s as the adapters give them, SQL values once
/// bound by the core.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup<V = Scalar> {
    /// Equal (`exact` for strings).
    Eq(V),
    /// One of the values (an empty list matches nothing).
    In(Vec<V>),
    /// Greater than.
    Gt(V),
    /// Greater than or equal.
    Gte(V),
    /// Less than.
    Lt(V),
    /// Less than or equal.
    Lte(V),
    /// `true`: the field is null (or, for a to-many field, has no member).
    IsNull(bool),
    /// Equal, ignoring case.
    IExact(String),
    /// Contains, case-sensitive.
    Contains(String),
    /// Contains, ignoring case.
    IContains(String),
    /// Starts with, case-sensitive.
    StartsWith(String),
    /// Ends with, case-sensitive.
    EndsWith(String),
    /// Starts with, ignoring case.
    IStartsWith(String),
    /// Ends with, ignoring case.
    IEndsWith(String),
}

/// The type of a filterable field: it decides which lookups make sense.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Strings: every lookup but the ordering ones.
    Text,
    /// Ids and integers: `eq`, `in`, `gt`, `gte`, `lt`, `lte`, `isNull`.
    Number,
    /// Enums: `eq`, `in`.
    Choice,
    /// Booleans: `eq`.
    Flag,
    /// Timestamps: `gt`, `gte`, `lt`, `lte`, `isNull`.
    Time,
}

impl Kind {
    /// Whether `lookup` applies to a field of this kind.
    pub fn allows<V>(self, lookup: &Lookup<V>) -> bool {
        use Lookup as L;
        match self {
            Kind::Text => !matches!(lookup, L::Gt(_) | L::Gte(_) | L::Lt(_) | L::Lte(_)),
            Kind::Number => matches!(
                lookup,
                L::Eq(_) | L::In(_) | L::Gt(_) | L::Gte(_) | L::Lt(_) | L::Lte(_) | L::IsNull(_)
            ),
            Kind::Choice => matches!(lookup, L::Eq(_) | L::In(_)),
            Kind::Flag => matches!(lookup, L::Eq(_)),
            Kind::Time => matches!(
                lookup,
                L::Gt(_) | L::Gte(_) | L::Lt(_) | L::Lte(_) | L::IsNull(_)
            ),
        }
    }
}

/// Compiles a filter to one SQL boolean expression for `backend`; a filter naming more than
/// [`MAX_VALUES`] values is `BAD_USER_INPUT` on `filter`.
///
/// The case-insensitive lookups (`iExact`, `iContains`, `iStartsWith`, `iEndsWith`, `q`) fold
/// case the Unicode way on both backends: with `LOWER` on PostgreSQL, whose `LOWER` follows the
/// database's (UTF-8) locale, and on SQLite, whose `LOWER` folds ASCII only, with the `regexp`
/// function registered on every connection (`app::connect`) and a case-insensitive pattern
/// (Rust's `regex`, Unicode simple case folding): "ärzte" finds "Ärzte" on both.
pub fn compile<F: FilterField>(
    filter: &Filter<F>,
    backend: DatabaseBackend,
) -> Result<Expr, Error> {
    let count = values(filter);
    if count > MAX_VALUES {
        return Err(Error::bad_input("filter", too_many_values(count)));
    }
    compile_tree(filter, Fold(backend))
}

/// How the case-insensitive lookups fold case (see [`compile`]).
#[derive(Clone, Copy)]
struct Fold(DatabaseBackend);

/// How many values `filter` binds.
fn values<F>(filter: &Filter<F>) -> usize {
    match filter {
        Filter::Field(_, Lookup::In(values)) => values.len(),
        Filter::Field(..) | Filter::Search(_) => 1,
        Filter::All(items) | Filter::Any(items) => items.iter().map(values).sum(),
        Filter::Not(inner) => values(inner),
    }
}

fn compile_tree<F: FilterField>(filter: &Filter<F>, fold: Fold) -> Result<Expr, Error> {
    let each = |items: &[Filter<F>]| {
        items
            .iter()
            .map(|item| compile_tree(item, fold))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(match filter {
        Filter::Field(field, lookup) => compile_field(*field, lookup, fold)?,
        Filter::All(items) => all(each(items)?),
        Filter::Any(items) => any(each(items)?),
        Filter::Not(inner) => compile_tree(inner, fold)?.not(),
        // Each column is guarded like a nullable column's comparison: a NULL (an endpoint
        // without a domain) makes its term false, not unknown, so that `not: {q: …}` is the
        // exact complement of `q`.
        Filter::Search(text) => any(F::search_columns()
            .into_iter()
            .map(|column| icontains(column.clone(), text, fold).and(column.is_not_null()))
            .collect()),
    })
}

/// The conjunction of `items` (TRUE when empty).
pub fn all(items: Vec<Expr>) -> Expr {
    items
        .into_iter()
        .reduce(|acc, item| acc.and(item))
        .unwrap_or_else(|| Expr::cust("1 = 1"))
}

/// The disjunction of `items` (FALSE when empty).
pub fn any(items: Vec<Expr>) -> Expr {
    items
        .into_iter()
        .reduce(|acc, item| acc.or(item))
        .unwrap_or_else(|| Expr::cust("1 = 0"))
}

fn compile_field<F: FilterField>(field: F, lookup: &Lookup, fold: Fold) -> Result<Expr, Error> {
    if !field.kind().allows(lookup) {
        return Err(Error::BadInput(FieldErrors::one(
            field.name(),
            format!("this lookup does not apply to a {:?} field", field.kind()),
        )));
    }
    Ok(match field.target() {
        Target::Column {
            column,
            nullable,
            ty,
        } => {
            let lookup = &bind::lookup(field, lookup, &ty)?;
            let compared = compare(column.clone(), lookup, fold);
            match lookup {
                Lookup::IsNull(_) => compared,
                _ if nullable => compared.and(column.is_not_null()),
                _ => compared,
            }
        }
        Target::Through {
            outer,
            table,
            key,
            column,
            ty,
        } => {
            let lookup = &bind::lookup(field, lookup, &ty)?;
            let subquery = |condition: Option<Expr>| -> SelectStatement {
                let mut select = Query::select();
                select
                    .column((table.clone(), key.clone()))
                    .from(table.clone());
                if let Some(condition) = condition {
                    select.and_where(condition);
                }
                select.take()
            };
            match lookup {
                Lookup::IsNull(true) => outer.not_in_subquery(subquery(None)),
                Lookup::IsNull(false) => outer.in_subquery(subquery(None)),
                lookup => outer.in_subquery(subquery(Some(compare(
                    Expr::col((table.clone(), column.clone())),
                    lookup,
                    fold,
                )))),
            }
        }
    })
}

fn compare(column: Expr, lookup: &Lookup<Value>, fold: Fold) -> Expr {
    match lookup {
        Lookup::Eq(value) => column.eq(value.clone()),
        Lookup::In(values) if values.is_empty() => Expr::cust("1 = 0"),
        Lookup::In(values) => column.is_in(values.iter().cloned()),
        Lookup::Gt(value) => column.gt(value.clone()),
        Lookup::Gte(value) => column.gte(value.clone()),
        Lookup::Lt(value) => column.lt(value.clone()),
        Lookup::Lte(value) => column.lte(value.clone()),
        Lookup::IsNull(true) => column.is_null(),
        Lookup::IsNull(false) => column.is_not_null(),
        Lookup::IExact(text) => fold.exact(column, text),
        Lookup::Contains(text) => like(column, format!("%{}%", escape_like(text))),
        Lookup::IContains(text) => icontains(column, text, fold),
        Lookup::IStartsWith(text) => fold.like(column, text, false, true),
        Lookup::IEndsWith(text) => fold.like(column, text, true, false),
        Lookup::StartsWith(text) => like(column, format!("{}%", escape_like(text))),
        Lookup::EndsWith(text) => like(column, format!("%{}", escape_like(text))),
    }
}

/// Case-sensitive `LIKE` (SQLite connections run with `PRAGMA case_sensitive_like = ON`).
///
/// Built from sea-query's own operators rather than a custom SQL template: a template's
/// placeholders are backend-specific (`$1` on PostgreSQL, `?` on SQLite), so no single template
/// works on both.
fn like(column: Expr, pattern: String) -> Expr {
    column.like(LikeExpr::new(pattern).escape('\\'))
}

/// `LOWER(column) LIKE LOWER('%text%')`.
fn icontains(column: Expr, text: &str, fold: Fold) -> Expr {
    fold.like(column, text, true, true)
}

impl Fold {
    /// `column` equals `text`, ignoring case.
    fn exact(self, column: Expr, text: &str) -> Expr {
        match self.0 {
            DatabaseBackend::Sqlite => regexp(column, format!("(?i)\\A{}\\z", regex::escape(text))),
            _ => lower(column).eq(lower(Expr::val(text.to_owned()))),
        }
    }

    /// `column` contains `text`, ignoring case; `before` / `after`: anything may come before /
    /// after it (both: contains; only `after`: starts with; only `before`: ends with).
    fn like(self, column: Expr, text: &str, before: bool, after: bool) -> Expr {
        match self.0 {
            DatabaseBackend::Sqlite => {
                let start = if before { "" } else { "\\A" };
                let end = if after { "" } else { "\\z" };
                regexp(column, format!("(?i){start}{}{end}", regex::escape(text)))
            }
            _ => {
                let start = if before { "%" } else { "" };
                let end = if after { "%" } else { "" };
                ilike(column, format!("{start}{}{end}", escape_like(text)))
            }
        }
    }
}

/// SQLite's `regexp(pattern, value)`, registered on every connection by sqlx.
fn regexp(column: Expr, pattern: String) -> Expr {
    Func::cust("regexp")
        .arg(Expr::val(pattern))
        .arg(column)
        .into()
}

/// `LOWER(column) LIKE LOWER(pattern)`: both sides folded by the database.
fn ilike(column: Expr, pattern: String) -> Expr {
    let pattern = Expr::val(pattern);
    lower(column).binary(
        BinOper::Like,
        lower(pattern).binary(BinOper::Escape, Expr::Constant('\\'.into())),
    )
}

fn lower(expr: Expr) -> Expr {
    Func::lower(expr).into()
}

/// Makes `%`, `_` and `\` match themselves in a `LIKE … ESCAPE '\'` pattern.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }
}
