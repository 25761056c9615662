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
    Value,
    sea_query::{BinOper, Expr, ExprTrait, Func, LikeExpr, Query, SelectStatement},
};

use crate::error::{Error, FieldErrors};

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

/// Compiles a filter to one SQL boolean expression.
pub fn compile<F: FilterField>(filter: &Filter<F>) -> Result<Expr, Error> {
    Ok(match filter {
        Filter::Field(field, lookup) => compile_field(*field, lookup)?,
        Filter::All(items) => all(items.iter().map(compile).collect::<Result<Vec<_>, _>>()?),
        Filter::Any(items) => any(items.iter().map(compile).collect::<Result<Vec<_>, _>>()?),
        Filter::Not(inner) => compile(inner)?.not(),
        // Each column is guarded like a nullable column's comparison: a NULL (an endpoint
        // without a domain) makes its term false, not unknown, so that `not: {q: …}` is the
        // exact complement of `q`.
        Filter::Search(text) => any(F::search_columns()
            .into_iter()
            .map(|column| icontains(column.clone(), text).and(column.is_not_null()))
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

fn compile_field<F: FilterField>(field: F, lookup: &Lookup) -> Result<Expr, Error> {
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
            let compared = compare(column.clone(), lookup);
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
                )))),
            }
        }
    })
}

fn compare(column: Expr, lookup: &Lookup<Value>) -> Expr {
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
        Lookup::IExact(text) => lower(column).eq(lower(Expr::val(text.clone()))),
        Lookup::Contains(text) => like(column, format!("%{}%", escape_like(text))),
        Lookup::IContains(text) => icontains(column, text),
        Lookup::IStartsWith(text) => ilike(column, format!("{}%", escape_like(text))),
        Lookup::IEndsWith(text) => ilike(column, format!("%{}", escape_like(text))),
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
fn icontains(column: Expr, text: &str) -> Expr {
    ilike(column, format!("%{}%", escape_like(text)))
}

/// `LOWER(column) LIKE LOWER(pattern)`: both sides folded by the database, so that they fold
/// alike on each backend.
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
